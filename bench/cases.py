"""Builders of realistic Qinzhou (qz-htz) requests for the benchmarks and the soak.

Every builder returns a JSON-ready dict: a request body for ``POST /v1/decisions``
(strings for money and dates, never floats). Nothing here imports the service.

- ``ten_event_case()``: the fixed 10-event case the benchmarks time.
- ``TEN_EVENT_EXPECTED``: what that case must be granted, amount per event.
- ``mixed_case(rng)``: one random, valid case of 1-12 events (seeded ``random.Random``).
- ``invalid_case(rng)``: one request the service must refuse with a 400.
- ``mix(rng, n)``: a list of ``n`` mixed cases.
"""
from __future__ import annotations

import copy
import random
from datetime import date, timedelta

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also when run as a script
from tests.helpers import GOOD_ATTRIBUTES  # noqa: E402  (one list of the art. 十四 attributes, all met)

# Every event type the qz-htz ruleset triggers on for an enterprise (its other
# trigger, zone_local_tax_retained, is a zone's).
ENTERPRISE_EVENT_TYPES = [
    "hte_recognized",
    "gazelle_recognized",
    "gazelle_regional_award",
    "incubator_recognized",
    "incubatee_hte_recognized",
    "incubator_evaluated",
    "incubation_space_rented",
    "platform_recognized",
    "patent_purchased",
    "talent_appointed",
    "approval_requested",
]

LEVELS = ["national", "regional", "city"]
PLATFORM_TYPES = ["key_laboratory", "technology_innovation_center", "engineering_research_center",
                  "quality_inspection_center", "new_rd_institution"]
OTHER_ZONES = [("nanning-htz", "nanning"), ("liuzhou-national-htz", "liuzhou"), ("guilin-htz", "guilin"),
               ("nanning-etdz", "nanning"), ("qinzhou-port-etdz", "qinzhou")]


# --------------------------------------------------------------------------- the 10-event case

def ten_event_case(case_id: str = "BENCH-QZ-10") -> dict:
    """A Qinzhou high-tech SME's file over four years; 7 grants, 1 stacked away, 1 outside the window."""
    return {
        "case_id": case_id,
        "applicant": {
            "kind": "enterprise",
            "name": "钦州某新材料科技有限公司",
            "credit_code": "91450700MA5L0BENCH",
            "city": "qinzhou",
            "zone": "qinzhou-htz",
            "zone_level": "regional",
            "zone_type": "htz",
            "attributes": dict(GOOD_ATTRIBUTES, manufacturing=True, high_tech_enterprise_since="2022-03-10"),
            "incidents": [],
        },
        "events": [
            {"id": "e1", "type": "hte_recognized", "date": "2022-03-10", "was_tech_sme": True},
            {"id": "e2", "type": "gazelle_recognized", "date": "2023-06-15"},
            {"id": "e3", "type": "gazelle_regional_award", "date": "2023-11-20", "amount": "300000.00"},
            {"id": "e4", "type": "gazelle_regional_award", "date": "2024-10-10", "amount": "250000.55"},
            {"id": "e5", "type": "patent_purchased", "date": "2022-05-01", "cost": "70000.00",
             "patent_kind": "invention", "core_of_successful_hte_application": True},
            {"id": "e6", "type": "patent_purchased", "date": "2023-02-01", "cost": "60000.00",
             "patent_kind": "invention", "core_of_successful_hte_application": True},
            {"id": "e7", "type": "incubator_recognized", "date": "2023-04-01", "level": "regional"},
            {"id": "e8", "type": "incubator_evaluated", "date": "2023-12-20", "level": "regional",
             "rating": "excellent"},
            {"id": "e9", "type": "platform_recognized", "date": "2024-03-01", "level": "national",
             "platform_type": "engineering_research_center", "platform_id": "P-ERC-1"},
            # before 2021-12-30: outside the window of qz-htz
            {"id": "e10", "type": "platform_recognized", "date": "2021-06-01", "level": "city",
             "platform_type": "key_laboratory", "platform_id": "P-KL-0"},
        ],
        "prior_awards": [],
        "options": {"lang": "zh"},
    }


def three_document_case(case_id: str = "BENCH-3DOC") -> dict:
    """A Qinzhou HTZ enterprise whose events fall under qz-htz and gx-htz, asking for drafts too."""
    case = ten_event_case(case_id)
    case["events"] = [e for e in case["events"] if e["id"] in ("e1", "e2", "e3", "e9")] + [
        {"id": "g1", "type": "national_rd_funding", "date": "2023-05-01", "programme": "key_rd_programme",
         "project_id": "2023YFB01", "amount": "6000000.00"},
        {"id": "g2", "type": "national_rd_funding", "date": "2024-05-01", "programme": "major_sci_tech_project",
         "project_id": "2024ZX02", "amount": "7000000.00"},
        {"id": "g3", "type": "unicorn_pool_entered", "date": "2024-07-01"},
        {"id": "g4", "type": "investment_funds_received", "date": "2024-09-01", "project_id": "INV-1",
         "amount": "123456789.00", "investment_attraction": True},
    ]
    case["prior_awards"] = [{"measure": "gx-htz/6", "amount": "1000000.00", "date": "2022-05-10"}]
    case["options"] = {"lang": "zh", "include_drafts": True}
    return case


