"""The derivation (issue 12, part 1): per outcome, denial and inapplicable entry, what the
engine's rules matched, tied to the law's words; it changes with the ruleset it comes from,
and a decision logged without it is explained by replay and still identical."""
from __future__ import annotations

import copy
import shutil

import orjson
import pytest

from service.decide import Decider
from service.http.app import create_app
from service.replay import replay
from service.rulebook.registry import Registry

from tests.helpers import QZ_CURRENT, RULESETS_DIR, decide, qz_case
from tests.test_log import BACKENDS, close_log, post, target  # noqa: F401 (fixture)

GAZELLE = [
    {"id": "g", "type": "gazelle_recognized", "date": "2022-06-01"},
    {"id": "a", "type": "gazelle_regional_award", "date": "2024-07-01", "amount": "123456.78"},
]
HTE_SINCE = {"high_tech_enterprise_since": "2020-01-01"}


def explained(decider, validator, case: dict, lang: str = "en") -> dict:
    case = copy.deepcopy(case)
    case["options"] = {"explain": True, "lang": lang}
    return decide(decider, validator, case)


def one(entries: list, **match) -> dict:
    found = [e for e in entries if all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, entries)
    return found[0]


def step(entry: dict, step_id: str) -> dict:
    return one(entry["steps"], id=step_id)


def values(a_step: dict) -> dict:
    return {read["path"]: read.get("value") for read in a_step["read"]}


def test_a_qz_htz_grant_is_derived_step_by_step(decider, validator):
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}])
    decision = explained(decider, validator, case)
    assert [o["measure"] for o in decision["outcomes"]] == ["qz-htz/2.1"]
    derived = decision["derivation"]["outcomes"]
    assert len(derived) == len(decision["outcomes"])
    grant = derived[0]
    assert (grant["measure"], grant["event"], grant["result"], grant["article"]) == ("qz-htz/2.1", "e1", "granted", "二")
    version = grant["version"]
    assert (version["policy"], version["version"], version["revision"]) == ("qz-htz", "2021-12-30", 3)
    assert version["event_date"] == "2024-12-05" and version["role"] == "in" and version["chosen_by"] == "window"
    assert version["window"] == {"from": "2021-12-30", "until": "2025-12-31"} and version["article"] == "十五"
    # every art. 十四 condition held, with what the applicant's facts said
    eligibility = [s for s in grant["steps"] if s["kind"] == "eligibility"]
    assert [s["id"] for s in eligibility][:2] == ["in_zone", "sound_financial_system"]
    assert all(s["result"] == "held" and s["article"] == "十四" and s["cites"] for s in eligibility)
    honest = step(grant, "honest_and_taxpaying")
    assert honest["test"] == {"operates_honestly": True, "pays_taxes_lawfully": True}
    assert values(honest) == {"applicant/attributes/operates_honestly": True,
                              "applicant/attributes/pays_taxes_lawfully": True}
    assert values(step(grant, "in_zone"))["applicant/zone"] == "qinzhou-htz"
    # the measure's conditions: the alternative the firing rule tested, the values it matched
    sme = step(grant, "was_tech_sme")
    assert sme["kind"] == "condition" and sme["result"] == "held" and sme["test"] == {"was_tech_sme": True}
    assert values(sme) == {"events[e1]/was_tech_sme": True}
    assert sme["explain"] == "must have been a tech SME when recognised as a high-tech enterprise"
    assert sme["cites"] == "对认定为高新技术企业的科技型中小企业，给予一次性奖励20万元"
    first = step(grant, "first_recognition")
    # the case's HTE status dates from this recognition: the second alternative held, not "never"
    assert first["alternative"] == 1
    assert first["tested"] == [{"field": "hte_since", "op": "gte", "value": "@self.date"}]
    assert values(first) == {"applicant/attributes/high_tech_enterprise_since": "2024-12-05",
                             "events[e1]/date": "2024-12-05"}
    # the cap of one award per enterprise, opened with nothing counted
    ledger = grant["ledger"]
    assert ledger["cap"] == "qz-htz/2.1#once" and ledger["prior_awards"] == []
    assert ledger["opening"] == {"remaining": None, "count_remaining": 1}
    assert [(c["event"], c["status"]) for c in ledger["claims"]] == [("e1", "granted")]
    # in Chinese, the explanations follow options.lang
    zh = explained(decider, validator, case, lang="zh")["derivation"]["outcomes"][0]
    assert step(zh, "was_tech_sme")["explain"] == "认定为高新技术企业时须为科技型中小企业"


