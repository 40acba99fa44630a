"""Arithmetic formulas of ruleset files, evaluated exactly in ``Decimal``.

Grammar: numbers, field names, ``+ - * /``, parentheses, ``min(a, b, …)`` and
``max(a, b, …)``. Numbers are read from their text, never through a float.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Callable

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[a-z_][a-z0-9_]*)|(?P<op>[-+*/(),]))")


class FormulaError(ValueError):
    pass


class Formula:
    def __init__(self, text: str):
        self.text = text
        self._tokens = self._tokenize(text)
        self._pos = 0
        self._program = self._expr()
        if self._pos != len(self._tokens):
            raise FormulaError(f"unexpected {self._tokens[self._pos][1]!r} in {text!r}")
        self.names = sorted(self._names)

    def __call__(self, values: dict[str, Decimal]) -> Decimal:
        return self._program(values)

    # -- parsing ---------------------------------------------------------
    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        self._names: set[str] = set()
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise FormulaError(f"cannot read {text[pos:]!r} in {text!r}")
            kind = match.lastgroup
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def _peek(self):
        return self._tokens[self._pos] if self._pos < len(self._tokens) else (None, None)

    def _take(self, expected: str | None = None):
        token = self._peek()
        if token[0] is None or (expected is not None and token[1] != expected):
            raise FormulaError(f"expected {expected or 'a term'} in {self.text!r}")
        self._pos += 1
        return token

    def _expr(self) -> Callable:
        left = self._term()
        while self._peek()[1] in ("+", "-"):
            op = self._take()[1]
            right = self._term()
            left = (lambda a, b: lambda v: a(v) + b(v))(left, right) if op == "+" else (lambda a, b: lambda v: a(v) - b(v))(left, right)
        return left

    def _term(self) -> Callable:
        left = self._factor()
        while self._peek()[1] in ("*", "/"):
            op = self._take()[1]
            right = self._factor()
            left = (lambda a, b: lambda v: a(v) * b(v))(left, right) if op == "*" else (lambda a, b: lambda v: a(v) / b(v))(left, right)
        return left

    def _factor(self) -> Callable:
        kind, text = self._take()
        if kind == "num":
            number = Decimal(text)
            return lambda v: number
        if text == "-":
            inner = self._factor()
            return lambda v: -inner(v)
        if text == "(":
            inner = self._expr()
            self._take(")")
            return inner
        if kind == "name" and text in ("min", "max") and self._peek()[1] == "(":
            self._take("(")
            args = [self._expr()]
            while self._peek()[1] == ",":
                self._take(",")
                args.append(self._expr())
            self._take(")")
            pick = min if text == "min" else max
            return lambda v: pick(a(v) for a in args)
        if kind == "name":
            self._names.add(text)

            def lookup(values, name=text):
                if name not in values:
                    raise FormulaError(f"no value for {name!r}")
                return values[name]
            return lookup
        raise FormulaError(f"unexpected {text!r} in {self.text!r}")
