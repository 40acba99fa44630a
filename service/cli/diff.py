"""``python -m service diff --from POLICY@V1 --to POLICY@V2 --cases FILE``: the impact of a rule change.

Every case of the corpus is decided twice, pinned (``options.pin``) to V1 and
to V2, each side by its own registry (``--from-rulesets`` / ``--to-rulesets``,
both defaulting to ``--rulesets``, itself defaulting to the service's), so that
a version under review can live in another directory, even under the same
name. Reported: how many decisions change; per measure, how many cases change
and how (gained, lost, amount changed, denial changed) and the money before
and after; the money in total; and the cases whose money changes most.

FILE is JSON lines of requests, or (``.yaml``/``.yml``) a case file in the
format of ``tests/cases`` (its cases that expect validation errors are skipped).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .inputs import InputError, read_text, rulesets_dir
from .progress import Progress

TOP = 10


def add_parser(sub) -> None:
    parser = sub.add_parser("diff", help="impact of a rule change over a corpus of cases")
    parser.add_argument("--from", dest="from_", required=True, metavar="POLICY@VERSION",
                        help="the version before the change, e.g. qz-htz@2021-12-30 (every case is pinned to it)")
    parser.add_argument("--to", required=True, metavar="POLICY@VERSION", help="the version after the change")
    parser.add_argument("--cases", required=True, type=Path, metavar="FILE|DIR", help="JSON lines of requests, a YAML case file, or a directory of case files")
    parser.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help="ruleset directory of both sides (default: the service's)")
    parser.add_argument("--from-rulesets", type=rulesets_dir, metavar="DIR", default=None, help="ruleset directory of the --from side")
    parser.add_argument("--to-rulesets", type=rulesets_dir, metavar="DIR", default=None, help="ruleset directory of the --to side")
    parser.add_argument("--top", type=int, default=TOP, help=f"how many most-changed cases to list (default {TOP})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


@dataclass
class Side:
    policy: str
    version: str
    rulesets: Path
    decider: object
    validator: object


class DiffError(ValueError):
    pass


def parse_ref(text: str) -> tuple[str, str]:
    policy, sep, version = text.partition("@")
    if not sep or not policy or not version:
        raise DiffError(f"{text!r}: expected POLICY@VERSION, e.g. qz-htz@2021-12-30")
    return policy, version


def load_corpus(path: Path) -> list[tuple[str, object]]:
    """(label, request body or DiffError) for each case of the file, or of every case file
    under a directory (``tests/cases/lz-htz``)."""
    if path.is_dir():
        return [(f"{file.relative_to(path)}: {label}", payload)
                for file in sorted(path.glob("**/*.yaml")) for label, payload in load_corpus(file)]
    if path.suffix in (".yaml", ".yml"):
        from ..casefiles import load_cases

        return [(spec.get("name") or f"case {i + 1}", spec.get("case"))
                for i, spec in enumerate(load_cases(path)) if "errors" not in spec]
    corpus = []
    try:
        text = read_text(path)
    except InputError as error:
        raise DiffError(str(error)) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
        except ValueError as error:
            payload = DiffError(f"not valid JSON: {error}")
        label = payload.get("case_id") if isinstance(payload, dict) else None
        corpus.append((str(label) if label else f"line {number}", payload))
    return corpus


def pinned(payload, policy: str, version: str):
    """The request with ``options.pin[policy] = version`` (anything malformed is left to the validator)."""
    if not isinstance(payload, dict):
        return payload
    options = payload.get("options")
    if options is not None and not isinstance(options, dict):
        return payload
    options = dict(options or {})
    pin = options.get("pin")
    if pin is not None and not isinstance(pin, dict):
        return payload
    options["pin"] = dict(pin or {}, **{policy: version})
    return dict(payload, options=options)


def explaining(payload):
    """The request with ``options.explain`` on: its derivation names the cap or the stacking
    group behind a denial, which the denial itself gives only in its sentence."""
    if not isinstance(payload, dict) or not isinstance(payload.get("options"), dict):
        return payload
    return dict(payload, options=dict(payload["options"], explain=True))


def _facts(decision: dict) -> dict:
    """(measure, event) -> {"granted": [...], "denied": [...]}: what turned each answer, for ``why``."""
    facts: dict = defaultdict(lambda: {"granted": [], "denied": []})
    derived = (decision.get("derivation") or {}).get("denials") or []
    for o in decision["outcomes"]:
        grant = {k: o[k] for k in ("amount", "amount_max", "currency") if k in o}
        if isinstance(o.get("cap"), dict):
            grant["cap"] = o["cap"]["id"]
        facts[(o["measure"], o["event"])]["granted"].append(grant)
    for index, d in enumerate(decision["denials"]):
        denial = {"reason": d["reason"], **{k: d[k] for k in ("condition", "field") if d.get(k)}}
        derivation = derived[index] if index < len(derived) else {}
        if derivation.get("ledger"):
            denial["cap"] = derivation["ledger"]["cap"]
        if derivation.get("stacking"):
            stacking = derivation["stacking"]
            denial["group"] = stacking["group"]
            rival = stacking.get("rival") or {}
            if rival.get("measure"):
                denial["beaten_by"] = rival["measure"] + (f" on {rival['event']}" if rival.get("event") else "")
        facts[(d["measure"], d["event"])]["denied"].append(denial)
    for entry in decision.get("inapplicable", ()):
        for event in entry["events"]:
            facts[(entry["measure"], event)]["denied"].append({"reason": "inapplicable", "condition": entry["condition"]})
    return facts


def _grant_text(grant: dict) -> str:
    currency = grant.get("currency", "")
    if "amount" in grant:
        text = f"{currency} {Decimal(grant['amount']):,.2f}"
    elif "amount_max" in grant:
        text = f"up to {currency} {Decimal(grant['amount_max']):,.2f}"
    else:
        text = "granted"
    return text + (f" (cap {grant['cap']})" if grant.get("cap") else "")


def _denial_text(denial: dict) -> str:
    parts = [f"{key} {denial[key]}" for key in ("condition", "field", "cap", "group") if denial.get(key)]
    if denial.get("beaten_by"):
        parts.append(f"beaten by {denial['beaten_by']}")
    return denial["reason"] + (f" ({', '.join(parts)})" if parts else "")


def state_text(state: dict | None) -> str:
    if not state or not (state["granted"] or state["denied"]):
        return "nothing (not judged)"
    granted = ", ".join(_grant_text(g) for g in state["granted"])
    denied = "; ".join(_denial_text(d) for d in state["denied"])
    if granted and denied:
        return f"granted {granted}; denied {denied}"
    return f"granted {granted}" if granted else denied


def why(keys: list, d1: dict, d2: dict) -> list[dict]:
    """Per changed (measure, event): the change, each side's state and the line that says it."""
    before, after = _facts(d1), _facts(d2)
    out = []
    for (measure, event), kind in keys:
        b, a = before.get((measure, event)), after.get((measure, event))
        if kind == "amount_changed" and len(b["granted"]) == len(a["granted"]) == 1 and not b["denied"] and not a["denied"]:
            text = f"amount {_grant_text(b['granted'][0])} → {_grant_text(a['granted'][0])}"
        else:
            text = f"{state_text(b)} → {state_text(a)}"
        out.append({"measure": measure, "event": event, "change": kind,
                    "before": b or {"granted": [], "denied": []}, "after": a or {"granted": [], "denied": []},
                    "text": f"{measure} on {event}: {text}"})
    return out


