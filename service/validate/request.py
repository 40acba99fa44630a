"""Validation of a whole case at once (marshmallow), from schemas/vocabulary.yaml.

Every invalid field is reported, each with a JSON-pointer-like path
(``events/2/amount``), in the case's ``options.lang`` (``messages.py``). Money is
a decimal string or an integer of yuan; a JSON float for money is refused, never
rounded. Zones and cities are the registry's (``schemas/zones.yaml``); the
applicant's city, zone level and zone type are derived from its zone.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from ..vocabulary import Vocabulary, vocabulary
from ..zones import Zones, zones
from . import limits, one_per_year
from .limits import MAX_EVENTS, echo
from .messages import DEFAULT_LANG, LANGS, Messages, requested_lang
from .prior_awards import PriorAwardLaw, bundled_prior_award_law

# ASCII digits only: Python's \d, int() and Decimal() also take full-width and Arabic-Indic ones
_MONEY = re.compile(r"-?[0-9]+(\.[0-9]{1,%d})?" % limits.MONEY_DECIMALS, re.ASCII)
_DECIMAL = re.compile(limits.decimal_pattern(), re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
NO_BAR = r"^[^|]*$"  # candidate ids join version, measure and event id with "|"


class Money(fields.Field):
    """At most ``MONEY_INTEGER_DIGITS`` digits of yuan, so the conversion to fen is short and exact."""
    default_error_messages = {
        "float": "money must be a decimal string such as \"200000.00\" or an integer of yuan, not a JSON number with a fraction",
        "invalid": "not an amount of money with at most two decimals",
        "negative": "must not be negative",
        "digits": "at most {digits} integer digits of yuan",
        "ascii": "ASCII digits only",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            raise self.make_error("float")
        if isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, str):
            amount = self._parse(value)
        else:
            raise self.make_error("invalid")
        if amount < 0:
            raise self.make_error("negative")
        if amount >= 10**limits.MONEY_INTEGER_DIGITS:
            raise self.make_error("digits", digits=limits.MONEY_INTEGER_DIGITS)
        return amount

    def _parse(self, text: str) -> Decimal:
        if not text.isascii():
            raise self.make_error("ascii")
        if not _MONEY.fullmatch(text):
            raise self.make_error("invalid")
        if len(text.lstrip("-").split(".")[0].lstrip("0")) > limits.MONEY_INTEGER_DIGITS:
            raise self.make_error("digits", digits=limits.MONEY_INTEGER_DIGITS)  # before Decimal() reads them all
        return Decimal(text)


class StrictBool(fields.Field):
    """Only JSON true and false: 1 == True in Python, so membership tests would let 1 through."""
    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class Rate(fields.Field):
    """A decimal such as an exchange rate or a growth rate: a string (or integer), at most six decimals
    and ``DECIMAL_INTEGER_DIGITS`` integer digits (ASCII)."""
    default_error_messages = {"invalid": "a decimal string with at most six decimals, such as \"7.1234\"",
                              "digits": "at most {digits} integer digits and {decimals} decimals"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, (int, str)):
            raise self.make_error("invalid")
        text = str(value)
        if _DECIMAL.fullmatch(text):
            return Decimal(text)
        if text.isascii() and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
            raise self.make_error("digits", digits=limits.DECIMAL_INTEGER_DIGITS, decimals=limits.DECIMAL_DECIMALS)
        raise self.make_error("invalid")


class StrictDate(fields.Date):
    """``YYYY-MM-DD`` only: ``date.fromisoformat`` also takes ``20240101`` and ``2024-W01-1``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not _DATE.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class KnownId(validate.OneOf):
    """One of the registry's ids; an unknown one is answered with the closest known ids.
    A OneOf, so the OpenAPI document lists the ids as an enum."""

    def __init__(self, choices, closest, message):
        super().__init__(sorted(choices))
        self._known = frozenset(choices)
        self._closest = closest
        self._message = message

    def __call__(self, value):
        if value not in self._known:
            raise ValidationError(self._message(value, self._closest(value)))
        return value


