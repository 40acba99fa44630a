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
awards, in fen and in count). Candidates claim it one after another in the
case's canonical order, in-force before what-if, so a draft never takes what
the law in force grants. The engine orders the claims: a ledger's first claim
is due at once, each later one when the claim before it hands on the ledger's
token (a ``led`` fact of the next position); each round of due claims, one per
ledger, is one action. The amounts asked and the ledger's running state are the
action's payload, kept beside the session, since no rule tests them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..engine import Rule, Ruleset
from ..evaluate.facts import day, fen
from ..evaluate.run import Candidate

NO_LIMIT = -1
CLAIMS_PER_ROUND = 1000  # a round takes every due claim: one per ledger, far fewer than this


@dataclass(slots=True)
class Settled:
    status: str  # granted | cap_exhausted | already_granted
    amount: int | None
    cap: object | None
    remaining_before: int | None
    count_remaining_before: int | None


@dataclass(slots=True)
class Beaten:
    by_measure: str
    by_event: str | None  # None: by a prior award
    group: object


def scope_key(per: str, event: dict | None, prior: dict | None = None) -> str:
    if per == "year":
        return str(event["year"] if event else day(prior["date"]) // 10000)
    if per == "platform":
        return (event["key_platform"] if event else prior.get("platform_id")) or ""
    if per == "project":
        return (event["key_project"] if event else prior.get("project_id")) or ""
    return ""


class Settlement:
    def __init__(self):
        self.ruleset = Ruleset("settlement", self._rules())

    def _rules(self) -> list[Rule]:
        def beaten(session, frame):
            hi = frame["hi"]
            session.context.beaten(frame["lo"]["c"], hi["m"], None if hi["p"] else hi["c"])

        def claim(session, frames):
            # one frame per ledger whose next claim is due; a ledger's claims come
            # one round after another, each round passing the next its ledger token
            context, following = session.context, []
            for frame in frames:
                fact = frame["c"]
                cid, asked, year = context.claim_of[fact["id"]]
                ledger = context.ledgers[(fact["cap"], fact["k"])]
                remaining, count = ledger["rem"], ledger["cnt"]
                if count == 0 or (ledger["span"] and year - ledger["last"] < ledger["span"]):
                    status, granted = "already_granted", 0
                elif remaining == 0:
                    status, granted = "cap_exhausted", 0
                else:
                    status = "granted"
                    granted = asked if remaining == NO_LIMIT or asked == NO_LIMIT else min(asked, remaining)
                context.claimed(cid, status, granted, remaining, count)
                if status == "granted":
                    ledger["last"] = year
                    if remaining != NO_LIMIT and asked != NO_LIMIT:
                        ledger["rem"] = remaining - granted
                    if count != NO_LIMIT:
                        ledger["cnt"] = count - 1
                if fact["pos"] + 1 < ledger["n"]:
                    following.append({"t": "led", "id": f"l{fact['id']}", "cap": fact["cap"], "k": fact["k"],
                                      "pos": fact["pos"] + 1})
            if following:
                session.assert_all(following)

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
            Rule("cap:open", {"all": [{"c": {"$and": [{"t": "cc"}, {"pos": 0}]}}]}, claim, batch=CLAIMS_PER_ROUND),
            # a spent ledger stays in working memory: only the claim of its position could match it
            Rule("cap:claim", {"all": [
                {"c": {"$and": [{"t": "cc"}, {"$gt": {"pos": 0}}]}},
                {"l": {"$and": [{"t": "led"}, {"cap": {"c": "cap"}}, {"k": {"c": "k"}}, {"pos": {"c": "pos"}}]}}]}, claim,
                batch=CLAIMS_PER_ROUND),
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
                    stack_facts.append({"t": "sc", "id": f"sp|{i}|{group.id}", "p": 1, "m": prior["measure"],
                                        "g": group.id, "mode": group.keep, "k": scope_key(group.per, None, prior),
                                        "n": _rank_key(group, prior["measure"], None), "w": 0})
        context.groups = groups
        # the core creates a session's state with its first fact: a case with nothing
        # contested or capped asserts nothing and costs the engine nothing
        with self.ruleset.session(context) as session:
            session.assert_and_drain(_contested(stack_facts))
            claims = self._claims(candidates, prior_awards, context)
            session.assert_and_drain(claims)
        if len(context.settled) != len(claims):
            missing = [cid for cid, _, _ in context.claim_of.values() if cid not in context.settled]
            raise RuntimeError(f"settlement left claims unsettled: {missing}")
        return context.beaten_by, context.settled, context.conflicts

    @staticmethod
    def _claims(ordered, prior_awards, context) -> list[dict]:
        """Claims on each cap ledger by the candidates that survived stacking, in order.
        A claim fact carries what the rules match on (cap, key, position); what it
        asks, and the ledger's state, stay with the context for the claim action."""
        claims = []
        ledgers, claim_of, caps, beaten = context.ledgers, context.claim_of, context.caps, context.beaten_by
        for cand in ordered:
            cap = cand.version.cap_of.get(cand.measure.id)
            if cap is None or cand.cid in beaten:
                continue
            key = scope_key(cap.per, cand.event)
            ledger = ledgers.get((cap.id, key))
            if ledger is None:
                ledger = ledgers[(cap.id, key)] = _open_ledger(cap, key, prior_awards)
            claim_id = f"c{len(claims)}"
            claims.append({"t": "cc", "id": claim_id, "cap": cap.id, "k": key, "pos": ledger["n"]})
            ledger["n"] += 1
            claim_of[claim_id] = (cand.cid, _asked(cand), cand.event["year"])
            caps[cand.cid] = cap
        return claims


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


def _open_ledger(cap, key: str, prior_awards: list[dict]) -> dict:
    """A cap's ledger as it opens for this case: what remains after prior awards."""
    counted = [p for p in prior_awards if p["measure"] in cap.counts and scope_key(cap.per, None, p) == key]
    return {
        "rem": NO_LIMIT if cap.amount_fen is None else max(0, cap.amount_fen - sum(fen(p["amount"]) for p in counted)),
        "cnt": NO_LIMIT if cap.count is None else max(0, cap.count - len(counted)),
        "last": max((day(p["date"]) // 10000 for p in counted), default=0),
        "span": cap.span or 0,
        "n": 0,  # how many claims the ledger will see
    }


class _Context:
    def __init__(self, trace: list[str]):
        self.trace = trace
        self.beaten_by: dict[str, Beaten] = {}
        self.settled: dict[str, Settled] = {}
        self.caps: dict[str, object] = {}
        self.groups: dict[str, object] = {}
        self.ledgers: dict[tuple, dict] = {}  # (cap, key) -> its state as the claims go
        self.claim_of: dict[str, tuple] = {}  # claim fact id -> (candidate id, fen asked, year)
        self.conflicts: dict[str, list] = {}  # what-if cid -> [(measure, event)] of the law in force it would displace

    def conflict(self, cid: str, other_measure: str, other_cid: str) -> None:
        entry = (other_measure, other_cid.rsplit("|", 1)[1])
        if entry not in self.conflicts.setdefault(cid, []):
            self.conflicts[cid].append(entry)

    def beaten(self, cid: str, by_measure: str, by_cid: str | None) -> None:
        if cid in self.beaten_by:
            return
        by_event = by_cid.rsplit("|", 1)[1] if by_cid else None
        self.beaten_by[cid] = Beaten(by_measure, by_event, self.groups[cid])
        if self.trace is not None:
            self.trace.append(f"settlement: {cid} not stacked with {by_measure}" + (f" on {by_event}" if by_event else " (prior award)"))

    def claimed(self, cid: str, status: str, granted: int, remaining: int, count: int) -> None:
        cap = self.caps[cid]
        self.settled[cid] = Settled(status, granted, cap, None if remaining == NO_LIMIT else remaining,
                                    None if count == NO_LIMIT else count)
        if self.trace is not None:
            self.trace.append(f"settlement: {cid} {status} under cap {cap.id}")
