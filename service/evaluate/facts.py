"""A validated case as engine facts: integers for dates (YYYYMMDD) and money
(fen), every declared field present, events in one canonical order so that the
order of a request's events never changes a decision."""
from __future__ import annotations

from dataclasses import dataclass
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
    here, not per request.

    A full fact holds what the case states and nothing else (absent is not false),
    apart from what the vocabulary gives absence a meaning (``when_absent``). A
    version whose rules read an absent field as its type's default (the first
    encodings, ``absent_facts: read_as_false``) gets the defaults from its trim."""

    def __init__(self, vocab: Vocabulary, attributes: frozenset | None = None, tested: dict | None = None):
        """``attributes``: the applicant attributes to carry (those rules test); None: every one.
        ``tested``: event type -> the fields some rule tests; a field derived from the case
        (``hte_since``, ``key_platform``, ``key_project``) is worked out only where one does."""
        kinds = [(name, spec.type) for name, spec in vocab.attributes.items() if attributes is None or name in attributes]
        self._grade_rank = vocab.grade_rank
        self._carried = frozenset(name for name, _ in kinds)
        self.applicant_defaults = {"t": "app", "id": "app"} | dict.fromkeys(APPLICANT_FIELDS, "") | \
            {name: _DEFAULTS[kind] for name, kind in kinds}
        self._attribute_conversions = {name: _CONVERT[kind] for name, kind in kinds if kind in _CONVERT}
        self._events = {}
        for event_type, spec in vocab.events.items():
            fields = {name: field.type for name, field in spec.fields.items()}
            base = {"t": "ev", "id": "", "type": event_type, "date": 0, "year": 0, "ord": 0}
            stated_when_absent = {name: _stated(field) for name, field in spec.fields.items() if field.when_absent is not None}
            conversions = tuple((name, _CONVERT[kind]) for name, kind in fields.items() if kind in _CONVERT)
            wanted = DERIVED_EVENT_FIELDS.keys() if tested is None else tested.get(event_type, ())
            derived = tuple(name for name in DERIVED_EVENT_FIELDS if name in wanted)
            self._events[event_type] = (base | stated_when_absent, conversions, derived)
        self._derives_hte = any("hte_since" in derived for _, _, derived in self._events.values())

    def applicant(self, applicant: dict) -> list[dict]:
        """The applicant fact (what the case states of it) and one fact per incident."""
        app = {"t": "app", "id": "app"}
        for name in APPLICANT_FIELDS:
            app[name] = applicant.get(name) or ""
        conversions = self._attribute_conversions
        carried = self._carried
        for name, value in (applicant.get("attributes") or {}).items():
            if name in carried:
                convert = conversions.get(name)
                app[name] = value if convert is None else convert(value)
        facts = [app]
        for index, incident in enumerate(applicant.get("incidents") or []):
            facts.append({"t": "inc", "id": f"inc|{index}", "i": index, "year": incident["year"], "type": incident["type"],
                          "grade": self._grade_rank(incident["grade"]) if incident.get("grade") else 0})
        return facts

    def events(self, applicant: dict, events: list[dict]) -> list[dict]:
        """The full fact of each event — what the case states, as the engine compares it —
        in one canonical order (date, type, id), ``ord`` its rank, so that the order of a
        request's events never changes a decision."""
        attributes = applicant.get("attributes") or {}
        hte_attribute = day(attributes.get("high_tech_enterprise_since"))
        hte_status = _hte_status_since(attributes, events) if self._derives_hte else None
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
                if name == "hte_since":
                    # read_as_false versions read the attribute alone; the others the status from either source
                    fact["hte_since"] = hte_attribute
                    if hte_status is not None:
                        fact[HTE_STATUS] = hte_status
                else:
                    fact[name] = _KEYS[name](event)
            facts.append(fact)
        facts.sort(key=_CANONICAL)
        for index, fact in enumerate(facts):
            fact["ord"] = index
        return facts


def event_defaults(vocab: Vocabulary) -> dict:
    """Event type -> what each unstated field reads as in a ``read_as_false`` version: its type's
    default (false, 0, ""), as the first encodings read every absent field."""
    return {event_type: {name: _stated(field) if field.when_absent is not None else _DEFAULTS[field.type]
                         for name, field in spec.fields.items()} | {"hte_since": 0}
            for event_type, spec in vocab.events.items()}


