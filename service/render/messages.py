"""The sentence a denial carries, in the requested language."""
from __future__ import annotations

_TEMPLATES = {
    "not_eligible": {
        "en": "{measure} is not granted: condition not met — {condition}.",
        "zh": "{measure}不予支持：不符合条件——{condition}。",
    },
    "outside_window": {
        "en": "{measure} is not granted: event {event} falls outside the effective window {window} of {version}.",
        "zh": "{measure}不予支持：事项{event}不在{version}的执行期限（{window}）内。",
    },
    "draft_not_requested": {
        "en": "{measure} belongs to a draft ({version}); drafts are evaluated only with options.include_drafts or a pin.",
        "zh": "{measure}出自未施行的草案（{version}），仅在请求草案（include_drafts）或指定版本时评估。",
    },
    "missing_data": {
        "en": "{measure} cannot be decided: {condition}.",
        "zh": "{measure}无法判定：{condition}。",
    },
    "cap_exhausted": {
        "en": "{measure} is not granted: cap {cap} ({amount} per {per}) is exhausted by earlier awards.",
        "zh": "{measure}不予支持：限额{cap}（每{per}{amount}元）已被此前奖补用完。",
    },
    # {rule} and {used}: see _cap_rule
    "already_granted": {
        "en": "{measure} is not granted: it may be granted {rule} (cap {cap}), and {used}.",
        "zh": "{measure}不予支持：{rule}（{cap}），{used}。",
    },
    # the sentence of the first encodings (denials: per_event), kept so that their logged decisions
    # replay identical; it loses the count of a span cap ("may be granted  time(s)")
    "already_granted_per_event": {
        "en": "{measure} is not granted: it may be granted {count} time(s) per {per} (cap {cap}) and that is used.",
        "zh": "{measure}不予支持：每{per}限享受{count}次（{cap}），已享受。",
    },
    "inapplicable": {
        "en": "{measure} does not apply to this applicant: {condition}.",
        "zh": "{measure}不适用于本申请人：{condition}。",
    },
    "not_stacked": {
        "en": "{measure} is not granted: it does not stack with {other}{on} (group {group}).",
        "zh": "{measure}不予支持：与{other}{on}不叠加享受（{group}）。",
    },
}

_PER_ZH = {"enterprise": "家企业", "project": "个项目", "platform": "个平台", "year": "年", "zone": "个园区"}


def denial_detail(lang: str, reason: str, **values) -> str:
    """``already_granted`` takes the cap's ``count``, ``span``, ``per`` and ``amount`` (None where
    the cap has none) and ``count_used``: whether its count ran out (else its span barred the award)."""
    template = _TEMPLATES[reason][lang]
    if reason == "not_stacked":
        event = values.get("event")
        values["on"] = ((f" on event {event}" if lang == "en" else f"（事项{event}）") if event
                        else (" already received" if lang == "en" else "（已享受）"))
    if lang == "zh" and values.get("per") in _PER_ZH:
        values["per"] = _PER_ZH[values["per"]]
    if reason == "already_granted":
        values["rule"], values["used"] = _cap_rule(lang, values.pop("count", None), values.pop("span", None),
                                                   values["per"], values.pop("amount", None), values.pop("count_used", True))
    return template.format(**{k: ("" if v is None else v) for k, v in values.items()})


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _cap_rule(lang: str, count: int | None, span: int | None, per: str, amount: str | None, count_used: bool) -> tuple[str, str]:
    """How often the cap lets the measure be granted, and what the earlier awards used of it; ``per``
    already in ``lang``. A cap has a count, a span (no award within ``span`` years of the last: once in
    any ``span`` consecutive years), or both, and may also bound the amount."""
    if lang == "en":
        parts = [f"{_times(count)} per {per}"] if count is not None else []
        if span:
            parts.append(f"once in any {span} consecutive years" + ("" if parts else f" per {per}"))
        if amount is not None:
            parts.append(f"up to {amount} per {per}")
        used = "that is used" if count is not None and count_used or not span else \
            f"it was granted less than {span} years before"
        return ", ".join(parts), used
    parts = [f"每{per}限享受{count}次"] if count is not None else []
    if span:
        parts.append(f"任意连续{span}年内限享受1次" if parts else f"每{per}任意连续{span}年内限享受1次")
    if amount is not None:
        parts.append(f"最高{amount}元")
    used = "已享受" if count is not None and count_used or not span else f"距上次享受不足{span}年"
    return "，".join(parts), used


def conflict_note(lang: str, conflicts) -> str:
    others = ", ".join(f"{m} ({e})" for m, e in conflicts)
    if lang == "en":
        return (f"What-if: does not stack with {others} of the law in force (同类奖励政策不叠加享受); "
                "this draft reward is the larger, so the enterprise would take it instead.")
    return f"草案测算：与现行{others}同类奖励政策不叠加享受；本项金额较大，企业将择其一享受本项。"
