"""Which version of which policy judges which event.

Each event is judged by the version of each policy in force on its date. An
event outside every window is handed, with role ``out``, to the nearest
version so that the measures it came close to can say ``outside_window``.
Drafts are judged only when asked for (``include_drafts``) or pinned; else a
draft-only policy hands its events over with role ``draft`` so that the
answer says ``draft_not_requested``. Every other event reaches a session as
``ctx``: usable as joined context, never judged there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .rulebook.registry import DRAFT_STATUSES, Registry, current_revisions, partition
from .rulebook.loader import RulesetVersion


@dataclass
class Assignment:
    version: RulesetVersion
    roles: dict = field(default_factory=dict)  # event id -> in|out|draft
    what_if: bool = False


@dataclass
class Resolution:
    assignments: list  # [Assignment], in policy then version order
    not_applicable: list  # [{"policy", "reason"}]
    notices: list  # [{"policy", "version", "status", "message"}]


class PinError(LookupError):
    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


def in_scope(version: RulesetVersion, applicant: dict) -> str | None:
    """None if the document speaks to this applicant, else why not."""
    scope = version.scope
    if scope.get("zones") and applicant.get("zone") not in scope["zones"]:
        return f"applies to zones {', '.join(scope['zones'])}"
    if scope.get("cities") and applicant.get("city") not in scope["cities"]:
        return f"applies to cities {', '.join(scope['cities'])}"
    if scope.get("zone_types") and applicant.get("zone_type") not in scope["zone_types"]:
        return f"applies to zone types {', '.join(scope['zone_types'])}"
    return None


def check_pins(registry: Registry, pins: dict) -> None:
    errors = []
    for policy, version in sorted(pins.items()):
        if policy not in registry.versions:
            errors.append((f"options/pin/{policy}", f"unknown policy {policy!r}; known: {', '.join(sorted(registry.versions))}"))
        elif registry.get(policy, version) is None:
            known = ", ".join(v.revision_name for v in registry.revisions_of(policy))
            errors.append((f"options/pin/{policy}", f"unknown version {version!r} of {policy}; known: {known}"))
    if errors:
        raise PinError(errors)


def resolve(registry: Registry, applicant: dict, events: list[dict], pins: dict, include_drafts: bool,
            only: set | None = None) -> Resolution:
    """``events``: the case's event facts (their ``date`` a YYYYMMDD integer);
    ``only``: the version keys (policy@version) to consider — a replay's bundle."""
    if pins:
        check_pins(registry, pins)
    assignments: list[Assignment] = []
    not_applicable, notices = [], []
    for policy, versions, law, drafts in registry.policies:
        if only is not None:
            # a replay: of the revisions the recorded bundle held, the newest of each version decided
            versions, _ = current_revisions([v for v in registry.revisions_of(policy) if v.key in only])
            law, drafts = partition(versions)
        if not versions:
            continue
        reason = in_scope(versions[-1], applicant)
        if reason:
            not_applicable.append({"policy": policy, "reason": reason})
            continue
        roles: dict[str, dict] = {}  # version key -> {event id: role}
        held: dict[str, RulesetVersion] = {}

        if policy in pins:
            pinned = registry.get(policy, pins[policy])
            if pinned.status == "announced":
                notices.append(_announced(pinned))
                continue
            if pinned.measures:
                held[pinned.key] = pinned
                roles[pinned.key] = _roles(pinned, events)
        else:
            if include_drafts:
                notices += [_announced(v) for v in versions if v.status == "announced"]
            if not any(v.measures for v in law) and not drafts:
                continue  # nothing here has rules to judge an event by
            held.update((v.key, v) for v in law + drafts)
            if len(law) == 1:
                # one version of the law: it judges every event, in its window or not
                if law[0].measures:
                    roles[law[0].key] = _roles(law[0], events)
            elif law:
                for event in events:
                    day = event["date"]
                    for judge in law:
                        if judge.in_window(day):
                            role = "in"
                            break
                    else:
                        judge, role = _nearest(law, day), "out"
                    if judge.measures:
                        roles.setdefault(judge.key, {})[event["id"]] = role
            for draft in drafts:
                if include_drafts:
                    roles[draft.key] = _roles(draft, events)
                elif not law:
                    roles[draft.key] = dict.fromkeys((e["id"] for e in events), "draft")
        for key in sorted(roles, key=lambda k: (held[k].effective_from, held[k].version)):
            version = held[key]
            assignments.append(Assignment(version, roles[key], what_if=version.status in DRAFT_STATUSES))
    return Resolution(assignments, not_applicable, notices)


def _roles(version: RulesetVersion, events: list[dict]) -> dict:
    """Each event's role in a version that judges them all: in its window or out of it."""
    first, last = version.effective_from, version.effective_until or 99999999
    return {e["id"]: "in" if first <= e["date"] <= last else "out" for e in events}


def _nearest(versions: list[RulesetVersion], day: int) -> RulesetVersion:
    before = [v for v in versions if v.effective_from <= day]
    return before[-1] if before else versions[0]


def _announced(version: RulesetVersion) -> dict:
    return {
        "policy": version.policy, "version": version.version, "status": version.status,
        "message": {
            "en": f"{version.document['title']} ({version.version}) is announced but its text is not published; it has no rules to evaluate.",
            "zh": f"《{version.document['title']}》（{version.version}）已公布起草，但未公布文本，无可执行规则。",
        },
    }