def test_a_formula_shows_its_inputs_and_rounding(decider, validator):
    decision = explained(decider, validator, qz_case(GAZELLE, attributes=HTE_SINCE))
    topup = one(decision["derivation"]["outcomes"], measure="qz-htz/2.3")
    assert topup["supporting_events"] == ["g"]
    formula = topup["formula"]
    assert formula["text"] == "amount * 0.20" and formula["rounding"] == "half_up_fen"
    assert formula["inputs"] == [{"name": "amount", "path": "events[a]/amount", "type": "money", "value": "123456.78"}]
    assert formula["exact"] == "24691.356" and formula["amount"] == "24691.36"
    assert one(decision["outcomes"], measure="qz-htz/2.3")["amount"] == "24691.36"
    window = step(topup, "within_three_years_of_recognition")
    assert window["of"] == "recognition"
    assert values(window) == {"events[g]/year": 2022, "events[a]/year": 2024}
    assert one(topup["steps"], kind="join")["read"] == [{"path": "events[g]/id", "value": "g"}]
    hte = step(topup, "recognised_as_high_tech_enterprise")
    assert hte["tested"] == [{"field": "hte_since", "op": "gt", "value": 0}, {"field": "hte_since", "op": "lte", "value": "@self.date"}]
    assert values(hte) == {"applicant/attributes/high_tech_enterprise_since": "2020-01-01", "events[g]/date": "2022-06-01"}


def test_a_denial_for_missing_data_names_the_field(decider, validator):
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05"}])  # was_tech_sme unstated
    decision = explained(decider, validator, case)
    denial = one(decision["denials"], measure="qz-htz/2.1")
    assert denial["reason"] == "missing_data" and denial["field"] == "events[e1]/was_tech_sme"
    index = decision["denials"].index(denial)
    derived = decision["derivation"]["denials"][index]
    assert (derived["measure"], derived["event"], derived["result"]) == ("qz-htz/2.1", "e1", "missing_data")
    assert derived["unstated"] == "events[e1]/was_tech_sme" and derived["condition"] == "was_tech_sme"
    unknown = one(derived["steps"], id="was_tech_sme")
    assert unknown["result"] == "unknown" and unknown["test"] == {"was_tech_sme": True}
    assert unknown["read"] == [{"path": "events[e1]/was_tech_sme", "stated": False}]


def test_a_failed_condition_shows_the_negation_the_rule_tested(decider, validator):
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": False}])
    derived = explained(decider, validator, case)["derivation"]["denials"][0]
    failed = one(derived["steps"], id="was_tech_sme")
    assert failed["result"] == "failed" and failed["tested"] == [{"field": "was_tech_sme", "op": "neq", "value": True}]
    assert values(failed) == {"events[e1]/was_tech_sme": False}


def test_an_incident_bar_and_the_window_show_what_they_read(decider, validator):
    case = qz_case(GAZELLE + [{"id": "o", "type": "hte_recognized", "date": "2019-12-05", "was_tech_sme": True}],
                   attributes=HTE_SINCE, incidents=[{"year": 2024, "type": "safety_accident", "grade": "general"}])
    decision = explained(decider, validator, case)
    barred = step(one(decision["derivation"]["denials"], measure="qz-htz/2.3"), "no_general_accident_of_same_kind")
    assert barred["result"] == "failed" and barred["of"] == "incident"
    assert barred["tested"] == [{"field": "type", "op": "eq", "value": "safety_accident"},
                                {"field": "grade", "op": "eq", "value": "general"}]
    assert values(barred) == {"applicant/incidents/0/type": "safety_accident", "applicant/incidents/0/grade": "general",
                              "applicant/incidents/0/year": 2024}
    granted = one(decision["derivation"]["outcomes"], measure="qz-htz/2.2")  # 2022: the incident's year is not its
    held = step(granted, "no_general_accident_of_same_kind")
    assert held["result"] == "held" and values(held)["applicant/incidents/0/year"] == 2024
    outside = one(decision["derivation"]["denials"], measure="qz-htz/2.1")
    assert outside["result"] == "outside_window" and outside["version"]["role"] == "out"
    assert outside["version"]["chosen_by"] == "out_of_window"
    assert outside["steps"] == [{"kind": "window", "id": "effective", "of": "trigger", "article": "十五",
                                 "test": {"date": {"gte": "2021-12-30", "lte": "2025-12-31"}}, "result": "failed",
                                 "read": [{"path": "events[o]/date", "value": "2019-12-05"}],
                                 "cites": "本措施自发布之日起施行，执行至2025年12月31日止"}]


