"""The decision as the contract (shared/docs/contract.md) shapes it."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from .messages import conflict_note, denial_detail

TOTALLED_KINDS = ("fixed", "computed")


# a pure function of an int: caps and fixed awards recur in every case; a small
# cache, so that a worker's memory does not grow with the variety of amounts it sees
@lru_cache(maxsize=2048)
def money(fen: int) -> str:
    """Integer fen as yuan with two decimals (exact: no Decimal or float on the way)."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _readings(version, names, lang: str) -> list[str]:
    return [version.readings[name][lang] for name in names if name in version.readings]


def _static(version, measure, lang: str) -> tuple[dict, dict]:
    """The parts of an outcome that only the ruleset file decides, built once."""
    key = (measure.id, lang)
    cached = version.rendered.get(key)
    if cached is None:
        head = {"measure": measure.id, "policy": version.policy, "version": version.version,
                "status": version.status, "document": version.document["number"], "article": measure.article,
                "kind": measure.kind, "beneficiary": measure.beneficiary}
        tail = {"no_new_money": True} if measure.raw["outcome"].get("no_new_money") else {}
        if measure.basis:
            tail["basis"] = measure.basis[lang]
        tail.update({"payer": measure.payer, "handled_by": measure.handled_by, "citation": measure.cites})
        cached = version.rendered[key] = (head, tail, _readings(version, measure.readings, lang) + [n[lang] for n in version.notes])
    return cached


def outcome(cand, conflicts, settled, lang: str, totals: "Totals") -> dict:
    """One granted outcome; its amount, where the totals count it, added to ``totals``."""
    measure = cand.measure
    head, tail, notes = _static(cand.version, measure, lang)
    out = head.copy()
    out["event"] = cand.event["id"]
    if cand.supporting:
        out["supporting_events"] = [s["id"] for s in cand.supporting]
    kind = measure.kind
    counted = "no_new_money" not in tail
    if kind in TOTALLED_KINDS or (kind == "tax" and cand.amount is not None):
        fen = settled.amount if settled else cand.amount
        out["amount"] = money(fen)
        out["currency"] = measure.currency
        if counted and kind != "tax":
            totals.add("what_if_totals" if cand.what_if else "totals", measure.currency, fen)
    elif cand.amount_max is not None and kind in ("ceiling", "competitive"):
        fen = settled.amount if settled else cand.amount_max
        out["amount_max"] = money(fen)
        out["currency"] = measure.currency
        if counted and kind == "ceiling" and not cand.what_if:
            totals.add("ceiling_totals", measure.currency, fen)
    elif cand.floor is not None and kind == "obligation":
        out["floor"] = money(cand.floor)
        out["currency"] = measure.currency
    if settled and settled.cap is not None:
        _about_cap(out, cand, settled)
    out.update(tail)
    if measure.split and "amount" in out:
        out["payers"] = _split(measure.split, cand.amount if settled is None else settled.amount)
    branch = cand.branch
    out["notes"] = notes + [branch.note[lang]] if branch is not None and branch.note else notes.copy()
    if conflicts:
        out["conflicts"] = [{"measure": m, "event": e} for m, e in conflicts]
        out["notes"].append(conflict_note(lang, conflicts))
    out["what_if"] = cand.what_if
    return out


def _about_cap(out: dict, cand, settled) -> None:
    """The amount asked before the cap, and the cap with what remained of it."""
    cap = settled.cap
    asked = cand.amount if cand.amount is not None else cand.amount_max
    if asked is not None:
        out["amount_before_cap"] = money(asked)
    out["cap"] = detail = {"id": cap.id, "per": cap.per}
    if cap.amount_fen is not None:
        detail["amount"] = money(cap.amount_fen)
        detail["remaining_before"] = money(settled.remaining_before)
    if cap.count is not None:
        detail["count"] = cap.count
        detail["count_remaining_before"] = settled.count_remaining_before


