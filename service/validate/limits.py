"""Every bound on a request, in one place: the work a request can cause is bounded
by these, and each is stated in the OpenAPI document and refused with a 400 or
413 that names it.

Money: the largest figure any ruleset meets is a threshold of 1,500,000,000.00
yuan (gx-etdz revenue); 13 integer digits (under 10^13 yuan) leave room for
cumulative figures and keep the amount in fen below 10^15 < 2^53, so it is
exact wherever the engine carries it. A decimal (rates, shares, tonnes) has 9
integer digits and 6 decimals: in millionths, again below 10^15.
"""
from __future__ import annotations

DEFAULT_MAX_BODY = 1_000_000  # bytes of a request body (RAC_MAX_BODY overrides): 413 beyond

# -- the JSON text itself (service/http/body.py) --
MAX_DEPTH = 32            # nesting of objects and arrays; a case needs 4
MAX_MEMBERS = 100         # members of one object; the widest (attributes) has under 30
MAX_ITEMS = 500           # items of one array; events and prior awards are the longest lists
MAX_STRING = 10_000       # characters of any string or key the parser keeps
MAX_NUMBER_CHARS = 40     # characters of one JSON number (int() and float() of longer ones cost more than they tell)
MAX_JSON_INTEGER = 2**53 - 1  # I-JSON (RFC 7493): integers beyond are not exchanged exactly

# -- the case (service/validate/request.py) --
MAX_EVENTS = 500
MAX_PRIOR_AWARDS = 500
MAX_INCIDENTS = 200
MAX_PINS = 20             # entries of options.pin; there are 5 policies
MONEY_INTEGER_DIGITS = 13  # at most 9,999,999,999,999.99 yuan
MONEY_DECIMALS = 2
DECIMAL_INTEGER_DIGITS = 9
DECIMAL_DECIMALS = 6
MIN_INT, MAX_INT = 0, 1_000_000  # ranks, list sizes, counts of the vocabulary's int fields
MIN_YEAR, MAX_YEAR = 1990, 2100
MAX_ID = 100              # characters: case, event, project, platform and credit-code ids, pin keys and values
MAX_NAME = 200            # characters: names and the vocabulary's free-text strings
MAX_MEASURE_ID = 100

# -- the answer --
MAX_ERRORS = 100          # errors[] listed; the count of the rest is errors_omitted
MAX_ECHO = 64             # characters of a value or key quoted back in a message or path


def echo(value, limit: int = MAX_ECHO) -> str:
    """``value`` as quoted back to the client: at most ``limit`` characters, cut with "…"."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def money_pattern() -> str:
    return rf"^[0-9]{{1,{MONEY_INTEGER_DIGITS}}}(\.[0-9]{{1,{MONEY_DECIMALS}}})?$"


def decimal_pattern() -> str:
    return rf"^-?[0-9]{{1,{DECIMAL_INTEGER_DIGITS}}}(\.[0-9]{{1,{DECIMAL_DECIMALS}}})?$"


MAX_MONEY_YUAN = 10**MONEY_INTEGER_DIGITS - 1  # the largest integer of yuan
