"""Replay a logged decision: the logged input, validated again, decided again
under exactly the recorded ruleset versions, compared field by field with what
was answered (``decision_id`` and ``evaluated_at`` aside)."""
from __future__ import annotations

import hashlib

import orjson

from .decide import BundleMismatch, Decider
from .log import LogRecord
from .resolve import PinError
from .rulebook.loader import revision_key
from .validate.request import CaseValidator

IGNORED = frozenset({"decision_id", "evaluated_at"})  # differ on every evaluation, by design
# fields a decision gained after some records were logged, with the value they take wherever the
# recorded versions could not fill them: absent from such a record, that value is no difference
ADDED_LATER = {"inapplicable": []}  # only denials: said_once versions (revision 3 on) report one


def replay_record(decider: Decider, validator: CaseValidator, record: LogRecord, *, explain: bool = False) -> dict:
    # a masked input hashes otherwise than the input received: the receipt's hash is the record's
    return replay(decider, validator, record.input, orjson.loads(record.decision), record.received_sha256,
                  explain=explain)


def replay(decider: Decider, validator: CaseValidator, input_text: str, logged: dict,
           input_sha256: str | None = None, *, explain: bool = False) -> dict:
    """``{"status": "identical"}`` or ``{"status": "different", "differences": [{path, logged, replayed}, …]}``.
    ``input_sha256``: of the input as received, where ``input_text`` is not that (masked); else its own.
    ``explain``: with the replayed decision's ``derivation`` beside the status. A decision logged
    without a derivation is compared without it: explaining it later changes nothing it said."""
    case, errors = validator.validate(orjson.loads(input_text), replaying=True)
    if errors:
        return _different([{"path": "input", "logged": "valid", "replayed": errors}])
    bundle = (logged.get("bundle") or {}).get("versions") if isinstance(logged, dict) else None
    try:
        replayed = decider.decide(case, input_sha256=input_sha256 or hashlib.sha256(input_text.encode("utf-8")).hexdigest(),
                                  bundle=list(bundle) if bundle is not None else None, judged=judged_under(logged),
                                  derive=explain)
    except BundleMismatch as error:
        held = {entry.rsplit(":", 1)[0]: entry for entry in decider.bundle["versions"]}
        return _different([{"path": f"bundle/versions/{bundle.index(entry)}", "logged": entry,
                            "replayed": held.get(entry.rsplit(":", 1)[0])} for entry in error.missing])
    except PinError as error:
        return _different([{"path": "options/pin", "logged": (logged.get("options") or {}).get("pin"),
                            "replayed": str(error)}])
    replayed = orjson.loads(orjson.dumps(replayed))  # as it would have been logged: tuples → lists, …
    for name, empty in ADDED_LATER.items():
        if name not in logged and replayed.get(name) == empty:
            del replayed[name]
    derivation = replayed.get("derivation")
    if "derivation" not in logged:
        replayed.pop("derivation", None)
    found = differences({k: v for k, v in logged.items() if k not in IGNORED},
                        {k: v for k, v in replayed.items() if k not in IGNORED})
    report = _different(found) if found else {"status": "identical"}
    if explain:
        report["derivation"] = derivation
    return report


def judged_under(logged: dict) -> set:
    """The bundle entries of the versions a logged decision was judged under: those must be held
    byte for byte to replay it; the rest of its bundle (a draft not asked for, edited since) is
    taken by key, and any effect of that edit shows as a difference."""
    return {f"{revision_key(r['policy'], r['version'], r.get('revision', 1))}:{r['sha256']}"
            for r in logged.get("rulesets") or [] if isinstance(r, dict) and "sha256" in r}


def _different(found: list[dict]) -> dict:
    return {"status": "different", "differences": found}


_MISSING = object()


def differences(logged, replayed, path: str = "") -> list[dict]:
    """Leaf differences with JSON-pointer-like paths (``outcomes/0/amount``); lists index by index.
    A member present on one side only is reported with null on the other and ``absent`` naming that side."""
    if isinstance(logged, dict) and isinstance(replayed, dict):
        found = []
        for key in sorted(set(logged) | set(replayed), key=str):
            found += differences(logged.get(key, _MISSING), replayed.get(key, _MISSING), _join(path, key))
        return found
    if isinstance(logged, list) and isinstance(replayed, list):
        found = []
        for index in range(max(len(logged), len(replayed))):
            found += differences(logged[index] if index < len(logged) else _MISSING,
                                 replayed[index] if index < len(replayed) else _MISSING, _join(path, index))
        return found
    if type(logged) is type(replayed) and logged == replayed:
        return []
    found = {"path": path, "logged": None if logged is _MISSING else logged,
             "replayed": None if replayed is _MISSING else replayed}
    if logged is _MISSING or replayed is _MISSING:
        found["absent"] = "logged" if logged is _MISSING else "replayed"
    return [found]


def _join(path: str, key) -> str:
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{path}/{token}" if path else token