# event id -> granted amount (fixed/computed/capped ceiling) for ten_event_case()
TEN_EVENT_EXPECTED = {
    "e1": "200000.00",    # 2.1  HTE as tech SME
    "e2": "500000.00",    # 2.2  gazelle, already HTE
    "e3": "60000.00",     # 2.3  20% of 300,000.00
    "e4": "50000.11",     # 2.3  20% of 250,000.55 = 50,000.11 (half-up to the fen)
    "e5": "70000.00",     # 5    patent cost, under the 100,000 cap
    "e6": "30000.00",     # 5    60,000 capped by the 30,000 left of 100,000
    "e9": "1000000.00",   # 4    national platform
}
# e7: 3.1 granted with no amount (per policy); e8: 3.3 not stacked (same year as e7); e10: outside window


# --------------------------------------------------------------------------- the mix

def _day(rng: random.Random, start: date = date(2021, 6, 1), end: date = date(2026, 6, 30)) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _money(rng: random.Random, low: int, high: int) -> str | int:
    yuan = rng.randrange(low, high + 1)
    if rng.random() < 0.2:
        return yuan  # an integer of yuan is accepted too
    return f"{yuan}.{rng.randrange(100):02d}"


def _event(rng: random.Random, event_type: str, event_id: str, anchor: date) -> dict:
    when = _day(rng) if rng.random() < 0.4 else min(anchor + timedelta(days=rng.randrange(0, 900)), date(2026, 6, 30))
    event = {"id": event_id, "type": event_type, "date": when.isoformat()}
    if event_type == "hte_recognized":
        event["was_tech_sme"] = rng.random() < 0.8
    elif event_type == "gazelle_regional_award":
        event["amount"] = _money(rng, 50_000, 1_000_000)
    elif event_type == "incubator_recognized":
        event["level"] = rng.choice(LEVELS)
    elif event_type == "incubatee_hte_recognized":
        event["incubatee"] = f"孵化企业{rng.randrange(1000)}"
        if rng.random() < 0.5:
            event["graduated_on"] = (when - timedelta(days=rng.randrange(0, 700))).isoformat()
    elif event_type == "incubator_evaluated":
        event["level"] = rng.choice(LEVELS)
        event["rating"] = rng.choice(["excellent", "excellent", "good", "pass", "fail"])
    elif event_type == "incubation_space_rented":
        event["recognized_by_city_ht_service_center"] = rng.random() < 0.5
        event["met_hte_pool_target"] = rng.random() < 0.4
    elif event_type == "platform_recognized":
        event["level"] = rng.choice(LEVELS)
        event["platform_type"] = rng.choice(PLATFORM_TYPES)
        if rng.random() < 0.7:
            event["platform_id"] = f"P{rng.randrange(4)}"  # repeats exercise the once-per-platform cap
    elif event_type == "patent_purchased":
        event["cost"] = _money(rng, 5_000, 90_000)
        event["patent_kind"] = rng.choice(["invention", "invention", "invention", "utility_model", "design",
                                           "software_copyright"])
        event["core_of_successful_hte_application"] = rng.random() < 0.8
    elif event_type == "talent_appointed":
        event["talent"] = f"人才{rng.randrange(1000)}"
        event["civil_servant"] = rng.random() < 0.15
    elif event_type == "approval_requested":
        event["item"] = rng.choice(["用地预审", "环评审批", "能评审查", "项目核准"])
        event["needs_level_by_level_forwarding"] = rng.random() < 0.7
    elif event_type == "zone_local_tax_retained":
        event["amount"] = _money(rng, 10_000_000, 900_000_000)
    if rng.random() < 0.05:
        event["project_id"] = f"PRJ-{rng.randrange(100000)}"
    return event


def _applicant(rng: random.Random, kind: str, profile: str) -> dict:
    attributes = dict(GOOD_ATTRIBUTES)
    if profile == "ftz":  # the FTZ Qinzhou Port alternative to the location test
        for key in ("registered_in_zone", "tax_in_zone", "statistics_in_zone"):
            attributes.pop(key)
        attributes["registered_in_ftz_qinzhou_port"] = True
        attributes["operates_in_zone"] = True
    elif profile == "ineligible":
        for key in rng.sample(sorted(GOOD_ATTRIBUTES), rng.randint(1, 3)):
            attributes[key] = False
    if rng.random() < 0.6:
        attributes["high_tech_enterprise_since"] = _day(rng, date(2018, 1, 1), date(2025, 6, 30)).isoformat()
    attributes["manufacturing"] = rng.random() < 0.5
    if profile == "elsewhere":
        zone, city = rng.choice(OTHER_ZONES)
    else:
        zone, city = "qinzhou-htz", "qinzhou"
    applicant = {"kind": kind, "name": f"企业{rng.randrange(10**6):06d}", "city": city, "zone": zone,
                 "attributes": attributes}
    if kind == "zone":
        applicant.update(name="钦州高新区", zone_level="regional", zone_type="htz")
        applicant["attributes"] = {}
    else:
        applicant["credit_code"] = f"91450700MA5L{rng.randrange(10**6):06d}"
    if profile == "incidents" or rng.random() < 0.05:
        applicant["incidents"] = [
            {"year": rng.randint(2021, 2026),
             "type": rng.choice(["safety_accident", "environmental_emergency", "major_economic_loss", "major_violation"]),
             "grade": rng.choice(["general", "relatively_major", "major", "extraordinarily_serious"])}
            for _ in range(rng.randint(1, 3))
        ]
    return applicant


