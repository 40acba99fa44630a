"""The figures the hostile tests measure; printed by conftest.py when the session ends."""
from __future__ import annotations

FIGURES: list[tuple[str, str, float, str]] = []  # (where, input, seconds, note)


def record(where: str, name: str, seconds: float, note: str = "") -> None:
    FIGURES.append((where, name, seconds, note))
