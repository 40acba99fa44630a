"""Settle candidates: stacking first, then caps, across every document.

One generic engine ruleset does it; the law it applies (which measures share
a cap, how much, per what; which may not stack, and which one stands) arrives
as facts built from the ruleset files, so a change of cap or group is a diff
of a ruleset file, never of this module.

Phase A, stacking: a candidate loses to another candidate of its group with
the same key that ranks before it (``keep: first``) or is larger
(``keep: larger``; equal amounts fall back to rank), and to any award of the
group already received (prior awards).

Phase B, caps: each cap and key has a ledger (what remains after prior
awards, in fen and in count), asserted as a ``led`` fact once stacking is
decided. Its action settles the ledger's claims one after another in the
case's canonical order, in-force before what-if, so a draft never takes what
the law in force grants; every ledger of a case is settled in one batched
call. The claims and the ledger's opening state are the action's payload,
kept beside the session, since no rule tests them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import Rule, Ruleset
from ..evaluate.facts import fen, platform_key, project_key
from ..evaluate.run import Candidate

NO_LIMIT = -1
LEDGERS_PER_CALL = 1000  # one action takes every ledger of a case: far fewer than this


@dataclass(slots=True)
class Settled:
    status: str  # granted | cap_exhausted | already_granted
    amount: int | None
    cap: object | None
    remaining_before: int | None
    count_remaining_before: int | None
    ledger: object = None  # the _Ledger that settled it: its opening, prior awards and every claim, for a derivation


@dataclass(slots=True)
class Beaten:
    by_measure: str
    by_event: str | None  # None: by a prior award
    group: object
    by_prior: int | None = None  # the index in prior_awards of the award that beat it
    by_amount: int | None = None  # fen the rival asked (keep: larger); None for a prior award or keep: first
    key: str = ""  # the group's slot (year, platform, project) both were in


# The field of a prior award that names the fact it paid, for each ``per`` that keys a
# slot by the fact (``enterprise`` and ``zone`` are the applicant: one slot, no field).
PRIOR_AWARD_KEY_FIELD = {"year": "year", "project": "project_id", "platform": "platform_id"}


def prior_award_fields(per: str, span: int | None = None) -> tuple[str, ...]:
    """What a prior award counted by a cap or group with this ``per`` (and ``span``) must
    state so that it is filed where a new claim on the same fact would be: the validator
    asks this, so what it requires and what settlement reads cannot drift apart."""
    fields = {PRIOR_AWARD_KEY_FIELD[per]} if per in PRIOR_AWARD_KEY_FIELD else set()
    if span:
        fields.add("year")  # a run is measured between the years of the facts paid
    return tuple(sorted(fields))


def scope_key(per: str, event: dict | None, prior: dict | None = None) -> str:
    """The slot of a cap or stacking group: a new claim's by its event (its year, project
    or platform, which default to the event itself), a prior award's by the fact it paid
    as the case states it, never by the day it was paid (an award paid in January for
    the past year belongs to that year)."""
    if event is None:
        return _prior_scope_key(per, prior)
    if per == "year":
        return str(event["year"])
    if per == "platform":
        return platform_key(event)
    if per == "project":
        return project_key(event)
    return ""


def _prior_scope_key(per: str, prior: dict) -> str:
    name = PRIOR_AWARD_KEY_FIELD.get(per)
    if name is None:
        return ""
    if prior.get(name) is None:  # the validator refuses such a case: reaching here is a bug
        raise ValueError(f"prior award of {prior['measure']} does not state its {name}, which a cap or group per {per} keys it by")
    return str(prior[name])


class Settlement:
    def __init__(self):
        self.ruleset = Ruleset("settlement", self._rules())

    def _rules(self) -> list[Rule]:
        def beaten(session, frame):
            hi = frame["hi"]
            session.context.beaten(frame["lo"]["c"], hi["m"], None if hi["p"] else hi["c"], hi.get("pi"), hi.get("a"),
                                   frame["lo"]["k"])

        def settle_ledgers(session, frames):
            # one frame per ledger: its claims, in the case's canonical order
            context = session.context
            settled, trace = context.settled, context.trace
            for frame in frames:
                ledger = context.ledgers[frame["l"]["id"]]
                cap, remaining, count, last, span = ledger.cap, ledger.remaining, ledger.count, ledger.last, ledger.span
                for cid, asked, year in ledger.claims:
                    if count == 0 or (span and year - last < span):
                        status, granted = "already_granted", 0
                    elif remaining == 0:
                        status, granted = "cap_exhausted", 0
                    else:
                        status = "granted"
                        granted = asked if remaining == NO_LIMIT or asked == NO_LIMIT else min(asked, remaining)
                    settled[cid] = Settled(status, granted, cap, None if remaining == NO_LIMIT else remaining,
                                           None if count == NO_LIMIT else count, ledger)
                    if trace is not None:
                        trace.append(f"settlement: {cid} {status} under cap {cap.id}")
                    if status == "granted":
                        last = year
                        if remaining != NO_LIMIT and asked != NO_LIMIT:
                            remaining -= granted
                        if count != NO_LIMIT:
                            count -= 1

        def conflict(session, frame):
            session.context.conflict(frame["lo"]["c"], frame["hi"]["m"], frame["hi"]["c"])

        # ``n`` ranks the facts of a group and key as its ``keep`` says (see _ranked); a
        # what-if (draft) candidate never displaces one of the law in force (``w``), and
        # two awards of one measure never stack-compete: its cap decides between them
        rules = [
            Rule("stack:beaten", {"all": [
                {"lo": {"$and": [{"t": "sc"}, {"p": 0}]}},
                {"hi": {"$and": [{"t": "sc"}, {"g": {"lo": "g"}}, {"k": {"lo": "k"}}, {"$lte": {"w": {"lo": "w"}}},
                                 {"$neq": {"m": {"lo": "m"}}}, {"$lt": {"n": {"lo": "n"}}}]}}]}, beaten),
            Rule("stack:what-if-conflict", {"all": [
                {"lo": {"$and": [{"t": "sc"}, {"p": 0}, {"mode": "larger"}, {"w": 1}]}},
                {"hi": {"$and": [{"t": "sc"}, {"p": 0}, {"g": {"lo": "g"}}, {"k": {"lo": "k"}}, {"w": 0},
                                 {"$neq": {"m": {"lo": "m"}}}, {"$lt": {"a": {"lo": "a"}}}]}}]},
                conflict),
            Rule("cap:settle", {"all": [{"l": {"t": "led"}}]}, settle_ledgers, batch=LEDGERS_PER_CALL),
        ]
        return rules

    def settle(self, candidates: list[Candidate], prior_awards: list[dict], trace: list[str]):
        """``candidates`` in canonical order, as evaluate returns them. Return ({cid: Beaten}, {cid: Settled}, {what-if cid: [(measure, event) it conflicts with]})."""
        context = _Context(trace)
        stack_facts, groups, priors_added = [], {}, set()
        for cand in candidates:
            group = cand.version.group_of.get(cand.measure.id)
            if group is None:
                continue
            groups[cand.cid] = group
            asked = _asked(cand)
            stack_facts.append({"t": "sc", "id": f"sc|{cand.cid}", "p": 0, "c": cand.cid, "m": cand.measure.id,
                                "g": group.id, "mode": group.keep, "k": scope_key(group.per, cand.event),
                                "n": _rank_key(group, cand.measure.id, asked), "a": asked, "w": int(cand.what_if)})
            if group.id in priors_added:
                continue
            priors_added.add(group.id)
            for i, prior in enumerate(prior_awards):
                if prior["measure"] in group.members:
                    stack_facts.append({"t": "sc", "id": f"sp|{i}|{group.id}", "p": 1, "pi": i, "m": prior["measure"],
                                        "g": group.id, "mode": group.keep, "k": scope_key(group.per, None, prior),
                                        "n": _rank_key(group, prior["measure"], None), "w": 0})
        context.groups = groups
        # the core creates a session's state with its first fact: a case with nothing
        # contested or capped asserts nothing and costs the engine nothing
        with self.ruleset.session(context) as session:
            session.assert_and_drain(_contested(stack_facts))
            session.assert_and_drain(self._ledgers(candidates, prior_awards, context))
        if len(context.settled) != context.claims:
            missing = [cid for ledger in context.ledgers.values() for cid, _, _ in ledger.claims if cid not in context.settled]
            raise RuntimeError(f"settlement left claims unsettled: {missing}")
        return context.beaten_by, context.settled, context.conflicts

    @staticmethod
    def _ledgers(ordered, prior_awards, context) -> list[dict]:
        """A fact for each cap ledger the candidates that survived stacking claim; the
        claims, in the case's canonical order, and the ledger's opening state stay
        with the context for the ledger's action."""
        ledgers, beaten = context.ledgers, context.beaten_by
        for cand in ordered:
            cap = cand.version.cap_of.get(cand.measure.id)
            if cap is None or cand.cid in beaten:
                continue
            key = scope_key(cap.per, cand.event)
            ledger_id = f"{cap.id}|{key}"
            ledger = ledgers.get(ledger_id)
            if ledger is None:
                ledger = ledgers[ledger_id] = _open_ledger(cap, key, prior_awards)
            ledger.claims.append((cand.cid, _asked(cand), cand.event["year"]))
            context.claims += 1
        return [{"t": "led", "id": ledger_id} for ledger_id in ledgers]