# marshmallow's message keys -> the catalogue's, per kind of field
_FIELD_ERRORS = {
    "string": {"invalid": "string", "invalid_utf8": "invalid_utf8"},
    "integer": {"invalid": "integer", "too_large": "too_large"},
    "date": {"invalid": "date", "format": "date"},
    "list": {"invalid": "list"},
    "mapping": {"invalid": "mapping"},
    "nested": {"type": "object"},
    "money": {"float": "money_float", "invalid": "money_invalid", "negative": "money_negative",
              "digits": "money_digits", "ascii": "money_ascii"},
    "bool": {"invalid": "bool"},
    "rate": {"invalid": "rate", "digits": "rate_digits"},
}
_COMMON_ERRORS = {"required": "required", "null": "null", "validator_failed": "validator_failed"}


class _Localized:
    """The fields, validators and schema base of one language: every message from the catalogue."""

    def __init__(self, messages: Messages):
        self.m = messages
        self.Schema = type(f"Schema_{messages.lang}", (Schema,), {
            "error_messages": {"type": messages.template("object"), "unknown": messages.template("unknown")}})

    def errors(self, kind: str) -> dict:
        keys = {**_COMMON_ERRORS, **_FIELD_ERRORS.get(kind, {})}
        return {key: self.m.template(entry) for key, entry in keys.items()}

    def string(self, *, max: int | None = None, min: int | None = None, extra=(), **kwargs) -> fields.String:
        validators = [self.length(min=min, max=max)] if max is not None else []
        return fields.String(validate=validators + list(extra), error_messages=self.errors("string"), **kwargs)

    def length(self, *, min: int | None = None, max: int, unit: str = "characters") -> validate.Length:
        if unit == "items":
            key = "max_items"
        else:
            key = "length_between" if min else "max_length"
        return validate.Length(min=min, max=max, error=self.m.template(key))

    def integer(self, **kwargs) -> fields.Integer:
        return fields.Integer(strict=True, error_messages=self.errors("integer"), **kwargs)

    def bounded_integer(self, low: int, high: int, **kwargs) -> fields.Integer:
        return self.integer(validate=validate.Range(min=low, max=high, error=self.m.template("range")), **kwargs)

    def date(self, **kwargs) -> fields.Date:
        return StrictDate(error_messages=self.errors("date"), **kwargs)

    def money(self, **kwargs) -> Money:
        return Money(error_messages=self.errors("money"), **kwargs)

    def bool(self, **kwargs) -> StrictBool:
        return StrictBool(error_messages=self.errors("bool"), **kwargs)

    def rate(self, **kwargs) -> Rate:
        return Rate(error_messages=self.errors("rate"), **kwargs)

    def one_of(self, values) -> validate.OneOf:
        return validate.OneOf(values, error=self.m.template("one_of"))

    def enum(self, values, **kwargs) -> fields.String:
        return fields.String(validate=self.one_of(values), error_messages=self.errors("string"), **kwargs)

    def nested(self, schema, **kwargs) -> fields.Nested:
        return fields.Nested(schema, error_messages=self.errors("nested"), **kwargs)

    def list(self, inner, *, max: int, **kwargs) -> fields.List:
        return fields.List(inner, validate=self.length(max=max, unit="items"), error_messages=self.errors("list"), **kwargs)

    def mapping(self, **kwargs) -> fields.Dict:
        return fields.Dict(error_messages=self.errors("mapping"), **kwargs)

    def vocabulary_field(self, spec) -> fields.Field:
        kwargs = {"required": spec.required}
        if spec.type == "bool":
            return self.bool(**kwargs)
        if spec.type == "date":
            return self.date(**kwargs)
        if spec.type == "money":
            return self.money(**kwargs)
        if spec.type == "decimal":
            return self.rate(**kwargs)
        if spec.type == "int":
            return self.bounded_integer(limits.MIN_INT, limits.MAX_INT, **kwargs)
        if spec.type == "enum":
            return self.enum(spec.values, **kwargs)
        return self.string(max=limits.MAX_NAME, **kwargs)

    def common_event_fields(self) -> dict:
        """The fields every event has, whatever its type."""
        return {
            "id": self.string(min=1, max=limits.MAX_ID, required=True,
                              extra=[validate.Regexp(NO_BAR, error=self.m.template("id_bar"))]),
            "date": self.date(required=True),
            "project_id": self.string(max=limits.MAX_ID),
        }


