"""The figures of Chinese legal text, and every number of a ruleset checked against them.

``figures(text)`` reads the set of figures a phrase states, each normalised to
``Decimal`` in base units: money in yuan (``20万元`` → 200000 CNY, ``15亿元``,
``2000万美元`` → 20000000 USD), shares as fractions (``20%`` → 0.20,
``百分之二十`` → 0.20, ``20个百分点`` → 0.20, ``减半`` → 0.5), multiples
(``一倍`` → 1, ``1∶1`` → 1), counts (``前35名``, ``两位``, ``3年``, ``一次``,
``首次`` (the first time is once), ``5家``, plain numbers such as ``1000至5000吨``) and dates (``2022年1月1日`` →
2022-01-01, which also states the year 2022). Arabic, full-width and Chinese
numerals (一、两、十五、二十、百亿) are read; a Chinese numeral counts only when a
unit follows it (``一事一议``, ``一定``, ``一批`` state nothing). In a range
(``1000至5000吨``, ``10至20万元``) a bare first bound takes the unit of the
second. ``不超过/最高/以上/以下`` are not read: the check wants the set of
figures stated, not their sense.

``figure_problems(raw, vocab)`` returns ``(path, reason)`` for every number of
a ruleset file that is neither stated in the words it cites nor declared by a
reading it lists (``readings: {name: {en, zh, figures: ["0.75", "2022"]}}``):

- a measure's fixed ``amount`` (also ``amount: {by: …}`` tables), ``cases``
  amounts, a bare-number ``amount_max``, the numbers in ``formula`` /
  ``amount_max`` / ``floor`` formulas, ``split`` shares, and every numeric
  literal or reference offset of its condition, join, exception and case tests.
  Its words are its ``cites`` and those of its conditions and exceptions (any
  of them); its readings are those it lists.
- a cap's ``amount``, ``count`` and ``span``. Its words are its ``cites`` and
  the words of the measures of this file it counts; its reading is its
  ``reading``.
- an eligibility condition's numeric literals, against its own and the
  eligibility article's ``cites``, and its ``readings``.
- the ``effective`` window's ``from`` and ``until`` (when set), against the
  dates of ``effective.cites``, and its ``reading``; and the other way round,
  every date those words state must be the window's ``from`` or ``until`` (an
  open window whose words say 执行至2025年12月31日止 is refused).

A figure matches by kind: money against money figures of its currency (USD
for a field whose name contains ``usd``, else the outcome's currency); a
``decimal`` field against shares, multiples and counts (``5000吨``); a split
share against shares and multiples; a formula number against shares,
multiples and money (``min(…, 5000000)``), never a count, so ``一次性`` does
not make ``amount * 1`` stated; an ``int`` field, cap count or span, or
reference offset against counts; a ``date`` field or window date against
dates. A figure a reading declares matches by
value whatever its kind.

Exempt, because they state nothing the words could state (each is a
deliberate choice, keep the list short):

- ``0`` anywhere in a test or formula: the "not set" value of dates and
  counts (``hte_since: 0``, ``gt: 0``) and the floor of ``max(0, …)``.
- ``1`` opening a parenthesised sum or difference in a formula, ``(1 + g +
  0.20)``: the base that a growth rate is added to. ``amount * 1`` is NOT
  exempt: a 1:1 rate is a figure (``1∶1``) or a reading.
- a trivial lower bound of a count, ``gte: 1`` (ranks and counts start at 1).
- booleans, enum and string values, and references without an offset.
- a one-year offset of a year or date reference (``@trigger.year-1``,
  ``@self.date+10000``): "the year before", "within a year". Longer offsets
  are checked as a count of years (``+20000`` → 2).
- a reference offset may be one less than the stated count, because an
  inclusive bound reaches N−1 from its start: ``连续3年`` is ``year ≥
  @trigger.year-2``, ``末2位`` is ``rank ≥ @self.list_size-1``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from .conditions import parse_value, Ref

MONEY, SHARE, MULTIPLE, COUNT, DATE = "money", "share", "multiple", "count", "date"


@dataclass(frozen=True)
class Figure:
    value: Any  # Decimal, or "YYYY-MM-DD" for a date
    kind: str  # MONEY, SHARE, MULTIPLE, COUNT or DATE
    unit: str = ""  # CNY / USD for money; 年, 名, 位, … for a count

    def __str__(self) -> str:
        if self.kind == MONEY:
            return f"{_plain(self.value)} {self.unit}"
        if self.kind == SHARE:
            return f"{_plain(self.value)} (share)"
        if self.kind == MULTIPLE:
            return f"{_plain(self.value)}×"
        return f"{self.value}{self.unit}" if self.kind == COUNT else str(self.value)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


# -- reading the words ---------------------------------------------------------

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．％：∶", "0123456789.%::")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_SMALL = {"十": 10, "百": 100, "千": 1000}
_CN_LARGE = {"万": 10_000, "亿": 100_000_000}
_CN = "零〇一二两三四五六七八九十百千万亿"
_NUMBER = rf"(?:\d+(?:\.\d+)?|[{_CN}]+)"
# a unit after a number; money multipliers are part of the unit (万元, 亿美元)
_UNIT = r"(?P<unit>个百分点|%|倍|[万亿千百]?(?:美元|元)|[万亿](?![元美])|年|名|位|家|次|个|项|吨|人|户|岁|天|日|月)?"
_TOKEN = re.compile(rf"(?P<pct>百分之)?(?P<num>{_NUMBER}){_UNIT}")
_RANGE = re.compile(r"^(?:至|到|—|－|-|~|～)$")
_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_RATIO = re.compile(r"(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)")
_WORDS = {"减半": Figure(Decimal("0.5"), SHARE), "首次": Figure(Decimal(1), COUNT, "次"), "翻番": Figure(Decimal(2), MULTIPLE), "翻一番": Figure(Decimal(2), MULTIPLE)}
_MULTIPLIER = {"": 1, "千": 1000, "百": 100, "万": 10_000, "亿": 100_000_000}


def chinese_number(text: str) -> int | None:
    """``二十`` → 20, ``十五`` → 15, ``两`` → 2, ``百`` → 100, ``三千五百`` → 3500; None if not a numeral."""
    if not text or any(ch not in _CN for ch in text):
        return None
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_SMALL:
            section += (1 if digit is None else digit) * _CN_SMALL[ch]
            digit = None
        else:  # 万 / 亿 close a section
            section += digit or 0
            total = (total + section) * _CN_LARGE[ch]
            section, digit = 0, None
    return total + section + (digit or 0)


def normalise(text: str) -> str:
    """Whitespace removed, full-width digits and signs made ASCII."""
    return re.sub(r"\s+", "", text).translate(_FULL_WIDTH)


def figures(text: str | None) -> set[Figure]:
    """The set of figures ``text`` states (see the module docstring)."""
    if not text:
        return set()
    text = normalise(text)
    found: set[Figure] = set()
    for match in _DATE.finditer(text):
        year, month, day = (int(g) for g in match.groups())
        found.add(Figure(f"{year:04d}-{month:02d}-{day:02d}", DATE))
        found.add(Figure(Decimal(year), COUNT, "年"))
    text = _DATE.sub("｜", text)  # a date's month and day are not counts
    for match in _RATIO.finditer(text):
        left, right = Decimal(match[1]), Decimal(match[2])
        if right:
            found.add(Figure(left / right, MULTIPLE))
    text = _RATIO.sub("｜", text)
    for word, figure in _WORDS.items():
        if word in text:
            found.add(figure)
    tokens = list(_TOKEN.finditer(text))
    for k, token in enumerate(tokens):
        unit = token["unit"] or ""
        following = tokens[k + 1] if k + 1 < len(tokens) else None
        if not unit and not token["pct"] and following is not None and following["unit"] \
                and _RANGE.match(text[token.end():following.start()]):
            unit = following["unit"]  # 1000至5000吨, 10至20万元: the first bound takes the second's unit
        figure = _figure(token["num"], unit, bool(token["pct"]))
        if figure is not None:
            found.add(figure)
    return found


def _figure(number: str, unit: str, percent_word: bool) -> Figure | None:
    if number[0].isdigit():
        value = Decimal(number)
    else:
        cn = chinese_number(number)
        if cn is None or not (unit or percent_word):
            return None  # 一事一议, 一定, 统一: a Chinese numeral without a unit states nothing
        value = Decimal(cn)
    if percent_word or unit in ("%", "个百分点"):
        return Figure(value / 100, SHARE)
    if unit == "倍":
        return Figure(value, MULTIPLE)
    if unit.endswith("元"):
        return Figure(value * _MULTIPLIER[unit[:-2] if unit.endswith("美元") else unit[:-1]],
                      MONEY, "USD" if unit.endswith("美元") else "CNY")
    if unit in _CN_LARGE:
        return Figure(value * _CN_LARGE[unit], COUNT)
    return Figure(value, COUNT, unit)


def declared(text: str) -> Figure:
    """A figure a reading declares: a date ``YYYY-MM-DD`` or a number."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return Figure(text, DATE)
    return Figure(Decimal(text), COUNT)