def _contested(stack_facts: list[dict]) -> list[dict]:
    """The stacking facts that can meet a rival, ranked: every stacking rule pairs a
    candidate with another fact of its group and key, so a candidate alone in its
    group and key, and priors no candidate shares one with, can fire nothing. Within
    a group and key, ``n`` becomes the rank of the fact's key (0 first; equal keys,
    equal ranks), a small integer whatever the amounts."""
    by_slot: dict[tuple, list] = {}
    for fact in stack_facts:
        by_slot.setdefault((fact["g"], fact["k"]), []).append(fact)
    contested = set()
    for facts in by_slot.values():
        if len(facts) > 1 and any(f["p"] == 0 for f in facts):
            ranks = {key: rank for rank, key in enumerate(sorted({f["n"] for f in facts}))}
            for fact in facts:
                fact["n"] = ranks[fact["n"]]
                contested.add(fact["id"])
    return [fact for fact in stack_facts if fact["id"] in contested]  # in the order they came


def _rank_key(group, measure_id: str, asked: int | None) -> tuple:
    """What orders a fact in its group and key, lowest first: member order (``keep:
    first``), or amount, larger first, then member order (``keep: larger``). An award
    already received (``asked`` None) stands before every candidate under ``keep:
    larger``, and at its member's place under ``keep: first``."""
    order = group.members.index(measure_id)
    if group.keep == "first":
        return (0, order)
    if asked is None:
        return (-1, 0)
    return (0, -asked, order)


