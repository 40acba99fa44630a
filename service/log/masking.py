"""What the decision log keeps of a case's input: a masking policy (as OPA's decision
logs ``mask``), read from the YAML file named by ``RAC_LOG_MASK``::

    mask:
      applicant.name: drop              # absent from the stored input
      applicant.credit_code: hash       # replaced by "hmac-sha256:<hex>", keyed by RAC_LOG_MASK_KEY
      applicant.attributes.legal_person_id: hash
      events.note: drop                 # that field of every event
      applicant.city: keep              # said explicitly: stored as received (the default)

A hashed value is ``HMAC-SHA256(RAC_LOG_MASK_KEY, value)`` hex: the same value always
hashes the same, so records can still be matched on it by whoever holds the key, and
nobody without it can confirm a guess.

Why a masked decision still replays ``identical``: ``check`` (run at start-up, before
any request) refuses every path that the decision reads — the applicant's fields the
resolver and the rules read (kind, zone, city, zone_level, zone_type, incidents), every
applicant attribute and event field some compiled rule tests (the registry's
``tested_attributes`` / ``tested_event_fields``, over every revision held), the fields
the facts derive from (event ids, types, dates, platform and project ids, the
high-tech-enterprise attributes), and ``case_id``/``options``/``prior_awards``, which the
decision echoes or settles on. A masked field is therefore not one any rule can see, and
the replay of the masked input decides exactly as the original did. A ``hash`` is only
allowed on a free-text string field (a hashed date or enum would no longer validate),
and a ``drop`` never on a required field.

The receipt's ``input_sha256`` stays the hash of the input as received: the log stores
it beside the masked input (inside the record's hash) and the replay takes it from the
record instead of hashing the masked text (see ``chain``).
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

ACTIONS = ("drop", "hash", "keep")
HASH_PREFIX = "hmac-sha256:"
# read by the resolver and the facts whatever the rules say
APPLICANT_READ = frozenset({"kind", "zone", "city", "zone_level", "zone_type", "attributes", "incidents"})
ATTRIBUTES_READ = frozenset({"high_tech_enterprise_since", "high_tech_enterprise"})  # the derived hte status
EVENT_READ = frozenset({"id", "type", "date", "platform_id", "project_id"})
FREE_TEXT = "string"


class MaskError(ValueError):
    """The masking policy is malformed, or masks a field the decision reads."""


@dataclass(frozen=True)
class Rule:
    path: str
    action: str

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


class MaskPolicy:
    def __init__(self, rules: list[Rule], key: bytes | None = None):
        self.rules = [rule for rule in rules if rule.action != "keep"]
        self.key = key
        if any(rule.action == "hash" for rule in self.rules) and not key:
            raise MaskError("the masking policy hashes fields: RAC_LOG_MASK_KEY must be set")

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, payload) -> tuple[object, list[str]]:
        """(the input as the log keeps it, ``path:action`` of each rule that changed something)."""
        if not self.rules or not isinstance(payload, dict):
            return payload, []
        masked = copy.deepcopy(payload)
        applied = []
        for rule in self.rules:
            if self._apply(masked, rule):
                applied.append(f"{rule.path}:{rule.action}")
        return masked, applied

    def _apply(self, payload: dict, rule: Rule) -> bool:
        head, *rest = rule.parts
        if head == "events":
            changed = False
            for event in payload.get("events") or []:
                if isinstance(event, dict):
                    changed |= self._change(event, rest, rule.action)
            return changed
        return self._change(payload, rule.parts, rule.action)

    def _change(self, holder, parts, action: str) -> bool:
        for name in parts[:-1]:
            holder = holder.get(name) if isinstance(holder, dict) else None
        last = parts[-1]
        if not isinstance(holder, dict) or last not in holder:
            return False
        if action == "drop":
            del holder[last]
        else:
            holder[last] = self.hashed(holder[last])
        return True

    def hashed(self, value) -> str:
        text = value if isinstance(value, str) else repr(value)
        return HASH_PREFIX + hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def check(self, vocab, registry) -> None:
        """Refuse (MaskError, every offending path at once) a rule on a field the decision reads."""
        problems = [problem for rule in self.rules for problem in _problems(rule, vocab, registry)]
        if problems:
            raise MaskError("RAC_LOG_MASK masks what the decision reads, so a masked decision would not replay: "
                            + "; ".join(problems))


def _problems(rule: Rule, vocab, registry) -> list[str]:
    parts = rule.parts
    if parts[0] == "applicant" and len(parts) == 2:
        name = parts[1]
        if name in APPLICANT_READ:
            return [f"{rule.path} is read by the resolver and the rules"]
        return []  # name, credit_code: stated, never read (the schema knows them as free text)
    if parts[:2] == ("applicant", "attributes") and len(parts) == 3:
        name = parts[2]
        if name in registry.tested_attributes or name in ATTRIBUTES_READ:
            return [f"{rule.path} is tested by a rule"]
        spec = vocab.attributes.get(name)
        return _shape_problems(rule, spec)
    if parts[0] == "events" and len(parts) == 2:
        name = parts[1]
        if name in EVENT_READ:
            return [f"{rule.path} is read by every decision"]
        found = [f"{rule.path} is tested by a rule on {event_type} events"
                 for event_type, fields in sorted(registry.tested_event_fields.items()) if name in fields]
        for event_type, spec in sorted(vocab.events.items()):
            if name in spec.fields:
                found += _shape_problems(rule, spec.fields[name], f" of {event_type} events")
        return found
    return [f"{rule.path} is not a maskable path (applicant.<field>, applicant.attributes.<name>, events.<field>)"]


def _shape_problems(rule: Rule, spec, where: str = "") -> list[str]:
    """A masked value must still validate on replay: no drop of a required field, no hash of a typed one."""
    if spec is None:
        return []  # not in the vocabulary: a case stating it is refused before it is decided
    if rule.action == "drop" and spec.required:
        return [f"{rule.path}{where} is required: dropped, the input would no longer validate"]
    if rule.action == "hash" and spec.type != FREE_TEXT:
        return [f"{rule.path}{where} is a {spec.type}: hashed, the input would no longer validate"]
    return []


def parse(document, key: bytes | None = None) -> MaskPolicy:
    """A policy from the YAML document's ``mask`` mapping (path → drop | hash | keep)."""
    if not isinstance(document, dict) or not isinstance(document.get("mask", {}), dict):
        raise MaskError("the masking policy must be a mapping with a 'mask' mapping of path: drop | hash | keep")
    rules, problems = [], []
    for path, action in (document.get("mask") or {}).items():
        if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
            problems.append(f"{path!r} is not a dotted path")
        elif action not in ACTIONS:
            problems.append(f"{path}: {action!r} is not one of {', '.join(ACTIONS)}")
        else:
            rules.append(Rule(path, action))
    if problems:
        raise MaskError("RAC_LOG_MASK: " + "; ".join(problems))
    return MaskPolicy(rules, key)


def from_env(environ=None) -> MaskPolicy | None:
    """The policy of ``RAC_LOG_MASK`` (a YAML file), keyed by ``RAC_LOG_MASK_KEY``; None when unset."""
    environ = os.environ if environ is None else environ
    where = environ.get("RAC_LOG_MASK", "").strip()
    if not where:
        return None
    import yaml

    try:
        document = yaml.safe_load(Path(where).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise MaskError(f"RAC_LOG_MASK {where}: {error}") from error
    key = environ.get("RAC_LOG_MASK_KEY", "").encode("utf-8") or None
    return parse(document, key)
