"""porscan's simple liabilities format: one row per asset, as CSV or JSON.

CSV (UTF-8, comma-separated, a header row first; blank lines and lines starting with ``#`` ignored)::

    asset,amount,source,proven,proof
    BTC,21000.5,okx report 2024-10,true,zk/trunk-btc.json
    USDT,1250000000,okx report 2024-10,false,

JSON: ``{"format": "porscan.liabilities/1", "liabilities": [{"asset": "BTC", "amount": "21000.5",
"source": "...", "proven": true, "proof": "..."}]}`` (or just the list).

Columns / keys (header names are case-insensitive; any other column is an error):

* ``asset`` (required): the asset symbol as in ``scanner/config/assets.toml`` (``USDT``, not ``USDT-TRC20``: a
  coin key of another asset is refused, liabilities are per asset). One row per asset.
* ``amount`` (required): net liabilities in **coin units**, a plain non-negative decimal (``12.5``; no
  exponent, sign, thousands separator or decimal comma); JSON numbers are read exactly. Exchange
  ledgers may carry more decimals than the chain (OKX: USDT to 8 places), so precision is not limited.
* ``source`` (optional): free text saying where the figure comes from; kept in ``detail``.
* ``proven`` (optional): ``true``/``false`` (also ``yes``/``no``/``1``/``0``/empty): the publisher's claim
  that a proof covers the figure. **A claim alone changes nothing**: the row stays ``self-reported``
  (and the set carries a warning), because a figure typed into a file is bound to no proof porscan saw.
* ``proof`` (optional): path (relative to this file) of a proof-backed liabilities file porscan reads
  (OKX zk-STARK v1 folder or sum values, OKX Merkle v1/v2, Binance CexAssetsInfo). If that file gives
  the same asset the **same amount in coin units**, the row takes that file's provenance and
  ``verified`` flag; otherwise it stays ``self-reported`` with a warning saying why.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterator

from scanner.config.assets import default_book

from .model import (COIN, SELF_REPORTED, Liability, LiabilitiesError, LiabilitySet, Parsed, asset_symbol,
                    decimal_text, jpath, json_amount, show)

COLUMNS = ("asset", "amount", "source", "proven", "proof")
REQUIRED = ("asset", "amount")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


def looks_like_simple_header(line: str) -> bool:
    cells = [c.strip().strip('"').lower() for c in line.split(",")]
    return "asset" in cells


def looks_like_simple_json(data: Any) -> bool:
    if isinstance(data, dict):
        return "liabilities" in data
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "asset" in data[0]


def _rows_csv(path: Path, file: str) -> Iterator[tuple[int | str, dict[str, str]]]:
    last = [0]  # physical number of the last line handed to the CSV reader

    def lines(fh):
        for n, ln in enumerate(fh, 1):
            if ln.strip() and not ln.lstrip().startswith("#"):
                last[0] = n
                yield ln

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = None
            for cells in csv.reader(lines(fh)):
                lineno = last[0]
                if header is None:
                    header = [c.strip().lower() for c in cells]
                    for i, name in enumerate(header):
                        if name not in COLUMNS:
                            raise LiabilitiesError(file, lineno, show(cells[i]),
                                                   f"unknown column (expected {', '.join(COLUMNS)})")
                        if header.index(name) != i:
                            raise LiabilitiesError(file, lineno, name, "column given twice")
                    for name in REQUIRED:
                        if name not in header:
                            raise LiabilitiesError(file, lineno, name, "column missing from the header")
                    continue
                if len(cells) != len(header):
                    raise LiabilitiesError(file, lineno, None,
                                           f"{len(cells)} fields, the header has {len(header)}")
                yield lineno, dict(zip(header, cells))
    except UnicodeDecodeError as exc:
        raise LiabilitiesError(file, None, None, f"not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise LiabilitiesError(file, last[0] or None, None, f"unreadable CSV: {exc}") from exc


def _rows_json(data: Any, file: str) -> Iterator[tuple[int | str, dict[str, Any]]]:
    where = "$.liabilities" if isinstance(data, dict) else "$"
    if isinstance(data, dict):
        for key in data:
            if key not in ("format", "liabilities"):
                raise LiabilitiesError(file, "$", key, "unknown key (expected format, liabilities)")
        fmt = data.get("format", "porscan.liabilities/1")
        if fmt != "porscan.liabilities/1":
            raise LiabilitiesError(file, "$", "format", f"{show(fmt)} is not porscan.liabilities/1")
    rows = data.get("liabilities") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise LiabilitiesError(file, where, None, "expected a list of rows")
    for i, row in enumerate(rows):
        at = jpath(where, i)
        if not isinstance(row, dict):
            raise LiabilitiesError(file, at, None, "not an object")
        for key in row:
            if key not in COLUMNS:
                raise LiabilitiesError(file, at, show(key), f"unknown key (expected {', '.join(COLUMNS)})")
        for key in REQUIRED:
            if key not in row:
                raise LiabilitiesError(file, at, key, "missing")
        yield at, row


def _flag(raw: Any, file: str, where, field: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw is None:
        return False
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise LiabilitiesError(file, where, field, f"{show(raw)} is not true/false")


def _text(raw: Any, file: str, where, field: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise LiabilitiesError(file, where, field, f"{show(raw)} is not text")
    return raw.strip()


def parse_simple(path: Path, data: Any | None = None, *, load_proof: Callable[[Path], LiabilitySet] | None = None
                 ) -> Parsed:
    """Rows of a simple file (CSV when ``data`` is None, else the parsed JSON), warnings, meta, and the
    (path, sha256) of every referenced proof file read. ``load_proof`` reads a referenced proof file
    (the loader that dispatched here, passed down so this module does not import it back); None
    when the file is itself a referenced proof, which may not reference further proofs."""
    file = str(path)
    book = default_book()
    rows = _rows_csv(path, file) if data is None else _rows_json(data, file)
    out: list[Liability] = []
    seen: dict[str, int | str] = {}
    claimed_unbacked: list[str] = []
    warnings: list[str] = []
    proofs_read: dict[Path, LiabilitySet] = {}  # each referenced file is read once per call
    for where, row in rows:
        asset = asset_symbol(row["asset"], file, where, "asset")
        info = book.get(asset)
        if info is not None and info.asset != asset:
            raise LiabilitiesError(file, where, "asset", f"{asset} is a coin key of {info.asset}; "
                                   "liabilities are per asset")
        if asset in seen:
            raise LiabilitiesError(file, where, "asset", f"{asset} already given at {seen[asset]}")
        seen[asset] = where
        raw_amount = row["amount"]
        amount = (decimal_text(raw_amount, file, where, "amount") if data is None
                  else json_amount(raw_amount, file, where, "amount"))
        source = _text(row.get("source"), file, where, "source")
        proven = _flag(row.get("proven"), file, where, "proven")
        proof = _text(row.get("proof"), file, where, "proof")
        detail = "; ".join(x for x in (f"source: {source}" if source else "",
                                       "claimed proven" if proven else "") if x)
        item = Liability(asset, amount, SELF_REPORTED, "simple", file, detail, COIN, False)
        if proof:
            if load_proof is None:
                raise LiabilitiesError(file, where, "proof", "a referenced proof cannot itself reference proofs")
            item, note = _backed(item, path.parent / proof, file, where, proofs_read, load_proof)
            if note:
                warnings.append(note)
        elif proven:
            claimed_unbacked.append(asset)
        out.append(item)
    if not out:
        raise LiabilitiesError(file, None, None, "no liabilities rows")
    if claimed_unbacked:
        warnings.append(f"{len(claimed_unbacked)} row(s) claim a proof but reference no proof file, kept as "
                        f"self-reported: {', '.join(claimed_unbacked[:12])}")
    extra = [pair for ref in proofs_read.values() for pair in ref.inputs]
    return Parsed(items=out, warnings=warnings, meta={"rows": str(len(out))}, referenced=extra)


def _backed(item: Liability, proof_path: Path, file: str, where, cache: dict[Path, LiabilitySet],
            load_proof: Callable[[Path], LiabilitySet]) -> tuple[Liability, str]:
    key = proof_path.resolve()
    ref = cache.get(key)
    if ref is None:
        if not proof_path.exists():
            raise LiabilitiesError(file, where, "proof", f"{show(str(proof_path), 80)} does not exist")
        try:
            ref = load_proof(proof_path)
        except LiabilitiesError as exc:
            raise LiabilitiesError(file, where, "proof", f"referenced file unreadable: {exc}") from exc
        cache[key] = ref
    match = ref.by_asset().get(item.asset)
    why = ""
    if match is None:
        why = f"{proof_path} has no {item.asset} figure"
    elif match.unit != COIN:
        why = f"{proof_path} gives {item.asset} in {match.unit} units, not coin units"
    elif match.amount != item.amount:
        why = f"{proof_path} gives {item.asset} = {match.amount}, the file says {item.amount}"
    if why or match is None:
        return item, f"{file}:{where}: {item.asset} stays self-reported: {why}"
    detail = "; ".join(x for x in (item.detail, f"matches {proof_path} ({match.source}: {match.detail})") if x)
    return Liability(item.asset, item.amount, match.provenance, f"simple+{match.source}", file, detail,
                     COIN, match.verified), ""