def _asked(cand: Candidate) -> int:
    if cand.amount is not None:
        return cand.amount
    if cand.amount_max is not None:
        return cand.amount_max
    return NO_LIMIT


@dataclass(slots=True)
class _Ledger:
    """A cap's ledger for one key as it opens for this case: what remains after prior awards."""
    cap: object
    remaining: int  # fen, or NO_LIMIT
    count: int  # awards, or NO_LIMIT
    last: int  # the year of the fact last paid (a prior award's `year`, a claim's event year), 0 if none
    span: int  # years that must pass between two awards, 0 if none
    claims: list = field(default_factory=list)  # (candidate id, fen asked, year), in canonical order
    priors: list = field(default_factory=list)  # the indexes in prior_awards of the awards it counted
    key: str = ""  # its slot: the year, platform or project; "" for the applicant


def _open_ledger(cap, key: str, prior_awards: list[dict]) -> _Ledger:
    spent = counted = last = 0
    priors = []
    for i, prior in enumerate(prior_awards):
        if prior["measure"] in cap.counts and scope_key(cap.per, None, prior) == key:
            spent += fen(prior["amount"])
            counted += 1
            priors.append(i)
            if cap.span:  # a run is measured between the years of the facts paid, as claims are
                last = max(last, prior["year"])
    return _Ledger(cap, NO_LIMIT if cap.amount_fen is None else max(0, cap.amount_fen - spent),
                   NO_LIMIT if cap.count is None else max(0, cap.count - counted), last, cap.span or 0,
                   priors=priors, key=key)


class _Context:
    def __init__(self, trace: list[str]):
        self.trace = trace
        self.beaten_by: dict[str, Beaten] = {}
        self.settled: dict[str, Settled] = {}
        self.groups: dict[str, object] = {}
        self.ledgers: dict[str, _Ledger] = {}  # "cap|key" -> the ledger and its claims
        self.claims = 0  # claims on every ledger: each must be settled
        self.conflicts: dict[str, list] = {}  # what-if cid -> [(measure, event)] of the law in force it would displace

    def conflict(self, cid: str, other_measure: str, other_cid: str) -> None:
        entry = (other_measure, other_cid.rsplit("|", 1)[1])
        if entry not in self.conflicts.setdefault(cid, []):
            self.conflicts[cid].append(entry)

    def beaten(self, cid: str, by_measure: str, by_cid: str | None, by_prior: int | None = None,
               by_amount: int | None = None, key: str = "") -> None:
        if cid in self.beaten_by:
            return
        by_event = by_cid.rsplit("|", 1)[1] if by_cid else None
        self.beaten_by[cid] = Beaten(by_measure, by_event, self.groups[cid], by_prior, by_amount, key)
        if self.trace is not None:
            self.trace.append(f"settlement: {cid} not stacked with {by_measure}" + (f" on {by_event}" if by_event else " (prior award)"))