# -- checking a ruleset ------------------------------------------------------------

_ACCEPTS = {  # what a number of the file may match, by what it is
    MONEY: (MONEY,),
    "quantity": (SHARE, MULTIPLE, COUNT),  # a decimal field: a share, or a measure such as 5000吨
    "share": (SHARE, MULTIPLE),
    "formula": (SHARE, MULTIPLE, MONEY),
    COUNT: (COUNT,),
    DATE: (DATE,),
}


@dataclass
class _Scope:
    """The words and declared figures a number may be checked against."""
    stated: set
    declared: set
    readings: tuple

    def holds(self, value: Any, kind: str, currency: str = "CNY") -> bool:
        for figure in self.stated:
            if figure.kind in _ACCEPTS[kind] and figure.value == value and \
                    (figure.kind != MONEY or kind != MONEY or figure.unit == currency):
                return True
        return any(figure.value == value for figure in self.declared)

    def why_not(self, what: str, shown: str, kind: str) -> str:
        stated = sorted(str(f) for f in self.stated if f.kind in _ACCEPTS[kind])
        words = f"the cited words state {', '.join(stated)}" if stated else "the cited words state no figure of that kind"
        if self.readings:
            told = f"no reading it lists ({', '.join(self.readings)}) declares it under figures"
        else:
            told = "it lists no reading that could declare it under figures"
        return f"{what} {shown} is not a figure of its words: {words}; {told}"


