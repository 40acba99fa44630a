"""Settings read from the environment that several modules share the shape of."""
from __future__ import annotations

import os


def seconds_from_env(name: str, default: float, most: float, environ=None) -> float:
    """A duration in seconds in (0, ``most``]; ``default`` when unset or blank; a ValueError
    naming the setting otherwise, so that a typo stops the service instead of a silent default."""
    environ = os.environ if environ is None else environ
    text = str(environ.get(name, "")).strip()
    try:
        seconds = float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds in (0, {most:g}], not {text!r}") from None
    if not 0 < seconds <= most:
        raise ValueError(f"{name} must be in (0, {most:g}] seconds, not {text}")
    return seconds
