"""Shared test helpers: a well-formed Qinzhou applicant and a one-call decide."""
from __future__ import annotations

import copy
import json
import os
import re
import uuid
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "cases"
RULESETS_DIR = ROOT / "rulesets"
SOURCES_DIR = RULESETS_DIR / "sources"
QZ_FILE = RULESETS_DIR / "qz-htz" / "2021-12-30.yaml"  # the first revision: loads alone
QZ_CURRENT = RULESETS_DIR / "qz-htz" / "2021-12-30.r3.yaml"  # the revision that decides

TWO_DECIMALS = re.compile(r"^\d+\.\d{2}$")

# Every art. 十四 condition that an applicant attribute carries, all met.
GOOD_ATTRIBUTES = {
    "registered_in_zone": True,
    "tax_in_zone": True,
    "statistics_in_zone": True,
    "independent_legal_person": True,
    "independent_accounting": True,
    "sound_financial_system": True,
    "operates_honestly": True,
    "pays_taxes_lawfully": True,
    "fits_industrial_policy": True,
}

# Fields of a decision that legitimately differ between two evaluations of
# the same facts (input_sha256 hashes the request as sent, so it follows the
# order of the events in it).
VOLATILE = ("decision_id", "evaluated_at", "trace", "input_sha256")


def qz_case(events, *, attributes=None, incidents=None, prior_awards=None, options=None, case_id="T-1",
            kind="enterprise", zone="qinzhou-htz", city="qinzhou") -> dict:
    attrs = dict(GOOD_ATTRIBUTES)
    attrs.update(attributes or {})
    case = {
        "case_id": case_id,
        "applicant": {"kind": kind, "zone": zone, "city": city, "attributes": attrs,
                      "incidents": list(incidents or [])},
        "events": copy.deepcopy(list(events)),
        "prior_awards": copy.deepcopy(list(prior_awards or [])),
    }
    if options is not None:
        case["options"] = options
    return case


def decide(decider, validator, payload: dict) -> dict:
    case, errors = validator.validate(copy.deepcopy(payload))
    assert not errors, f"the generated case is invalid: {errors}"
    return decider.decide(case)


def stable(decision: dict) -> str:
    """The decision as canonical JSON, without the fields that change per call."""
    return json.dumps({k: v for k, v in decision.items() if k not in VOLATILE},
                      sort_keys=True, ensure_ascii=False)


def half_up_fen(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@contextmanager
def postgres_schema(prefix: str):
    """A throwaway schema on TEST_DATABASE_URL: the DATABASE_URL of a log in it, dropped after."""
    import psycopg

    url = os.environ["TEST_DATABASE_URL"]
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
