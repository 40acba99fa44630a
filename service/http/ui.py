"""The auditor's web page, server-rendered (Jinja templates in ``templates/``, one
stylesheet in ``static/``; nothing fetched from elsewhere, no script needed):

/ui/                                  home: the three parts, a lookup box
/ui/law                               every policy, its versions and revisions
/ui/law/<policy>                      a policy's history, and a diff form
/ui/law/<policy>/<version>?rev=N      one version, article by article: source text beside encoding
/ui/law/<policy>/diff?a=…&b=…         text diff of two revision files
/ui/decisions?id=…|case_id=…&…        find logged decisions (the search index)
/ui/decisions/<id>                    a decision: case, outcomes, derivation or trace, receipt, replay
/ui/decisions/<id>/replay  (POST)     the same page with the replay's answer
/ui/diff                              impact of two versions over a case file or an uploaded corpus

Language: ``?lang=zh|en``, else Accept-Language, else zh. Every route wants the auditor role.
"""
from __future__ import annotations

import difflib
import json
import re
import tempfile
from decimal import Decimal
from pathlib import Path

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, url_for

from ..coverage import label
from ..log import LogError
from ..log.search import SearchError, parse_query, search
from ..paths import ROOT
from ..replay import replay_record
from . import ui_text
from .log_routes import EXTENSION, with_input

CASES_DIR = ROOT / "tests" / "cases"
PAGE_MARKER = re.compile(r"^-\s*\d+\s*-$")  # "- 2 -": a page number left by the PDF extraction
CHART_WIDTH = 360  # px of the longest bar
GET_OF_POST = {"ui.decision_replay": "ui.decision"}


def _lang() -> str:
    asked = request.args.get("lang") or request.form.get("lang")
    if asked in ui_text.LANGS:
        return asked
    return request.accept_languages.best_match(ui_text.LANGS) or ui_text.DEFAULT