def _prior_awards(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(rng.randint(1, 3)):
        measure = rng.choice(["qz-htz/2.1", "qz-htz/2.2", "qz-htz/5", "qz-htz/5", "qz-htz/4"])
        award = {"measure": measure, "date": _day(rng, date(2022, 1, 1), date(2024, 12, 31)).isoformat()}
        if measure == "qz-htz/5":
            award["amount"] = _money(rng, 10_000, 100_000)
        elif measure == "qz-htz/4":
            award["amount"] = "200000.00"
            award["platform_id"] = f"P{rng.randrange(4)}"
        else:
            award["amount"] = "200000.00" if measure == "qz-htz/2.1" else "500000.00"
        out.append(award)
    return out


def mixed_case(rng: random.Random, case_id: str | None = None) -> dict:
    """A random valid request: 1-12 events over every qz-htz event type.

    About 65% plain Qinzhou enterprises, 10% ineligible ones (an eligibility
    attribute false), 8% with incidents, 7% using the FTZ alternative, 5% outside
    Qinzhou (no rule fires: not applicable), 5% zone applicants; 15% carry prior
    awards, ~3% have only events outside the window.
    """
    roll = rng.random()
    profile = ("plain" if roll < 0.65 else "ineligible" if roll < 0.75 else "incidents" if roll < 0.83
               else "ftz" if roll < 0.90 else "elsewhere" if roll < 0.95 else "zone")
    kind = "zone" if profile == "zone" else "enterprise"
    applicant = _applicant(rng, kind, profile)
    n = rng.randint(1, 12)
    anchor = _day(rng, date(2021, 10, 1), date(2025, 6, 30))
    if kind == "zone":
        types = ["zone_local_tax_retained"] * rng.randint(1, 3)
        types += [rng.choice(ENTERPRISE_EVENT_TYPES) for _ in range(max(0, n - len(types)) // 4)]
    else:
        types = [rng.choice(ENTERPRISE_EVENT_TYPES) for _ in range(n)]
    events = [_event(rng, t, f"e{i + 1}", anchor) for i, t in enumerate(types)]
    if rng.random() < 0.03:  # nothing inside the window: no rule grants anything
        for e in events:
            e["date"] = _day(rng, date(2026, 1, 1), date(2027, 12, 31)).isoformat()
    body = {"case_id": case_id or f"MIX-{rng.randrange(10**9)}", "applicant": applicant, "events": events}
    if kind == "enterprise" and rng.random() < 0.15:
        body["prior_awards"] = _prior_awards(rng)
    if rng.random() < 0.3:
        body["options"] = {"lang": rng.choice(["zh", "en"]), "explain": rng.random() < 0.3}
    return body


def no_rule_case(rng: random.Random) -> dict:
    """A valid request on which no rule of qz-htz can fire (the applicant is outside
    Qinzhou); the Guangxi-wide or Liuzhou measures may still grant something."""
    body = mixed_case(rng)
    zone, city = rng.choice(OTHER_ZONES)
    body["applicant"].update(kind="enterprise", zone=zone, city=city)
    return body


def invalid_case(rng: random.Random) -> dict | list | str:
    """A request the service must answer with 400 (one defect among several kinds)."""
    body = copy.deepcopy(mixed_case(rng))
    events = body["events"]
    defect = rng.randrange(9)
    if defect == 0:
        events[0] = {"id": events[0]["id"], "type": "gazelle_regional_award", "date": "2024-05-01", "amount": 1.5}
    elif defect == 1:
        events[0]["type"] = "nonsense_event"
    elif defect == 2:
        events[0]["date"] = "2024-13-45"
    elif defect == 3:
        events.append(dict(events[0]))  # duplicate id
    elif defect == 4:
        del body["applicant"]
    elif defect == 5:
        body["applicant"]["kind"] = "person"
    elif defect == 6:
        events[0]["unexpected_field"] = True
    elif defect == 7:
        body["prior_awards"] = [{"measure": "qz-htz/5", "amount": "-5.00", "date": "2023-01-01"}]
    else:
        return rng.choice([[], "a string", 42])  # not an object
    return body


def mix(rng: random.Random, n: int) -> list[dict]:
    return [mixed_case(rng) for _ in range(n)]


if __name__ == "__main__":  # print a few examples
    import json
    import sys

    r = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print(json.dumps(ten_event_case(), ensure_ascii=False, indent=1))
    for _ in range(2):
        print(json.dumps(mixed_case(r), ensure_ascii=False, indent=1))
