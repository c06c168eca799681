"""Liability figures, the set a file yields, the error type and the small helpers every format shares.

Everything here is pure: bytes/text in, frozen dataclasses out. Amounts are ``Decimal`` built from
integers or decimal text, never from floats.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from ...errors import InputError
# provenance: what stands behind a figure (the vocabulary lives with the domain records)
from ...records import (MERKLE_SUM, PROVENANCE_RANK, PROVENANCES, SELF_REPORTED, ZK_PUBLISHED, ZK_VERIFIED,  # noqa: F401
                        provenance_name)
from .proofs import ProofCheck

# units of ``Liability.amount``
COIN = "coin"  # coin units of the asset (1.5 BTC)
USD_SCALED = "usd-scaled"  # integer USD value at a scale the publisher does not state (OKX zk-STARK)


@dataclass(frozen=True, slots=True)
class Liability:
    asset: str  # upper-case asset symbol (scanner/config/assets.toml vocabulary where it knows the asset)
    amount: Decimal  # exact; net liabilities (equity - debt where the format has both)
    provenance: str  # one of PROVENANCES
    source: str  # format-specific origin, e.g. "okx-zk-stark-v1", "binance-cex-assets-info"
    file: str  # path of the file the figure came from
    detail: str = ""  # the field / public input it came from, scale applied, root hash, ...
    unit: str = COIN  # COIN, or USD_SCALED (not comparable with on-chain coin amounts)
    verified: bool = False  # porscan itself recomputed the commitment binding this figure


@dataclass(frozen=True, slots=True)
class LiabilitySet:
    liabilities: tuple[Liability, ...]
    totals: dict[str, Decimal]  # set-wide figures, e.g. OKX v2 total equity/debt, Binance USD sums
    warnings: tuple[str, ...]
    file_sha256: str  # SHA-256 of the main input file (hex)
    format: str  # one of FORMATS in scanner.pipeline.liabilities
    meta: dict[str, str] = field(default_factory=dict)  # root hash, coin config, round, ...
    inputs: tuple[tuple[str, str], ...] = ()  # every file read: (path, sha256 hex)
    proofs: tuple[ProofCheck, ...] = ()  # what porscan concluded about each proof behind the figures

    def by_asset(self) -> dict[str, Liability]:
        return {item.asset: item for item in self.liabilities}


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one format's parser read from one file, before the loader makes it a LiabilitySet."""

    items: list[Liability]
    warnings: list[str]
    meta: dict[str, str]
    totals: dict[str, Decimal] = field(default_factory=dict)  # set-wide figures the format publishes
    read: list[Path] = field(default_factory=list)  # further files read (zk-STARK v1: config, batches)
    referenced: list[tuple[str, str]] = field(default_factory=list)  # (path, sha256) of proofs a file cites


class LiabilitiesError(InputError, ValueError):
    """A liabilities file that cannot be read: names the file, the line or JSON path, and the field.

    ``str(err)`` reads ``liab.csv:7: field amount: '1,2' is not a decimal number``.
    """

    def __init__(self, file: str, where: int | str | None, field: str | None, message: str):
        self.file = str(file)
        self.line = where if isinstance(where, int) else None
        self.json_path = where if isinstance(where, str) else None
        self.field = field
        self.message = message
        loc = self.file if where is None else f"{self.file}:{where}"
        super().__init__(f"{loc}: field {field}: {message}" if field else f"{loc}: {message}")


# ---------------------------------------------------------------- helpers shared by the formats

ASSET_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_INT = re.compile(r"-?[0-9]+")


