"""A validated case as engine facts: integers for dates (YYYYMMDD) and money
(fen), every declared field present, events in one canonical order so that the
order of a request's events never changes a decision."""
from __future__ import annotations

from decimal import Decimal
from operator import itemgetter

from ..vocabulary import APPLICANT_FIELDS, APPLICANT_PREFIX, DERIVED_EVENT_FIELDS, Vocabulary

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


_CONVERT = {"date": day, "money": fen, "decimal": lambda value: int(Decimal(value) * MICRO)}
_CANONICAL = itemgetter("date", "type", "id")


def platform_key(event: dict) -> str:
    """The platform an event is about: its platform_id, else the event itself."""
    return event.get("platform_id") or event["id"]


def project_key(event: dict) -> str:
    """The project an event is about: its project_id, else the event itself."""
    return event.get("project_id") or event["id"]


_KEYS = {"key_platform": platform_key, "key_project": project_key}


class FactBuilder:
    """Turns a validated case into facts. Built once per process from the vocabulary:
    what each event type's fact holds, and how each value converts, is worked out
    here, not per request. A validated case holds no None (no field allows it), so an
    absent field is simply one the defaults fill."""

    def __init__(self, vocab: Vocabulary, attributes: frozenset | None = None, tested: dict | None = None):
        """``attributes``: the applicant attributes to carry (those rules test); None: every one.
        ``tested``: event type -> the fields some rule tests; a field derived from the case
        (``hte_since``, ``key_platform``, ``key_project``) is worked out only where one does."""
        kinds = [(name, spec.type) for name, spec in vocab.attributes.items() if attributes is None or name in attributes]
        self._grade_rank = vocab.grade_rank
        self._applicant = {"t": "app", "id": "app"} | dict.fromkeys(APPLICANT_FIELDS, "") | \
            {name: _DEFAULTS[kind] for name, kind in kinds}
        self._attribute_conversions = {name: _CONVERT[kind] for name, kind in kinds if kind in _CONVERT}
        self._events = {}
        for event_type, spec in vocab.events.items():
            fields = {name: field.type for name, field in spec.fields.items()}
            defaults = {"t": "ev", "id": "", "type": event_type, "date": 0, "year": 0, "ord": 0}
            defaults.update((name, _DEFAULTS[kind]) for name, kind in fields.items())
            conversions = tuple((name, _CONVERT[kind]) for name, kind in fields.items() if kind in _CONVERT)
            wanted = DERIVED_EVENT_FIELDS.keys() if tested is None else tested.get(event_type, ())
            derived = tuple(name for name in DERIVED_EVENT_FIELDS if name in wanted)
            self._events[event_type] = (defaults, conversions, derived)

    def applicant(self, applicant: dict) -> list[dict]:
        """The applicant fact and one fact per incident."""
        app = self._applicant.copy()
        for name in APPLICANT_FIELDS:
            app[name] = applicant.get(name) or ""
        conversions = self._attribute_conversions
        for name, value in (applicant.get("attributes") or {}).items():
            if name in app:
                convert = conversions.get(name)
                app[name] = value if convert is None else convert(value)
        facts = [app]
        for index, incident in enumerate(applicant.get("incidents") or []):
            facts.append({"t": "inc", "id": f"inc|{index}", "i": index, "year": incident["year"], "type": incident["type"],
                          "grade": self._grade_rank(incident["grade"]) if incident.get("grade") else 0})
        return facts

    def events(self, applicant: dict, events: list[dict]) -> list[dict]:
        """The full fact of each event — every field its type declares, as the engine
        compares it — in one canonical order (date, type, id), ``ord`` its rank, so
        that the order of a request's events never changes a decision."""
        hte_since = day((applicant.get("attributes") or {}).get("high_tech_enterprise_since"))
        plans = self._events
        facts = []
        for event in events:
            defaults, conversions, derived = plans[event["type"]]
            fact = defaults.copy()
            fact.update(event)
            for name, convert in conversions:
                if name in event:
                    fact[name] = convert(event[name])
            fact["date"] = when = day(event["date"])
            fact["year"] = when // 10000
            for name in derived:
                fact[name] = hte_since if name == "hte_since" else _KEYS[name](event)
            facts.append(fact)
        facts.sort(key=_CANONICAL)
        for index, fact in enumerate(facts):
            fact["ord"] = index
        return facts


def applicant_fields(app: dict) -> dict:
    """The applicant's fields and attributes as ``applicant_<name>``: every event fact
    that reaches the engine carries those its rules test, so no rule needs a join."""
    return {f"{APPLICANT_PREFIX}{name}": value for name, value in app.items() if name not in ("t", "id", "sid")}
