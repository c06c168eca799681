"""Liabilities ingest: published liability totals per asset, each with its provenance.

``load_liabilities(path, format=None) -> LiabilitySet`` reads one file (or an OKX zk-STARK v1
``sum_proof_data`` folder). Pure parsing, no network. The format is detected from the content; pass
``format=`` (one of ``FORMATS``) to force it. Every problem with the input is a ``LiabilitiesError``
naming the file, the line or JSON path, and the field.

| format                      | input                                                    | figures                        |
|-----------------------------|----------------------------------------------------------|--------------------------------|
| ``okx-zk-stark-v1``         | ``sum_proof_data/`` folder or a ``sum_values.json``       | per coin, USD-scaled, zk       |
| ``okx-v2-sum-proof``        | ``sum_proof_data.json`` (plonky2 public inputs)          | totals only (equity, debt)     |
| ``binance-cex-assets-info`` | verifier ``config.json`` ``CexAssetsInfo`` (or the list) | per asset, coin units, zk      |
| ``merkle-root``             | OKX ``merkle_proof_file.json`` (v1) or full tree (v2)    | root per asset, coin units     |
| ``simple``                  | porscan's CSV/JSON (``asset,amount,source,proven,proof``) | per asset, coin units          |

Detection: a folder -> zk-STARK v1; JSON with ``CexAssetsInfo`` (or a list of ``TotalEquity``
objects) -> Binance; ``proof.public_inputs`` -> OKX v2; ``self`` + ``path`` -> Merkle v1; an object of
integers with ``total_value`` -> zk-STARK v1 sum values; ``liabilities`` (or a list of ``asset``
objects) -> simple; a first line ``<64 hex>,<height>,{`` -> Merkle v2 tree; a CSV header with ``asset``
and ``amount`` -> simple. Files that are related but hold no liabilities totals (user proofs, prover
inputs, Binance price lists and user lists, zk configs) get an error saying what they are.

Provenance (``Liability.provenance``) says what kind of commitment stands behind a figure;
``Liability.verified`` says whether porscan itself recomputed it (only Merkle roots are recomputed
here; zk proofs are not verified by porscan and every set from them carries a warning saying so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .binance import (looks_like_cex_assets_info, parse_cex_assets_info, price_list_error,
                      user_list_error)
from .merkle import is_tree_line, parse_v1_proof, parse_v2_tree
from .model import (COIN, MERKLE_SUM, PROVENANCE_RANK, PROVENANCES, Parsed, SELF_REPORTED, USD_SCALED, ZK_PUBLISHED, ZK_VERIFIED, provenance_name,
                    LiabilitiesError, Liability, LiabilitySet, parse_json,
                    unknown_assets_warning)
from .okx_zk import (find_v1_dir, looks_like_sum_values, looks_like_v2_sum_proof, parse_v2_sum_proof,
                     parse_zk_v1)
from .simple import looks_like_simple_header, looks_like_simple_json, parse_simple
from ..ingest import sha256_file

OKX_ZK_V1 = "okx-zk-stark-v1"
OKX_V2 = "okx-v2-sum-proof"
BINANCE = "binance-cex-assets-info"
MERKLE = "merkle-root"
SIMPLE = "simple"
FORMATS = (OKX_ZK_V1, OKX_V2, BINANCE, MERKLE, SIMPLE)

__all__ = ["load_liabilities", "detect_format", "Liability", "LiabilitySet", "LiabilitiesError", "FORMATS",
           "ZK_PUBLISHED", "ZK_VERIFIED", "provenance_name", "MERKLE_SUM", "SELF_REPORTED", "PROVENANCES", "PROVENANCE_RANK", "COIN",
           "USD_SCALED", "OKX_ZK_V1", "OKX_V2", "BINANCE", "MERKLE", "SIMPLE"]

_SNIFF_BYTES = 4096


def _first_line(path: Path) -> str:
    """The first line that is neither blank nor a ``#`` comment (from the first 4 KiB)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    for line in head.decode("utf-8", "replace").removeprefix("\ufeff").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def _json_kind(data: Any, file: str) -> str:
    """The format of a parsed JSON document, or a LiabilitiesError saying what the file is instead."""
    if looks_like_cex_assets_info(data):
        return BINANCE
    if looks_like_v2_sum_proof(data):
        return OKX_V2
    if isinstance(data, dict) and "self" in data and "path" in data:
        return MERKLE
    if looks_like_simple_json(data):
        return SIMPLE
    if looks_like_sum_values(data):
        return OKX_ZK_V1
    not_liabilities = [
        (lambda d: isinstance(d, dict) and {"nodes", "nonce", "totalBalances"} <= d.keys(),
         "an OKX Merkle v2 user file (one user's leaves): it has no root; give the full tree file"),
        (lambda d: isinstance(d, dict) and "batch_inclusion_proof" in d,
         "an OKX zk-STARK v1 user inclusion proof: give the sum_proof_data folder or trunk/sum_values.json"),
        (lambda d: isinstance(d, dict) and {"account", "index"} <= d.keys(),
         "an OKX zk-STARK v2 user inclusion proof: give sum_proof_data.json"),
        (lambda d: isinstance(d, dict) and "low_degree_proof" in d,
         "an OKX zk-STARK v1 sum_proof.json: give the sum_values.json next to it (or the folder)"),
        (lambda d: isinstance(d, dict) and "main_coins_num" in d,
         "an OKX zk-STARK v1 config.json: give the sum_proof_data folder"),
        (lambda d: isinstance(d, list) and bool(d) and isinstance(d[0], dict) and {"id", "assets"} <= d[0].keys(),
         "OKX zk-STARK v2 prover input (user accounts), not a proof"),
        (lambda d: isinstance(d, list) and bool(d) and isinstance(d[0], dict) and "id" in d[0],
         "OKX zk-STARK v1 prover input (user data), not a proof"),
        (lambda d: isinstance(d, dict) and "AccountIdHash" in d,
         "a Binance user inclusion proof: give the batch verifier's config.json (CexAssetsInfo)"),
    ]
    for test, what in not_liabilities:
        if test(data):
            raise LiabilitiesError(file, None, None, f"not a liabilities file: {what}")
    raise LiabilitiesError(file, None, None, "unrecognised liabilities JSON (formats: " + ", ".join(FORMATS) + ")")


