"""One event per year (and scope, or project) where the law gives one.

A ranking is published once a year for each scope, a count of new high-tech
enterprises is taken once a year, a project's funds in place are one figure a
year: a second such event for the same year is the same fact stated twice, and
the two can disagree. The measures that compare a year with the one before
(gx-htz （二十三）, lz-htz 21.x, gx-etdz 19) join "the previous year's event",
which is well defined only when there is one; and a case crowded with events
of one year made those joins cost the square (or cube) of its events. So the
second is refused, naming the first.

The rule is the vocabulary's own (``doc: one event per …``); each type listed
here says so there. Gazelle recognitions and regional awards are not limited: the
vocabulary does not say one a year, and a second award in a year is the cap
``qz-htz/2.3#year``'s to judge.
"""
from __future__ import annotations

import re
from .messages import Messages

# event type -> the fields that, with the calendar year of ``date``, name the one event
ONE_PER_YEAR: dict[str, tuple[str, ...]] = {
    "zone_evaluated": ("scope",),               # one per evaluation year and scope
    "zone_new_hte_counted": (),                 # one per year
    "investment_funds_received": ("project_id",),  # one per project and year
    "lz_national_zone_ranked": (),              # retired; one per year (still read by a pinned lz-htz r1)
    "lz_regional_zone_evaluated": (),           # retired; one per year
}

_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}")


def problems(payload: dict, m: Messages, already: list[dict] = ()) -> list[dict]:
    """``{path, message}`` for each event that repeats the year (and scope or project) of an
    earlier event of its type, at ``events/<i>/date``; an event with a path ``already``
    reported (an invalid date, scope or type) is not judged: its year or scope is unknown."""
    raw_events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(raw_events, list):
        return []
    reported = _reported_events(already)
    first: dict[tuple, tuple[int, str]] = {}
    found = []
    for index, event in enumerate(raw_events):
        key = None if index in reported else _key(event)
        if key is None:
            continue
        if key in first:
            other_index, other_id = first[key]
            found.append({"path": f"events/{index}/date", "message": m(
                "one_per_year", type=key[0], year=key[1], of=_of(m, key), other=other_id, other_index=other_index)})
        else:
            first[key] = (index, event.get("id"))
    return found


def _key(event) -> tuple | None:
    """(type, year, the scoping values) of an event the rule governs, else None."""
    if not isinstance(event, dict):
        return None
    scoped_by = ONE_PER_YEAR.get(event.get("type"))
    date = event.get("date")
    if scoped_by is None or not isinstance(date, str) or not _DATE.match(date):
        return None
    values = tuple(event.get(name) for name in scoped_by)
    if not all(isinstance(value, str) for value in values):
        return None  # a project_id left out keys the event alone; a missing scope is reported elsewhere
    return (event["type"], int(date[:4])) + tuple(zip(scoped_by, values))


def _of(m: Messages, key: tuple) -> str:
    return "".join(m("one_per_year_of", field=name, value=value) for name, value in key[2:])


def _reported_events(already: list[dict]) -> set[int]:
    indices = set()
    for error in already:
        parts = error.get("path", "").split("/")
        if len(parts) > 1 and parts[0] == "events" and parts[1].isdigit():
            indices.add(int(parts[1]))
    return indices