def _split(shares, fen: int) -> list[dict]:
    """Each payer's part, rounded half-up to the fen; the last payer takes the remainder so parts add up."""
    parts, left = [], fen
    for i, share in enumerate(shares):
        part = left if i == len(shares) - 1 else int((Decimal(fen) * share["share"]).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        left -= part
        parts.append({"payer": share["payer"], "share": str(share["share"]), "amount": money(part)})
    return parts


def denial_from_candidate(cand, reason: str, lang: str, *, beaten=None, settled=None) -> dict:
    version, measure = cand.version, cand.measure
    if reason == "not_stacked":
        group = beaten.group
        detail = denial_detail(lang, reason, measure=measure.id, other=beaten.by_measure, event=beaten.by_event, group=group.id)
        citation, article = group.cites or measure.cites, group.article or measure.article
    else:
        cap = settled.cap
        amount = money(cap.amount_fen) if cap.amount_fen is not None else None
        if reason == "already_granted" and version.denials == "said_once":
            detail = denial_detail(lang, reason, measure=measure.id, cap=cap.id, per=cap.per, amount=amount,
                                   count=cap.count, span=cap.span, count_used=settled.count_remaining_before == 0)
        else:  # the first encodings' sentence: see messages.already_granted_per_event
            said = "already_granted_per_event" if reason == "already_granted" else reason
            detail = denial_detail(lang, said, measure=measure.id, cap=cap.id, per=cap.per, amount=amount,
                                   count=cap.count)
        citation, article = cap.cites or measure.cites, measure.article
    return _denial(version, measure, cand.event, reason, detail, citation, article, None, cand.what_if)


def denial(d, lang: str) -> dict:
    version, measure = d.version, d.measure
    condition_text = d.explain[lang] if d.explain else None
    unstated = d.extra.get("field")
    if unstated:
        condition_text = (f"the case does not state {unstated}, which this reads: {condition_text}" if lang == "en"
                          else f"案件未载明{unstated}，无法判断：{condition_text}")
    detail = denial_detail(lang, d.reason, measure=measure.id, condition=condition_text, window=version.window_text(),
                           version=version.key, event=d.event["id"])
    out = _denial(version, measure, d.event, d.reason, detail, d.cites or measure.cites, d.article or measure.article,
                  d.condition, d.what_if)
    if unstated:
        out["field"] = unstated
    return out


def inapplicable(denials: list, lang: str) -> list[dict]:
    """One entry per measure that a condition on what the applicant is rules out (run.py's
    ``_reported``), with every trigger event it was judged on, in the case's canonical order;
    the entries in force before what-if, then by policy and the measure's place in its document.
    ``denials``: those of every version; a measure judged by several versions takes the condition,
    article and citation of the first (in force before what-if, then the earliest event)."""
    by_measure: dict[str, list] = {}
    for d in sorted(denials, key=lambda d: (d.what_if, d.event["ord"], d.version.key)):
        by_measure.setdefault(d.measure.id, []).append(d)
    entries = []
    for measure_id, found in by_measure.items():
        first = found[0]
        version, measure = first.version, first.measure
        events = sorted({d.event["id"]: d.event["ord"] for d in found}.items(), key=lambda pair: pair[1])
        entry = {"measure": measure_id, "policy": version.policy, "article": first.article or measure.article,
                 "condition": first.condition,
                 "detail": denial_detail(lang, "inapplicable", measure=measure_id,
                                         condition=first.explain[lang] if first.explain else first.condition),
                 "citation": first.cites or measure.cites, "events": [event_id for event_id, _ in events],
                 "what_if": all(d.what_if for d in found)}
        entries.append(((entry["what_if"], version.policy, _place(version, measure_id), measure_id), entry))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def _place(version, measure_id: str) -> int:
    """The measure's place in its document (``gx-htz/3`` before ``gx-htz/23.1``, as the text reads)."""
    return next(i for i, m in enumerate(version.measures) if m.id == measure_id)


def _denial(version, measure, event, reason, detail, citation, article, condition, what_if) -> dict:
    out = {"measure": measure.id, "policy": version.policy, "version": version.version, "status": version.status,
           "document": version.document["number"], "article": article, "event": event["id"], "reason": reason}
    if condition:
        out["condition"] = condition
    out.update({"detail": detail, "citation": citation, "what_if": what_if})
    if reason == "outside_window":
        out["window"] = {"from": version.raw["effective"]["from"], "until": version.raw["effective"].get("until")}
    return out


class Totals:
    """``totals`` (fixed and computed, in force), ``ceiling_totals``, ``what_if_totals``
    (drafts), by currency, in fen until rendered."""

    __slots__ = ("_sums",)

    def __init__(self):
        self._sums = {"totals": {}, "ceiling_totals": {}, "what_if_totals": {}}

    def add(self, name: str, currency: str, fen: int) -> None:
        sums = self._sums[name]
        sums[currency] = sums.get(currency, 0) + fen

    def rendered(self) -> dict:
        sums = self._sums
        return {"totals": _by_currency(sums["totals"]), "ceiling_totals": _by_currency(sums["ceiling_totals"]),
                "what_if_totals": _by_currency(sums["what_if_totals"])}


def _by_currency(sums: dict) -> dict:
    return {currency: money(sums[currency]) for currency in sorted(sums)} if sums else {}
