"""YAML case files, in the spirit of OpenFisca's YAML tests.

A file holds a list of cases::

    - name: a tech SME recognised as HTE gets 200,000
      case: {…the request body…}
      expect:
        outcomes: [{measure: qz-htz/2.1, event: e1, amount: "200000.00"}]
        denials: [{measure: qz-htz/2.1, event: e2, reason: outside_window}]
        totals: {CNY: "200000.00"}
      # a regional zone's rankings: a measure for national zones, said once
      #   inapplicable: [{measure: gx-htz/23.1, condition: national_zone, events: [r21, r22]}]
      # or, for an invalid case:
      errors: [events/0/amount]
      # optional, on either: the case states what the law says and the service
      # does not yet do it (a strict expected failure, see below)
      xfail: "qz-htz/3.1 ignores the carrier type (issue 9)"

Each expected item must match one actual item on every key it gives (dicts
are matched key by key; each actual item serves at most one expected item).

An expectation is exact by default:

- ``outcomes:`` lists every outcome of the decision; ``outcomes: []`` means
  the decision has no outcome at all.
- Every measure the expectation names (in ``outcomes``, ``denials`` or
  ``inapplicable``) is accounted for in full: each denial of it, each outcome
  of it, and its ``inapplicable`` entry (the decision's one entry for a measure
  a condition on what the applicant is rules out, with the ``events`` it was
  judged on) must be listed. Denials and entries of measures the expectation
  does not name are not checked.
- Without an ``outcomes:`` key, no outcome of a named measure may exist.

``exact: true`` asks more: every denial and every ``inapplicable`` entry of
every measure is listed too (``denials: []`` then means no denial at all,
``inapplicable: []`` no such entry), as for a case outside a document's scope. ``exact: false`` asks less: the expected items must still be
found, nothing else is checked; it must carry a ``why:`` string saying why the
case cannot list everything.

An expectation is refused (the case fails, whatever the decision) when it
could pass on any decision:

- it names no measure and has no ``outcomes:`` key (``totals`` alone do not
  tell which measure paid);
- an expected item gives no ``measure``, or (an outcome or a denial) no
  ``event`` while the case has more than one event (an ``inapplicable`` entry
  is one per measure: its ``measure`` names it);
- ``denials: []`` or ``inapplicable: []`` without ``exact: true`` (it names no
  measure, so it checks nothing);
- ``exact: false`` without ``why``, or ``why`` without ``exact: false``.

``xfail: "<reason>"`` marks a case whose expectation is the law and whose
decision is wrong: the pytest runner makes it a strict expected failure, and
``python -m service test`` counts it as passed while it fails and as failed
once it passes (so the mark is removed when the service is mended). A refused
expectation is never excused by ``xfail``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .decide import Decider
from .validate.request import CaseValidator

SECTIONS = ("outcomes", "denials", "inapplicable")
LISTED_BY_EVENT = ("outcomes", "denials")  # an inapplicable entry is one per measure, with its events
TOTALS = ("totals", "what_if_totals", "ceiling_totals")


@dataclass
class CaseResult:
    name: str
    file: str
    failures: list
    xfailed: list = field(default_factory=list)  # the failures an ``xfail`` mark excused

    @property
    def passed(self) -> bool:
        return not self.failures


DEFAULT_KEYS = {"options", "documents"}


def load_cases(path: Path) -> list[dict]:
    """The cases of a file. A first item ``{defaults: {options: …, documents: […]}}`` gives
    options every case of the file takes unless it states its own (a file of cases pinned to one
    revision of the law), and the documents whose outcomes and denials its expectations speak
    for (a Qinzhou HTZ enterprise is judged by gx-htz too, whose own files test that)."""
    cases = _read_yaml(path) or []
    if not isinstance(cases, list):
        raise ValueError(f"{path}: a case file is a list of cases")
    if cases and isinstance(cases[0], dict) and set(cases[0]) == {"defaults"}:
        defaults, cases = cases[0]["defaults"] or {}, cases[1:]
        if set(defaults) - DEFAULT_KEYS:
            raise ValueError(f"{path}: defaults may give {sorted(DEFAULT_KEYS)} only, not {sorted(set(defaults) - DEFAULT_KEYS)}")
        documents = defaults.get("documents")
        if documents is not None and not (isinstance(documents, list) and documents
                                          and all(isinstance(d, str) for d in documents)):
            raise ValueError(f"{path}: defaults.documents is a non-empty list of document ids")
        for spec in cases:
            if isinstance(spec, dict) and documents:
                spec.setdefault("documents", list(documents))
            if isinstance(spec, dict) and isinstance(spec.get("case"), dict):
                options = dict(defaults.get("options") or {})
                options.update(spec["case"].get("options") or {})
                spec["case"] = dict(spec["case"], options=options)
    return cases


def _read_yaml(path: Path):
    """The file's YAML; a ValueError of one line naming the file if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {yaml_problem(error)}") from None


