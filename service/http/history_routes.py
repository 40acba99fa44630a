"""The history of a policy's law: every version file, and what one version says.

GET /v1/rulesets/{policy}/versions            metadata of each version
GET /v1/rulesets/{policy}/versions/{version}  the version: readings, notes,
    eligibility conditions and measures with the words they cite, caps,
    stacking groups, directives, and the file's sha256

Everything comes from the ruleset file as written (dates as the auditor wrote them).
"""
from __future__ import annotations

import json

from flask import Response

from .problems import problem


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def version_meta(version) -> dict:
    document = version.document
    effective = version.raw["effective"]
    return {
        "policy": version.policy,
        "version": version.version,
        "status": version.status,
        "document": {key: document.get(key) for key in ("number", "title", "issuer", "issued", "source")},
        "effective": {"from": effective["from"], "until": effective.get("until"),
                      "article": effective.get("article"), "cites": effective.get("cites")},
        "revision": version.revision,
        "corrects": version.raw.get("corrects"),
        "sha256": version.sha256,
        "measures": len(version.measures),
    }


def _eligibility(version) -> dict | None:
    elig = version.raw.get("eligibility")
    if not elig:
        return None
    conditions = [dict(cond, on="applicant" if "applicant" in cond else "incident") for cond in elig["conditions"]]
    return dict(elig, conditions=conditions)


def _measure(version, measure) -> dict:
    """The measure as written, with what the file says about it elsewhere: its caps and stacking groups."""
    return dict(
        measure.raw,
        kind=measure.kind,
        eligibility="applies" if measure.eligibility else "exempt",
        window_anchor=measure.window_anchor,
        readings=list(measure.readings),
        handled_by=measure.handled_by,
        payer=measure.payer,
        caps=[cap for cap in version.raw.get("caps") or [] if measure.id in cap["counts"]],
        stacking=[group for group in version.raw.get("stacking") or [] if measure.id in group["members"]],
    )


def version_detail(version) -> dict:
    raw = version.raw
    return dict(
        version_meta(version),
        scope=raw.get("scope") or {},
        readings=raw.get("readings") or {},
        notes=raw.get("notes") or [],
        eligibility=_eligibility(version),
        measures=[_measure(version, m) for m in version.measures],
        caps=raw.get("caps") or [],
        stacking=raw.get("stacking") or [],
        directives=raw.get("directives") or [],
    )


def _unknown_policy(registry, policy: str) -> Response:
    known = ", ".join(sorted(registry.versions)) or "none"
    return problem(404, "Unknown policy", f"unknown policy {policy!r}; known: {known}", kind="unknown-ruleset")


def register(app, decider, validator) -> None:
    registry = decider.registry

    @app.get("/v1/rulesets/<policy>/versions")
    def ruleset_versions(policy):
        if policy not in registry.versions:
            return _unknown_policy(registry, policy)
        return _json({"policy": policy, "versions": [version_meta(v) for v in registry.policy_versions(policy)],
                      "revisions": [dict(version_meta(v), key=v.key, current=v in registry.policy_versions(policy))
                                    for v in registry.revisions_of(policy)]})

    @app.get("/v1/rulesets/<policy>/versions/<version>")
    def ruleset_version(policy, version):
        if policy not in registry.versions:
            return _unknown_policy(registry, policy)
        found = registry.get(policy, version)
        if found is None:
            known = ", ".join(v.revision_name for v in registry.revisions_of(policy))
            return problem(404, "Unknown ruleset version", f"unknown version {version!r} of {policy}; known: {known}",
                           kind="unknown-ruleset")
        return _json(version_detail(found))
