"""The case vocabulary (``schemas/vocabulary.yaml``): event types, fields, grades."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .paths import SCHEMAS_DIR

COMMON_EVENT_FIELDS = {"id": "string", "date": "date", "year": "int"}
# Fields every event fact carries beyond its own (see evaluate/facts.py).
DERIVED_EVENT_FIELDS = {"hte_since": "date", "key_platform": "string", "key_project": "string"}
# Fields a fact always carries, stated or not: the event's identity and the keys that default to it.
ALWAYS_STATED = frozenset(COMMON_EVENT_FIELDS) | {"type", "key_platform", "key_project"}
APPLICANT_PREFIX = "applicant_"
APPLICANT_FIELDS = {"kind": "string", "zone": "string", "city": "string", "zone_level": "string", "zone_type": "string"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    values: tuple = ()
    doc: str = ""
    # what an absent field states, where the vocabulary gives absence a meaning
    # ("absent while still incubated"); None: absence states nothing (missing_data)
    when_absent: object = None


@dataclass(frozen=True)
class EventType:
    name: str
    doc: str
    fields: dict  # name -> Field
    retired_by: str | None = None  # a type of a superseded encoding: held for replay only, this replaces it


@dataclass(frozen=True)
class Vocabulary:
    attributes: dict  # name -> Field
    incident_types: dict
    graded_incidents: tuple
    grades: tuple
    events: dict  # name -> EventType
    applicant_kinds: tuple
    zone_levels: tuple
    zone_types: tuple

    @property
    def live_events(self) -> dict:
        """The event types a new case may use (retired ones only replay old decisions)."""
        return {name: spec for name, spec in self.events.items() if spec.retired_by is None}

    @property
    def retired_events(self) -> dict:
        return {name: spec for name, spec in self.events.items() if spec.retired_by is not None}

    def grade_rank(self, grade: str) -> int:
        return self.grades.index(grade) + 1

    def event_field_type(self, event: str, field: str) -> str | None:
        if field in COMMON_EVENT_FIELDS:
            return COMMON_EVENT_FIELDS[field]
        if field in DERIVED_EVENT_FIELDS:
            return DERIVED_EVENT_FIELDS[field]
        if field.startswith(APPLICANT_PREFIX):
            # every event fact carries the applicant's attributes, so rules need no join for them
            return self.applicant_field_type(field[len(APPLICANT_PREFIX):])
        spec = self.events[event].fields.get(field)
        return spec.type if spec else None

    def event_field_may_be_absent(self, event: str, field: str) -> bool:
        """Whether a case may leave this field unstated, so that a rule reading it must say missing_data."""
        if field in ALWAYS_STATED:
            return False
        if field.startswith(APPLICANT_PREFIX):
            return self.applicant_field_may_be_absent(field[len(APPLICANT_PREFIX):])
        if field in DERIVED_EVENT_FIELDS:
            return True  # hte_since: neither the attribute nor an hte_recognized event says
        spec = self.events[event].fields.get(field)
        return spec is not None and not spec.required and spec.when_absent is None

    def applicant_field_may_be_absent(self, field: str) -> bool:
        # kind, zone, city, zone_level, zone_type: an applicant that names no zone is in none
        # (the zone registry derives the rest from the zone), so these are always stated
        return field not in APPLICANT_FIELDS


    def applicant_field_type(self, field: str) -> str | None:
        if field in APPLICANT_FIELDS:
            return APPLICANT_FIELDS[field]
        spec = self.attributes.get(field)
        return spec.type if spec else None


def _field(name: str, spec: dict) -> Field:
    return Field(name, spec["type"], bool(spec.get("required", False)), tuple(spec.get("values", ())), spec.get("doc", ""),
                 spec.get("when_absent"))


def _merge_fragment(raw: dict, fragment: dict, name: str) -> None:
    """A fragment (schemas/vocabulary.d/*.yaml) adds event types, fields of existing
    event types, and applicant attributes; it may not redefine anything."""
    for event, spec in (fragment.get("events") or {}).items():
        target = raw["events"].setdefault(event, {"doc": spec.get("doc", ""), "fields": {}})
        target.setdefault("fields", {})
        for field_name, field_spec in (spec.get("fields") or {}).items():
            existing = target["fields"].get(field_name)
            if existing is not None and existing != field_spec:
                raise ValueError(f"{name}: events/{event}/fields/{field_name} redefines an existing field")
            target["fields"][field_name] = field_spec
    for attr, spec in ((fragment.get("applicant") or {}).get("attributes") or {}).items():
        existing = raw["applicant"]["attributes"].get(attr)
        if existing is not None and existing != spec:
            raise ValueError(f"{name}: applicant/attributes/{attr} redefines an existing attribute")
        raw["applicant"]["attributes"][attr] = spec


def load_vocabulary(path: Path) -> Vocabulary:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for fragment_path in sorted((path.parent / "vocabulary.d").glob("*.yaml")):
        _merge_fragment(raw, yaml.safe_load(fragment_path.read_text(encoding="utf-8")) or {}, fragment_path.name)
    for fragment_path in sorted((path.parent / "vocabulary.d" / "retired").glob("*.yaml")):
        fragment = yaml.safe_load(fragment_path.read_text(encoding="utf-8")) or {}
        for event in fragment.get("events") or {}:
            if event in raw["events"]:
                raise ValueError(f"{fragment_path.name}: retired event type {event} is also a live one")
            if not (fragment["events"][event] or {}).get("retired_by"):
                raise ValueError(f"{fragment_path.name}: events/{event} needs retired_by (the type that replaces it)")
        raw["events"].update(fragment.get("events") or {})
    events = {
        name: EventType(name, spec.get("doc", ""), {f: _field(f, s) for f, s in (spec.get("fields") or {}).items()},
                        spec.get("retired_by"))
        for name, spec in raw["events"].items()
    }
    for name, spec in events.items():
        if spec.retired_by is not None and (spec.retired_by not in events or events[spec.retired_by].retired_by):
            raise ValueError(f"retired event type {name}: retired_by {spec.retired_by} is not a live event type")
    applicant = raw["applicant"]
    return Vocabulary(
        attributes={f: _field(f, s) for f, s in applicant["attributes"].items()},
        incident_types=dict(raw["incidents"]["types"]),
        graded_incidents=tuple(raw["incidents"].get("graded", ())),
        grades=tuple(raw["incidents"]["grades"]),
        events=events,
        applicant_kinds=tuple(applicant["kinds"]),
        zone_levels=tuple(applicant["zone_levels"]),
        zone_types=tuple(applicant["zone_types"]),
    )


@lru_cache(maxsize=None)
def vocabulary() -> Vocabulary:
    return load_vocabulary(SCHEMAS_DIR / "vocabulary.yaml")