def build_blueprint(decider, validator) -> Blueprint:
    ui = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
                   static_folder="static", static_url_path="/static")
    registry = decider.registry

    @ui.before_request
    def choose_language():
        g.lang = _lang()

    @ui.app_context_processor
    def helpers():
        def t(key, **args):
            return ui_text.text(key, g.get("lang", ui_text.DEFAULT), **args)

        def link(endpoint, **values):
            return url_for(endpoint, lang=g.get("lang", ui_text.DEFAULT), **values)

        def switch(lang):  # this very page in the other language (a POST's answer: the page it was posted from)
            if not request.endpoint:
                return "#"
            endpoint = GET_OF_POST.get(request.endpoint, request.endpoint)
            args = dict(request.args)
            if request.method == "POST":
                args.update({k: v for k, v in request.form.items() if k in ("from", "to", "cases")})
            args["lang"] = lang
            return url_for(endpoint, **(request.view_args or {}), **args)

        def loc(value):
            return ui_text.localize(value, g.get("lang", ui_text.DEFAULT))

        return {"t": t, "link": link, "switch": switch, "loc": loc, "lang": g.get("lang", ui_text.DEFAULT),
                "as_json": lambda value: json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True),
                "compact": lambda value: json.dumps(value, ensure_ascii=False), "dict": dict,
                "without": lambda mapping, *keys: {k: v for k, v in mapping.items() if k not in keys},
                "node_tree": derivation_nodes}

    @ui.get("/")
    def home():
        return render_template("ui/home.html")

    # -- the law --

    @ui.get("/law")
    def law_index():
        sources = registry.directory / "sources"
        coverage = {v.key: _coverage_counts(article_view(v, sources)) for v in registry.all_versions()}
        return render_template("ui/law_index.html", policies=_policies(registry), coverage=coverage)

    @ui.get("/law/<policy>")
    def law_policy(policy):
        if policy not in registry.versions:
            abort(404)
        return render_template("ui/law_policy.html", policy=policy, revisions=_revisions(registry, policy))

    @ui.get("/law/<policy>/diff")
    def law_diff(policy):
        if policy not in registry.versions:
            abort(404)
        a, b = registry.get(policy, request.args.get("a", "")), registry.get(policy, request.args.get("b", ""))
        if a is None or b is None:
            abort(404)
        lines = list(difflib.unified_diff(Path(a.path).read_text(encoding="utf-8").splitlines(),
                                          Path(b.path).read_text(encoding="utf-8").splitlines(),
                                          fromfile=a.revision_name, tofile=b.revision_name, lineterm="", n=3))
        return render_template("ui/law_diff.html", policy=policy, a=a, b=b, lines=lines,
                               revisions=_revisions(registry, policy))

    @ui.get("/law/<policy>/<version>")
    def law_version(policy, version):
        rev = request.args.get("rev")
        found = registry.get(policy, f"{version}#r{rev}" if rev else version)
        if found is None:
            abort(404)
        articles = article_view(found, registry.directory / "sources")
        return render_template("ui/law_version.html", v=found, articles=articles,
                               current=found in registry.policy_versions(policy))

    # -- decisions --

    @ui.get("/decisions")
    def decisions():
        decision_log = current_log()
        wanted = (request.args.get("id") or "").strip()
        if wanted and decision_log is not None:
            return redirect(url_for("ui.decision", decision_id=wanted, lang=g.lang))
        found, errors = None, []
        if decision_log is not None:
            try:
                found = search(decision_log, parse_query(request.args))
            except SearchError as error:
                errors = error.errors
        return render_template("ui/decisions.html", found=found, errors=errors, log_off=decision_log is None,
                               args=request.args)

    @ui.get("/decisions/<decision_id>")
    def decision(decision_id):
        return _decision_page(decision_id, replay=None)

    @ui.post("/decisions/<decision_id>/replay")
    def decision_replay(decision_id):
        record = _record_or_none(decision_id)
        report = _replay(decider, validator, record) if record is not None else None
        return _decision_page(decision_id, replay=report)

    def _decision_page(decision_id, replay):
        decision_log = current_log()
        if decision_log is None:
            return render_template("ui/decision.html", record=None, log_off=True), 501
        record = _record_or_none(decision_id)
        if record is None:
            return render_template("ui/decision.html", record=None, decision_id=decision_id), 404
        view = with_input(record)
        derivations = _derivations(view["decision"], replay)
        return render_template("ui/decision.html", record=view, d=view["decision"], replay=replay,
                               derivations=derivations, links=_law_links(registry, view["decision"]))

    # -- impact diff --

    @ui.route("/diff", methods=["GET", "POST"])
    def impact():
        refs = [f"{v.policy}@{v.revision_name}" for p in sorted(registry.versions) for v in registry.revisions_of(p)]
        files = sorted(str(p.relative_to(CASES_DIR)) for p in CASES_DIR.glob("**/*.yaml")) if CASES_DIR.is_dir() else []
        form = request.form if request.method == "POST" else request.args
        report, error = None, None
        if form.get("from") and form.get("to"):
            report, error = _impact(decider, validator, form, files)
        return render_template("ui/diff.html", refs=refs, files=files, form=form, report=report, error=error,
                               chart=_chart(report) if report else None)

    return ui


def register(app: Flask, decider, validator) -> None:
    app.register_blueprint(build_blueprint(decider, validator))


def current_log():
    from flask import current_app

    return current_app.extensions.get(EXTENSION)


def _record_or_none(decision_id):
    decision_log = current_log()
    if decision_log is None or len(decision_id) > 100 or any(ord(c) < 32 for c in decision_id):
        return None  # no decision has such an id (and PostgreSQL refuses a NUL in text)
    try:
        return decision_log.get(decision_id)
    except LogError:
        abort(503)


# -- the law: views --

def _policies(registry) -> list[dict]:
    return [{"policy": p, "versions": registry.policy_versions(p), "revisions": registry.revisions_of(p)}
            for p in sorted(registry.versions)]


def _revisions(registry, policy) -> list[dict]:
    current = registry.policy_versions(policy)
    return [{"v": v, "current": v in current} for v in registry.revisions_of(policy)]


