"""The hostile inputs of issue 10 (items 2, 3, 4, 5 and the parser items of 8), each a
request body that must be answered 4xx: (name, body bytes, content type, expected status)."""
from __future__ import annotations

import json

from service.validate import limits
from tests.helpers import qz_case

JSON = "application/json"


def case(events=None, **kwargs) -> dict:
    return qz_case(events if events is not None else [
        {"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}], **kwargs)


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def with_amount(amount) -> bytes:
    """A valid case but for the amount of money of one prior award."""
    return dumps(case(prior_awards=[{"measure": "qz-htz/2.1", "amount": amount, "date": "2024-01-01", "year": 2023}]))


def with_raw_amount(text: str) -> bytes:
    """As ``with_amount``, the amount written into the JSON text as it is (a number too long to build)."""
    return with_amount("@@").replace(b'"@@"', text.encode("ascii"))


def nested(depth: int) -> bytes:
    body = case()
    body["applicant"]["attributes"]["x"] = None
    text = dumps(body).decode("utf-8")
    return text.replace('"x": null', '"x": ' + "[" * depth + "]" * depth).encode("utf-8")


def empty_events(count: int) -> bytes:
    return dumps(case(events=[{}] * count))


def huge_key_event() -> bytes:
    event = {"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "k" * 9_000: 1}
    return dumps(case(events=[event], options={"pin": {"p" * 9_000: "v"}}))


def unknown_types(count: int) -> bytes:
    return dumps(case(events=[{"id": f"e{i}", "type": f"nope{i}", "date": "2024-01-01"} for i in range(count)]))


def duplicate_keys() -> bytes:
    text = dumps(case()).decode("utf-8")
    return text.replace('"case_id": "T-1"', '"case_id": "T-1", "case_id": "T-2"', 1).encode("utf-8")


def lone_surrogate() -> bytes:
    return dumps(case()).replace(b'"T-1"', b'"T-\\ud800"')


def constant(name: str) -> bytes:
    return with_raw_amount(name)


def big_integer(text: str) -> bytes:
    body = case()
    body["applicant"]["attributes"]["x"] = "@@"
    return dumps(body).replace(b'"@@"', text.encode("ascii"))


def bad_date(text: str) -> bytes:
    return dumps(case(events=[{"id": "e1", "type": "hte_recognized", "date": text}]))


INPUTS = [
    # 2. a long money string, an amount beyond the bound, a JSON integer 2^63
    ("money 990,000 digits", with_amount("9" * 990_000), JSON, 400),
    ("money 320,000 digits", with_amount("9" * 320_000), JSON, 400),
    ("money 26 digits", with_amount("2" + "0" * 25), JSON, 400),
    ("money 14 digits", with_amount("1" + "0" * limits.MONEY_INTEGER_DIGITS), JSON, 400),
    ("money integer 2^63", with_raw_amount(str(2**63)), JSON, 400),
    ("money full-width digits", with_amount("１００"), JSON, 400),
    ("money Arabic-Indic digits", with_amount("١٠٠"), JSON, 400),
    # 3. error amplification
    ("400 KB of {} events", empty_events(100_000), JSON, 400),
    ("500 {} events", empty_events(500), JSON, 400),
    ("500 events of unknown types", unknown_types(500), JSON, 400),
    ("a 9,000-character unknown key and pin key", huge_key_event(), JSON, 400),
    # 4. 500s on input the schema allowed
    ("integer 2^64", big_integer(str(2**64)), JSON, 400),
    ("integer of 5,000 digits", big_integer("7" * 5_000), JSON, 400),
    ("money beyond the Decimal context", with_amount("1" * 40 + ".5"), JSON, 400),
    ("lone surrogate", lone_surrogate(), JSON, 400),
    ("nested 1,000 deep", nested(1_000), JSON, 400),
    ("nested 100,000 deep", nested(100_000), JSON, 400),
    ("nested 40 deep", nested(40), JSON, 400),
    # 8. the parser's
    ("NaN", constant("NaN"), JSON, 400),
    ("Infinity", constant("Infinity"), JSON, 400),
    ("-Infinity", constant("-Infinity"), JSON, 400),
    ("1e400", with_raw_amount("1e400"), JSON, 400),
    ("date 20240101", bad_date("20240101"), JSON, 400),
    ("date 2024-W01-1", bad_date("2024-W01-1"), JSON, 400),
    ("duplicate keys", duplicate_keys(), JSON, 400),
    ("charset latin-1", dumps(case()), JSON + "; charset=latin-1", 415),
    ("not UTF-8", dumps(case()).replace(b"T-1", b"T-\xff"), JSON, 400),
    # 5. over the body limit (Content-Length here; chunked against gunicorn)
    ("body over RAC_MAX_BODY", b'{"case_id": "' + b"x" * limits.DEFAULT_MAX_BODY + b'"}', JSON, 413),
]