def yaml_problem(error) -> str:
    """One line of a YAML error (PyYAML's own message spans several, with the source quoted)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def _matches(expected: dict, actual: dict) -> bool:
    for key, value in expected.items():
        if key not in actual:
            return False
        if isinstance(value, dict) and isinstance(actual[key], dict):
            if not _matches(value, actual[key]):
                return False
        elif actual[key] != value:
            return False
    return True


def refusals(expect: dict, event_count: int) -> list[str]:
    """Why the expectation could pass on any decision (empty when it cannot)."""
    problems = []
    exact = expect.get("exact")  # None: exact for the measures named
    if exact is not None and not isinstance(exact, bool):
        problems.append(f"exact must be true or false, not {exact!r}")
    why = expect.get("why")
    if exact is False and not (isinstance(why, str) and why.strip()):
        problems.append("exact: false needs a why: string saying why the case cannot list everything")
    if exact is not False and "why" in expect:
        problems.append("why: explains exact: false only")
    for section in SECTIONS:
        if section not in expect:
            continue
        items = expect[section]
        if not isinstance(items, list):
            problems.append(f"{section} must be a list")
            continue
        if section != "outcomes" and not items and exact is not True:
            problems.append(f"{section}: [] checks nothing unless exact: true (none at all)")
        for item in items:
            if not isinstance(item, dict) or not item.get("measure"):
                problems.append(f"{section}: {item} gives no measure, so it could match any item")
            elif section in LISTED_BY_EVENT and event_count > 1 and "event" not in item:
                problems.append(f"{section}: {item} gives no event in a case of {event_count} events")
    if not named_measures(expect) and "outcomes" not in expect:
        problems.append("the expectation names no measure and has no outcomes: it asserts nothing")
    return problems


def named_measures(expect: dict) -> set[str]:
    return {item["measure"] for section in SECTIONS for item in (expect.get(section) or [])
            if isinstance(item, dict) and item.get("measure")}


def _pair(expected: list[dict], actual: list[dict]) -> dict[int, int]:
    """A largest pairing expected index -> actual index (augmenting paths), so that
    a loose item taken first cannot rob a stricter one of its only match."""
    candidates = [[j for j, a in enumerate(actual) if _matches(item, a)] for item in expected]
    owner: dict[int, int] = {}  # actual index -> expected index

    def claim(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or claim(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        claim(i, set())
    return {i: j for j, i in owner.items()}


def check(decision: dict, expect: dict) -> list[str]:
    failures = []
    exact = expect.get("exact")
    named = named_measures(expect)
    for section in SECTIONS:
        actual = decision.get(section, [])
        expected = expect.get(section) or []
        pairing = _pair(expected, actual)
        for i, item in enumerate(expected):
            if i not in pairing:
                failures.append(f"{section}: no match for {item}; got {[_brief(a) for a in actual]}"
                                + "".join(f"\n    {line}" for line in _explained(section, item, decision)))
        if exact is False:
            continue
        used = set(pairing.values())
        listed_in_full = exact is True or (section == "outcomes" and "outcomes" in expect)
        extra = [_brief(a) for j, a in enumerate(actual)
                 if j not in used and (listed_in_full or a.get("measure") in named)]
        if extra:
            scope = "" if listed_in_full else " of a measure the case names"
            failures.append(f"{section}: unexpected{scope} {extra}")
    for key in TOTALS:
        if key in expect and decision.get(key) != expect[key]:
            failures.append(f"{key}: expected {expect[key]}, got {decision.get(key)}")
    return failures


def _explained(section: str, item: dict, decision: dict) -> list[str]:
    """What the decision said instead about the expected item's measure: for a missing outcome
    its denials and inapplicable entry (why it was not granted), for a missing denial or entry
    its outcomes and other denials. On the item's event if the decision says anything of the
    measure there, else everything it says of the measure."""
    measure, event = item.get("measure"), item.get("event")
    if not measure:
        return []
    said = []
    if section != "outcomes":
        said += [("outcome", o) for o in decision.get("outcomes", []) if o.get("measure") == measure]
    said += [("denial", d) for d in decision.get("denials", []) if d.get("measure") == measure]
    said += [("inapplicable", e) for e in decision.get("inapplicable", []) if e.get("measure") == measure]
    on_event = [(kind, x) for kind, x in said if event is None or x.get("event") == event or event in (x.get("events") or ())]
    shown = on_event or said
    if not shown:
        return [f"the decision says nothing of {measure}" + (f" on {event}" if event else "")]
    head = "instead" if on_event else f"nothing of {measure} on {event}; of {measure} elsewhere"
    return [f"{head}: {_said(kind, x)}" for kind, x in shown]


def _said(kind: str, x: dict) -> str:
    """One line an author can act on: the reason and what it turned on, then the sentence."""
    where = f" on {x['event']}" if "event" in x else f" on {', '.join(x.get('events') or [])}"
    if kind == "outcome":
        amount = x.get("amount") or (f"up to {x['amount_max']}" if "amount_max" in x else x.get("kind", ""))
        cap = f", cap {x['cap']['id']}" if isinstance(x.get("cap"), dict) else ""
        return f"outcome {x['measure']}{where}: {amount} {x.get('currency', '')}{cap}".rstrip()
    reason = x.get("reason") or "inapplicable"
    parts = [f"{k} {x[k]}" for k in ("condition", "field") if x.get(k)]
    turned_on = f" ({', '.join(parts)})" if parts else ""
    detail = f": {x['detail']}" if x.get("detail") else ""
    return f"{kind} {x['measure']}{where}: {reason}{turned_on}{detail}"


def _brief(item: dict) -> dict:
    return {k: item[k] for k in ("measure", "event", "reason", "amount", "amount_max", "condition", "events") if k in item}


def evaluate_case(decider: Decider, validator: CaseValidator, spec: dict, file: str = "") -> CaseResult:
    """The case judged by its expectation alone, its ``xfail`` mark ignored."""
    case, errors = validator.validate(spec["case"])
    if "errors" in spec:
        got = sorted(e["path"] for e in errors)
        want = sorted(spec["errors"])
        failures = [] if got == want else [f"errors: expected {want}, got {got} ({errors})"]
        return CaseResult(spec["name"], file, failures)
    expect = spec.get("expect") or {}
    events = (spec["case"] or {}).get("events") if isinstance(spec["case"], dict) else None
    refused = refusals(expect, len(events) if isinstance(events, list) else 0)
    refused += document_refusals(spec.get("documents"), decider.registry.versions)
    if refused:
        return CaseResult(spec["name"], file, [f"refused: {problem}" for problem in refused])
    if errors:
        return CaseResult(spec["name"], file, [f"invalid case: {errors}"])
    return CaseResult(spec["name"], file, check(_of_documents(decider.decide(case), spec.get("documents")), expect))


def document_refusals(documents, known) -> list[str]:
    """Why a case's ``documents`` would let it pass on any decision: a list that names no
    document of the registry filters every outcome and denial away."""
    if documents is None:
        return []
    if not (isinstance(documents, list) and documents and all(isinstance(d, str) for d in documents)):
        return [f"documents must be a non-empty list of document ids, not {documents!r}"]
    unknown = [d for d in documents if d not in known]
    return [f"documents names {', '.join(unknown)}, which no ruleset defines; known: {', '.join(sorted(known))}"] if unknown else []


def _of_documents(decision: dict, documents: list[str] | None) -> dict:
    """The decision's outcomes and denials of the documents a case file speaks for (all without a list)."""
    if not documents:
        return decision
    kept = dict(decision)
    for section in SECTIONS:
        kept[section] = [item for item in decision.get(section, [])
                         if str(item.get("measure", "")).split("/")[0] in documents]
    return kept


def is_refused(result: CaseResult) -> bool:
    return any(failure.startswith("refused: ") for failure in result.failures)


def run_case(decider: Decider, validator: CaseValidator, spec: dict, file: str = "") -> CaseResult:
    """The case judged with its ``xfail`` mark: a marked case passes while it fails."""
    result = evaluate_case(decider, validator, spec, file)
    reason = spec.get("xfail")
    if reason is None or is_refused(result):
        return result
    if result.failures:
        return CaseResult(result.name, file, [], xfailed=result.failures)
    return CaseResult(result.name, file, [f"marked xfail ({reason}) but passes: remove the mark"])