def detect_format(path: str | Path) -> str:
    """The format of a file or folder, from its content (a LiabilitiesError if none fits)."""
    path = Path(path)
    file = str(path)
    if path.is_dir():
        if find_v1_dir(path) == path:
            return OKX_ZK_V1
        raise LiabilitiesError(file, None, None, "folder is not a zk-STARK v1 sum_proof_data (no trunk/sum_values.json)")
    first = _sniff(path, file)
    if first[:1] in "{[":
        return _json_kind(parse_json(path), file)
    return _text_kind(first, file)


def _sniff(path: Path, file: str) -> str:
    if not path.is_file():
        raise LiabilitiesError(file, None, None, "no such file")
    first = _first_line(path)
    if not first:
        raise LiabilitiesError(file, None, None, "empty file")
    return first


def _text_kind(first: str, file: str) -> str:
    if is_tree_line(first):
        return MERKLE
    if looks_like_simple_header(first):
        return SIMPLE
    low = first.strip().lower().replace('"', "")
    if low.startswith(("symbol,usdt_price", "token,asset_usdt_price")):
        raise price_list_error(file, first.strip())
    if low.startswith("rn,id"):
        raise user_list_error(file)
    raise LiabilitiesError(file, 1, None, "unrecognised liabilities file (formats: " + ", ".join(FORMATS) + ")")


def _load_proof(path: Path) -> LiabilitySet:
    """A proof file a simple file references: read like any file, but it may reference no further proofs."""
    return load_liabilities(path, _nested=True)


def load_liabilities(path: str | Path, format: str | None = None, *, _nested: bool = False) -> LiabilitySet:
    """Read a liabilities file (or zk-STARK v1 folder) into a LiabilitySet; LiabilitiesError if it can't."""
    path = Path(path)
    file = str(path)
    if format is not None and format not in FORMATS:
        raise LiabilitiesError(file, None, "format", f"{format!r} is not one of {', '.join(FORMATS)}")
    try:
        if path.is_dir() and format not in (None, OKX_ZK_V1):
            raise LiabilitiesError(file, None, None, f"a folder, not a {format} file")
        if path.is_dir() or format == OKX_ZK_V1:
            fmt = detect_format(path) if path.is_dir() else OKX_ZK_V1
            parsed = parse_zk_v1(path)
        else:
            first = _sniff(path, file)
            if first[:1] in "{[":
                data = parse_json(path)
                fmt = format or _json_kind(data, file)
                if fmt == OKX_ZK_V1:  # a sum_values.json: read with its folder's config and batches
                    parsed = parse_zk_v1(path)
                else:
                    parsed = _from_json(data, file, fmt, _nested)
            else:
                fmt = format or _text_kind(first, file)
                if fmt == MERKLE:
                    parsed = parse_v2_tree(path, file)
                elif fmt == SIMPLE:
                    parsed = parse_simple(path, load_proof=None if _nested else _load_proof)
                else:
                    raise LiabilitiesError(file, 1, None, f"not JSON, as the {fmt} format needs")
    except OSError as exc:
        raise LiabilitiesError(file, None, None, f"cannot read: {exc.strerror or exc}") from exc
    except RecursionError:
        raise LiabilitiesError(file, None, None, "nested too deeply") from None
    items, warnings = parsed.items, list(parsed.warnings)
    note = unknown_assets_warning([i.asset for i in items])
    if note:
        warnings.append(note)
    read = parsed.read or [path]  # the zk-STARK v1 parser lists every file it read, the main one first
    inputs = tuple((str(p), sha256_file(p)) for p in read) + tuple(parsed.referenced)
    return LiabilitySet(liabilities=tuple(items), totals=parsed.totals, warnings=tuple(warnings),
                        file_sha256=inputs[0][1], format=fmt, meta=parsed.meta, inputs=inputs)


def _from_json(data: Any, file: str, fmt: str, nested: bool) -> Parsed:
    if fmt == SIMPLE:
        if not looks_like_simple_json(data):
            raise LiabilitiesError(file, "$", "liabilities", "missing (not a simple liabilities file)")
        return parse_simple(Path(file), data, load_proof=None if nested else _load_proof)
    if fmt == BINANCE:
        if not looks_like_cex_assets_info(data):
            raise LiabilitiesError(file, "$", "CexAssetsInfo", "missing (not a Binance verifier config)")
        return parse_cex_assets_info(data, file)
    if fmt == OKX_V2:
        if not looks_like_v2_sum_proof(data):
            raise LiabilitiesError(file, "$.proof", "public_inputs", "missing (not an OKX v2 sum_proof_data.json)")
        return parse_v2_sum_proof(data, file)
    if fmt == MERKLE:
        if not isinstance(data, dict) or "path" not in data:
            raise LiabilitiesError(file, "$", "path", "missing (not an OKX Merkle v1 proof file)")
        return parse_v1_proof(data, file)
    raise LiabilitiesError(file, None, "format", fmt)  # pragma: no cover - OKX_ZK_V1 is the caller's, FORMATS is closed
