"""The registry of Guangxi zones and cities (``schemas/zones.yaml``).

A case may name only these zones and cities; an applicant's city, zone level and
zone type follow from its zone (``Zones.derive``), so a Qinzhou HTZ applicant
that omits ``zone_type`` is still judged by every document about HTZs.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .paths import SCHEMAS_DIR
from .vocabulary import vocabulary

# applicant field -> the zone's attribute it is derived from
DERIVED_FIELDS = {"city": "city", "zone_level": "level", "zone_type": "type"}
CLOSEST = 3  # ids difflib suggests for an unknown one
MAX_SUGGESTED = 5


@dataclass(frozen=True)
class City:
    id: str
    zh: str


@dataclass(frozen=True)
class Zone:
    id: str
    zh: str
    short: str
    city: str
    level: str
    type: str
    source: dict


@dataclass(frozen=True)
class Zones:
    cities: dict  # id -> City
    zones: dict  # id -> Zone

    def derive(self, zone_id: str) -> dict:
        """The applicant fields the registry fixes for a zone: {city, zone_level, zone_type}."""
        zone = self.zones[zone_id]
        return {field: getattr(zone, attr) for field, attr in DERIVED_FIELDS.items()}

    def closest_zones(self, value: str) -> list[str]:
        names = {z.zh: z.id for z in self.zones.values()} | {z.short: z.id for z in self.zones.values()}
        return _closest(value, self.zones, names, self._same_city_and_type(value))

    def closest_cities(self, value: str) -> list[str]:
        names = {c.zh: c.id for c in self.cities.values()} | {c.zh.removesuffix("市"): c.id for c in self.cities.values()}
        return _closest(value, self.cities, names, [])

    def _same_city_and_type(self, value: str) -> list[str]:
        """Zones of the city an id names (``liuzhou-htz``: the Liuzhou HTZs), of its type
        when it names one: difflib alone ranks ``wuzhou-htz`` first for ``liuzhou-htz``."""
        words = set(value.lower().split("-"))
        in_city = [z for z in self.zones.values() if z.city in words]
        of_type = [z for z in in_city if z.type in words]
        return [z.id for z in of_type or in_city]


def _closest(value: str, known: dict, by_name: dict, related: list[str]) -> list[str]:
    """The known ids nearest to ``value``: the id of a Chinese name given instead of
    an id, the related ids, then those difflib finds close; all ids when none is."""
    named = [by_name[value]] if value in by_name else []
    near = difflib.get_close_matches(value.lower(), list(known), n=CLOSEST, cutoff=0.6)
    found = list(dict.fromkeys(named + related + near))[:MAX_SUGGESTED]
    return found or sorted(known)


def load_zones(path: Path, *, zone_levels=("national", "regional"), zone_types=("htz", "etdz")) -> Zones:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = []
    cities = {}
    for entry in raw.get("cities") or []:
        if entry["id"] in cities:
            problems.append(f"cities/{entry['id']}: defined twice")
        cities[entry["id"]] = City(entry["id"], entry["zh"])
    zones = {}
    for entry in raw.get("zones") or []:
        zone = Zone(entry["id"], entry["zh"], entry.get("short", entry["zh"]), entry["city"], entry["level"],
                    entry["type"], dict(entry.get("source") or {}))
        where = f"zones/{zone.id}"
        if zone.id in zones:
            problems.append(f"{where}: defined twice")
        if zone.city not in cities:
            problems.append(f"{where}/city: {zone.city!r} is not a registered city")
        if zone.level not in zone_levels:
            problems.append(f"{where}/level: {zone.level!r} is not one of {', '.join(zone_levels)}")
        if zone.type not in zone_types:
            problems.append(f"{where}/type: {zone.type!r} is not one of {', '.join(zone_types)}")
        if not zone.source:
            problems.append(f"{where}/source: every zone says where its facts come from")
        zones[zone.id] = zone
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return Zones(cities, zones)


@lru_cache(maxsize=None)
def zones() -> Zones:
    vocab = vocabulary()  # the levels and types a zone may have are the vocabulary's
    return load_zones(SCHEMAS_DIR / "zones.yaml", zone_levels=vocab.zone_levels, zone_types=vocab.zone_types)