def split_articles(text: str, pattern: str | None) -> list[tuple[str, list[str]]]:
    """(label, lines) per article of a source text, in order; label "" for what precedes the first.
    An article runs from the line its pattern matches to the next such line (the PDF's line breaks
    and page numbers inside it are dropped; a line broken mid-sentence is joined back)."""
    parts: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        squeezed = re.sub(r"\s+", "", line)
        if not squeezed or PAGE_MARKER.match(squeezed):
            continue
        match = re.match(pattern, squeezed) if pattern else None
        if match:
            parts.append((label(match.group(0)), [line.strip()]))
        else:
            parts[-1][1].append(line.strip())
    return [(name, _paragraphs(lines)) for name, lines in parts if lines]


def _paragraphs(lines: list[str]) -> list[str]:
    """Lines joined back into paragraphs: a CJK line that does not end a sentence continues on the next."""
    out: list[str] = []
    for line in lines:
        if out and not re.search(r"[。：；！？）)\]】」]$|\*\*$", out[-1]):
            out[-1] += line
        else:
            out.append(line)
    return out


def article_view(version, sources_dir: Path) -> list[dict]:
    """Every article of the version's source with what encodes it; then any label the encoding
    uses that the source does not have (flagged)."""
    pattern = version.document.get("articles")
    source = sources_dir / (version.document.get("source") or "")
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    raw = version.raw
    encodings: dict[str, dict] = {}

    def slot(article) -> dict:
        return encodings.setdefault(label(str(article)), {"measures": [], "directives": [], "eligibility": None,
                                                          "window": None, "stacking": []})

    for measure in raw.get("measures") or []:
        slot(measure["article"])["measures"].append(_measure_view(raw, measure))
    if raw.get("eligibility"):
        slot(raw["eligibility"]["article"])["eligibility"] = raw["eligibility"]
    if raw["effective"].get("article"):
        slot(raw["effective"]["article"])["window"] = dict(raw["effective"], text=version.window_text())
    for group in raw.get("stacking") or []:
        if group.get("article"):
            slot(group["article"])["stacking"].append(group)
    for directive in raw.get("directives") or []:
        slot(directive["article"])["directives"].append(directive)
    articles = []
    seen = set()
    for name, paragraphs in split_articles(text, pattern):
        entry = encodings.get(name) if name else None
        articles.append({"label": name, "paragraphs": paragraphs, "encoding": entry, "in_source": True,
                         "state": _state(entry) if name else "preamble"})
        seen.add(name)
    for name in sorted(set(encodings) - seen):
        articles.append({"label": name, "paragraphs": [], "encoding": encodings[name], "in_source": False,
                         "state": _state(encodings[name])})
    return articles


def _coverage_counts(articles: list[dict]) -> dict:
    counts = {"encoded": 0, "directive": 0, "none": 0}
    for article in articles:
        if article["label"]:
            counts[article["state"]] += 1
    return counts


def _state(entry) -> str:
    if entry and (entry["measures"] or entry["eligibility"] or entry["window"]):
        return "encoded"
    if entry and entry["directives"]:
        return "directive"
    return "none"


def _measure_view(raw: dict, measure: dict) -> dict:
    readings = raw.get("readings") or {}
    return dict(measure,
                reading_texts=[(r, readings.get(r)) for r in measure.get("readings") or []],
                caps=[c for c in raw.get("caps") or [] if measure["id"] in c.get("counts", [])],
                groups=[s for s in raw.get("stacking") or [] if measure["id"] in s.get("members", [])])


# -- decisions: views --

def _law_links(registry, decision: dict) -> dict:
    """measure id -> (policy, version, revision) of the version that judged it (from ``rulesets``)."""
    revisions = {(r.get("policy"), r.get("version")): r.get("revision")
                 for r in decision.get("rulesets") or [] if isinstance(r, dict)}
    links = {}
    for item in (decision.get("outcomes") or []) + (decision.get("denials") or []) + (decision.get("inapplicable") or []):
        policy, version = item.get("policy"), item.get("version")
        if policy and version and registry.get(policy, version) is not None:
            links[item["measure"]] = {"policy": policy, "version": version, "rev": revisions.get((policy, version))}
    return links


def _replay(decider, validator, record) -> dict:
    """The replay report; with its derivation where the replay can give one (issue 12 §1)."""
    try:
        return replay_record(decider, validator, record, explain=True)
    except TypeError:  # a replay that takes no explain: the plain report
        return replay_record(decider, validator, record)


