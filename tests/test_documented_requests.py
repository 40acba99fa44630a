"""Every request the README and ../shared/docs/contract.md show decides as their text says.

The requests are read from the documents themselves, so a change to either is tested as it is."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

# the contract is the team's shared document beside the repository, not a copy in it (a copy would drift)
CONTRACT = Path(os.environ.get("RAC_CONTRACT_MD", ROOT.parent / "shared" / "docs" / "contract.md"))


def _decide(decider, validator, body: dict) -> dict:
    case, errors = validator.validate(body)
    assert errors == []
    return decider.decide(case)


def _brief(decision: dict):
    outcomes = sorted((o["measure"], o["event"], o.get("amount"), o.get("amount_max")) for o in decision["outcomes"])
    denials = sorted((d["measure"], d["event"], d["reason"], d.get("condition")) for d in decision["denials"])
    return outcomes, denials


def test_the_readme_request(decider, validator):
    body = json.loads(re.search(r"-d '(\{.*?\})'", (ROOT / "README.md").read_text(encoding="utf-8"), re.S).group(1))
    decision = _decide(decider, validator, body)
    # a tech SME newly recognised as a high-tech enterprise in the Qinzhou HTZ: 20万元 (qz-htz 二)
    assert _brief(decision) == ([("qz-htz/2.1", "e1", "200000.00", None)], [])
    assert decision["totals"] == {"CNY": "200000.00"}


@pytest.mark.skipif(not CONTRACT.is_file(), reason=f"{CONTRACT} not found: set RAC_CONTRACT_MD to the shared contract.md")
def test_the_contract_request(decider, validator):
    body = json.loads(re.findall(r"```json\n(.*?)```", CONTRACT.read_text(encoding="utf-8"), re.S)[0])
    decision = _decide(decider, validator, body)
    outcomes, denials = _brief(decision)
    assert outcomes == [
        # （五） a national engineering research center: up to 1,000万元
        ("gx-htz/5", "e2", None, "10000000.00"),
        # （六） 1:1 of 8,000,000 national key R&D funds, within 10,000,000 per enterprise less the
        # 4,000,000 already paid
        ("gx-htz/6", "e3", "6000000.00", None),
    ]
    assert denials == [
        # 十四: a relatively major safety accident in 2024 bars the Qinzhou measures of 2024 …
        ("qz-htz/2.1", "e1", "not_eligible", "first_recognition"),
        ("qz-htz/2.1", "e1", "not_eligible", "no_relatively_major_accident"),
        ("qz-htz/4", "e2", "not_eligible", "no_relatively_major_accident"),
    ]
    # … and 二 rewards a first recognition: the applicant is a high-tech enterprise since 2023-11-20
    capped = next(o for o in decision["outcomes"] if o["measure"] == "gx-htz/6")
    assert (capped["amount_before_cap"], capped["cap"]["remaining_before"]) == ("8000000.00", "6000000.00")
    assert decision["totals"] == {"CNY": "6000000.00"}
    assert [r["policy"] for r in decision["rulesets"]] == ["gx-htz", "qz-htz"]
