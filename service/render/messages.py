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
    "already_granted": {
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
    template = _TEMPLATES[reason][lang]
    if reason == "not_stacked":
        event = values.get("event")
        values["on"] = ((f" on event {event}" if lang == "en" else f"（事项{event}）") if event
                        else (" already received" if lang == "en" else "（已享受）"))
    if lang == "zh" and values.get("per") in _PER_ZH:
        values["per"] = _PER_ZH[values["per"]]
    return template.format(**{k: ("" if v is None else v) for k, v in values.items()})


def conflict_note(lang: str, conflicts) -> str:
    others = ", ".join(f"{m} ({e})" for m, e in conflicts)
    if lang == "en":
        return (f"What-if: does not stack with {others} of the law in force (同类奖励政策不叠加享受); "
                "this draft reward is the larger, so the enterprise would take it instead.")
    return f"草案测算：与现行{others}同类奖励政策不叠加享受；本项金额较大，企业将择其一享受本项。"
