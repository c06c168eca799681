"""Account addresses and coin types of the Move chains (Aptos, Sui): one rule for both adapters.

An account is 32 bytes written in hex: ``0x`` + 64 digits, where leading zeros may be left out (``0x1``)
and published files sometimes drop the ``0x`` too; both SDKs pad such text to 32 bytes (Aptos
``AccountAddress.from_str_relaxed``, Sui ``normalizeSuiAddress``). A coin type is
``<address>::<module>::<Name>`` (no type arguments: the coins porscan reads have none).
"""

from __future__ import annotations

import re

_HEX = re.compile(r"[0-9a-fA-F]{1,64}")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_COIN_TYPE = re.compile(rf"(0x)?([0-9a-fA-F]{{1,64}})::({_IDENT})::({_IDENT})")


def account(text: str, prefixes: tuple[str, ...] = ("0x",)) -> str | None:
    """``0x`` + 64 lower-case hex digits, or None. ``prefixes``: how ``0x`` may be written (Aptos:
    lower-case only, as its SDKs parse it; Sui lower-cases the text first, so ``0X`` too)."""
    t = text.strip()
    if t[:2] in prefixes:
        t = t[2:]
    return "0x" + t.lower().rjust(64, "0") if _HEX.fullmatch(t) else None


def coin_type(text: str, *, short: bool, need_0x: bool = True) -> str | None:
    """``<address>::<module>::<Name>`` with the address in full (``short`` False) or without leading zeros
    (``short``: as the Aptos API prints a type), or None when ``text`` is not one."""
    m = _COIN_TYPE.fullmatch(text.strip())
    if m is None or (need_0x and not m.group(1)):
        return None
    digits = m.group(2).lower()
    digits = digits.lstrip("0") or "0" if short else digits.rjust(64, "0")
    return f"0x{digits}::{m.group(3)}::{m.group(4)}"
