"""A progress bar on stderr for the long commands (``batch``, ``verify``, ``diff``), drawn only
when stderr is a terminal: redirected to a file or a pipe it writes nothing, so logs and
captured output stay clean. Stdlib only: one line rewritten with ``\\r``."""
from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int | None, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.label, self.total, self.done = label, total, 0
        isatty = getattr(self.stream, "isatty", None)
        self.shown = bool(isatty and isatty())
        self._last = None  # what was drawn: redrawn only when the line would change

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.shown:
            self._draw()

    def _line(self) -> str:
        if not self.total:
            return f"{self.label} {self.done}"
        filled = min(WIDTH, WIDTH * self.done // self.total)
        percent = min(100, 100 * self.done // self.total)
        return f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} {percent}%"

    def _draw(self) -> None:
        line = self._line()
        if line != self._last:
            self.stream.write("\r" + line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        """Clear the bar so that what follows on stderr starts on a clean line."""
        if self.shown and self._last is not None:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()
        self._last = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