def _event_schemas(vocab: Vocabulary, local: _Localized) -> dict[str, Schema]:
    schemas = {}
    for name, event_type in vocab.events.items():
        attrs = {**local.common_event_fields(), "type": local.string(required=True)}
        for field_name, spec in event_type.fields.items():
            attrs[field_name] = local.vocabulary_field(spec)
        attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
        schemas[name] = type(f"Event_{name}", (local.Schema,), attrs)()
    return schemas


def _applicant_schema(vocab: Vocabulary, registry: Zones, local: _Localized) -> type[Schema]:
    m = local.m
    attributes = {name: local.vocabulary_field(spec) for name, spec in vocab.attributes.items()}
    attributes["Meta"] = type("Meta", (), {"unknown": RAISE})
    Attributes = type("Attributes", (local.Schema,), attributes)

    class Incident(local.Schema):
        class Meta:
            unknown = RAISE
        year = local.bounded_integer(limits.MIN_YEAR, limits.MAX_YEAR, required=True)
        type = local.enum(list(vocab.incident_types), required=True)
        grade = local.enum(list(vocab.grades))

        # beside an invalid year too (every invalid field at once); a grade given but invalid has its own error
        @validates_schema(skip_on_field_errors=False, pass_original=True)
        def graded(self, data, original, **kwargs):
            # accidents and emergencies are judged by their grade: without it nothing can be decided
            if data.get("type") in vocab.graded_incidents and "grade" not in original:
                raise ValidationError(m("grade_required"), field_name="grade")

    def unknown(key):
        return lambda value, closest: m(key, value=echo(value), closest=m.join(closest))

    class Applicant(local.Schema):
        class Meta:
            unknown = RAISE
        kind = local.enum(vocab.applicant_kinds, required=True)
        name = local.string(max=limits.MAX_NAME)
        credit_code = local.string(max=limits.MAX_ID)
        city = local.string(max=50, extra=[KnownId(registry.cities, registry.closest_cities, unknown("city_unknown"))])
        zone = local.string(max=100, extra=[KnownId(registry.zones, registry.closest_zones, unknown("zone_unknown"))])
        zone_level = local.enum(vocab.zone_levels)
        zone_type = local.enum(vocab.zone_types)
        attributes = local.nested(Attributes, load_default=dict)
        incidents = local.list(local.nested(Incident), max=limits.MAX_INCIDENTS, load_default=list)

        # run beside field errors too: every invalid field of a case is reported at once
        @validates_schema(skip_on_field_errors=False)
        def agrees_with_the_registry(self, data, **kwargs):
            zone = data.get("zone")
            if zone is None:
                return
            contradictions = {
                field: [m("contradicts_zone", field=field, stated=data[field], registered=registered,
                          zone=zone, name=registry.zones[zone].zh)]
                for field, registered in registry.derive(zone).items()
                if field in data and data[field] != registered}
            if contradictions:
                raise ValidationError(contradictions)

        @post_load
        def derive_from_the_zone(self, data, **kwargs):
            # rulesets test applicant_zone_type, _zone_level and _city: a zone alone must be enough
            if "zone" in data:
                for field, value in registry.derive(data["zone"]).items():
                    data.setdefault(field, value)
            return data

    return Applicant