def test_an_eligibility_bar_shows_what_it_read(decider, validator):
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                   attributes={"pays_taxes_lawfully": False})
    decision = explained(decider, validator, case)
    assert decision["outcomes"] == []
    derived = one(decision["derivation"]["denials"], measure="qz-htz/2.1")
    bar = one(derived["steps"], id="honest_and_taxpaying")
    assert bar["kind"] == "eligibility" and bar["result"] == "failed" and bar["article"] == "十四"
    assert bar["tested"] == [{"field": "pays_taxes_lawfully", "op": "neq", "value": True}]
    assert values(bar) == {"applicant/attributes/pays_taxes_lawfully": False}


def test_a_cap_ledger_counts_the_prior_award_and_settles_claims_in_order(decider, validator):
    patents = [{"id": f"p{k}", "type": "patent_purchased", "date": f"2024-0{k}-01", "cost": "40000.00",
                "patent_kind": "invention", "core_of_successful_hte_application": True} for k in (1, 2, 3)]
    priors = [{"measure": "qz-htz/5", "amount": "30000.00", "date": "2023-02-01"},
              {"measure": "qz-htz/2.1", "amount": "200000.00", "date": "2023-02-01"}]
    decision = explained(decider, validator, qz_case(patents, prior_awards=priors))
    assert [o["amount_max"] for o in decision["outcomes"]] == ["40000.00", "30000.00"]
    ledger = decision["derivation"]["outcomes"][1]["ledger"]
    assert ledger["cap"] == "qz-htz/5" and ledger["limit"]["amount"] == "100000.00"
    assert ledger["cites"] == "每家企业补助总额不超过10万元"
    assert ledger["prior_awards"] == [{"index": 0, "path": "prior_awards/0", "measure": "qz-htz/5", "amount": "30000.00"}]
    assert ledger["opening"]["remaining"] == "70000.00"
    assert [(c["event"], c["asked"], c["status"], c["granted"], c["remaining_before"]) for c in ledger["claims"]] == [
        ("p1", "40000.00", "granted", "40000.00", "70000.00"),
        ("p2", "40000.00", "granted", "30000.00", "30000.00"),
        ("p3", "40000.00", "cap_exhausted", "0.00", "0.00"),
    ]
    exhausted = one(decision["derivation"]["denials"], event="p3")
    assert exhausted["result"] == "cap_exhausted" and exhausted["ledger"] == ledger
    assert one(exhausted["steps"], id="invention_patent")["result"] == "held"  # it was a candidate first


def test_a_stacking_loss_names_the_rival_and_the_groups_rule(decider, validator):
    case = qz_case([{"id": "r", "type": "incubator_recognized", "date": "2024-05-01", "level": "regional"},
                    {"id": "v", "type": "incubator_evaluated", "date": "2024-09-01", "level": "regional",
                     "rating": "excellent"}])
    decision = explained(decider, validator, case)
    lost = one(decision["denials"], measure="qz-htz/3.3")
    assert lost["reason"] == "not_stacked"
    derived = decision["derivation"]["denials"][decision["denials"].index(lost)]
    assert derived["result"] == "not_stacked"
    assert derived["stacking"] == {
        "group": "qz-htz/3#incubator-year", "article": "三", "cites": "考核年度已享受认定奖励的不再享受考核奖励",
        "per": "year", "key": "2024", "keep": "first", "members": ["qz-htz/3.1", "qz-htz/3.3"],
        "rival": {"measure": "qz-htz/3.1", "event": "r"}}
    assert step(derived, "rated_excellent")["result"] == "held"


def test_a_stacking_loss_to_a_prior_award_names_the_award(decider, validator):
    case = qz_case([{"id": "v", "type": "incubator_evaluated", "date": "2024-09-01", "level": "regional",
                     "rating": "excellent"}],
                   prior_awards=[{"measure": "qz-htz/3.1", "amount": "0.00", "date": "2024-06-01", "year": 2024}])
    decision = explained(decider, validator, case)
    lost = one(decision["derivation"]["denials"], measure="qz-htz/3.3")
    assert lost["result"] == "not_stacked"
    assert lost["stacking"]["rival"] == {"measure": "qz-htz/3.1", "prior_award": {
        "index": 0, "path": "prior_awards/0", "measure": "qz-htz/3.1", "amount": "0.00", "year": 2024}}


