"""All ruleset versions of all policies, loaded and compiled once at start-up.

Start-up happens before gunicorn forks (``preload_app``), so every worker
inherits the compiled engine rulesets and never compiles on a request.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import RULESETS_DIR, SOURCES_DIR
from ..vocabulary import vocabulary
from .loader import RulesetError, RulesetVersion, load_ruleset
from .figures import figure_problems

EVALUATED_STATUSES = ("in_force", "repealed")  # law that was in force in its window
DRAFT_STATUSES = ("draft",)  # evaluated on request only
# "announced": registered, no published text, no rules


def bundle_revision(versions: list[str]) -> str:
    """One hash over the entries ``policy@version:sha256`` of a bundle."""
    return hashlib.sha256("\n".join(versions).encode()).hexdigest()


def partition(versions: list[RulesetVersion]) -> tuple[list, list]:
    """(the law: versions in force in their window, the drafts that have rules), in order."""
    return ([v for v in versions if v.status in EVALUATED_STATUSES],
            [v for v in versions if v.status in DRAFT_STATUSES and v.measures])


def current_revisions(held: list[RulesetVersion]) -> tuple[list, list]:
    """(the newest revision of each law version, the revisions it supersedes). A correction
    is a new revision beside the old one, so a decision logged under the old one still replays."""
    newest: dict[str, RulesetVersion] = {}
    for version in held:
        if version.law_key not in newest or version.revision > newest[version.law_key].revision:
            newest[version.law_key] = version
    return list(newest.values()), [v for v in held if newest[v.law_key] is not v]


@dataclass
class Registry:
    directory: Path
    versions: dict  # policy -> list[RulesetVersion]: the current revision of each version, by effective_from, version
    compiled: dict  # version key -> engine Ruleset, for every revision held
    superseded: dict = field(default_factory=dict)  # policy -> the older revisions, held for replay only
    # (policy, versions, law, drafts) in policy order: what resolution walks for every case
    policies: list = field(init=False, repr=False)

    def __post_init__(self):
        self.policies = [(policy, self.versions[policy], *partition(self.versions[policy]))
                         for policy in sorted(self.versions)]

    @classmethod
    def load(cls, directory: Path | None = None, *, compile_rules: bool = True, check_figures: bool = False) -> "Registry":
        directory = Path(directory or RULESETS_DIR)
        sources = directory / "sources"
        if not sources.is_dir():
            sources = SOURCES_DIR
        versions: dict[str, list[RulesetVersion]] = {}
        errors: list[RulesetError] = []
        for path in sorted(directory.glob("*/*.yaml")):
            if path.parent.name == "sources":
                continue
            try:
                version = load_ruleset(path, sources)
            except RulesetError as error:
                errors.append(error)
                continue
            versions.setdefault(version.policy, []).append(version)
        if errors:
            raise RulesetError(errors[0].file, [p for e in errors for p in e.problems]) if len(errors) == 1 else \
                RulesetError("rulesets", [(f"{e.file}:{p}", r) for e in errors for p, r in e.problems])
        superseded: dict[str, list[RulesetVersion]] = {}
        for policy in versions:
            versions[policy], superseded[policy] = current_revisions(versions[policy])
            versions[policy].sort(key=lambda v: (v.effective_from, v.version))
            held_revisions = {(v.law_key, v.revision) for v in versions[policy] + superseded[policy]}
            errors += [RulesetError(v.path, [("/revision", f"revision {v.revision} of {v.law_key} without revision {n}")])
                       for v in versions[policy] for n in range(1, v.revision) if (v.law_key, n) not in held_revisions]
        if check_figures:
            # the law as it decides now must state its figures; a superseded revision is held as it was
            vocab = vocabulary()
            for policy_versions in versions.values():
                for version in policy_versions:
                    found = figure_problems(version.raw, vocab)
                    if found:
                        errors.append(RulesetError(version.path, found))
        if errors:
            raise RulesetError("rulesets", [(f"{e.file}:{p}", r) for e in errors for p, r in e.problems])
        registry = cls(directory, versions, {}, superseded)
        registry.check_overlaps()
        registry.check_shared()
        if compile_rules:
            from ..evaluate.compile import compile_version

            for version in registry.held_versions():
                if version.measures:
                    registry.compiled[version.key] = compile_version(version)
        return registry

    def check_overlaps(self) -> None:
        problems = []
        for policy, versions in self.versions.items():
            law, _ = partition(versions)
            for earlier, later in zip(law, law[1:]):
                if earlier.effective_until is None or earlier.effective_until >= later.effective_from:
                    problems.append((f"{later.path}", f"window of {later.key} overlaps {earlier.key}"))
        if problems:
            raise RulesetError("rulesets", problems)

    @property
    def bundle(self) -> dict:
        """What law this process holds: every version with its file hash, and one
        revision hash over them all (as OPA reports its bundle revision)."""
        versions = [f"{v.key}:{v.sha256}" for v in self.held_versions()]
        return {"revision": bundle_revision(versions), "versions": versions}

    def check_shared(self) -> None:
        """A cap or stacking group naming measures of other documents is shared: every file
        that declares it must declare the same law, and each document whose measure it names
        must declare it too (so that reading one file shows every limit on its measures)."""
        problems = []
        caps: dict[str, tuple] = {}
        groups: dict[str, tuple] = {}
        for version in self.all_versions():
            for cap in version.caps:
                seen = caps.setdefault(cap.id, (cap.law(), version))
                if seen[0] != cap.law() and seen[1].policy != version.policy:
                    problems.append((str(version.path), f"shared cap {cap.id} differs from {seen[1].key}"))
            for group in version.stacking:
                law = (group.id, group.members, group.per, group.keep)
                seen = groups.setdefault(group.id, (law, version))
                if seen[0] != law and seen[1].policy != version.policy:
                    problems.append((str(version.path), f"shared stacking group {group.id} differs from {seen[1].key}"))
        defined = {policy: {m.id for v in versions for m in v.measures} for policy, versions in self.versions.items()}

        def foreign(version, mids):
            """The measures of other documents that a cap or group names, each checked to exist."""
            for mid in mids:
                policy = mid.split("/")[0]
                if policy == version.policy or policy not in self.versions:
                    continue  # a document not registered (yet) is not checked
                if mid not in defined[policy]:
                    problems.append((str(version.path), f"names {mid}, which no version of {policy} defines"))
                    continue
                yield policy, mid

        for version in self.all_versions():
            for cap in version.caps:
                for policy, mid in foreign(version, cap.counts):
                    for other in self.versions[policy]:
                        if any(m.id == mid for m in other.measures) and mid not in other.cap_of:
                            problems.append((str(other.path), f"{mid} is in shared cap {cap.id} of {version.key} but {other.key} does not declare it"))
            for group in version.stacking:
                list(foreign(version, group.members))
        if problems:
            raise RulesetError("rulesets", problems)

    @property
    def tested_attributes(self) -> frozenset:
        """The applicant attributes some compiled rule tests: no other reaches the engine."""
        return frozenset().union(*(c.applicant_attributes for c in self.compiled.values()))

    @property
    def tested_event_fields(self) -> dict:
        """Event type -> the fields some compiled rule tests on it."""
        tested: dict[str, set] = {}
        for compiled in self.compiled.values():
            for event_type, trim in compiled.trims.items():
                tested.setdefault(event_type, set()).update(trim.own)
        return tested

    def policy_versions(self, policy: str) -> list[RulesetVersion]:
        return self.versions.get(policy, [])

    def get(self, policy: str, version: str) -> RulesetVersion | None:
        """``version``: a law version (its current revision) or ``<version>#r<N>`` (that revision)."""
        if "#r" in version:
            law, _, number = version.partition("#r")
            return next((v for v in self.revisions_of(policy) if v.version == law and str(v.revision) == number), None)
        for candidate in self.versions.get(policy, []):
            if candidate.version == version:
                return candidate
        return None

    def all_versions(self) -> list[RulesetVersion]:
        """The current revision of every law version: what decides a new case."""
        return [v for policy in sorted(self.versions) for v in self.versions[policy]]

    def revisions_of(self, policy: str) -> list[RulesetVersion]:
        """Every revision held of a policy's versions, oldest revision first within a version."""
        held = self.versions.get(policy, []) + self.superseded.get(policy, [])
        return sorted(held, key=lambda v: (v.effective_from, v.version, v.revision))

    def held_versions(self) -> list[RulesetVersion]:
        """Every revision held, superseded ones included: the bundle a replay can ask for."""
        return [v for policy in sorted(self.versions) for v in self.revisions_of(policy)]
