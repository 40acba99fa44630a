"""Validation of a whole case at once (marshmallow), from schemas/vocabulary.yaml.

Every invalid field is reported, each with a JSON-pointer-like path
(``events/2/amount``). Money is a decimal string or an integer of yuan; a JSON
float for money is refused, never rounded.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..vocabulary import Vocabulary, vocabulary
from .prior_awards import PriorAwardLaw, bundled_prior_award_law

_MONEY = re.compile(r"^-?\d+(\.\d{1,2})?$")
MAX_EVENTS = 500


class Money(fields.Field):
    default_error_messages = {
        "float": "money must be a decimal string such as \"200000.00\" or an integer of yuan, not a JSON number with a fraction",
        "invalid": "not an amount of money with at most two decimals",
        "negative": "must not be negative",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            raise self.make_error("float")
        if isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, str) and _MONEY.match(value.strip()):
            try:
                amount = Decimal(value.strip())
            except InvalidOperation:
                raise self.make_error("invalid") from None
        else:
            raise self.make_error("invalid")
        if amount < 0:
            raise self.make_error("negative")
        return amount


class StrictBool(fields.Field):
    """Only JSON true and false: 1 == True in Python, so membership tests would let 1 through."""
    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class Rate(fields.Field):
    """A decimal such as an exchange rate or a growth rate: a string (or integer), at most six decimals."""
    default_error_messages = {"invalid": "a decimal string with at most six decimals, such as \"7.1234\""}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or isinstance(value, float):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not re.match(r"^-?\d+(\.\d{1,6})?$", text):
            raise self.make_error("invalid")
        return Decimal(text)


def _field(spec) -> fields.Field:
    kwargs = {"required": spec.required}
    if spec.type == "bool":
        return StrictBool(**kwargs)
    if spec.type == "date":
        return fields.Date(**kwargs)
    if spec.type == "money":
        return Money(**kwargs)
    if spec.type == "decimal":
        return Rate(**kwargs)
    if spec.type == "int":
        return fields.Integer(strict=True, **kwargs)
    if spec.type == "enum":
        return fields.String(validate=validate.OneOf(spec.values), **kwargs)
    return fields.String(validate=validate.Length(max=200), **kwargs)


def _common_event_fields() -> dict:
    """The fields every event has, whatever its type."""
    return {
        "id": fields.String(required=True, validate=validate.Length(min=1, max=100)),
        "date": fields.Date(required=True),
        "project_id": fields.String(validate=validate.Length(max=100)),
    }


def _event_schemas(vocab: Vocabulary) -> dict[str, type[Schema]]:
    schemas = {}
    for name, event_type in vocab.events.items():
        attrs = {**_common_event_fields(), "type": fields.String(required=True)}
        for field_name, spec in event_type.fields.items():
            attrs[field_name] = _field(spec)
        attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
        schemas[name] = type(f"Event_{name}", (Schema,), attrs)
    return schemas


def build_case_schema(vocab: Vocabulary) -> Schema:
    attributes = {name: _field(spec) for name, spec in vocab.attributes.items()}
    attributes["Meta"] = type("Meta", (), {"unknown": RAISE})
    Attributes = type("Attributes", (Schema,), attributes)

    class Incident(Schema):
        class Meta:
            unknown = RAISE
        year = fields.Integer(strict=True, required=True, validate=validate.Range(min=1990, max=2100))
        type = fields.String(required=True, validate=validate.OneOf(list(vocab.incident_types)))
        grade = fields.String(validate=validate.OneOf(list(vocab.grades)))

        @validates_schema
        def graded(self, data, **kwargs):
            # accidents and emergencies are judged by their grade: without it nothing can be decided
            if data.get("type") in vocab.graded_incidents and not data.get("grade"):
                raise ValidationError("a grade is required for this incident type", field_name="grade")

    class Applicant(Schema):
        class Meta:
            unknown = RAISE
        kind = fields.String(required=True, validate=validate.OneOf(vocab.applicant_kinds))
        name = fields.String(validate=validate.Length(max=200))
        credit_code = fields.String(validate=validate.Length(max=50))
        city = fields.String(validate=validate.Length(max=50))
        zone = fields.String(validate=validate.Length(max=100))
        zone_level = fields.String(validate=validate.OneOf(vocab.zone_levels))
        zone_type = fields.String(validate=validate.OneOf(vocab.zone_types))
        attributes = fields.Nested(Attributes, load_default=dict)
        incidents = fields.List(fields.Nested(Incident), load_default=list, validate=validate.Length(max=200))

    class PriorAward(Schema):
        class Meta:
            unknown = RAISE
        measure = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9-]*/[0-9]+(\.[0-9]+)?(-[a-z0-9][a-z0-9-]*)?$"))
        amount = Money(required=True)
        date = fields.Date(required=True)
        year = fields.Integer(strict=True, validate=validate.Range(min=1990, max=2100))  # of the fact it paid
        project_id = fields.String()
        platform_id = fields.String()

    class Options(Schema):
        class Meta:
            unknown = RAISE
        lang = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))
        explain = StrictBool(load_default=False)
        include_drafts = StrictBool(load_default=False)
        pin = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    class Case(Schema):
        class Meta:
            unknown = RAISE
        case_id = fields.String(validate=validate.Length(max=100))
        applicant = fields.Nested(Applicant, required=True)
        events = fields.List(fields.Dict(), required=True, validate=validate.Length(max=MAX_EVENTS))
        prior_awards = fields.List(fields.Nested(PriorAward), load_default=list, validate=validate.Length(max=500))
        options = fields.Nested(Options, load_default=lambda: Options().load({}))

    return Case()


class CaseValidator:
    def __init__(self, vocab: Vocabulary | None = None, registry=None):
        self.vocab = vocab or vocabulary()
        # the registered measures and the keys their caps and groups file a prior award by
        self.prior_award_law = PriorAwardLaw.of(registry) if registry is not None else bundled_prior_award_law()
        # event types of a superseded encoding: for replaying its decisions, or a case pinned to a revision
        self.retired = {name: spec.retired_by for name, spec in self.vocab.retired_events.items()}
        self.case_schema = build_case_schema(self.vocab)
        self.event_schemas = {name: schema() for name, schema in _event_schemas(self.vocab).items()}
        # an event of no known type: its own fields cannot be judged, the common ones still are
        self.common_event_schema = type("EventOfUnknownType", (Schema,), {
            **_common_event_fields(), "Meta": type("Meta", (), {"unknown": EXCLUDE})})()

    def validate(self, payload, *, replaying: bool = False) -> tuple[dict | None, list[dict]]:
        """Return (case, []) or (None, [{path, message}, …]) with every problem."""
        if not isinstance(payload, dict):
            return None, [{"path": "", "message": "the case must be a JSON object"}]
        errors: list[dict] = []
        case = None
        try:
            case = self.case_schema.load(payload)
        except ValidationError as error:
            errors += _flatten(error.messages)
            case = error.valid_data if isinstance(error.valid_data, dict) else None
        raw_events = payload.get("events")
        events = []
        if isinstance(raw_events, list):
            seen: dict[str, int] = {}
            for index, raw in enumerate(raw_events):
                if not isinstance(raw, dict):
                    errors.append({"path": f"events/{index}", "message": "an event must be an object"})
                    continue
                raw_id = raw.get("id")
                if isinstance(raw_id, str):
                    if raw_id in seen:
                        errors.append({"path": f"events/{index}/id",
                                       "message": f"duplicate event id {raw_id!r} (also events/{seen[raw_id]})"})
                    else:
                        seen[raw_id] = index
                event_type = raw.get("type")
                if isinstance(event_type, str) and event_type in self.retired and not _may_use_retired(payload, replaying):
                    errors.append({"path": f"events/{index}/type", "message":
                                   f"event type {event_type!r} is retired; use {self.retired[event_type]!r} (see CHANGELOG.md)"})
                    continue
                if not isinstance(event_type, str) or event_type not in self.event_schemas:
                    known = ", ".join(sorted(self.vocab.live_events))
                    if event_type is None:
                        problem = "missing"
                    elif isinstance(event_type, str):
                        problem = f"unknown event type {event_type!r}"
                    else:
                        problem = "not a string"
                    errors.append({"path": f"events/{index}/type", "message": f"{problem}; known types: {known}"})
                    try:
                        self.common_event_schema.load(raw)
                    except ValidationError as error:
                        errors += _flatten(error.messages, f"events/{index}")
                    continue
                try:
                    event = self.event_schemas[event_type].load(raw)
                except ValidationError as error:
                    errors += _flatten(error.messages, f"events/{index}")
                    continue
                events.append(event)
        errors += self.prior_award_law.problems(payload, already=errors)
        if errors:
            errors.sort(key=lambda e: _path_key(e["path"]))
            return None, errors
        case["events"] = events
        return case, []


def _may_use_retired(payload: dict, replaying: bool) -> bool:
    options = payload.get("options")
    pins = options.get("pin") if isinstance(options, dict) else None
    return replaying or (isinstance(pins, dict) and any(isinstance(v, str) and "#r" in v for v in pins.values()))


def _path_key(path: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split("/")]


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
