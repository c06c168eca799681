"""Exact amounts: Decimal in coin units at the edges, integers in base units inside.

Arithmetic runs in a context that traps ``Inexact``: a sum that would round raises instead.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, InvalidOperation, ROUND_DOWN, ROUND_HALF_UP
from typing import overload

EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
_ROUNDING = Context(prec=200)  # for deliberate rounding to a published precision


class AmountError(ValueError):
    pass


MAX_DIGITS = 90  # 78 digits hold any uint256; more is not an amount
_PLAIN_NUMBER = re.compile(r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # ASCII digits only
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")


def parse_amount(text: str) -> Decimal:
    """Parse a published amount (leading/trailing spaces allowed); reject NaN/inf/exponents abuse."""
    t = text.strip()
    if len(t) <= 60 and _PLAIN_NUMBER.fullmatch(t):  # the common case: a plain decimal within range
        return Decimal(t)
    if not t:
        raise AmountError("empty amount")
    if not _PLAIN_NUMBER.fullmatch(t):
        if t[:1] == "-" and _PLAIN_NUMBER.fullmatch(t[1:]):
            raise AmountError(f"negative amount: {t!r}")
        if not any(w in t.lower() for w in ("nan", "inf")) and not _EXPONENT.fullmatch(t):
            raise AmountError(f"not a number: {t!r}")
    if len(t) > MAX_DIGITS and sum(c.isdigit() for c in t) > MAX_DIGITS:
        raise AmountError(f"amount has more than {MAX_DIGITS} digits: {t[:30]!r}...")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise AmountError(f"not a number: {t!r}") from None
    if not value.is_finite():
        raise AmountError(f"not a finite number: {t!r}")
    if value.is_signed():  # "-1e5" passes the exponent pattern above: the sign is checked here
        raise AmountError(f"negative amount: {t!r}")
    if value.adjusted() > 60 or (value != 0 and value.adjusted() < -60):
        raise AmountError(f"amount out of range: {t!r}")
    return value


def to_base_units(amount: Decimal, decimals: int) -> int | None:
    """Coin units -> integer base units; ``None`` if the amount has more decimals than the coin."""
    scaled = EXACT.scaleb(amount, decimals)
    integral = scaled.to_integral_value(rounding=ROUND_DOWN)
    if integral != scaled:
        return None
    return int(integral)


def text_to_base_units(text: str, decimals: int, parsed: bool = False) -> int | None:
    """Base units straight from an amount's text (fast path); same answer as to_base_units(parse_amount(text)).

    ``parsed``: the caller knows ``parse_amount(text)`` succeeded, so a text of at most 60 characters
    without an exponent is a plain number (parse_amount's own fast path matched it) and needs no
    second pattern match."""
    t = text.strip()
    if "e" in t or "E" in t or not ((parsed and len(t) <= 60) or _PLAIN_NUMBER.fullmatch(t)):
        return to_base_units(parse_amount(t), decimals)
    whole, _, frac = t.lstrip("+").partition(".")
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        return None
    return int((whole or "0") + frac.ljust(decimals, "0"))


def from_base_units(units: int, decimals: int) -> Decimal:
    return EXACT.scaleb(Decimal(units), -decimals)


def add(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.add(a, b)


def places(text: str) -> int:
    """Number of decimals a published figure shows (``"5436.9044"`` -> 4)."""
    t = text.strip()
    return len(t) - t.index(".") - 1 if "." in t else 0


SIGNIFICANT_KEPT = 15  # what a spreadsheet or a binary double keeps of a figure


def shown_places(text: str) -> int:
    """The decimals a published figure is precise to: those it shows, but never past its 15th
    significant digit (HTX prints ``308622620933812.00``: a double's digits, then two zeros). May be
    negative: ``123456789012345678`` is precise to hundreds."""
    t = text.strip()
    decimals = places(t)
    if len(t) <= SIGNIFICANT_KEPT:  # too short to show more significant digits than are kept
        return decimals
    digits = t.replace(".", "").lstrip("+-").lstrip("0")
    excess = len(digits) - SIGNIFICANT_KEPT
    return decimals - excess if excess > 0 else decimals


def round_to(value: Decimal, decimals: int, truncate: bool = False) -> Decimal:
    q = Decimal(1).scaleb(-decimals)
    return value.quantize(q, rounding=ROUND_DOWN if truncate else ROUND_HALF_UP, context=_ROUNDING)


SHOWN_PLACES = 6  # ratios and coverage as shown anywhere (report, feed, alerts, dashboard)


@overload
def shown_fraction(value: Decimal, places: int = ...) -> Decimal: ...


@overload
def shown_fraction(value: None, places: int = ...) -> None: ...


def shown_fraction(value: Decimal | None, places: int = SHOWN_PLACES) -> Decimal | None:
    """The one rounding rule for a ratio or a coverage shown to a user: DOWN, so 0.9999997 reads
    0.999999 and never 1 (a coverage of 1 must mean every row was read; --min-ratio and the alert
    rules compare the exact values, not these)."""
    return None if value is None else value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def shown_percent(value: Decimal, places: int = 2) -> str:
    """A ratio or coverage as a percent, by the same rule (down): 1.0102999 -> "101.02%", never
    "101.03%" in one place and "101.02%" in another."""
    pct = shown_fraction(value, places + 2).scaleb(2)
    return f"{pct:.{places}f}%"


def count_percent(part: int, whole: int) -> str:
    """A share of rows (rows read of rows expected, and the like) as every page, alert and the rubric
    word it: a percent to a tenth, rounded down by the same rule, whole without its ".0"
    (``50, 62`` -> ``"80.6%"``, ``4999, 5000`` -> ``"99.9%"``, never ``"100%"``)."""
    tenths = shown_fraction(Decimal(part) / Decimal(whole), 3).scaleb(2)
    return (f"{tenths:.0f}" if tenths == tenths.to_integral_value() else f"{tenths:.1f}") + "%"


def coverage(read: int | None, expected: int | None) -> Decimal | None:
    """Rows read / rows expected as shown; None when nothing was expected (not 0, not 1)."""
    if read is None or not expected:
        return None
    return shown_fraction(Decimal(read) / Decimal(expected))


def fmt(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros (``Decimal('1E+2')`` -> ``"100"``)."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def half_ulp(decimals: int) -> Decimal:
    """Half a unit in the last place of a figure shown with ``decimals`` decimals: how far a
    rounded figure may be from the value it stands for."""
    return Decimal(5).scaleb(-decimals - 1)


def rounding_slack(places_count: dict[int, int]) -> Decimal:
    """How far a sum of published figures may be from the sum of the values they round:
    half a unit in the last place of each (``places_count``: decimals shown -> figures)."""
    return exact_sum(EXACT.multiply(half_ulp(decimals), n) for decimals, n in places_count.items())


def exact_sum(values) -> Decimal:
    """Sum of Decimals in the exact context (the default context rounds to 28 digits)."""
    total = Decimal(0)
    for v in values:
        total = EXACT.add(total, v)
    return total
