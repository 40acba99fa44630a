"""The zone registry (schemas/zones.yaml): known zones and cities only, the
applicant's city, level and type derived from its zone, contradictions refused;
event ids that would misname events in candidate ids refused."""
from __future__ import annotations

import re

import pytest
import yaml

from service.http.app import create_app
from service.paths import SCHEMAS_DIR
from service.zones import load_zones, zones

from tests.helpers import RULESETS_DIR, SOURCES_DIR, qz_case

PROBLEM = "application/problem+json"
EN = {"lang": "en"}
RD_FUNDING = {"id": "f", "type": "national_rd_funding", "date": "2024-06-01", "programme": "key_rd_programme",
              "project_id": "2024YFB01", "amount": "1000000.00"}
HTE = {"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}


@pytest.fixture(scope="module")
def client(decider):
    return create_app(decider).test_client()


def _errors(response) -> dict:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return {e["path"]: e["message"] for e in response.get_json()["errors"]}


def _with(case: dict, **applicant) -> dict:
    case["applicant"].update(applicant)
    return case


# --- the registry ----------------------------------------------------------------------------

def test_the_registry_holds_the_fourteen_cities_and_sourced_zones():
    registry = zones()
    assert len(registry.cities) == 14
    assert {"nanning", "liuzhou", "guilin", "qinzhou", "beihai", "chongzuo"} <= set(registry.cities)
    for zone in registry.zones.values():
        assert zone.city in registry.cities, zone.id
        assert zone.source.get("exists") and zone.source.get("level"), f"{zone.id}: every fact has a source"
    assert registry.derive("qinzhou-htz") == {"city": "qinzhou", "zone_level": "regional", "zone_type": "htz"}
    assert registry.derive("liuzhou-national-htz") == {"city": "liuzhou", "zone_level": "national", "zone_type": "htz"}
    assert registry.derive("qinzhou-port-etdz") == {"city": "qinzhou", "zone_level": "national", "zone_type": "etdz"}
    assert "liuzhou-htz" not in registry.zones, "not a Liuzhou zone: the national HTZ is liuzhou-national-htz"


def _zone_ids_tested(node, found: set) -> set:
    """Every zone and city id a ruleset names: scope.zones/cities and applicant_zone/_city conditions."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("applicant_zone", "applicant_city", "zones", "cities"):
                found |= set(_strings(value))
            _zone_ids_tested(value, found)
    elif isinstance(node, list):
        for item in node:
            _zone_ids_tested(item, found)
    return found


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_every_zone_and_city_a_ruleset_names_is_registered():
    registry = zones()
    named = set()
    for path in sorted(RULESETS_DIR.glob("*/*.yaml")):
        named |= _zone_ids_tested(yaml.safe_load(path.read_text(encoding="utf-8")), set())
    assert {"qinzhou-htz", "liuzhou-national-htz", "hexi-liuzhou-htz", "liuzhou"} <= named, "the walk finds them"
    assert named - set(registry.zones) - set(registry.cities) == set()


def test_every_quoted_seed_phrase_is_in_its_seed():
    """A source "seed NNN …: “words”" cites words found in that seed (whitespace removed; … joins fragments)."""
    texts = {p.name[:3]: re.sub(r"\s+", "", p.read_text(encoding="utf-8")) for p in SOURCES_DIR.glob("0*.txt")}
    raw = yaml.safe_load((SCHEMAS_DIR / "zones.yaml").read_text(encoding="utf-8"))
    checked = 0
    for zone in raw["zones"]:
        for fact, text in zone["source"].items():
            for seed, cited in re.findall(r"seed (\d{3})(.*?)(?=seed \d{3}|$)", text):
                for quote in re.findall(r"“([^”]+)”", cited):
                    for fragment in filter(None, quote.split("…")):
                        assert re.sub(r"\s+", "", fragment) in texts[seed], f"{zone['id']}/{fact}: {fragment!r} not in seed {seed}"
                        checked += 1
    assert checked >= 20


def test_the_loader_refuses_a_zone_of_an_unknown_city_or_level(tmp_path):
    path = tmp_path / "zones.yaml"
    path.write_text(yaml.safe_dump({
        "cities": [{"id": "qinzhou", "zh": "钦州市"}],
        "zones": [{"id": "a-htz", "zh": "甲", "city": "nowhere", "level": "county", "type": "htz", "source": {"exists": "x"}},
                  {"id": "b-htz", "zh": "乙", "city": "qinzhou", "level": "regional", "type": "htz"}],
    }, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_zones(path)
    message = str(refused.value)
    assert "zones/a-htz/city" in message and "zones/a-htz/level" in message and "zones/b-htz/source" in message


# --- unknown zones and cities ----------------------------------------------------------------

def test_an_unknown_zone_is_a_400_naming_it_and_the_closest_ids(client):
    errors = _errors(client.post("/v1/decisions", json=qz_case([HTE], zone="qinzhou-hzt", options=EN)))
    assert list(errors) == ["applicant/zone"]
    assert "'qinzhou-hzt'" in errors["applicant/zone"]
    assert errors["applicant/zone"].split("closest known zones: ")[1].split(", ")[0] == "qinzhou-htz"


def test_a_zone_named_by_a_city_s_prefix_suggests_that_city_s_zones(client):
    errors = _errors(client.post("/v1/decisions", json=qz_case([HTE], zone="liuzhou-htz", city="liuzhou", options=EN)))
    closest = errors["applicant/zone"].split("closest known zones: ")[1].split(", ")
    assert closest[:2] == ["liuzhou-national-htz", "hexi-liuzhou-htz"]


def test_an_unknown_city_is_a_400_naming_it_and_the_closest_ids(client):
    errors = _errors(client.post("/v1/decisions", json=qz_case([HTE], city="qinzou", options=EN)))
    assert list(errors) == ["applicant/city"]
    assert "'qinzou'" in errors["applicant/city"] and "qinzhou" in errors["applicant/city"].split("closest")[1]


def test_an_unknown_city_without_a_zone_is_a_400_too(client):
    case = qz_case([HTE], options=EN)
    del case["applicant"]["zone"]
    case["applicant"]["city"] = "guilinn"
    errors = _errors(client.post("/v1/decisions", json=case))
    assert list(errors) == ["applicant/city"] and "guilin" in errors["applicant/city"]


# --- contradictions --------------------------------------------------------------------------

def test_a_stated_type_level_or_city_that_contradicts_the_registry_is_a_400_naming_both(client):
    case = _with(qz_case([HTE], options=EN), zone_type="etdz", zone_level="national", city="nanning")
    errors = _errors(client.post("/v1/decisions", json=case))
    assert sorted(errors) == ["applicant/city", "applicant/zone_level", "applicant/zone_type"]
    assert "'etdz'" in errors["applicant/zone_type"] and "'htz'" in errors["applicant/zone_type"]
    assert "'national'" in errors["applicant/zone_level"] and "'regional'" in errors["applicant/zone_level"]
    assert "'nanning'" in errors["applicant/city"] and "'qinzhou'" in errors["applicant/city"]
    assert all("qinzhou-htz" in message for message in errors.values())


def test_stated_values_that_agree_with_the_registry_pass(validator):
    case, errors = validator.validate(_with(qz_case([HTE]), zone_type="htz", zone_level="regional"))
    assert errors == []


def test_a_contradiction_is_reported_beside_every_other_invalid_field(client):
    case = _with(qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-02-30"}], options=EN,
                         attributes={"operates_honestly": "yes"}), zone_type="etdz")
    errors = _errors(client.post("/v1/decisions", json=case))
    assert sorted(errors) == ["applicant/attributes/operates_honestly", "applicant/zone_type", "events/0/date"]


# --- derivation ------------------------------------------------------------------------------

def test_the_validated_case_carries_the_values_derived_from_the_zone(validator):
    case, errors = validator.validate(qz_case([HTE]))
    assert errors == []
    applicant = case["applicant"]
    assert (applicant["city"], applicant["zone_level"], applicant["zone_type"]) == ("qinzhou", "regional", "htz")


def test_a_qinzhou_htz_applicant_that_omits_zone_type_is_judged_by_gx_htz(decider, validator):
    payload = qz_case([RD_FUNDING])
    del payload["applicant"]["city"]  # derived too
    assert "zone_type" not in payload["applicant"] and "zone_level" not in payload["applicant"]
    case, errors = validator.validate(payload)
    assert errors == []
    decision = decider.decide(case)
    assert "gx-htz" not in {n["policy"] for n in decision["not_applicable"]}
    assert [(o["measure"], o["amount"]) for o in decision["outcomes"]] == [("gx-htz/6", "1000000.00")]
    assert decision["totals"] == {"CNY": "1000000.00"}


def test_the_derived_city_puts_a_liuzhou_zone_in_the_scope_of_lz_htz(decider, validator):
    payload = qz_case([RD_FUNDING], zone="liuzhou-national-htz")
    del payload["applicant"]["city"]
    case, errors = validator.validate(payload)
    assert errors == []
    not_applicable = {n["policy"] for n in decider.decide(case)["not_applicable"]}
    assert "lz-htz" not in not_applicable and "qz-htz" in not_applicable


def test_an_applicant_with_no_zone_keeps_working(decider, validator):
    payload = qz_case([RD_FUNDING])
    del payload["applicant"]["zone"], payload["applicant"]["city"]
    case, errors = validator.validate(payload)
    assert errors == []
    assert not {"zone", "city", "zone_level", "zone_type"} & set(case["applicant"])
    decision = decider.decide(case)
    assert decision["outcomes"] == []
    assert {"qz-htz", "gx-htz", "lz-htz"} <= {n["policy"] for n in decision["not_applicable"]}


# --- ids that name events in candidate ids ---------------------------------------------------

def test_an_event_id_with_a_bar_is_a_400_on_its_path(client):
    events = [dict(HTE, id="e|1"), dict(RD_FUNDING, id="ok"), {"id": "x|", "type": "nonsense", "date": "2024-01-01"}]
    errors = _errors(client.post("/v1/decisions", json=qz_case(events, options=EN)))
    assert errors["events/0/id"] == "must not contain '|'"
    assert errors["events/2/id"] == "must not contain '|'", "an event of no known type has its id checked too"
    assert "events/1/id" not in errors


def test_a_bar_in_a_platform_or_project_id_misnames_nothing(decider, validator):
    """Those ids close a ledger id after a cap id (``cap|key``) and are never split back."""
    platform = {"type": "platform_recognized", "date": "2024-06-01", "level": "regional"}
    case, errors = validator.validate(qz_case(
        [dict(platform, id="p1", platform_id="LAB|1"), dict(platform, id="p2", platform_id="LAB|2")],
        prior_awards=[{"measure": "qz-htz/4", "amount": "50000.00", "date": "2022-06-01", "platform_id": "LAB|1"}]))
    assert errors == []
    decision = decider.decide(case)
    assert [(o["measure"], o["event"], o["amount"]) for o in decision["outcomes"] if o["measure"] == "qz-htz/4"] == [
        ("qz-htz/4", "p2", "200000.00")]
    assert [(d["event"], d["reason"]) for d in decision["denials"] if d["measure"] == "qz-htz/4"] == [
        ("p1", "already_granted")]