def build_case_schema(vocab: Vocabulary, registry: Zones | None = None, lang: str = DEFAULT_LANG) -> Schema:
    local = _Localized(Messages(lang))
    m = local.m
    Applicant = _applicant_schema(vocab, registry or zones(), local)

    class PriorAward(local.Schema):
        class Meta:
            unknown = RAISE
        measure = local.string(max=limits.MAX_MEASURE_ID, required=True, extra=[validate.Regexp(
            r"^[a-z][a-z0-9-]*/[0-9]+(\.[0-9]+)?(-[a-z0-9][a-z0-9-]*)?$", error=m.template("measure_id"))])
        amount = local.money(required=True)
        date = local.date(required=True)
        year = local.bounded_integer(limits.MIN_YEAR, limits.MAX_YEAR)  # of the fact it paid
        # joined after a cap id into a ledger id and never split again: a "|" in them misnames nothing
        project_id = local.string(max=limits.MAX_ID)
        platform_id = local.string(max=limits.MAX_ID)

    class Options(local.Schema):
        class Meta:
            unknown = RAISE
        lang = local.enum(list(LANGS), load_default=DEFAULT_LANG)
        explain = local.bool(load_default=False)
        include_drafts = local.bool(load_default=False)
        pin = local.mapping(keys=local.string(max=limits.MAX_ID), values=local.string(max=limits.MAX_ID),
                            validate=local.length(max=limits.MAX_PINS, unit="items"), load_default=dict)

    class Case(local.Schema):
        class Meta:
            unknown = RAISE
        case_id = local.string(max=limits.MAX_ID)
        applicant = local.nested(Applicant, required=True)
        events = local.list(local.mapping(), required=True, max=MAX_EVENTS)
        prior_awards = local.list(local.nested(PriorAward), max=limits.MAX_PRIOR_AWARDS, load_default=list)
        options = local.nested(Options, load_default=lambda: Options().load({}))

    return Case()


class _Schemas:
    """The case schema and event schemas of one language."""

    def __init__(self, vocab: Vocabulary, registry: Zones, lang: str):
        local = _Localized(Messages(lang))
        self.m = local.m
        self.case = build_case_schema(vocab, registry, lang)
        self.events = _event_schemas(vocab, local)
        # an event of no known type: its own fields cannot be judged, the common ones still are
        self.common_event = type("EventOfUnknownType", (local.Schema,), {
            **local.common_event_fields(), "Meta": type("Meta", (), {"unknown": EXCLUDE})})()
        self.known_types = ", ".join(sorted(vocab.live_events))  # retired ones are not offered


