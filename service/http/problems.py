"""RFC 9457 problem details: every error answer has this one shape.

The problems of the decision endpoints (``localized``) are in the case's
``options.lang`` when it names zh or en; otherwise — the body is not JSON, or
its options are invalid — in the language ``Accept-Language`` prefers of zh and
en; otherwise zh, as decisions are. ``Content-Language`` says which.
"""
from __future__ import annotations

import json

from flask import Response, has_request_context, request

from ..validate.messages import DEFAULT_LANG, LANGS, requested_lang

PROBLEM_TYPE = "https://gx-zones-rules.example/problems/"

# kind -> (zh, en)
TITLES = {
    "invalid-case": ("案件无效", "Invalid case"),
    "malformed-json": ("JSON 格式错误", "Malformed JSON"),
    "unsupported-media-type": ("不支持的媒体类型", "Unsupported Media Type"),
    "too-large": ("请求体过大", "Payload Too Large"),
    "unknown-ruleset": ("未知的规则集版本", "Unknown ruleset version"),
    "internal": ("内部错误", "Internal error"),
    "not-found": ("未找到", "Not Found"),
    "method-not-allowed": ("不允许的方法", "Method Not Allowed"),
}
# detail name -> (zh, en), str.format templates
DETAILS = {
    "invalid-case": ("{count} 个字段无效", "{count} invalid field(s)"),
    "malformed-json": ("请求体不是有效的 UTF-8 JSON：{error}", "the body is not valid UTF-8 JSON: {error}"),
    "send-case-as-json": ("请以 application/json 发送案件", "send the case as application/json"),
    "send-batch-as-json": ("请以 application/json 发送批量请求", "send the batch as application/json"),
    "charset-not-utf8": ("请以 UTF-8 编码发送 JSON（收到 charset={charset}）",
                         "send JSON in UTF-8 (got charset={charset})"),
    "too-large": ("请求体超过 {limit} 字节", "the body exceeds {limit} bytes"),
    "unknown-ruleset": ("options.pin 指定了未知的政策或版本：{error}", "unknown policy or version in options.pin: {error}"),
    "internal": ("无法作出决定；请提供 decision_id 以便查询", "the decision could not be made; quote the decision_id"),
    "internal-request": ("请求处理失败；请提供 decision_id 以便查询", "quote the decision_id"),
    "not-found": ("服务器上没有此地址", "no such address on this server"),
    "method-not-allowed": ("此地址不接受该请求方法", "this address does not accept the request's method"),
}


def problem(status: int, title: str, detail: str, *, kind: str, errors: list | None = None, lang: str | None = None,
            **extra) -> Response:
    body = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    if lang is not None:
        response.headers["Content-Language"] = lang
    return response


def localized(status: int, kind: str, lang: str, *, detail: str | None = None, args: dict | None = None,
              errors: list | None = None, **extra) -> Response:
    """A problem whose title (by ``kind``) and detail (by ``detail``, default ``kind``) are in ``lang``."""
    index = LANGS.index(lang)
    text = DETAILS[detail or kind][index]
    return problem(status, TITLES[kind][index], text.format(**(args or {})), kind=kind, errors=errors, lang=lang, **extra)


def header_lang() -> str:
    """The language ``Accept-Language`` prefers of zh and en (zh when it says neither)."""
    if not has_request_context():
        return DEFAULT_LANG
    return request.accept_languages.best_match(LANGS, default=DEFAULT_LANG)


def problem_lang(payload=None) -> str:
    """The language of a problem about ``payload``: its ``options.lang``, else ``header_lang()``."""
    return requested_lang(payload, header_lang())