def _states(decision: dict) -> dict:
    """(measure, event) -> (granted amounts, denials): what the decision says about each."""
    granted, denied = defaultdict(list), defaultdict(set)
    for o in decision["outcomes"]:
        granted[(o["measure"], o["event"])].append((o.get("amount"), o.get("amount_max"), o.get("floor"), o.get("currency")))
    for d in decision["denials"]:
        denied[(d["measure"], d["event"])].add((d["reason"], d.get("condition") or ""))
    for entry in decision.get("inapplicable", ()):  # one entry for all its events: a denial of each here
        for event in entry["events"]:
            denied[(entry["measure"], event)].add(("inapplicable", entry["condition"]))
    return {key: (tuple(sorted(granted.get(key, ()), key=str)), tuple(sorted(denied.get(key, ()))))
            for key in set(granted) | set(denied)}


def _change(before, after) -> str | None:
    if before == after:
        return None
    was, now = bool(before and before[0]), bool(after and after[0])
    if was and now:
        return "amount_changed"
    if was:
        return "lost"
    if now:
        return "gained"
    return "denial_changed"


def _money(decision: dict) -> dict:
    """(measure, currency) -> sum of granted amounts (fixed and computed, drafts included: the pin asks for them)."""
    sums: dict = defaultdict(Decimal)
    for o in decision["outcomes"]:
        if "amount" in o:
            sums[(o["measure"], o["currency"])] += Decimal(o["amount"])
    return sums