def figure_problems(raw: dict, vocab) -> list[tuple[str, str]]:
    """Every number of the ruleset ``raw`` that its cited words do not state and no reading declares."""
    return _FigureCheck(raw, vocab).run()


class _FigureCheck:
    def __init__(self, raw: dict, vocab):
        self.raw = raw
        self.vocab = vocab
        self.readings = raw.get("readings") or {}
        self.problems: list[tuple[str, str]] = []

    def run(self) -> list[tuple[str, str]]:
        self.effective()
        self.eligibility()
        for i, measure in enumerate(self.raw.get("measures") or []):
            self.measure(f"/measures/{i}", measure)
        for i, cap in enumerate(self.raw.get("caps") or []):
            self.cap(f"/caps/{i}", cap)
        return self.problems

    def scope(self, phrases: Iterable[str | None], reading_names: Iterable[str]) -> _Scope:
        stated: set = set()
        for phrase in phrases:
            stated |= figures(phrase)
        names = tuple(n for n in reading_names if n)
        told = set()
        for name in names:
            for text in (self.readings.get(name) or {}).get("figures") or ():
                told.add(declared(str(text)))
        return _Scope(stated, told, names)

    def check(self, scope: _Scope, where: str, what: str, value: Any, kind: str, currency: str = "CNY") -> None:
        shown = str(value)
        if kind != DATE:
            try:
                value = Decimal(str(value))
            except InvalidOperation:
                return
        if not scope.holds(value, kind, currency):
            self.problems.append((where, scope.why_not(what, shown, kind)))

    # -- the window ---------------------------------------------------------
    def effective(self) -> None:
        eff = self.raw.get("effective") or {}
        scope = self.scope([eff.get("cites")], [eff.get("reading")])
        for key in ("from", "until"):
            if eff.get(key):
                self.check(scope, f"/effective/{key}", f"effective {key}", str(eff[key]), DATE)
        window = {str(eff.get("from")), str(eff.get("until"))}
        for figure in sorted((f for f in scope.stated if f.kind == DATE and f.value not in window), key=str):
            # 执行至2025年12月31日止 with until: null keeps law in force the words end
            self.problems.append(("/effective", f"the cited words state the date {figure.value}, "
                                                "which is neither the window's from nor its until"))

    # -- eligibility -----------------------------------------------------------
    def eligibility(self) -> None:
        elig = self.raw.get("eligibility")
        if not elig:
            return
        for i, cond in enumerate(elig.get("conditions") or []):
            scope = self.scope([cond.get("cites"), elig.get("cites")], cond.get("readings") or ())
            if "applicant" in cond:
                self.test(scope, f"/eligibility/conditions/{i}/applicant", cond["applicant"], self.vocab.applicant_field_type)

    # -- measures ---------------------------------------------------------------
    def measure_words(self, m: dict) -> list:
        return [m.get("cites")] + [c.get("cites") for c in m.get("conditions") or []] \
            + [u.get("cites") for u in m.get("unless") or []]

    def measure(self, where: str, m: dict) -> None:
        scope = self.scope(self.measure_words(m), m.get("readings") or ())
        trigger = self.event_types(m.get("trigger"))
        patterns = {"trigger": trigger}
        for k, join in enumerate(list(m.get("joins") or []) + ([m["join"]] if m.get("join") else [])):
            patterns[join.get("alias")] = self.event_types(join.get("event"))
            if join.get("match"):
                self.test(scope, f"{where}/joins/{k}/match", join["match"], patterns[join["alias"]])
        for k, cond in enumerate(m.get("conditions") or []):
            field_type = patterns.get(cond.get("of", "trigger"))
            if field_type is not None:
                self.test(scope, f"{where}/conditions/{k}/test", cond.get("test"), field_type)
        for k, unless in enumerate(m.get("unless") or []):
            self.test(scope, f"{where}/unless/{k}/where", unless.get("where"), self.event_types(unless.get("event")))
        self.outcome(scope, f"{where}/outcome", m.get("outcome") or {}, trigger)

    def outcome(self, scope: _Scope, where: str, outcome: dict, trigger) -> None:
        currency = outcome.get("currency", "CNY")
        amount = outcome.get("amount")
        if isinstance(amount, dict):
            for key, value in amount.items():
                if key != "by":
                    self.check(scope, f"{where}/amount/{key}", f"amount for {key}", value, MONEY, currency)
        elif amount is not None:
            self.check(scope, f"{where}/amount", "amount", amount, MONEY, currency)
        for key in ("formula", "amount_max", "floor"):
            if outcome.get(key):
                self.formula(scope, f"{where}/{key}", key, str(outcome[key]), currency)
        for k, case in enumerate(outcome.get("cases") or []):
            cwhere = f"{where}/cases/{k}"
            if case.get("when"):
                self.test(scope, f"{cwhere}/when", case["when"], trigger)
            if case.get("amount") is not None:
                self.check(scope, f"{cwhere}/amount", "amount", case["amount"], MONEY, currency)
            for key in ("formula", "amount_max"):
                if case.get(key):
                    self.formula(scope, f"{cwhere}/{key}", key, str(case[key]), currency)
        for k, part in enumerate(outcome.get("split") or []):
            self.check(scope, f"{where}/split/{k}/share", "share", part["share"], "share")

    def formula(self, scope: _Scope, where: str, what: str, text: str, currency: str) -> None:
        tokens = re.findall(r"\d+(?:\.\d+)?|[a-z_][a-z0-9_]*|\S", text)
        if len(tokens) == 1 and re.fullmatch(r"\d+(?:\.\d+)?", tokens[0]):
            self.check(scope, where, what, tokens[0], MONEY, currency)  # amount_max: "5000000.00"
            return
        for k, token in enumerate(tokens):
            if not re.fullmatch(r"\d+(?:\.\d+)?", token) or Decimal(token) == 0:
                continue
            before = tokens[k - 1] if k else None
            after = tokens[k + 1] if k + 1 < len(tokens) else None
            if Decimal(token) == 1 and before == "(" and after in ("+", "-"):
                continue  # (1 + growth + 0.20): the base a rate is added to
            self.check(scope, where, f"{what} number", token, "formula")

    # -- tests ----------------------------------------------------------------------
    def event_types(self, event: str):
        if event not in self.vocab.events:
            return lambda f: None
        return lambda f, t=event: self.vocab.event_field_type(t, f)

    def test(self, scope: _Scope, where: str, test: Any, field_type) -> None:
        if not isinstance(test, dict):
            return
        for key, value in test.items():
            here = f"{where}/{key}"
            if key in ("all", "any") and isinstance(value, list):
                for k, sub in enumerate(value):
                    self.test(scope, f"{here}/{k}", sub, field_type)
            elif key == "not":
                self.test(scope, here, value, field_type)
            else:
                ops = value if isinstance(value, dict) else {"eq": value}
                for op, operand in ops.items():
                    operands = operand if isinstance(operand, list) else [operand]
                    for k, one in enumerate(operands):
                        path = f"{here}/{op}" + (f"/{k}" if isinstance(operand, list) else "")
                        self.literal(scope, path, key, op, one, field_type(key))

    def literal(self, scope: _Scope, where: str, field_name: str, op: str, value: Any, kind: str | None) -> None:
        if isinstance(value, bool) or value is None or kind not in ("money", "decimal", "int", "date"):
            return
        try:
            value = parse_value(value)
        except ValueError:
            return  # the loader reports a bad reference
        if isinstance(value, Ref):
            self.offset(scope, where, field_name, value, kind)
            return
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = None
        if number == 0 or (kind == "int" and op == "gte" and number == 1):
            return  # not set / has one; counts start at 1
        if kind == "money":
            currency = "USD" if "usd" in field_name else "CNY"
            self.check(scope, where, f"{field_name} threshold", value, MONEY, currency)
        elif kind == "decimal":
            self.check(scope, where, f"{field_name} threshold", value, "quantity")
        elif kind == "int":
            self.check(scope, where, f"{field_name} threshold", value, COUNT)
        else:
            self.check(scope, where, f"{field_name} date", _iso(value), DATE)

    def offset(self, scope: _Scope, where: str, field_name: str, ref: Ref, kind: str) -> None:
        step = abs(ref.offset)
        if not step:
            return
        if kind == "date":
            if step % 10000:
                self.check(scope, where, f"offset of @{ref.alias}.{ref.field}", step, COUNT)
                return
            step //= 10000  # whole years
        years = kind == "date" or field_name == "year" or field_name.endswith("_year")
        if years and step == 1:
            return  # the year before, within a year
        if scope.holds(Decimal(step), COUNT) or scope.holds(Decimal(step + 1), COUNT):
            return
        unit = " year(s)" if years else ""
        self.problems.append((where, scope.why_not(f"offset of @{ref.alias}.{ref.field}", f"{ref.offset:+d}{unit}", COUNT)))

    # -- caps ---------------------------------------------------------------------------
    def cap(self, where: str, cap: dict) -> None:
        phrases = [cap.get("cites")]
        for m in self.raw.get("measures") or []:
            if m["id"] in cap.get("counts", ()):
                phrases += self.measure_words(m)
        scope = self.scope(phrases, [cap.get("reading")])
        if cap.get("amount") is not None:
            self.check(scope, f"{where}/amount", "cap amount", cap["amount"], MONEY)
        for key in ("count", "span"):
            if cap.get(key) is not None:
                self.check(scope, f"{where}/{key}", f"cap {key}", cap[key], COUNT)


def _iso(value: Any) -> str:
    text = str(value)
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