class CaseValidator:
    def __init__(self, vocab: Vocabulary | None = None, registry=None, *, zone_registry: Zones | None = None):
        """``registry``: the law's Registry, whose measures and caps a prior award must name and key."""
        self.vocab = vocab or vocabulary()
        self.zones = zone_registry or zones()
        # the registered measures and the keys their caps and groups file a prior award by
        self.prior_award_law = PriorAwardLaw.of(registry) if registry is not None else bundled_prior_award_law()
        # event types of a superseded encoding: for replaying its decisions, or a case pinned to a revision
        self.retired = {name: spec.retired_by for name, spec in self.vocab.retired_events.items()}
        self.read_by_revision = _event_types_by_revision(registry) if registry is not None else {}
        self._by_lang = {lang: _Schemas(self.vocab, self.zones, lang) for lang in LANGS}
        # the OpenAPI document is generated from these; messages aside, every language's are the same
        self.case_schema = self._by_lang[DEFAULT_LANG].case
        self.event_schemas = self._by_lang[DEFAULT_LANG].events

    def _pinned_to_a_reader(self, payload: dict, event_type: str) -> bool:
        """Whether the case pins a revision that reads this retired type (``{"lz-htz": "2021-12-29#r1"}``)."""
        options = payload.get("options")
        pins = options.get("pin") if isinstance(options, dict) else None
        if not isinstance(pins, dict):
            return False
        return any(event_type in self.read_by_revision.get((policy, pin), ())
                   for policy, pin in pins.items() if isinstance(pin, str))

    def validate(self, payload, fallback_lang: str = DEFAULT_LANG, *, replaying: bool = False) -> tuple[dict | None, list[dict]]:
        """Return (case, []) or (None, [{path, message}, …]) with every problem, in the
        language of the case's ``options.lang`` (``fallback_lang`` when it names none)."""
        schemas = self._by_lang[requested_lang(payload, fallback_lang)]
        m = schemas.m
        if not isinstance(payload, dict):
            return None, [{"path": "", "message": m("case_object")}]
        errors: list[dict] = []
        case = None
        try:
            case = schemas.case.load(payload)
        except ValidationError as error:
            errors += _flatten(error.messages)
            case = error.valid_data if isinstance(error.valid_data, dict) else None
        raw_events = payload.get("events")
        events = []
        if isinstance(raw_events, list) and len(raw_events) > MAX_EVENTS:
            # the list's length alone refuses the case: validating each event would only multiply the work
            errors = [e for e in errors if e["path"] != "events"]
            errors.append({"path": "events", "message": m("too_many_events", count=len(raw_events), max=MAX_EVENTS)})
            raw_events = None
        first_unknown_type = None  # the path whose message lists the known types; the others refer to it
        if isinstance(raw_events, list):
            seen: dict[str, int] = {}
            for index, raw in enumerate(raw_events):
                if not isinstance(raw, dict):
                    errors.append({"path": f"events/{index}", "message": m("event_object")})
                    continue
                raw_id = raw.get("id")
                if isinstance(raw_id, str):
                    if raw_id in seen:
                        errors.append({"path": f"events/{index}/id",
                                       "message": m("duplicate_event_id", id=echo(raw_id), other=seen[raw_id])})
                    else:
                        seen[raw_id] = index
                event_type = raw.get("type")
                if (isinstance(event_type, str) and event_type in self.retired and not replaying
                        and not self._pinned_to_a_reader(payload, event_type)):
                    errors.append({"path": f"events/{index}/type",
                                   "message": m("event_type_retired", type=echo(event_type), replacement=self.retired[event_type])})
                    continue
                if not isinstance(event_type, str) or event_type not in schemas.events:
                    path = f"events/{index}/type"
                    if first_unknown_type is None:
                        first_unknown_type = path
                        message = m("known_types", problem=_type_problem(m, event_type), known=schemas.known_types)
                    else:
                        message = m("known_types_see", problem=_type_problem(m, event_type), first=first_unknown_type)
                    errors.append({"path": path, "message": message})
                    try:
                        schemas.common_event.load(raw)
                    except ValidationError as error:
                        errors += _flatten(error.messages, f"events/{index}")
                    continue
                try:
                    event = schemas.events[event_type].load(raw)
                except ValidationError as error:
                    errors += _flatten(error.messages, f"events/{index}")
                    continue
                events.append(event)
        errors += self.prior_award_law.problems(payload, m, already=errors)
        if raw_events is not None and not replaying:
            # a case logged before the rule replays as it was decided (it may now replay `different`);
            # past the events limit nothing is judged event by event
            errors += one_per_year.problems(payload, m, already=errors)
        if errors:
            errors = [dict(e, path=_bounded_path(e["path"])) for e in errors]  # an unknown key is echoed in its path
            errors.sort(key=lambda e: _path_key(e["path"]))
            return None, errors
        case["events"] = events
        return case, []


def _event_types_by_revision(registry) -> dict[tuple[str, str], set[str]]:
    """(policy, "<version>#r<N>") -> the event types that revision's measures are triggered by or join."""
    out = {}
    for version in registry.held_versions():
        types = {m.trigger for m in version.measures} | {j.event for m in version.measures for j in m.joins}
        out[(version.policy, version.revision_name)] = types
    return out


def _type_problem(m: Messages, event_type) -> str:
    if event_type is None:
        return m("event_type_missing")
    if isinstance(event_type, str):
        return m("event_type_unknown", type=echo(event_type))
    return m("event_type_not_string")


def _bounded_path(path: str) -> str:
    return "/".join(echo(part) for part in path.split("/")) if len(path) > limits.MAX_ECHO else path


def _path_key(path: str):
    return [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in path.split("/")]


def _flatten(messages, prefix: str = "") -> list[dict]:
    out = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}/{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix
            out += _flatten(value, path)
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            for message in messages:
                out.append({"path": prefix, "message": message})
        else:
            for item in messages:
                out += _flatten(item, prefix)
    else:
        out.append({"path": prefix, "message": str(messages)})
    return out