HTE_STATUS = "hte_status_since"  # what a missing_data version's rules read as hte_since


def _hte_status_since(attributes: dict, events: list[dict]) -> int | None:
    """When the enterprise became a high-tech enterprise, from either source: the attribute
    ``high_tech_enterprise_since`` or an ``hte_recognized`` event of the case, the earlier of
    them; 0 when the case states it is not one (``high_tech_enterprise: false``) and no
    recognition is in the case; None when the case does not say."""
    dates = [day(e["date"]) for e in events if e["type"] == "hte_recognized"]
    if attributes.get("high_tech_enterprise_since"):
        dates.append(day(attributes["high_tech_enterprise_since"]))
    if dates:
        return min(dates)
    if attributes.get("high_tech_enterprise") is False:
        return 0
    return None


def _stated(field) -> object:
    value = field.when_absent
    convert = _CONVERT.get(field.type)
    return convert(value) if convert is not None and value not in (0, "") else value


def applicant_fields(app: dict) -> dict:
    """The applicant's fields and attributes as ``applicant_<name>``: every event fact
    that reaches the engine carries those its rules test, so no rule needs a join."""
    return {f"{APPLICANT_PREFIX}{name}": value for name, value in app.items() if name not in ("t", "id", "sid")}


# -- aggregates: what a rule that would scan every pair of events reads instead (compile.Leaner) --
@dataclass(frozen=True)
class Aggregate:
    """One ``agg`` fact per value of ``group`` over the events of ``event_type`` that pass ``tests``."""
    key: str
    event_type: str
    tests: tuple  # engine tests reading the fact alone (literals, its own fields)
    group: tuple  # fields another pattern's are equal to
    field: str | None  # the field an inequality compares; None: that such an event exists
    keep: str | None  # "min" or "max" of it


def ref_of(value) -> tuple[str, str, int] | None:
    """(alias, field, offset) of a reference to a pattern's field, else None (a literal)."""
    if not isinstance(value, dict):
        return None
    if "$add" in value:
        inner = ref_of(value["$add"]["$l"])
        return None if inner is None else (inner[0], inner[1], inner[2] + value["$add"]["$r"])
    ((alias, field),) = value.items()
    return alias, field, 0


def split_test(test: dict) -> tuple[str, str, object]:
    """(operator, field, value) of one engine test; ``$eq`` for ``{field: value}``."""
    ((key, value),) = test.items()
    if key.startswith("$"):
        ((field, operand),) = value.items()
        return key, field, operand
    return "$eq", key, value


_COMPARE = {"$eq": lambda a, b: a == b, "$neq": lambda a, b: a != b, "$lt": lambda a, b: a < b,
            "$lte": lambda a, b: a <= b, "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b}


def _passes(fact: dict, tests: tuple) -> bool:
    """Whether the fact passes tests of its own fields, as the core judges them: a test on a
    field the fact lacks fails (but ``$nex``)."""
    for test in tests:
        op, field, value = split_test(test)
        if op == "$ex" or op == "$nex":
            if (field in fact) != (op == "$ex"):
                return False
            continue
        if field not in fact:
            return False
        ref = ref_of(value)
        if ref is not None:
            if ref[1] not in fact:
                return False
            value = fact[ref[1]] + ref[2]
        try:
            if not _COMPARE[op](fact[field], value):
                return False
        except TypeError:
            return False
    return True


def aggregate_facts(aggregates, facts: list[dict]) -> list[dict]:
    """The ``agg`` facts of a session, from its event facts as the session holds them."""
    out = []
    for aggregate in aggregates:
        groups: dict[tuple, object] = {}
        for fact in facts:
            if fact["type"] != aggregate.event_type or not _passes(fact, aggregate.tests):
                continue
            if any(name not in fact for name in aggregate.group):
                continue
            group = tuple(fact[name] for name in aggregate.group)
            if aggregate.field is None:
                groups[group] = None
            elif aggregate.field in fact:
                value = fact[aggregate.field]
                best = groups.get(group)
                if best is None or (value < best if aggregate.keep == "min" else value > best):
                    groups[group] = value
        for n, (group, value) in enumerate(groups.items()):
            fact = {"t": "agg", "id": f"agg|{aggregate.key}|{n}", "k": aggregate.key, **dict(zip(aggregate.group, group))}
            if aggregate.field is not None:
                fact[aggregate.field] = value
            out.append(fact)
    return out