def _fmt(value: Decimal) -> str:
    return f"{value:.2f}"


def _before_after(before: dict, after: dict) -> dict:
    return {c: {"before": _fmt(before.get(c, Decimal(0))), "after": _fmt(after.get(c, Decimal(0))),
                "change": _fmt(after.get(c, Decimal(0)) - before.get(c, Decimal(0)))}
            for c in sorted(set(before) | set(after))}


def _failure(status: int, body: dict) -> dict | None:
    if status == 200:
        return None
    return {"status": status, "title": body.get("title"), "detail": body.get("detail"), "errors": body.get("errors", [])}


def compare(corpus, old: Side, new: Side, top: int = TOP, progress: Progress | None = None) -> dict:
    from ..http.batch_routes import decide_payload

    kinds = ("gained", "lost", "amount_changed", "denial_changed")
    measures: dict = defaultdict(lambda: {"changed_cases": 0, **{k: 0 for k in kinds}})
    money = {"before": defaultdict(Decimal), "after": defaultdict(Decimal)}  # (measure, currency) -> sum
    failed, changed_cases = [], []
    decided = 0
    for index, (label, payload) in enumerate(corpus):
        if progress is not None:
            progress.advance()
        if isinstance(payload, DiffError):
            failed.append({"index": index, "case": label, "error": str(payload)})
            continue
        s1, d1 = decide_payload(old.decider, old.validator, pinned(payload, old.policy, old.version))
        s2, d2 = decide_payload(new.decider, new.validator, pinned(payload, new.policy, new.version))
        if s1 != 200 or s2 != 200:
            failed.append({"index": index, "case": label, "from": _failure(s1, d1), "to": _failure(s2, d2)})
            continue
        decided += 1
        m1, m2 = _money(d1), _money(d2)
        for side, sums in (("before", m1), ("after", m2)):
            for key, value in sums.items():
                money[side][key] += value
        st1, st2 = _states(d1), _states(d2)
        touched, changed_keys = set(), []
        for key in sorted(set(st1) | set(st2)):
            kind = _change(st1.get(key), st2.get(key))
            if kind:
                measures[key[0]][kind] += 1
                touched.add(key[0])
                changed_keys.append((key, kind))
        for measure in touched:
            measures[measure]["changed_cases"] += 1
        if touched:
            by_currency: dict = {"before": defaultdict(Decimal), "after": defaultdict(Decimal)}
            for side, sums in (("before", m1), ("after", m2)):
                for (_, currency), value in sums.items():
                    by_currency[side][currency] += value
            delta = sum((abs(by_currency["after"][c] - by_currency["before"][c])
                         for c in set(by_currency["before"]) | set(by_currency["after"])), Decimal(0))
            changed_cases.append((delta, index, label, by_currency, sorted(touched), (payload, changed_keys)))
    for measure, _ in list(money["before"]) + list(money["after"]):
        measures[measure]  # every measure that paid on either side is listed
    report_measures = []
    for measure in sorted(measures):
        before = {c: v for (m, c), v in money["before"].items() if m == measure}
        after = {c: v for (m, c), v in money["after"].items() if m == measure}
        report_measures.append({"measure": measure, **measures[measure], "money": _before_after(before, after)})
    totals = {side: defaultdict(Decimal) for side in money}
    for side, sums in money.items():
        for (_, currency), value in sums.items():
            totals[side][currency] += value
    changed_cases.sort(key=lambda item: (-item[0], item[1]))
    listed = changed_cases[:max(top, 0)]
    reasons = [_why_of_case(payload, keys, old, new) for *_, (payload, keys) in listed]
    return {
        "from": {"policy": old.policy, "version": old.version, "rulesets": str(old.rulesets)},
        "to": {"policy": new.policy, "version": new.version, "rulesets": str(new.rulesets)},
        "cases": len(corpus),
        "decided": decided,
        "changed": len(changed_cases),
        "unchanged": decided - len(changed_cases),
        "failed": failed,
        "measures": report_measures,
        "money": _before_after(totals["before"], totals["after"]),
        "top": [{"index": index, "case": label, "money": _before_after(bc["before"], bc["after"]),
                 "abs_change": _fmt(delta), "measures": touched, "why": reasons_of_case}
                for (delta, index, label, bc, touched, _), reasons_of_case in zip(listed, reasons)],
    }


