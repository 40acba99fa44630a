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

CLOSEST = 3

_MESSAGES = {
    "unknown": {
        "en": "unknown measure {measure!r}: no registered document defines it; closest: {closest}",
        "zh": "未知措施 {measure!r}：没有已登记文件规定该措施；最接近的：{closest}",
    },
    "none_close": {"en": "none", "zh": "无"},
    "year": {
        "en": ("the year of the fact this award paid is required: {measure} is capped or grouped per year "
               "or per run of years ({limits}); the payment date is not that year"),
        "zh": "须注明该奖励所针对事项的年度：{measure} 按年度或连续年度限额或不叠加（{limits}），支付日期不代表该年度",
    },
    "project_id": {
        "en": "the project this award paid is required: {measure} is capped or grouped per project ({limits})",
        "zh": "须注明该奖励所针对的项目：{measure} 按项目限额或不叠加（{limits}）",
    },
    "platform_id": {
        "en": "the platform this award paid is required: {measure} is capped or grouped per platform ({limits})",
        "zh": "须注明该奖励所针对的平台：{measure} 按平台限额或不叠加（{limits}）",
    },
}


@dataclass(frozen=True)
class PriorAwardLaw:
    """Registered measure id -> {field a prior award of it must state: the caps and groups that need it}."""
    needs: Mapping[str, Mapping[str, tuple[str, ...]]]

    @classmethod
    def of(cls, registry) -> "PriorAwardLaw":
        # every version counts, drafts and revisions included: validation comes before
        # the versions of a case are resolved, and any of them may count the award
        needs: dict[str, dict[str, set]] = {}
        for version in registry.all_versions():
            for measure in version.measures:
                needs.setdefault(measure.id, {})
            limits = [(cap, cap.counts, cap.span) for cap in version.caps]
            limits += [(group, group.members, None) for group in version.stacking]
            for limit, members, span in limits:
                for name in prior_award_fields(limit.per, span):
                    for mid in members:  # a shared cap may name a document not registered (yet)
                        needs.setdefault(mid, {}).setdefault(name, set()).add(limit.id)
        return cls({mid: {name: tuple(sorted(ids)) for name, ids in fields.items()} for mid, fields in needs.items()})

    def problems(self, payload: dict, already: list[dict] = ()) -> list[dict]:
        """``{path, message}`` for each prior award of an unknown measure or without a field
        its caps and groups key it by; a path ``already`` reported (a malformed measure id,
        a null year) is left to that report."""
        priors = payload.get("prior_awards")
        if not isinstance(priors, list):
            return []
        lang = _lang(payload)
        reported = {error["path"] for error in already}
        found = []
        for index, prior in enumerate(priors):
            if isinstance(prior, dict) and isinstance(prior.get("measure"), str):
                found += self._problems_of(index, prior, lang)
        return [problem for problem in found if problem["path"] not in reported]

    def _problems_of(self, index: int, prior: dict, lang: str) -> list[dict]:
        measure = prior["measure"]
        needs = self.needs.get(measure)
        if needs is None:
            closest = difflib.get_close_matches(measure, self.needs, n=CLOSEST, cutoff=0.5)
            text = _MESSAGES["unknown"][lang].format(
                measure=measure, closest=", ".join(closest) or _MESSAGES["none_close"][lang])
            return [{"path": f"prior_awards/{index}/measure", "message": text}]
        return [{"path": f"prior_awards/{index}/{name}",
                 "message": _MESSAGES[name][lang].format(measure=measure, limits=", ".join(limits))}
                for name, limits in sorted(needs.items()) if prior.get(name) in (None, "")]  # "" keys nothing


def _lang(payload: dict) -> str:
    options = payload.get("options")
    lang = options.get("lang") if isinstance(options, dict) else None
    return lang if lang in ("zh", "en") else "zh"  # the contract's default language


@lru_cache(maxsize=1)
def bundled_prior_award_law() -> PriorAwardLaw:
    """The law of the bundled rulesets, for a validator built without a registry."""
    from ..rulebook.registry import Registry

    return PriorAwardLaw.of(Registry.load(compile_rules=False))
