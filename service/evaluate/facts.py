"""A validated case as engine facts: integers for dates (YYYYMMDD) and money
(fen), every declared field present, events in one canonical order so that the
order of a request's events never changes a decision."""
from __future__ import annotations

from decimal import Decimal
from operator import itemgetter

from ..vocabulary import APPLICANT_FIELDS, APPLICANT_PREFIX, Vocabulary

_DEFAULTS = {"bool": False, "date": 0, "money": 0, "int": 0, "string": "", "enum": "", "decimal": 0}
MICRO = Decimal(1_000_000)
EVENT_ID_PREFIX = "e|"  # an event's id in a session; every other fact's id has no "e|" prefix


def day(value) -> int:
    """A date (or ISO string) as the integer YYYYMMDD."""
    try:
        return value.year * 10000 + value.month * 100 + value.day
    except AttributeError:
        return int(str(value).replace("-", "")) if value else 0


def fen(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_value())


def _engine_value(kind: str, value):
    """A value of a declared type as the engine compares it: the type's default if absent."""
    if value is None:
        return _DEFAULTS[kind]
    convert = _CONVERT.get(kind)
    return value if convert is None else convert(value)


def applicant_facts(vocab: Vocabulary, applicant: dict, attribute_kinds: tuple | None = None) -> list[dict]:
    """The applicant fact and one fact per incident. ``attribute_kinds``: the
    (name, type) of the attributes to carry, if not every declared one."""
    attributes = applicant.get("attributes") or {}
    app = {"t": "app", "id": "app"}
    for name in APPLICANT_FIELDS:
        app[name] = applicant.get(name) or ""
    for name, kind in vocab.attribute_kinds if attribute_kinds is None else attribute_kinds:
        app[name] = _engine_value(kind, attributes.get(name))
    facts = [app]
    for index, incident in enumerate(applicant.get("incidents") or []):
        facts.append({"t": "inc", "id": f"inc|{index}", "i": index, "year": incident["year"], "type": incident["type"],
                      "grade": vocab.grade_rank(incident["grade"]) if incident.get("grade") else 0})
    return facts


def applicant_fields(app: dict) -> dict:
    """The applicant's fields and attributes as ``applicant_<name>``: every event fact
    that reaches the engine carries those its rules test, so no rule needs a join."""
    return {f"{APPLICANT_PREFIX}{name}": value for name, value in app.items() if name not in ("t", "id", "sid")}


def event_facts(vocab: Vocabulary, applicant: dict, events: list[dict]) -> list[dict]:
    """The full fact of each event — every field its type declares, as the engine
    compares it — in one canonical order (date, type, id), ``ord`` its rank, so
    that the order of a request's events never changes a decision."""
    hte_since = day((applicant.get("attributes") or {}).get("high_tech_enterprise_since"))
    facts = []
    for event in events:
        when = day(event["date"])
        fact = {"t": "ev", "id": event["id"], "type": event["type"], "date": when, "year": when // 10000, "ord": 0}
        for name, kind in vocab.event_kinds[event["type"]].items():
            fact[name] = _engine_value(kind, event.get(name))
        fact["hte_since"] = hte_since
        fact["key_platform"] = event.get("platform_id") or event["id"]
        fact["key_project"] = event.get("project_id") or event["id"]
        facts.append(fact)
    facts.sort(key=_CANONICAL)
    for index, fact in enumerate(facts):
        fact["ord"] = index
    return facts


_CANONICAL = itemgetter("date", "type", "id")


_CONVERT = {"date": day, "money": fen, "decimal": lambda value: int(Decimal(value) * MICRO)}