def _why_of_case(payload, keys: list, old: Side, new: Side) -> list[dict]:
    """The listed case decided again on both sides with explain on (only the listed ones: a
    derivation costs), for the cap and stacking group behind each changed denial."""
    from ..http.batch_routes import decide_payload

    _, d1 = decide_payload(old.decider, old.validator, explaining(pinned(payload, old.policy, old.version)))
    _, d2 = decide_payload(new.decider, new.validator, explaining(pinned(payload, new.policy, new.version)))
    return why(keys, d1, d2)


def _side(ref: str, directory: Path | None, cache: dict) -> Side:
    from ..decide import Decider
    from ..paths import RULESETS_DIR
    from ..rulebook.registry import Registry
    from ..validate.request import CaseValidator

    policy, version = parse_ref(ref)
    directory = Path(directory or RULESETS_DIR).resolve()
    if directory not in cache:
        decider = Decider(Registry.load(directory))
        cache[directory] = (decider, CaseValidator(decider.vocab, decider.registry))
    decider, validator = cache[directory]
    if decider.registry.get(policy, version) is None:
        known = ", ".join(v.version for v in decider.registry.policy_versions(policy)) or "none"
        raise DiffError(f"{policy}@{version} is not in {directory} (versions of {policy} there: {known})")
    return Side(policy, version, directory, decider, validator)


def _money_text(entry: dict, key: str) -> str:
    return " ".join(f"{c} {Decimal(v[key]):+,.2f}" if key == "change" else f"{c} {Decimal(v[key]):,.2f}"
                    for c, v in entry.items()) or "-"


def format_table(report: dict) -> str:
    f, t = report["from"], report["to"]
    lines = [f"from {f['policy']}@{f['version']} ({f['rulesets']})",
             f"  to {t['policy']}@{t['version']} ({t['rulesets']})",
             f"cases {report['cases']}  decided {report['decided']}  changed {report['changed']}  "
             f"unchanged {report['unchanged']}  failed {len(report['failed'])}", ""]
    header = ("measure", "cases", "gained", "lost", "amount", "denial", "money before", "money after", "change")
    rows = [header]
    for m in report["measures"]:
        rows.append((m["measure"], str(m["changed_cases"]), str(m["gained"]), str(m["lost"]), str(m["amount_changed"]),
                     str(m["denial_changed"]), _money_text(m["money"], "before"), _money_text(m["money"], "after"),
                     _money_text(m["money"], "change")))
    rows.append(("total", "", "", "", "", "", _money_text(report["money"], "before"), _money_text(report["money"], "after"),
                 _money_text(report["money"], "change")))
    lines += _columns(rows, right=range(1, 9))
    lines.append("  (cases: cases in which the measure's answer changes; gained/lost/amount/denial: events whose "
                 "outcome was granted anew, lost, granted another amount, or denied for another reason)")
    if report["top"]:
        lines += ["", f"cases that change most (by absolute money difference), top {len(report['top'])}:"]
        rows = [("#", "case", "before", "after", "change", "measures")]
        for c in report["top"]:
            rows.append((str(c["index"]), c["case"], _money_text(c["money"], "before"), _money_text(c["money"], "after"),
                         _money_text(c["money"], "change"), ", ".join(c["measures"])))
        lines += _columns(rows, right=(0, 2, 3, 4))
        lines += ["", "why they change:"]
        for c in report["top"]:
            lines.append(f"  {c['index']} {c['case']}:")
            lines += [f"    {reason['text']}" for reason in c["why"]]
    if report["failed"]:
        lines += ["", "cases not decided on both sides:"]
        for item in report["failed"]:
            reasons = item.get("error") or "; ".join(
                f"{side}: {info['status']} {info['detail']}" for side in ("from", "to") if (info := item.get(side)))
            lines.append(f"  {item['index']} {item['case']}: {reasons}")
    return "\n".join(lines) + "\n"


def _columns(rows, right=()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = set(right)
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def run(args) -> int:
    try:
        cache: dict = {}
        old = _side(args.from_, args.from_rulesets or args.rulesets, cache)
        new = _side(args.to, args.to_rulesets or args.rulesets, cache)
        corpus = load_corpus(args.cases)
    except (DiffError, OSError, ValueError) as error:
        print(f"diff: {error}", file=sys.stderr)
        return 2
    with Progress("diff", len(corpus)) as progress:
        report = compare(corpus, old, new, args.top, progress)
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(report))
    return 0
