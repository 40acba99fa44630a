"""A decision's derivation (``options.explain``): for each outcome, denial and inapplicable
entry, the steps that made it, rendered from what the engine's rules matched (run.Why, which
their actions handed over) and what settlement did (its ledgers and stacking facts). Nothing
here judges a condition: a step's result is the result of the rule that fired."""
from __future__ import annotations

from decimal import Decimal

from ..rulebook.conditions import Ref
from ..vocabulary import vocabulary
from .decision import money

MICRO = Decimal(1_000_000)


class Deriver:
    """Renders derivations for one decision: the resolution's roles, the case's prior awards."""

    def __init__(self, resolution, pins: dict, include_drafts: bool, prior_awards: list, settled: dict, lang: str):
        self.roles = {a.version.key: a.roles for a in resolution.assignments}
        self.pins = pins
        self.include_drafts = include_drafts
        self.priors = prior_awards
        self.settled = settled
        self.lang = lang
        self.vocab = vocabulary()

    # -- entries ------------------------------------------------------------------
    def outcome(self, cand, settled) -> dict:
        out = self._head(cand.version, cand.measure, cand.event, "granted", cand.why)
        if cand.supporting:
            out["supporting_events"] = [s["id"] for s in cand.supporting]
        if settled is not None and settled.ledger is not None:
            out["ledger"] = self._ledger(settled.ledger)
        return out

    def beaten(self, cand, beaten) -> dict:
        out = self._head(cand.version, cand.measure, cand.event, "not_stacked", cand.why)
        out["stacking"] = self._stacking(cand, beaten)
        return out

    def capped(self, cand, settled) -> dict:
        out = self._head(cand.version, cand.measure, cand.event, settled.status, cand.why)
        out["ledger"] = self._ledger(settled.ledger)
        return out

    def denial(self, d) -> dict:
        out = self._head(d.version, d.measure, d.event, d.reason, d.why)
        if d.condition:
            out["condition"] = d.condition
        unstated = d.extra.get("field")
        if unstated:
            out["unstated"] = unstated
            for step in out.get("steps", ()):
                if step["result"] == "unknown" and not step["read"]:
                    step["read"] = [{"path": unstated, "stated": False}]  # what the rule found the case does not state
        return out

    def inapplicable(self, entries: list, denials: list) -> list[dict]:
        """In the order of the decision's ``inapplicable``: each entry's first denial (as render picks it)."""
        first = {}
        for d in sorted(denials, key=lambda d: (d.what_if, d.event["ord"], d.version.key)):
            first.setdefault(d.measure.id, d)
        out = []
        for entry in entries:
            d = first[entry["measure"]]
            item = self.denial(d)
            item["result"] = "inapplicable"
            item["events"] = list(entry["events"])
            out.append(item)
        return out

    # -- parts ----------------------------------------------------------------------
    def _head(self, version, measure, event, result: str, why) -> dict:
        out = {"measure": measure.id, "event": event["id"], "result": result, "article": measure.article,
               "cites": measure.cites, "version": self._resolution(version, event)}
        if why is not None:
            out["steps"] = [self._step(version, measure, step, reads) for step, reads in zip(why.steps, why.reads)]
            if why.formula is not None:
                out["formula"] = self._formula(measure, why.formula, event)
        elif result in ("outside_window", "draft_not_requested"):
            out["steps"] = [self._window_step(version, measure, event, result)]
        return out

    def _resolution(self, version, event) -> dict:
        """Which version judged the event and why that one: the role the resolver gave it."""
        role = self.roles.get(version.key, {}).get(event["id"])
        if version.policy in self.pins:
            chosen = "pin"
        elif role == "draft":
            chosen = "draft_not_requested"
        elif version.status not in ("in_force", "repealed"):
            chosen = "include_drafts"
        else:
            # in its window; or no version's window holds the event, and this one (the only, or the
            # latest to start before it) tells it so
            chosen = "window" if role == "in" else "out_of_window"
        effective = version.raw["effective"]
        return {"policy": version.policy, "version": version.version, "revision": version.revision,
                "status": version.status, "document": version.document["number"],
                "window": {"from": effective["from"], "until": effective.get("until")},
                "event_date": _iso(event["date"]), "role": role, "chosen_by": chosen,
                # the window's words: an article, or (no article) the document's dating line
                "article": effective.get("article"), "cites": effective.get("cites", ""),
                "reading": _reading(version, effective.get("reading"), self.lang)}

    def _step(self, version, measure, step, reads) -> dict:
        article = (version.eligibility or {}).get("article") if step.kind == "eligibility" else measure.article
        out = {"kind": step.kind, "id": step.id, "of": step.on, "article": article, "test": step.test,
               "result": step.result}
        if step.alternative is not None:
            out["alternative"] = step.alternative
        if step.atoms:
            # what the engine's rule tested: the alternative that held, or the negation that failed
            tested_type = _type_of_pattern(measure, step.on)
            out["tested"] = [_atom(atom, lambda f, v: self._value(f, tested_type, v)) for atom in step.atoms]
        out["read"] = [{"path": path, "value": self._value(field, kind, value)} for path, field, kind, value in reads]
        # a measure's condition that cites no words of its own stands on the measure's
        out["cites"] = step.cites or (measure.cites if step.kind != "eligibility" else version.eligibility.get("cites", ""))
        if step.explain:
            out["explain"] = step.explain.get(self.lang) or step.explain.get("en")
        return out

    def _window_step(self, version, measure, event, result: str) -> dict:
        """The engine's window rule matched the role the resolver gave the event (out, or a draft not asked for)."""
        effective = version.raw["effective"]
        test = {"date": {"gte": effective["from"]} | ({"lte": effective["until"]} if effective.get("until") else {})}
        if result == "draft_not_requested":
            test = {"options": {"include_drafts": True}}
        out = {"kind": "window", "id": "effective", "of": "trigger", "article": effective.get("article"), "test": test,
               "result": "failed", "read": [{"path": f"events[{event['id']}]/date", "value": _iso(event["date"])}],
               "cites": effective.get("cites", "")}
        if result == "draft_not_requested":
            out["read"] = [{"path": "options/include_drafts", "value": self.include_drafts}]
        return out

    def _formula(self, measure, working: dict, event) -> dict:
        trigger = measure.trigger
        inputs = [{"name": name, "path": f"events[{event['id']}]/{name}", "type": kind, "value": _decimal(value)}
                  for name, kind, value in working["inputs"]]
        return {"text": working["text"], "inputs": inputs, "exact": _decimal(working["exact"]),
                "rounding": working["rounding"], "amount": money(working["fen"]), "of": trigger}

    def _ledger(self, ledger) -> dict:
        cap = ledger.cap
        out = {"cap": cap.id, "per": cap.per, "key": ledger.key, "cites": cap.cites,
               "limit": {"amount": money(cap.amount_fen) if cap.amount_fen is not None else None, "count": cap.count,
                         "span": cap.span},
               "prior_awards": [self._prior(i) for i in ledger.priors],
               "opening": {"remaining": None if ledger.remaining < 0 else money(ledger.remaining),
                           "count_remaining": None if ledger.count < 0 else ledger.count}}
        claims = []
        for cid, asked, year in ledger.claims:
            s = self.settled[cid]
            _, measure_id, event_id = cid.split("|", 2)
            claims.append({"measure": measure_id, "event": event_id, "year": year,
                           "asked": None if asked < 0 else money(asked), "status": s.status,
                           "granted": money(s.amount) if s.amount is not None else None,
                           "remaining_before": None if s.remaining_before is None else money(s.remaining_before),
                           "count_remaining_before": s.count_remaining_before})
        out["claims"] = claims
        return out

    def _prior(self, index: int) -> dict:
        prior = self.priors[index]
        return {"index": index, "path": f"prior_awards/{index}", "measure": prior["measure"],
                "amount": str(prior["amount"]), **{k: prior[k] for k in ("year", "project_id", "platform_id") if k in prior}}

    def _stacking(self, cand, beaten) -> dict:
        group = beaten.group
        rival = {"measure": beaten.by_measure}
        if beaten.by_event is not None:
            rival["event"] = beaten.by_event
        if beaten.by_prior is not None:
            rival["prior_award"] = self._prior(beaten.by_prior)
        if beaten.by_amount is not None and beaten.by_amount >= 0:
            rival["amount"] = money(beaten.by_amount)
        return {"group": group.id, "article": group.article or cand.measure.article, "cites": group.cites,
                "per": group.per, "key": beaten.key, "keep": group.keep, "members": list(group.members), "rival": rival}

    def _value(self, field: str, event_type: str | None, value):
        """The value as the request states it: the engine holds dates as YYYYMMDD, money as fen."""
        kind = self._type(field, event_type)
        if value is None or isinstance(value, bool):
            return value
        if kind == "date" and isinstance(value, int):
            return _iso(value) if value else 0  # 0: no date (never a high-tech enterprise), as the engine compares it
        if kind == "money" and isinstance(value, int):
            return money(value)
        if kind == "decimal" and isinstance(value, int):
            return _decimal(Decimal(value) / MICRO)
        if kind == "grade" and isinstance(value, int):
            return self.vocab.grades[value - 1] if 0 < value <= len(self.vocab.grades) else None
        return value

    def _type(self, field: str, event_type: str | None) -> str | None:
        if event_type == "incident":
            return "grade" if field == "grade" else None
        if event_type and event_type in self.vocab.events:
            return self.vocab.event_field_type(event_type, field)
        return self.vocab.applicant_field_type(field)


def _reading(version, name: str | None, lang: str) -> str | None:
    reading = version.readings.get(name) if name else None
    return reading.get(lang) if reading else None


def _type_of_pattern(measure, on: str) -> str | None:
    """The event type a step's pattern tests (None: the applicant)."""
    if on == "trigger":
        return measure.trigger
    if on == "incident":
        return "incident"
    if on == "u":
        return measure.unless[0].event if measure.unless else None
    return next((j.event for j in measure.joins if j.alias == on), None)


def _atom(atom, shown) -> dict:
    value = atom.value
    if isinstance(value, Ref):
        value = f"@{value.alias}.{value.field}" + (f"{value.offset:+d}" if value.offset else "")
    else:
        value = shown(atom.field, value)
    return {"field": atom.field, "op": atom.op, "value": value}


def _iso(day: int) -> str:
    text = f"{day:08d}"
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def _decimal(value) -> str:
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
