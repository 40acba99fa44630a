"""A request body read whole, then parsed as strict JSON, or refused with a problem.

One path for every endpoint that takes a body (POST /v1/decisions and :batch):

- the body is read whole, at most ``RAC_MAX_BODY`` bytes, whether it comes with a
  Content-Length or chunked: one byte more is a 413, never a truncated body that
  is then decided (werkzeug stops a chunked stream at the limit without a word);
- a ``charset`` other than UTF-8 is a 415; bytes that are not UTF-8 are a 400;
- strict JSON: NaN and Infinity, a duplicate key, a lone surrogate, an integer
  beyond ±(2^53 − 1), a number of more than ``MAX_NUMBER_CHARS`` characters, a
  string beyond ``MAX_STRING``, nesting beyond ``MAX_DEPTH``, an object of more
  than ``MAX_MEMBERS`` members and an array of more than ``MAX_ITEMS`` items are
  each a 400 naming the path and the limit.

The parser is the standard library's (its hooks see every number, constant and
object); what they find is left in the tree as a ``_Refused`` marker or a
``_Duplicated`` dict, and one bounded walk turns those into errors with paths.
"""
from __future__ import annotations

import json
import math

from flask import Request, Response
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from ..validate import limits
from ..validate.limits import echo
from ..validate.messages import Messages
from .problems import header_lang, localized

UTF8 = ("utf-8", "utf8")


class _Refused:
    """Stands in the parsed tree for a value the parser would not keep."""
    __slots__ = ("key", "args")

    def __init__(self, key: str, **args):
        self.key = key
        self.args = args


class _Duplicated(dict):
    """An object in which some keys occur more than once."""
    __slots__ = ("duplicates",)


def _number_text(text: str):
    return echo(text, limits.MAX_NUMBER_CHARS)


def _parse_int(text: str):
    if len(text) > limits.MAX_NUMBER_CHARS:  # int() of a long digit string costs quadratic time
        return _Refused("json_number_long", max=limits.MAX_NUMBER_CHARS)
    value = int(text)
    if abs(value) > limits.MAX_JSON_INTEGER:
        return _Refused("json_integer_range", value=_number_text(text), max=limits.MAX_JSON_INTEGER)
    return value


def _parse_float(text: str):
    if len(text) > limits.MAX_NUMBER_CHARS:
        return _Refused("json_number_long", max=limits.MAX_NUMBER_CHARS)
    value = float(text)
    if not math.isfinite(value):  # 1e400
        return _Refused("json_number_range", value=_number_text(text))
    return value


def _parse_constant(name: str):
    return _Refused("json_constant", value=name)


def _object(pairs: list):
    if len(pairs) > limits.MAX_MEMBERS:
        return _Refused("json_members", count=len(pairs), max=limits.MAX_MEMBERS)
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen, duplicates = set(), []
    for key, _ in pairs:
        if key in seen and key not in duplicates:
            duplicates.append(key)
        seen.add(key)
    marked = _Duplicated(value)
    marked.duplicates = duplicates
    return marked


def parse_strict(text: str):
    """The parsed value, and [] or the [(path, message key, args)] that refuse it."""
    value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant,
                       object_pairs_hook=_object)
    found: list = []
    _walk(value, "", 1, found)
    return value, found


def _join(path: str, key) -> str:
    key = echo(key) if isinstance(key, str) else str(key)
    return f"{path}/{key}" if path else key


def _string_problem(text: str):
    if len(text) > limits.MAX_STRING:
        return ("json_string_long", {"length": len(text), "max": limits.MAX_STRING})
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800): no UTF-8, no canonical form
            return ("json_surrogate", {})
    return None


def _walk(value, path: str, depth: int, found: list) -> None:
    if isinstance(value, _Refused):
        found.append((path, value.key, value.args))
    elif isinstance(value, str):
        problem = _string_problem(value)
        if problem:
            found.append((path, *problem))
    elif isinstance(value, (dict, list)):
        if depth > limits.MAX_DEPTH:
            found.append((path, "json_depth", {"max": limits.MAX_DEPTH}))
            return
        if isinstance(value, list):
            if len(value) > limits.MAX_ITEMS:
                found.append((path, "json_items", {"count": len(value), "max": limits.MAX_ITEMS}))
                return
            for index, item in enumerate(value):
                _walk(item, _join(path, index), depth + 1, found)
            return
        for key in getattr(value, "duplicates", ()):
            found.append((_join(path, key), "json_duplicate_key", {"name": echo(key)}))
        for key, item in value.items():
            problem = _string_problem(key)
            if problem:
                found.append((_join(path, key), problem[0] + "_key", problem[1]))
                continue
            _walk(item, _join(path, key), depth + 1, found)


def read_body(request: Request, max_body: int) -> bytes:
    """The whole body, or RequestEntityTooLarge once it is longer than ``max_body`` bytes."""
    # one byte past the limit is read so that a body longer than it is told from one that fits
    stream = get_input_stream(request.environ, max_content_length=max_body + 1)
    chunks, size = [], 0
    while size <= max_body:
        chunk = stream.read(min(65536, max_body + 1 - size))  # a read may return less than asked
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise RequestEntityTooLarge()


def read_json(request: Request, max_body: int, *, detail: str):
    """(payload, None) or (None, the problem Response) for the body of ``request``."""
    lang = header_lang()
    if request.mimetype != "application/json":
        return None, localized(415, "unsupported-media-type", lang, detail=detail)
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in UTF8:
        return None, localized(415, "unsupported-media-type", lang, detail="charset-not-utf8",
                               args={"charset": echo(charset)})
    raw = read_body(request, max_body)
    try:
        payload, found = parse_strict(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        return None, localized(400, "malformed-json", lang, args={"error": error})
    except RecursionError:  # nested past what the parser itself can hold
        return None, localized(400, "malformed-json", lang, args={"error": f"nested deeper than {limits.MAX_DEPTH}"},
                               errors=[{"path": "", "message": Messages(lang)("json_depth", max=limits.MAX_DEPTH)}])
    except ValueError as error:
        return None, localized(400, "malformed-json", lang, args={"error": echo(str(error), 200)})
    if found:
        m = Messages(lang)
        errors = [{"path": path, "message": m(key, **args)} for path, key, args in found]
        return None, refused(400, "malformed-json", lang, errors, args={"error": errors[0]["message"]})
    return payload, None


def refused(status: int, kind: str, lang: str, errors: list[dict], **kwargs) -> Response:
    """A problem listing at most ``MAX_ERRORS`` errors, with ``errors_omitted`` the count of the rest."""
    shown = errors[:limits.MAX_ERRORS]
    extra = {"errors_omitted": len(errors) - len(shown)} if len(errors) > len(shown) else {}
    return localized(status, kind, lang, errors=shown, **kwargs, **extra)
