"""What a prior award must state: a registered measure, and the fact it paid.

Settlement files a new claim under its event (the event's year, project or
platform) and a prior award under the fact it paid, as the case states it: its
``year`` and its ``project_id`` or ``platform_id`` where a cap or stacking group
of its measure is keyed by one. Nothing is guessed: the payment ``date`` is not
the year of the fact (an award for a 2023 ranking paid in 2024 belongs to 2023),
and a new claim's key defaults to its own event id, which a prior award cannot
know. So a prior award that lacks what its measure's caps and groups key it by
is refused, as is one of a measure no registered document defines (it would
otherwise be counted against nothing, silently).

Which fields a ``per`` needs is settlement's own table (``prior_award_fields``),
so what is required here and what settlement reads cannot drift apart.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from ..settle.settlement import prior_award_fields
from .messages import Messages

CLOSEST = 3

@dataclass(frozen=True)
class PriorAwardLaw:
    """Registered measure id -> {field a prior award of it must state: the caps and groups that need it}."""
    needs: Mapping[str, Mapping[str, tuple[str, ...]]]

    @classmethod
    def of(cls, registry) -> "PriorAwardLaw":
        # every version counts, drafts and revisions included: validation comes before
        # the versions of a case are resolved, and any of them may count the award
        needs: dict[str, dict[str, set]] = {}
        for version in registry.held_versions():
            for measure in version.measures:
                needs.setdefault(measure.id, {})
            limits = [(cap, cap.counts, cap.span) for cap in version.caps]
            limits += [(group, group.members, None) for group in version.stacking]
            for limit, members, span in limits:
                for name in prior_award_fields(limit.per, span):
                    for mid in members:  # a shared cap may name a document not registered (yet)
                        needs.setdefault(mid, {}).setdefault(name, set()).add(limit.id)
        return cls({mid: {name: tuple(sorted(ids)) for name, ids in fields.items()} for mid, fields in needs.items()})

    def problems(self, payload: dict, m: Messages, already: list[dict] = ()) -> list[dict]:
        """``{path, message}`` (in ``m``'s language) for each prior award of an unknown measure or
        without a field its caps and groups key it by; a path ``already`` reported (a malformed
        measure id, a null year) is left to that report."""
        priors = payload.get("prior_awards")
        if not isinstance(priors, list):
            return []
        reported = {error["path"] for error in already}
        found = []
        for index, prior in enumerate(priors):
            if isinstance(prior, dict) and isinstance(prior.get("measure"), str):
                found += self._problems_of(index, prior, m)
        return [problem for problem in found if problem["path"] not in reported]

    def _problems_of(self, index: int, prior: dict, m: Messages) -> list[dict]:
        measure = prior["measure"]
        needs = self.needs.get(measure)
        if needs is None:
            closest = difflib.get_close_matches(measure, self.needs, n=CLOSEST, cutoff=0.5)
            text = m("prior_measure_unknown", measure=measure, closest=", ".join(closest) or m("none_close"))
            return [{"path": f"prior_awards/{index}/measure", "message": text}]
        return [{"path": f"prior_awards/{index}/{name}",
                 "message": m(f"prior_needs_{name}", measure=measure, limits=", ".join(limits))}
                for name, limits in sorted(needs.items()) if prior.get(name) in (None, "")]  # "" keys nothing


@lru_cache(maxsize=1)
def bundled_prior_award_law() -> PriorAwardLaw:
    """The law of the bundled rulesets, for a validator built without a registry."""
    from ..rulebook.registry import Registry

    return PriorAwardLaw.of(Registry.load(compile_rules=False))
