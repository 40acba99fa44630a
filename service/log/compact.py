"""How a decision is stored: what every decision of a bundle repeats, kept once.

A decision repeats two things that its own hashes already pin: the bundle's list of
ruleset versions (≈1.1 KB, pinned by ``bundle.revision``) and, in each outcome and
denial, what its measure's version says whatever the case (the article's prose
``citation``, ``notes``, ``basis``, …, its document, status, window; pinned by each
ruleset's ``sha256``). The stored decision refers to each by id instead, in a
content-addressed side table (``decision_parts``: id → canonical JSON), where it is
written once:

- ``bundle.versions`` → ``bundle["versions#"] = "b:" + revision``, the bundle's revision
  hash (``bundle_revision(versions)``), which is checked again when read back;
- those members of an outcome or denial (``MEASURE_MEMBERS``), taken together →
  ``item["#"] = "t:" + sha256(text)[:24]``, merged back into the item when read;
- the decision's ``rulesets`` and ``not_applicable`` lists, which few combinations of
  versions and zones make, → ``decision[name + "#"]`` the same way.

``inflate`` undoes it exactly: the canonical text of the inflated decision is the text
answered, which is what the record's hash covers — so GET /v1/decisions/{id}, replay and
the chain see the decision as answered, and a part edited in the side table shows as a
hash mismatch of every record that uses it. A part whose id is already held with another
body (never, barring a sha256 collision) is left inline."""
from __future__ import annotations

import hashlib

import orjson

from ..rulebook.registry import bundle_revision

# what an outcome or denial says of its measure's version, the same in every case it is
# said of (a member that differs only makes another part: correctness never rests on it)
MEASURE_MEMBERS = ("measure", "policy", "version", "status", "document", "article", "citation", "notes",
                   "basis", "handled_by", "payer", "kind", "beneficiary", "what_if", "window", "cap")
ITEMS = ("outcomes", "denials")
WHOLE = ("rulesets", "not_applicable")  # top-level members shared by many decisions
MIN_BYTES = 40  # shorter than this a reference saves nothing
REF = "#"


def _dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def text_id(body: str) -> str:
    return "t:" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:24]


def body_matches(part_id: str, body: str) -> bool:
    """A part read back is the one its id names (content-addressed)."""
    if part_id.startswith("b:"):
        try:
            versions = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        return isinstance(versions, list) and bundle_revision(versions) == part_id[2:]
    return text_id(body) == part_id


def deflate(decision: dict, held=lambda part_id, body: True) -> tuple[dict, dict]:
    """(the decision as stored, {part id: body} it refers to). ``held(id, body)``: False when
    that id is already stored with another body (the value then stays inline)."""
    if not isinstance(decision, dict) or _has_refs(decision):
        return decision, {}
    stored, parts = dict(decision), {}

    def refer(holder: dict, name: str, part_id: str, body: str) -> None:
        if held(part_id, body):
            del holder[name]
            holder[name + REF] = part_id
            parts[part_id] = body

    for name in WHOLE:
        if name in decision:
            body = _dumps(decision[name])
            if len(body.encode("utf-8")) >= MIN_BYTES:
                refer(stored, name, text_id(body), body)
    bundle = decision.get("bundle")
    if isinstance(bundle, dict) and isinstance(bundle.get("versions"), list) \
            and bundle.get("revision") == bundle_revision(bundle["versions"]):
        stored["bundle"] = dict(bundle)
        refer(stored["bundle"], "versions", "b:" + bundle["revision"], _dumps(bundle["versions"]))
    for list_name in ITEMS:
        items = decision.get(list_name)
        if not isinstance(items, list):
            continue
        stored[list_name] = [dict(item) if isinstance(item, dict) else item for item in items]
        for item in stored[list_name]:
            if not isinstance(item, dict):
                continue
            said = {name: item[name] for name in MEASURE_MEMBERS if name in item}
            body = _dumps(said)
            if len(body.encode("utf-8")) >= MIN_BYTES and held(text_id(body), body):
                for name in said:
                    del item[name]
                item[REF] = text_id(body)
                parts[item[REF]] = body
    return stored, parts


def references(stored: dict) -> set[str]:
    """The part ids a stored decision refers to."""
    found = set()
    for holder in _holders(stored):
        found.update(value for key, value in holder.items() if key.endswith(REF))
    return found


def inflate(stored: dict, parts: dict) -> dict:
    """The decision as answered, from its stored form and {part id: body} (KeyError: a part is missing)."""
    if not references(stored):
        return stored
    decision = _restore(stored, parts)
    if isinstance(decision.get("bundle"), dict):
        decision["bundle"] = _restore(decision["bundle"], parts)
    for list_name in ITEMS:
        if isinstance(decision.get(list_name), list):
            decision[list_name] = [_restore(item, parts) if isinstance(item, dict) else item
                                   for item in decision[list_name]]
    return decision


def _restore(holder: dict, parts: dict) -> dict:
    restored = {}
    for key, value in holder.items():
        if key == REF:  # the members of an item kept together
            restored.update(orjson.loads(parts[value]))
        elif key.endswith(REF):
            restored[key[:-len(REF)]] = orjson.loads(parts[value])
        else:
            restored[key] = value
    return restored


def _holders(decision: dict):
    yield decision
    if isinstance(decision.get("bundle"), dict):
        yield decision["bundle"]
    for list_name in ITEMS:
        for item in decision.get(list_name) or []:
            if isinstance(item, dict):
                yield item


def _has_refs(decision: dict) -> bool:
    return any(key.endswith(REF) for holder in _holders(decision) for key in holder)
