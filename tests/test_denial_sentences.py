"""The sentence of a cap denial names the cap's rule: its count, its span, its amount — for every
shape a ruleset's cap takes, in zh and en (issue 9: it read "may be granted  time(s) per zone")."""
from __future__ import annotations

import pytest

from service.render.messages import denial_detail

NATIONAL = {"kind": "zone", "zone": "nanning-htz", "city": "nanning", "zone_level": "national", "zone_type": "htz"}
REGIONAL = {"kind": "zone", "zone": "wuzhou-htz", "city": "wuzhou", "zone_level": "regional", "zone_type": "htz"}
HTE = {"kind": "enterprise", "zone": "nanning-htz", "city": "nanning", "zone_level": "national", "zone_type": "htz",
       "attributes": {"high_tech_enterprise_since": "2020-11-01"}}
FUNDS = {"type": "investment_funds_received", "project_id": "P1", "amount": "1000000.00", "investment_attraction": True}


def _detail(decider, validator, body: dict, lang: str, measure: str, reason: str) -> str:
    case, errors = validator.validate(dict(body, options={"lang": lang}))
    assert errors == []
    [denial] = [d for d in decider.decide(case)["denials"] if d["measure"] == measure and d["reason"] == reason]
    return denial["detail"]


COUNT_PER_ZONE = {"applicant": NATIONAL,  # gx-htz/23.1#once: count 1 per zone
                  "events": [{"id": "n22", "type": "zone_evaluated", "date": "2022-12-31", "scope": "national", "rank": 30,
                              "list_size": 169}],
                  "prior_awards": [{"measure": "gx-htz/23.1", "amount": "10000000.00", "date": "2021-12-31"}]}
SPAN_PER_ZONE = {"applicant": REGIONAL,  # gx-htz/23.3#run: span 3 per zone, no count
                 "events": [{"id": f"r{year % 100}", "type": "zone_evaluated", "date": f"{year}-12-31", "scope": "regional",
                             "rank": 1, "list_size": 20} for year in range(2021, 2025)]}
COUNT_AND_AMOUNT_PER_PROJECT = {"applicant": HTE,  # gx-htz/8#project: count 1 and 30,000,000 per project
                                "events": [dict(FUNDS, id="y1", date="2022-06-30"), dict(FUNDS, id="y2", date="2023-06-30")]}
AMOUNT_PER_ENTERPRISE = {"applicant": {"kind": "enterprise", "zone": "nanning-htz", "city": "nanning"},  # gx-htz/6: 10,000,000
                         "events": [{"id": "f", "type": "national_rd_funding", "date": "2024-06-01",
                                     "programme": "key_rd_programme", "amount": "500000.00"}],
                         "prior_awards": [{"measure": "gx-htz/6", "amount": "10000000.00", "date": "2022-08-01"}]}


@pytest.mark.parametrize("body,measure,reason,lang,sentence", [
    (COUNT_PER_ZONE, "gx-htz/23.1", "already_granted", "en",
     "gx-htz/23.1 is not granted: it may be granted once per zone (cap gx-htz/23.1#once), and that is used."),
    (COUNT_PER_ZONE, "gx-htz/23.1", "already_granted", "zh",
     "gx-htz/23.1不予支持：每个园区限享受1次（gx-htz/23.1#once），已享受。"),
    (SPAN_PER_ZONE, "gx-htz/23.3", "already_granted", "en",
     "gx-htz/23.3 is not granted: it may be granted once in any 3 consecutive years per zone (cap gx-htz/23.3#run), "
     "and it was granted less than 3 years before."),
    (SPAN_PER_ZONE, "gx-htz/23.3", "already_granted", "zh",
     "gx-htz/23.3不予支持：每个园区任意连续3年内限享受1次（gx-htz/23.3#run），距上次享受不足3年。"),
    (COUNT_AND_AMOUNT_PER_PROJECT, "gx-htz/8", "already_granted", "en",
     "gx-htz/8 is not granted: it may be granted once per project, up to 30000000.00 per project (cap gx-htz/8#project), "
     "and that is used."),
    (COUNT_AND_AMOUNT_PER_PROJECT, "gx-htz/8", "already_granted", "zh",
     "gx-htz/8不予支持：每个项目限享受1次，最高30000000.00元（gx-htz/8#project），已享受。"),
    (AMOUNT_PER_ENTERPRISE, "gx-htz/6", "cap_exhausted", "en",
     "gx-htz/6 is not granted: cap shared/national-rd-matching (10000000.00 per enterprise) is exhausted by earlier awards."),
    (AMOUNT_PER_ENTERPRISE, "gx-htz/6", "cap_exhausted", "zh",
     "gx-htz/6不予支持：限额shared/national-rd-matching（每家企业10000000.00元）已被此前奖补用完。"),
], ids=["count-en", "count-zh", "span-en", "span-zh", "count-amount-en", "count-amount-zh", "amount-en", "amount-zh"])
def test_a_cap_denial_says_the_caps_rule(decider, validator, body, measure, reason, lang, sentence):
    assert _detail(decider, validator, body, lang, measure, reason) == sentence


# shapes the schema accepts that no ruleset declares yet
@pytest.mark.parametrize("values,lang,sentence", [
    ({"count": 2, "span": None, "count_used": True}, "en",
     "m is not granted: it may be granted twice per enterprise (cap c), and that is used."),
    ({"count": 3, "span": None, "count_used": True}, "zh", "m不予支持：每家企业限享受3次（c），已享受。"),
    ({"count": 2, "span": 3, "count_used": False}, "en",
     "m is not granted: it may be granted twice per enterprise, once in any 3 consecutive years (cap c), "
     "and it was granted less than 3 years before."),
    ({"count": 2, "span": 3, "count_used": True}, "zh",
     "m不予支持：每家企业限享受2次，任意连续3年内限享受1次（c），已享受。"),
], ids=["twice-en", "three-times-zh", "count-and-span-by-span-en", "count-and-span-by-count-zh"])
def test_every_cap_shape_has_its_sentence(values, lang, sentence):
    assert denial_detail(lang, "already_granted", measure="m", cap="c", per="enterprise", amount=None, **values) == sentence


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_cap_sentence_leaves_a_blank(decider, validator, lang):
    for body, measure in ((COUNT_PER_ZONE, "gx-htz/23.1"), (SPAN_PER_ZONE, "gx-htz/23.3"),
                          (COUNT_AND_AMOUNT_PER_PROJECT, "gx-htz/8")):
        detail = _detail(decider, validator, body, lang, measure, "already_granted")
        assert "  " not in detail and "None" not in detail and "()" not in detail and "（）" not in detail
