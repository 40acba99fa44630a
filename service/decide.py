"""A case's path: (validated) → resolve versions → evaluate → settle → render."""
from __future__ import annotations

import hashlib
import time
import uuid

import orjson

from . import __version__
from .engine import ENGINE_NAME, engine_version
from .evaluate.facts import FactBuilder
from .evaluate.run import candidate_order, evaluate
from .render import decision as render
from .render.derivation import Deriver
from .resolve import resolve
from .rulebook.registry import Registry, bundle_revision
from .settle.settlement import Settlement
from .vocabulary import vocabulary


class Decider:
    """Holds the compiled law; one per process, built before the fork."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry or Registry.load()
        self.vocab = vocabulary()
        # facts carry what some rule tests: those applicant attributes, those derived event fields
        self.facts = FactBuilder(self.vocab, self.registry.tested_attributes, self.registry.tested_event_fields)
        self.settlement = Settlement()
        self.engine = {"name": ENGINE_NAME, "version": engine_version()}
        self.bundle = self.registry.bundle

    def _restrict(self, bundle: list[str], judged: set | None) -> set:
        """The version keys of a recorded bundle. ``judged``: the entries the decision was judged
        under (its ``rulesets``), each of which must still be held byte for byte; an entry it was not
        judged under (a draft not asked for, edited since) is taken by its key. None: every entry."""
        held = {entry.rsplit(":", 1)[0]: entry for entry in self.bundle["versions"]}
        missing = [entry for entry in bundle if held.get(entry.rsplit(":", 1)[0]) != entry
                   and (judged is None or entry in judged or entry.rsplit(":", 1)[0] not in held)]
        if missing:
            raise BundleMismatch(missing)
        return {entry.rsplit(":", 1)[0] for entry in bundle}


    def decide(self, case: dict, *, input_sha256: str | None = None, bundle: list[str] | None = None,
               judged: set | None = None, derive: bool = False) -> dict:
        """``bundle``: replay under exactly these versions ("policy@version:sha256"), refusing any other;
        ``judged``: of those, the ones the logged decision was judged under (see ``_restrict``);
        ``derive``: add the ``derivation`` though the case did not ask to explain (a replay
        explaining a decision logged without it: the rest of the decision must not change)."""
        options = case.get("options") or {}
        lang = options.get("lang", "zh")
        pins = options.get("pin") or {}
        include_drafts = bool(options.get("include_drafts", False))
        trace: list[str] | None = [] if options.get("explain") else None
        deriving = derive or bool(options.get("explain"))

        applicant = case["applicant"]
        events = self.facts.events(applicant, case.get("events") or [])
        only = self._restrict(bundle, judged) if bundle is not None else None
        resolution = resolve(self.registry, applicant, events, pins, include_drafts, only)
        candidates, denials, inapplicable = evaluate(self.registry, self.facts.applicant(applicant), events, resolution,
                                                     trace, self.facts, deriving)
        prior_awards = case.get("prior_awards") or []
        beaten, settled, conflicts = self.settlement.settle(candidates, prior_awards, trace)
        derive_one = Deriver(resolution, pins, include_drafts, prior_awards, settled, lang) if deriving else None

        outcomes, denied, totals = [], [], render.Totals()
        derived_outcomes = []
        for cand in candidates:  # in canonical order
            if cand.cid in beaten:
                lost = beaten[cand.cid]
                denied.append((candidate_order(cand), render.denial_from_candidate(cand, "not_stacked", lang, beaten=lost),
                               derive_one and derive_one.beaten(cand, lost)))
                continue
            result = settled.get(cand.cid)
            if result is not None and result.status != "granted":
                denied.append((candidate_order(cand), render.denial_from_candidate(cand, result.status, lang, settled=result),
                               derive_one and derive_one.capped(cand, result)))
                continue
            outcomes.append(render.outcome(cand, conflicts.get(cand.cid), result, lang, totals))
            if derive_one:
                derived_outcomes.append(derive_one.outcome(cand, result))
        for d in denials:
            denied.append((candidate_order(d), render.denial(d, lang), derive_one and derive_one.denial(d)))
        denied.sort(key=lambda entry: (entry[0], entry[1]["reason"], entry[1].get("condition") or ""))
        said_inapplicable = render.inapplicable(inapplicable, lang)

        used = [a.version for a in resolution.assignments]
        response = {
            "case_id": case.get("case_id"),
            "decision_id": decision_id(),
            "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "engine": self.engine,
            "service": {"name": "gx-zones-rules", "version": __version__},
            "input_sha256": input_sha256 or canonical_sha256(case),
            "options": {"lang": lang, "explain": bool(options.get("explain", False)),
                        "include_drafts": include_drafts, "pin": dict(sorted(pins.items()))},
            "bundle": self.bundle if bundle is None else {"revision": bundle_revision(bundle), "versions": list(bundle)},
            "rulesets": [
                {"policy": v.policy, "version": v.version, "revision": v.revision, "status": v.status,
                 "document": v.document["number"],
                 "sha256": v.sha256, "what_if": v.status != "in_force" and v.status != "repealed"}
                for v in used
            ],
            "not_applicable": resolution.not_applicable,
            "notices": [dict(n, message=n["message"][lang]) for n in resolution.notices],
            "outcomes": outcomes,
            "denials": [d for _, d, _ in denied],
            "inapplicable": said_inapplicable,
            **totals.rendered(),
        }
        if options.get("explain"):
            response["trace"] = trace
        if deriving:
            # beside the decision, index for index, so that the decision itself reads the same with or without it
            response["derivation"] = {"outcomes": derived_outcomes, "denials": [x for _, _, x in denied],
                                      "inapplicable": derive_one.inapplicable(said_inapplicable, inapplicable)}
        return response


def decision_id() -> str:
    return str(uuid.uuid4())


def canonical_sha256(payload) -> str:
    """sha256 of the input as canonical JSON: UTF-8, keys sorted, no whitespace."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


class BundleMismatch(LookupError):
    """A replay asked for ruleset files this process does not hold byte for byte."""

    def __init__(self, missing: list[str]):
        super().__init__("ruleset versions not held with the recorded sha256: " + ", ".join(missing))
        self.missing = missing

