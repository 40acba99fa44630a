"""The auditor's web page through Flask's test client (runs everywhere; the real
browser's tests are in test_ui_browser): every page answers 200 in zh and in en
with the words it must show, the law beside its encoding, a logged decision with
its receipt, replay, the links between law and decision, the impact diff."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from service.cli.diff import Side, compare, load_corpus
from service.http import ui
from service.http.app import create_app
from service.log import from_env
from service.paths import ROOT

from tests.helpers import qz_case

CASE_FILE = "qz-htz/art02-ladder.yaml"
OLD, NEW = "qz-htz@2021-12-30#r1", "qz-htz@2021-12-30#r3"


@pytest.fixture()
def app(decider, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "ui.sqlite3"))
    app = create_app(decider)
    yield app
    app.extensions["decision_log"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def logged(client):
    """One decision with an outcome (e1) and a denial (e2), logged through the API."""
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
                       {"id": "e2", "type": "hte_recognized", "date": "2024-12-06", "was_tech_sme": False}],
                      case_id="UI-7")
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 200
    return response.get_json()


def page(client, url: str, status: int = 200, **kwargs) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


PAGES = ["/ui/", "/ui/law", "/ui/law/qz-htz", "/ui/law/qz-htz/2021-12-30", "/ui/law/lz-htz/2021-12-29?rev=1",
         "/ui/law/gx-etdz/2021-01-01", "/ui/law/qz-htz/diff?a=2021-12-30%23r1&b=2021-12-30%23r3", "/ui/decisions",
         "/ui/diff"]
# (zh, en) a word each page shows in its language: the navigation's
LANG_WORDS = {"zh": ("法规", "决定", "影响对比"), "en": ("The law", "Decisions", "Impact diff")}


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_answers_in_each_language(client, url, lang):
    html = page(client, url + ("&" if "?" in url else "?") + f"lang={lang}")
    assert all(word in html for word in LANG_WORDS[lang])
    other = LANG_WORDS["en" if lang == "zh" else "zh"]
    assert not any(f">{word}<" in html for word in other)
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html


def test_language_follows_accept_language_then_defaults_to_zh(client):
    assert ">The law<" in page(client, "/ui/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert ">法规<" in page(client, "/ui/", headers={"Accept-Language": "zh-CN"})
    assert ">法规<" in page(client, "/ui/")
    assert ">The law<" in page(client, "/ui/?lang=en", headers={"Accept-Language": "zh"})  # the switch wins


def test_language_switch_keeps_the_page(client):
    html = page(client, "/ui/law/qz-htz/2021-12-30?rev=2")
    [href] = re.findall(r'id="lang-en" href="([^"]+)"', html)
    assert href.startswith("/ui/law/qz-htz/2021-12-30?") and "rev=2" in href and "lang=en" in href


def test_nothing_is_fetched_from_elsewhere(client, logged):
    for url in PAGES + [f"/ui/decisions/{logged['decision_id']}"]:
        html = page(client, url)
        assert not re.search(r'(src|href)="(https?:)?//', html), url
        assert "<script src" not in html
    assert page(client, "/ui/static/ui.css").startswith("/*")


def test_law_shows_each_article_beside_its_encoding(client):
    html = page(client, "/ui/law/qz-htz/2021-12-30?lang=en")
    article = html[html.index('id="art-二"'):html.index('id="art-三"')]
    assert "对认定为高新" in article  # the source text (the PDF broke this line: joined back)
    assert 'id="m-qz-htz/2.1"' in article and 'id="m-qz-htz/2.2"' in article
    assert "must have been a tech SME when recognised" in article  # a condition's explanation, in English
    assert "{&#34;was_tech_sme&#34;: true}" in article  # its expression as written
    assert "once_per_enterprise" in article and "qz-htz/2.1#once" in article  # reading and cap
    directive = html[html.index('id="art-一"'):html.index('id="art-二"')]
    assert "decides nothing for a case" in directive
    glance = html[html.index('class="glance"'):html.index('class="legend"')]
    assert glance.count('class="chip') == 15 and 'chip directive' in glance and 'chip encoded' in glance
    assert "2021-12-30 – 2025-12-31" in html and "67d91ef979cb9ac6" in html  # window, sha256 of revision 3
    zh = page(client, "/ui/law/qz-htz/2021-12-30?lang=zh")
    assert "认定为高新技术企业时须为科技型中小企业" in zh


def test_history_lists_every_revision_and_diffs_two(client, decider):
    html = page(client, "/ui/law/qz-htz")
    revisions = decider.registry.revisions_of("qz-htz")
    for v in revisions:
        assert v.sha256[:16] in html
    diff = page(client, "/ui/law/qz-htz/diff?a=2021-12-30%23r1&b=2021-12-30%23r3")
    assert '<span class="add">+' in diff and '<span class="del">-' in diff and "revision: 3" in diff
    same = page(client, "/ui/law/qz-htz/diff?a=2021-12-30%23r2&b=2021-12-30%23r2&lang=en")
    assert "The two files are identical." in same
    page(client, "/ui/law/qz-htz/diff?a=2021-12-30%23r9&b=2021-12-30", status=404)
    page(client, "/ui/law/no-such/2021-12-30", status=404)
    page(client, "/ui/law/qz-htz/1999-01-01", status=404)


def test_lookup_by_id_and_by_case_id(client, logged):
    decision_id = logged["decision_id"]
    response = client.get(f"/ui/decisions?id={decision_id}&lang=en")
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/ui/decisions/{decision_id}")
    listed = page(client, "/ui/decisions?case_id=UI-7&lang=en")
    assert decision_id in listed and "qz-htz/2.1" in listed and "CNY 200000.00" in listed
    assert "No decision matches." in page(client, "/ui/decisions?case_id=nobody&lang=en")
    assert "limit" in page(client, "/ui/decisions?limit=0&lang=en")  # the error is shown, not a crash
    assert "No such decision" in page(client, "/ui/decisions/not-a-decision?lang=en", status=404)


def test_a_decision_with_its_case_outcomes_denials_trace_and_receipt(client, logged):
    html = page(client, f"/ui/decisions/{logged['decision_id']}?lang=en")
    assert logged["decision_id"] in html and "UI-7" in html
    assert "hte_recognized" in html and "2024-12-06" in html  # the case's events
    assert "CNY 200000.00" in html and "not_eligible" in html and "was_tech_sme" in html
    assert "认定为高新技术企业时须为科技型中小企业" in html  # the denial's sentence, in the case's language
    assert "made without options.explain" in html and 'id="trace"' not in html  # nothing to explain with
    assert logged["bundle"]["revision"] in html and logged["input_sha256"] in html
    assert 'id="input-check">✓' in html
    record = client.application.extensions["decision_log"].get(logged["decision_id"])
    assert record.hash in html and record.prev_hash in html


def test_a_decision_asked_to_explain_without_a_derivation_shows_its_trace(client):
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                      case_id="UI-T", options={"explain": True})
    decision = client.post("/v1/decisions", json=payload).get_json()
    html = page(client, f"/ui/decisions/{decision['decision_id']}?lang=en")
    if decision.get("derivation"):  # issue 12 §1 merged: the tree instead
        assert 'id="derivation"' in html
    else:
        assert 'id="trace"' in html and "candidate on e1" in html


def test_replay_button_shows_identical(client, logged):
    response = client.post(f"/ui/decisions/{logged['decision_id']}/replay", data={"lang": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="replay-status" class="status-identical"><b>identical</b>', html)
    zh = client.post(f"/ui/decisions/{logged['decision_id']}/replay", data={"lang": "zh"}).get_data(as_text=True)
    assert "<b>一致</b>" in zh


def test_replay_shows_the_differences(app, client, decider, validator):
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                      case_id="UI-X")
    decision = decider.decide(validator.validate(payload)[0])
    decision["totals"] = {"CNY": "999.00"}  # a record that does not say what the law gives
    app.extensions["decision_log"].append(payload, decision)
    html = client.post(f"/ui/decisions/{decision['decision_id']}/replay", data={"lang": "en"}).get_data(as_text=True)
    assert 'class="status-different"' in html and "totals/CNY" in html and "999.00" in html


def test_links_between_law_and_decision(client, logged):
    html = page(client, f"/ui/decisions/{logged['decision_id']}?lang=en")
    links = set(re.findall(r'class="law-link" href="([^"]+)"', html))
    measure_link = next(link for link in links if link.endswith("#m-qz-htz/2.1"))
    law = page(client, measure_link.split("#")[0].replace("&amp;", "&"))
    assert 'id="m-qz-htz/2.1"' in law
    assert "rev=3" in measure_link
    [find] = re.findall(r'class="find" href="([^"]+measure=qz-htz/2.1[^"]*)"', law) or \
        re.findall(r'class="find" href="([^"]+measure=qz-htz%2F2.1[^"]*)"', law)
    listed = page(client, find.replace("&amp;", "&"))
    assert logged["decision_id"] in listed


def test_derivation_tree_of_any_nesting(app, client, decider, validator):
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                      case_id="UI-D")
    decision = decider.decide(validator.validate(payload)[0])
    decision["derivation"] = [{"id": "qz-htz/2.1@e1", "article": "二", "result": "granted", "steps": [
        {"id": "was_tech_sme", "expression": {"was_tech_sme": True}, "values": {"events/0/was_tech_sme": True},
         "result": True, "cites": "对认定为高新技术企业的科技型中小企业"},
        {"kind": "cap", "id": "qz-htz/2.1#once", "opening": {"count": 1}, "claims": [{"event": "e1", "settled": "granted"}]},
        "a bare string step"]}]
    app.extensions["decision_log"].append(payload, decision)
    html = page(client, f"/ui/decisions/{decision['decision_id']}?lang=en")
    tree = html[html.index('id="derivation"'):]
    assert "qz-htz/2.1@e1" in tree and "was_tech_sme" in tree and "events/0/was_tech_sme" in tree
    assert '<li class="step pass">' in tree and "对认定为高新技术企业的科技型中小企业" in tree
    assert "claims" in tree and "settled" in tree and "a bare string step" in tree
    assert 'id="trace"' not in html  # the tree replaces the flat trace


def test_derivation_nodes_keep_unknown_shapes():
    nodes = ui.derivation_nodes({"step": "s", "result": False, "odd": 3, "inner": {"deeper": [{"id": "x", "result": 1}]}})
    [node] = nodes
    assert node["title"] == "s" and node["has_result"] and node["fields"] == {"odd": 3}
    assert node["children"][0]["key"] == "inner"
    assert ui.derivation_nodes(["a", 1]) == [{"title": None, "text": "a", "fields": {}, "children": []},
                                            {"title": None, "text": 1, "fields": {}, "children": []}]


def test_impact_diff_of_a_case_file(client, decider, validator):
    html = client.post("/ui/diff", data={"from": OLD, "to": NEW, "cases": CASE_FILE, "lang": "en"}).get_data(as_text=True)
    policy = "qz-htz"
    old = Side(policy, "2021-12-30#r1", decider.registry.directory, decider, validator)
    new = Side(policy, "2021-12-30#r3", decider.registry.directory, decider, validator)
    report = compare(load_corpus(ROOT / "tests" / "cases" / CASE_FILE), old, new)
    assert (f"cases {report['cases']}, decided {report['decided']}, changed {report['changed']}, "
            f"unchanged {report['unchanged']}") in html
    assert 'id="impact-table"' in html
    for m in report["measures"]:
        assert f"<code>{m['measure']}</code>" in html
    assert ('<svg id="impact-chart"' in html) == any(
        any(v["before"] != "0.00" or v["after"] != "0.00" for v in m["money"].values()) for m in report["measures"])


def test_impact_diff_of_an_uploaded_corpus_with_a_chart(client):
    lines = [json.dumps(qz_case([{"id": "e1", "type": "hte_recognized", "date": d, "was_tech_sme": True}], case_id=f"U-{i}"))
             for i, d in enumerate(["2024-12-05", "2021-06-01"])]
    data = {"from": "qz-htz@2021-12-30#r3", "to": "qz-htz@2021-12-30#r3", "lang": "en",
            "corpus": (io.BytesIO("\n".join(lines).encode()), "corpus.jsonl")}
    html = client.post("/ui/diff", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "cases 2, decided 2, changed 0, unchanged 2" in html
    assert '<svg id="impact-chart"' in html and "200000.00 → 200000.00" in html


def test_impact_diff_says_what_is_wrong(client):
    html = client.post("/ui/diff", data={"from": "qz-htz@1999", "to": NEW, "cases": CASE_FILE, "lang": "en"}).get_data(as_text=True)
    assert 'id="impact-error"' in html and "qz-htz@1999" in html
    html = client.post("/ui/diff", data={"from": OLD, "to": NEW, "cases": "../../etc/passwd", "lang": "en"}).get_data(as_text=True)
    assert "Pick a case file or upload a corpus." in html


def test_log_off_pages_say_so(decider, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", "off")
    client = create_app(decider).test_client()
    assert "keeps no decision log" in page(client, "/ui/decisions?lang=en")
    assert "keeps no decision log" in page(client, "/ui/decisions/x?lang=en", status=501)


def test_every_page_and_lookup_wants_the_auditor_role(app):
    """The roles are the auth policy's, by route (service/auth/policy.py): every page and lookup
    is an auditor's; the page's static stylesheet too (default-deny)."""
    from service.auth.policy import required_role
    rules = [rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/ui/") or rule.rule in ("/v1/decisions/<decision_id>",)
             or (rule.rule == "/v1/decisions" and "GET" in rule.methods)]
    assert len(rules) >= 10
    wanted = {(method, rule.rule): required_role(method, rule.rule)
              for rule in rules for method in sorted(rule.methods - {"HEAD", "OPTIONS"})}
    assert wanted == {key: "auditor" for key in wanted}


def test_templates_and_stylesheet_ship_with_the_package():
    here = Path(ui.__file__).parent
    assert (here / "static" / "ui.css").is_file() and len(list((here / "templates" / "ui").glob("*.html"))) >= 9


def test_a_replay_with_explain_shows_its_derivation(client, logged, monkeypatch):
    asked = {}

    def replay_with_derivation(decider, validator, record, explain=False):
        asked["explain"] = explain
        return {"status": "identical", "derivation": [{"id": "resolution", "result": "qz-htz@2021-12-30#r3",
                                                       "values": {"events/0/date": "2024-12-05"}}]}

    monkeypatch.setattr(ui, "replay_record", replay_with_derivation)
    html = client.post(f"/ui/decisions/{logged['decision_id']}/replay", data={"lang": "en"}).get_data(as_text=True)
    assert asked == {"explain": True}
    tree = html[html.index('id="derivation"'):]
    assert 'data-origin="replay"' in tree and "resolution" in tree and "events/0/date" in tree


def test_a_replay_that_takes_no_explain_still_answers(client, logged, monkeypatch):
    monkeypatch.setattr(ui, "replay_record", lambda decider, validator, record: {"status": "identical"})
    html = client.post(f"/ui/decisions/{logged['decision_id']}/replay", data={"lang": "en"}).get_data(as_text=True)
    assert 'class="status-identical"' in html


def test_the_law_index_counts_each_version_s_coverage(client, decider):
    from service.coverage import rows

    html = page(client, "/ui/law?lang=en")
    table = rows(decider.registry)  # the coverage table of rulesets/COVERAGE.md
    qz = [r for r in table if r["policy"] == "qz-htz" and r["in_source"]]
    uncovered = sum(1 for r in qz if not (r["measures"] or r["directives"]))
    cell = html[html.index('href="/ui/law/qz-htz/2021-12-30'):]
    cell = cell[cell.index('class="coverage"'):cell.index("</td>", cell.index('class="coverage"'))]
    assert re.findall(r'chip (\w+)">(\d+)<', cell)[2] == ("none", str(uncovered))
    assert sum(int(n) for _, n in re.findall(r'chip (\w+)">(\d+)<', cell)) == len(qz)


def test_the_language_switch_of_a_posted_page_leads_to_a_page(client, logged):
    html = client.post(f"/ui/decisions/{logged['decision_id']}/replay", data={"lang": "en"}).get_data(as_text=True)
    [href] = re.findall(r'id="lang-zh" href="([^"]+)"', html)
    assert href.startswith(f"/ui/decisions/{logged['decision_id']}?") and ">法规<" in page(client, href.replace("&amp;", "&"))
    html = client.post("/ui/diff", data={"from": OLD, "to": NEW, "cases": CASE_FILE, "lang": "en"}).get_data(as_text=True)
    [href] = re.findall(r'id="lang-zh" href="([^"]+)"', html)
    assert 'id="impact-table"' in page(client, href.replace("&amp;", "&"))


def test_an_uploaded_corpus_past_the_bound_is_refused_before_any_decision(client, monkeypatch):
    from service.http import ui
    monkeypatch.setattr(ui, "MAX_IMPACT_CASES", 1)
    lines = [json.dumps(qz_case([], case_id=f"U-{i}")) for i in range(2)]
    data = {"from": "qz-htz@2021-12-30#r3", "to": "qz-htz@2021-12-30#r3", "lang": "en",
            "corpus": (io.BytesIO("\n".join(lines).encode()), "corpus.jsonl")}
    html = client.post("/ui/diff", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert 'id="impact-error"' in html and "2 cases; at most 1 on this page" in html
