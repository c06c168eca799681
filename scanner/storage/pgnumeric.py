"""PostgreSQL's binary ``numeric`` form, for the connections that store chunks by COPY.

A scan stores four base-unit amounts per balance (published, on chain, staked, unbonding), and
asyncpg encodes each int by way of ``Decimal(v).as_tuple()``: ~1.6-2.4 us a value, the largest item
of a scan's own process. Here an int goes to base-10000 digits by ``divmod`` (~0.6-0.8 us, a zero
~0.2 us) and a Decimal by the same integer arithmetic: exact, no context, no rounding.

The wire form (PostgreSQL's numeric_send/numeric_recv): int16 ndigits, int16 weight (base-10000
exponent of the first digit), uint16 sign, uint16 dscale (decimal digits after the point), then
ndigits uint16 digits, each 0-9999, most significant first. PostgreSQL strips leading and trailing
zero digits on receipt and checks the column's precision, as for any client.

Only the writers' connections use this (storage/postgres.py): reads keep asyncpg's decoder, which is
faster than any decoder in Python. :func:`decode_numeric` is exact, for those connections' reads.
"""

from __future__ import annotations

import struct
from decimal import Decimal

NBASE = 10_000
NBASE2 = NBASE * NBASE
DEC_DIGITS = 4
MAX_DSCALE = 0x3FFF
POS, NEG, NAN, PINF, NINF = 0x0000, 0x4000, 0xC000, 0xD000, 0xF000
_HEAD = struct.Struct(">hhHH")  # ndigits, weight, sign, dscale
ZERO = _HEAD.pack(0, 0, POS, 0)
_PACK: dict[int, struct.Struct] = {}
_SPECIAL = {NAN: Decimal("NaN"), PINF: Decimal("Infinity"), NINF: Decimal("-Infinity")}


def _packer(n: int) -> struct.Struct:
    p = _PACK.get(n)
    if p is None:
        p = _PACK[n] = struct.Struct(f">hhHH{n}H")
    return p


def _pack(value: int, sign: int, frac_groups: int, dscale: int) -> bytes:
    """``value`` (>= 0) in base 10,000 with ``frac_groups`` of its digits after the point."""
    if not value:
        return _HEAD.pack(0, 0, POS, dscale)
    # two base-10000 digits per step of big-int division (an amount in wei has 5-6): ~20 % faster
    digits: list[int] = []
    while value >= NBASE2:
        value, d = divmod(value, NBASE2)
        hi, lo = divmod(d, NBASE)
        digits += (lo, hi)
    if value >= NBASE:
        hi, lo = divmod(value, NBASE)
        digits += (lo, hi)
    else:
        digits.append(value)  # >= 1: the value was not 0, and a division left at least 1
    digits.reverse()
    n = len(digits)
    if n > 0x7FFF:
        raise ValueError(f"numeric value of {n} base-10000 digits is too long for PostgreSQL")
    return _packer(n).pack(n, n - 1 - frac_groups, sign, dscale, *digits)


def encode_numeric(v: int | Decimal) -> bytes:
    """An int or a finite Decimal in PostgreSQL's binary numeric form, exactly."""
    if v.__class__ is int:
        if not v:
            return ZERO
        if v > 0:
            return _pack(v, POS, 0, 0)
        return _pack(-v, NEG, 0, 0)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"cannot store {v} as a numeric amount")
        sign, digits, exponent = v.as_tuple()
        assert isinstance(exponent, int)
        coeff = int("".join(map(str, digits))) if digits else 0
        if exponent >= 0:
            return _pack(coeff * 10**exponent, NEG if sign and coeff else POS, 0, 0)
        dscale = -exponent
        if dscale > MAX_DSCALE:
            raise ValueError(f"numeric value {v} has more than {MAX_DSCALE} decimal places")
        groups = -(-dscale // DEC_DIGITS)
        # the digits after the point filled to whole base-10000 digits with zeros
        return _pack(coeff * 10 ** (groups * DEC_DIGITS - dscale), NEG if sign and coeff else POS, groups, dscale)
    if isinstance(v, int) and not isinstance(v, bool):
        return encode_numeric(int(v))
    raise TypeError(f"numeric amount must be an int or a Decimal, got {type(v).__name__}")


def decode_numeric(b: bytes) -> Decimal:
    """PostgreSQL's binary numeric as a Decimal of the value asyncpg gives, with the places PostgreSQL
    shows (dscale): 10000 as Decimal('10000'), where asyncpg may give Decimal('1E+4')."""
    n, weight, sign, dscale = _HEAD.unpack_from(b)
    if sign not in (POS, NEG):
        return _SPECIAL[sign]
    value = 0
    for d in struct.unpack_from(f">{n}H", b, 8):
        value = value * NBASE + d
    # value * 10000 ** (weight - n + 1), shown with dscale places: as an integer of units of 10**-dscale
    shift = DEC_DIGITS * (weight - n + 1) + dscale
    scaled = value * 10**shift if shift >= 0 else value // 10**-shift  # digits beyond dscale are zero padding
    return Decimal(f"{'-' if sign == NEG and scaled else ''}{scaled}E-{dscale}")