def read_text(path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LiabilitiesError(str(path), None, None, f"not UTF-8 text (byte {exc.start})") from exc
    return text.removeprefix("\ufeff")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


MAX_JSON_DEPTH = 256
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # whole strings (skipped) or brackets


def _too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting beyond ``limit``: refused before parsing, because the C decoder can overflow the C
    stack (a segfault, not a RecursionError) on hostile input such as 100k opening brackets."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        t = m.group()
        if t == "[" or t == "{":
            depth += 1
            if depth > limit:
                return True
        elif t == "]" or t == "}":
            depth -= 1
    return False


def parse_json(path: Path, text: str | None = None) -> Any:
    """JSON with exact numbers: floats as Decimal, ints as int; NaN/Infinity and duplicate keys rejected."""
    text = read_text(path) if text is None else text
    if _too_deep(text):
        raise LiabilitiesError(str(path), None, None, f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant,
                          object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise LiabilitiesError(str(path), exc.lineno, None,
                               f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    except (ValueError, RecursionError) as exc:
        raise LiabilitiesError(str(path), None, None, f"invalid JSON: {exc}") from exc


def jpath(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{parent}[{key!r}]"


def show(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decimal_text(text: str, file: str, where: int | str, field: str, *, signed: bool = False) -> Decimal:
    """A plain decimal number (``12``, ``0.5``); no exponent, sign (unless ``signed``), comma or space."""
    t = text.strip() if isinstance(text, str) else text
    body = t[1:] if signed and isinstance(t, str) and t.startswith("-") else t
    if not isinstance(t, str) or not _PLAIN_DECIMAL.fullmatch(body) or len(body) > 100:
        if isinstance(t, str) and t.startswith("-") and _PLAIN_DECIMAL.fullmatch(t[1:]):
            raise LiabilitiesError(file, where, field, f"{show(text)} is negative")
        raise LiabilitiesError(file, where, field, f"{show(text)} is not a decimal number")
    return Decimal(t)


def json_amount(value: Any, file: str, where: int | str, field: str) -> Decimal:
    """A JSON amount: a decimal string, a JSON integer or a JSON decimal (parsed as Decimal)."""
    if isinstance(value, bool):
        raise LiabilitiesError(file, where, field, f"{value!r} is not a decimal number")
    if isinstance(value, int):
        if value < 0:
            raise LiabilitiesError(file, where, field, f"{value} is negative")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > 60:
            raise LiabilitiesError(file, where, field, f"{value} is out of range")
        if value < 0:
            raise LiabilitiesError(file, where, field, f"{value} is negative")
        return value
    if isinstance(value, str):
        return decimal_text(value, file, where, field)
    raise LiabilitiesError(file, where, field, f"{show(value)} is not a decimal number")


def json_int(value: Any, file: str, where: str, field: str, *, signed: bool = False) -> int:
    """A JSON integer or an integer string (``"-1"`` only when ``signed``)."""
    if isinstance(value, bool):
        raise LiabilitiesError(file, where, field, f"{value!r} is not an integer")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str) and _SIGNED_INT.fullmatch(value.strip()) and len(value) < 200:
        result = int(value.strip())
    elif isinstance(value, Decimal):
        raise LiabilitiesError(file, where, field,
                               f"{value} is not an integer (fixed-point integer expected: wrong scale?)")
    else:
        raise LiabilitiesError(file, where, field, f"{show(value)} is not an integer")
    if result < 0 and not signed:
        raise LiabilitiesError(file, where, field, f"{result} is negative")
    return result


def asset_symbol(raw: Any, file: str, where: int | str, field: str) -> str:
    sym = raw.strip().upper() if isinstance(raw, str) else None
    if not sym or not ASSET_RE.fullmatch(sym):
        raise LiabilitiesError(file, where, field, f"{show(raw)} is not an asset symbol")
    return sym


def unknown_assets_warning(assets: list[str]) -> str | None:
    """One warning naming the assets scanner/config/assets.toml does not know (they are kept as given)."""
    from scanner.config.assets import default_book

    book = default_book()
    known = {c.asset for c in (book.get(k) for k in book.decimals_map()) if c}
    unknown = [a for a in assets if a not in known]
    if not unknown:
        return None
    head = ", ".join(unknown[:12]) + (f" and {len(unknown) - 12} more" if len(unknown) > 12 else "")
    return f"{len(unknown)} asset(s) not in scanner/config/assets.toml (kept as given, no on-chain mapping): {head}"
