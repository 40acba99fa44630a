"""API keys: random bearer tokens, stored only as their sha256.

A key is 256 random bits, so a fast hash is enough: there is no dictionary to
try against it, and the store leaks nothing a brute force could use. The store
(``RAC_API_KEYS_FILE``, or the same YAML/JSON text in ``RAC_API_KEYS``) lists
entries ``{name, sha256, roles}``, either as a list or under ``keys:``.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

import yaml

from .errors import AuthConfigError

PREFIX = "rac_"  # tells a key from a JWT at a glance, and makes a leaked one greppable
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def make_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hash_entry(name: str, roles: list[str], key: str) -> dict:
    return {"name": name, "sha256": key_hash(key), "roles": list(roles)}


def parse_entries(text: str, source: str, known_roles) -> list[dict]:
    """The entries of a key store, each checked; an AuthConfigError names the first fault."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AuthConfigError(f"{source}: not YAML or JSON: {error}") from None
    if isinstance(data, dict):
        data = data.get("keys")
    if not isinstance(data, list):
        raise AuthConfigError(f"{source}: expected a list of {{name, sha256, roles}} (or one under keys:)")
    return [_entry(item, f"{source}: keys[{index}]", known_roles) for index, item in enumerate(data)]


def _entry(item, where: str, known_roles) -> dict:
    if not isinstance(item, dict):
        raise AuthConfigError(f"{where}: expected {{name, sha256, roles}}")
    if "key" in item:
        raise AuthConfigError(f"{where}: holds a plain key; store its sha256 instead (python -m service apikey)")
    name, digest, roles = item.get("name"), item.get("sha256"), item.get("roles")
    if not isinstance(name, str) or not name.strip():
        raise AuthConfigError(f"{where}: name must be a non-empty string")
    if not isinstance(digest, str) or not HEX64.match(digest):
        raise AuthConfigError(f"{where} ({name}): sha256 must be 64 lowercase hex digits")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise AuthConfigError(f"{where} ({name}): roles must be a non-empty list")
    unknown = sorted(set(roles) - set(known_roles))
    if unknown:  # a misspelt role would lock its holder out without a word
        raise AuthConfigError(f"{where} ({name}): unknown role(s) {', '.join(unknown)}; known: {', '.join(known_roles)}")
    return {"name": name, "sha256": digest, "roles": frozenset(roles)}


class KeyStore:
    def __init__(self, entries: list[dict]):
        self._by_hash: dict[str, dict] = {}
        names = set()
        for entry in entries:
            if entry["sha256"] in self._by_hash:
                raise AuthConfigError(f"API key {entry['name']}: the same key as {self._by_hash[entry['sha256']]['name']}")
            if entry["name"] in names:  # requested_by must say who, unambiguously
                raise AuthConfigError(f"API key name {entry['name']} used twice")
            names.add(entry["name"])
            self._by_hash[entry["sha256"]] = entry

    @classmethod
    def from_env(cls, env, known_roles) -> KeyStore | None:
        entries = []
        path = env.get("RAC_API_KEYS_FILE")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as error:
                raise AuthConfigError(f"RAC_API_KEYS_FILE: cannot read {path}: {error.strerror}") from None
            entries += parse_entries(text, f"RAC_API_KEYS_FILE {path}", known_roles)
        if env.get("RAC_API_KEYS"):
            entries += parse_entries(env["RAC_API_KEYS"], "RAC_API_KEYS", known_roles)
        if (path or env.get("RAC_API_KEYS")) and not entries:  # configured but empty must not mean open
            raise AuthConfigError("RAC_API_KEYS_FILE / RAC_API_KEYS name no keys")
        return cls(entries) if entries else None

    def __len__(self) -> int:
        return len(self._by_hash)

    def find(self, key: str) -> dict | None:
        return self._by_hash.get(key_hash(key))
