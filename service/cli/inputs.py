"""Reading the files a command is given, so that a missing, unreadable or malformed file is
one line naming it (``InputError``, exit 2) rather than a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class InputError(Exception):
    """A file the command was given cannot be used; the message names it."""


def rulesets_dir(text: str) -> Path:
    """argparse type of ``--rulesets``: a directory that exists (a mistyped one would load an
    empty registry and decide nothing, silently)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return path


def read_text(file: str | Path) -> str:
    """The file's text (``-``: stdin)."""
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{file}: is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{file}: not readable (permission denied)") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{file}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise InputError(f"{file}: {error.strerror or error}") from None


def read_json(file: str | Path):
    text = read_text(file)
    try:
        return json.loads(text)
    except ValueError as error:
        raise InputError(f"{'stdin' if str(file) == '-' else file}: not valid JSON: {error}") from None


def one_line(error: BaseException) -> str:
    """An error message on one line: a problem list a loader joined with newlines, shown in brief."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(error).__name__
    return f"{lines[0]} (and {len(lines) - 1} more line(s))"