def _derivations(decision: dict, replay: dict | None) -> list[dict]:
    """Trees to show: the decision's own derivation, else one a replay with explain returned."""
    replay = replay or {}
    candidates = [(decision, "decision"), (replay, "replay")] + [
        (replay[key], "replay") for key in ("decision", "replayed") if isinstance(replay.get(key), dict)]
    for source, origin in candidates:
        tree = source.get("derivation")
        if tree:
            return [{"origin": origin, "nodes": derivation_nodes(tree)}]
    return []


SCALAR_KEYS = ("id", "kind", "step", "measure", "event", "article", "expression", "result", "cites", "values")


def derivation_nodes(value, key: str | None = None) -> list[dict]:
    """Any nested JSON as a tree of nodes {title, expression, values, result, cites, article,
    fields, children}: the keys a step usually has are drawn specially, anything else is shown
    as it is, so a derivation of a shape not foreseen still reads."""
    if isinstance(value, list):
        return [n for item in value for n in derivation_nodes(item, key)]
    if not isinstance(value, dict):
        return [{"title": key, "text": value, "fields": {}, "children": []}]
    node = {"title": value.get("id") or value.get("step") or value.get("measure") or value.get("kind") or key,
            "kind": value.get("kind"), "expression": value.get("expression"), "values": value.get("values"),
            "result": value.get("result"), "has_result": "result" in value, "cites": value.get("cites"),
            "article": value.get("article"), "fields": {}, "children": []}
    for name, item in value.items():
        if name in SCALAR_KEYS:
            continue
        if isinstance(item, (dict, list)) and item and any(isinstance(x, (dict, list)) for x in
                                                          (item.values() if isinstance(item, dict) else item)):
            node["children"].append({"key": name, "nodes": derivation_nodes(item, name)})
        else:
            node["fields"][name] = item
    return [node]


# -- impact diff --

MAX_IMPACT_CASES = 1000  # the largest golden case file holds 62


def _impact(decider, validator, form, files) -> tuple[dict | None, str | None]:
    from ..cli.diff import DiffError, Side, compare, load_corpus, parse_ref

    try:
        sides = []
        for name in ("from", "to"):
            policy, version = parse_ref(form.get(name, ""))
            if decider.registry.get(policy, version) is None:
                raise DiffError(f"{policy}@{version} is not held")
            sides.append(Side(policy, version, decider.registry.directory, decider, validator))
        upload = request.files.get("corpus") if request.method == "POST" else None
        if upload is not None and upload.filename:
            with tempfile.NamedTemporaryFile(suffix=".jsonl") as handle:
                handle.write(upload.read())
                handle.flush()
                corpus = load_corpus(Path(handle.name))
        elif form.get("cases") in files:  # only a listed file: no path from the form reaches the disk
            corpus = load_corpus(CASES_DIR / form["cases"])
        else:
            return None, ui_text.text("diff.pick", g.lang)
        if len(corpus) > MAX_IMPACT_CASES:  # each is decided twice on a request thread
            raise DiffError(f"{len(corpus)} cases; at most {MAX_IMPACT_CASES} on this page (use python -m service diff)")
    except (DiffError, OSError, ValueError) as error:
        return None, ui_text.text("diff.error", g.lang, error=error)
    return compare(corpus, sides[0], sides[1]), None


def _chart(report: dict) -> dict:
    """Bars of CNY money before and after per measure, scaled to the largest: an inline SVG."""
    rows = []
    for m in report["measures"]:
        money = m["money"].get("CNY")
        if money and (Decimal(money["before"]) or Decimal(money["after"])):
            rows.append((m["measure"], Decimal(money["before"]), Decimal(money["after"])))
    top = max([max(b, a) for _, b, a in rows], default=Decimal(0))
    bars = [{"measure": name, "before": before, "after": after,
             "w_before": int(CHART_WIDTH * before / top) if top else 0,
             "w_after": int(CHART_WIDTH * after / top) if top else 0,
             "y": 10 + i * 34} for i, (name, before, after) in enumerate(rows)]
    return {"bars": bars, "height": 20 + 34 * len(bars), "width": CHART_WIDTH + 420}