def test_an_inapplicable_measure_is_derived_once(decider, validator):
    regional_zone = {"kind": "zone", "zone": "wuzhou-htz", "city": "wuzhou", "zone_level": "regional", "zone_type": "htz"}
    events = [{"id": f"r{year % 100}", "type": "zone_evaluated", "date": f"{year}-12-31", "scope": "regional",
               "rank": 5, "list_size": 20} for year in (2022, 2023)]
    decision = explained(decider, validator, {"applicant": regional_zone, "events": events})
    assert len(decision["derivation"]["inapplicable"]) == len(decision["inapplicable"]) > 0
    for said, derived in zip(decision["inapplicable"], decision["derivation"]["inapplicable"]):
        assert (derived["measure"], derived["result"], derived["events"]) == (said["measure"], "inapplicable", said["events"])
        assert derived["condition"] == said["condition"]
        failing = one(derived["steps"], id=said["condition"])
        assert failing["result"] == "failed" and values(failing) == {"applicant/zone_level": "regional"}


def test_explain_changes_nothing_but_the_derivation_and_trace(decider, validator):
    case = qz_case(GAZELLE + [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05"}], attributes=HTE_SINCE)
    plain = decide(decider, validator, case)
    with_it = explained(decider, validator, case, lang="zh")
    assert "derivation" not in plain and "trace" not in plain
    volatile = ("decision_id", "evaluated_at", "input_sha256", "options", "trace", "derivation")
    assert {k: v for k, v in with_it.items() if k not in volatile} == {k: v for k, v in plain.items() if k not in volatile}


# -- the derivation comes from the rules the engine ran ---------------------------------
@pytest.fixture(scope="module")
def narrowed_decider(tmp_path_factory):
    """qz-htz 2.3's top-up years narrowed from the year of recognition and two after it to one after it."""
    directory = tmp_path_factory.mktemp("rulesets") / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    path = directory / "qz-htz" / QZ_CURRENT.name
    text = path.read_text(encoding="utf-8")
    written = 'test: {year: {gte: "@trigger.year-2", lte: "@trigger.year"}}'
    assert text.count(written) == 1
    path.write_text(text.replace(written, written.replace("year-2", "year-1")), encoding="utf-8")
    return Decider(Registry.load(directory))


def test_a_mutated_condition_changes_decision_and_derivation_together(decider, validator, narrowed_decider):
    case = qz_case(GAZELLE, attributes=HTE_SINCE)
    before = explained(decider, validator, case)
    after = explained(narrowed_decider, validator, case)
    assert one(before["outcomes"], measure="qz-htz/2.3")
    assert not [o for o in after["outcomes"] if o["measure"] == "qz-htz/2.3"]
    held = step(one(before["derivation"]["outcomes"], measure="qz-htz/2.3"), "within_three_years_of_recognition")
    assert held["result"] == "held" and held["test"]["year"]["gte"] == "@trigger.year-2"
    denial = one(after["denials"], measure="qz-htz/2.3")
    assert (denial["reason"], denial["condition"]) == ("not_eligible", "within_three_years_of_recognition")
    derived = after["derivation"]["denials"][after["denials"].index(denial)]
    failed = step(derived, "within_three_years_of_recognition")
    assert failed["result"] == "failed" and failed["test"]["year"]["gte"] == "@trigger.year-1"
    assert failed["tested"] == [{"field": "year", "op": "lt", "value": "@trigger.year-1"}]
    assert values(failed)["events[a]/year"] == 2024


# -- replay -------------------------------------------------------------------------------
@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_replay_with_explain_derives_a_decision_logged_without_it(target, decider):
    app = create_app(decider)
    client = app.test_client()
    case = qz_case(GAZELLE, attributes=HTE_SINCE, case_id="EXP-1")
    logged = post(client, case)
    assert "derivation" not in logged
    response = client.post(f"/v1/decisions/{logged['decision_id']}/replay?explain=true")
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    assert report["status"] == "identical"
    derived = report["derivation"]
    assert [(d["measure"], d["event"]) for d in derived["outcomes"]] == \
        [(o["measure"], o["event"]) for o in logged["outcomes"]]
    assert one(derived["outcomes"], measure="qz-htz/2.3")["formula"]["amount"] == "24691.36"
    assert client.post(f"/v1/decisions/{logged['decision_id']}/replay").get_json() == {"status": "identical"}
    bad = client.post(f"/v1/decisions/{logged['decision_id']}/replay?explain=yes")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["path"] == "query/explain"
    close_log(app)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_replay_of_a_decision_logged_with_explain_is_identical(target, decider):
    app = create_app(decider)
    client = app.test_client()
    logged = post(client, qz_case(GAZELLE, attributes=HTE_SINCE, case_id="EXP-2", options={"explain": True}))
    assert logged["trace"] and logged["derivation"]["outcomes"]
    for query in ("", "?explain=true"):
        report = client.post(f"/v1/decisions/{logged['decision_id']}/replay{query}").get_json()
        assert report["status"] == "identical", report
    close_log(app)


def test_replay_of_a_record_from_before_derivations_is_identical(decider, validator):
    """Logged with explain before the derivation existed: a trace and no derivation."""
    payload = qz_case(GAZELLE, attributes=HTE_SINCE, options={"explain": True})
    input_text = orjson.dumps(payload).decode()
    case, errors = validator.validate(orjson.loads(input_text))
    assert not errors
    logged = orjson.loads(orjson.dumps(decider.decide(case, input_sha256=__import__("hashlib").sha256(
        input_text.encode()).hexdigest())))
    del logged["derivation"]
    assert replay(decider, validator, input_text, logged) == {"status": "identical"}
    report = replay(decider, validator, input_text, logged, explain=True)
    assert report["status"] == "identical" and report["derivation"]["outcomes"]
    changed = copy.deepcopy(logged)
    changed["outcomes"][0]["amount"] = "1.00"
    assert replay(decider, validator, input_text, changed)["status"] == "different"


def test_the_derivation_matches_its_openapi_schema(decider, validator):
    import jsonschema

    from service.http.openapi import build_document

    doc = build_document(validator)
    check = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Derivation", "components": doc["components"]})
    patents = [{"id": "p1", "type": "patent_purchased", "date": "2024-01-01", "cost": "90000.00",
                "patent_kind": "invention", "core_of_successful_hte_application": True}]
    cases = [qz_case(GAZELLE + patents, attributes=HTE_SINCE,
                     prior_awards=[{"measure": "qz-htz/5", "amount": "30000.00", "date": "2023-02-01"}]),
             qz_case([{"id": "r", "type": "incubator_recognized", "date": "2024-05-01", "level": "regional"},
                      {"id": "v", "type": "incubator_evaluated", "date": "2024-09-01", "level": "regional",
                       "rating": "excellent"}, {"id": "e1", "type": "hte_recognized", "date": "2019-12-05"}])]
    for case in cases:
        derivation = orjson.loads(orjson.dumps(explained(decider, validator, case)["derivation"]))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in check.iter_errors(derivation)]
        assert errors == []
    assert not check.is_valid({"outcomes": [{"measure": "m"}], "denials": [], "inapplicable": []})


def test_every_golden_case_explained_is_the_same_decision_with_every_step_naming_an_article(decider, validator):
    from bench.explain import golden_cases, with_explain

    plain_cases = golden_cases(validator)
    assert len(plain_cases) > 300
    volatile = ("decision_id", "evaluated_at", "input_sha256", "options", "trace", "derivation")
    for plain_case, explained_case in zip(plain_cases, with_explain(plain_cases)):
        plain, with_it = decider.decide(plain_case), decider.decide(explained_case)
        assert {k: v for k, v in with_it.items() if k not in volatile} == \
            {k: v for k, v in plain.items() if k not in volatile}
        derivation = with_it["derivation"]
        for part in ("outcomes", "denials", "inapplicable"):
            assert [(d["measure"], d["event"]) for d in derivation[part]] == \
                [(e["measure"], e.get("event", (e.get("events") or [None])[0])) for e in with_it[part]]
            for entry in derivation[part]:
                # the window cites an article, or the document's dating line where none says it
                assert entry["article"] and entry["version"]["cites"], entry
                assert all((s["article"] or s["kind"] == "window") and s["cites"] for s in entry.get("steps", ())), entry
