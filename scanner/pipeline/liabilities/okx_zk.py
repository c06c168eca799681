"""OKX zk-STARK liabilities: v1 per-coin sum values and v2 ``sum_proof_data.json`` public inputs.

**v1 (Apr 2023 - Aug 2024, spec 4.3).** ``sum_values.json``: ``{coin: int, ..., "total_value": int}``,
field elements mod p = 2^251 + 17·2^192 + 1 (a negative sum would read p - |v|). The per-asset
liabilities are the **trunk's** values. Input: the ``sum_proof_data`` folder (reads
``trunk/sum_values.json``, every ``batches/*/sum_values.json`` and ``config.json``) or one
``sum_values.json`` (its ``config.json`` is looked for in the enclosing ``sum_proof_data`` folder).
porscan checks what needs no STARK verifier: values in [0, p), Σ coins = ``total_value``, Σ batches =
trunk, coin order = ``config.json``. It does **not** verify the STARK proof itself (``verified=False``).
Only the first ``main_coins_num`` coins have per-coin constraints in the proof; the others are bound
only through ``total_value``, so they are labelled ``self-reported``. The values are integers in a
USD-denominated scale the repository does not state (``unit="usd-scaled"``): they are not coin amounts.

**v2 (from Sep 2024, spec 4.4).** ``sum_proof_data.json``: plonky2 proof with ``proof.public_inputs``
= [total equity, total debt, root hash (4 elements)...], Goldilocks elements (reduced mod
2^64 - 2^32 + 1). They go to ``LiabilitySet.totals`` (``total_equity``, ``total_debt``,
``net_liabilities``, USD-scaled); the v2 proof has **no per-asset totals**, so no ``Liability`` rows.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from .model import (SELF_REPORTED, USD_SCALED, ZK_PUBLISHED, Liability, LiabilitiesError, Parsed, asset_symbol,
                    jpath, json_int, parse_json, show)

STARK_P = 2**251 + 17 * 2**192 + 1
GOLDILOCKS_P = 2**64 - 2**32 + 1

V1_NOT_VERIFIED = ("OKX zk-STARK v1: porscan does not verify the STARK sum proof itself (run OKX's v1 "
                   "validator on the folder); figures are the proof's published sums")
V1_UNITS = ("OKX zk-STARK v1 per-coin values are USD-denominated integers at an unstated scale, not coin "
            "amounts: no coin-unit reserve ratio can be computed from them")


def looks_like_sum_values(data: Any) -> bool:
    return isinstance(data, dict) and "total_value" in data and "batch_inclusion_proof" not in data \
        and all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in data.values())


def looks_like_v2_sum_proof(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("proof"), dict) and "public_inputs" in data["proof"]


def find_v1_dir(path: Path) -> Path | None:
    """The ``sum_proof_data`` folder a path is or lies in (``trunk/sum_values.json`` present)."""
    for cand in (path, *path.parents[:3]):
        if (cand / "trunk" / "sum_values.json").is_file():
            return cand
    return None


def _config(start: Path) -> tuple[list[str] | None, int | None, str | None]:
    """Coin list and main_coins_num of the enclosing sum_proof_data folder (config.json, else ours)."""
    folders = [start] if start.is_dir() else []
    folders += list(start.parents[:3])
    for folder, name in ((f, n) for f in folders for n in ("config.json", "config.derived.json")):
        cfg_path = folder / name
        if cfg_path.is_file():
            cfg = parse_json(cfg_path)
            where = str(cfg_path)
            if not isinstance(cfg, dict) or not isinstance(cfg.get("coins"), list):
                raise LiabilitiesError(where, "$.coins", None, "missing or not a list")
            coins = [asset_symbol(c, where, jpath("$.coins", i), "coins") for i, c in enumerate(cfg["coins"])]
            main = json_int(cfg.get("main_coins_num"), where, "$", "main_coins_num")
            return coins, main, str(cfg_path)
    return None, None, None


def _sum_values(path: Path) -> tuple[dict[str, int], int]:
    file = str(path)
    data = parse_json(path)
    if not isinstance(data, dict):
        raise LiabilitiesError(file, "$", None, "expected an object {coin: value, ..., total_value}")
    values: dict[str, int] = {}
    total = None
    for key, raw in data.items():
        v = json_int(raw, file, "$", key)
        if v >= STARK_P:
            raise LiabilitiesError(file, "$", key, f"{show(raw)} is not a field element (>= p)")
        if v > STARK_P // 2:
            raise LiabilitiesError(file, "$", key, f"{show(raw)} is negative (p - {STARK_P - v})")
        if key == "total_value":
            total = v
        else:
            values[asset_symbol(key, file, "$", key)] = v
    if total is None:
        raise LiabilitiesError(file, "$", "total_value", "missing")
    return values, total


def parse_zk_v1(path: Path) -> Parsed:
    root = find_v1_dir(path)
    main_path = (root / "trunk" / "sum_values.json") if path.is_dir() and root else path
    if path.is_dir() and root is None:
        raise LiabilitiesError(str(path), None, None, "folder has no trunk/sum_values.json (zk-STARK v1 "
                               "sum_proof_data); a batch alone covers only part of the users: give its sum_values.json")
    file = str(main_path)
    warnings: list[str] = [V1_NOT_VERIFIED, V1_UNITS]
    values, total = _sum_values(main_path)
    read = [main_path]
    consistent = True
    if sum(values.values()) % STARK_P != total:
        consistent = False
        warnings.append(f"{file}: total_value {total} is not the sum of the coin values "
                        f"({sum(values.values())}): the sum proof cannot verify")
    is_trunk = main_path.parent.name == "trunk"
    if not is_trunk:
        warnings.append(f"{file} is not a trunk/sum_values.json: a batch holds only part of the users")
    # the set's own folder first, where porscan's STARK verifier reads it (stark.load_config): a
    # config.json in trunk/ must not decide which coins are labelled as constrained
    coins, main_num, cfg_file = _config(root or main_path.parent)
    if cfg_file and coins is not None:
        read.append(Path(cfg_file))
        for coin in values:
            if coin not in coins:
                raise LiabilitiesError(file, "$", coin, f"not in the coin list of {cfg_file}")
        for coin in coins:
            if coin not in values:
                raise LiabilitiesError(file, "$", coin, f"missing (listed in {cfg_file})")
        if coins != list(values):
            consistent = False
            warnings.append(f"coin order of {cfg_file} differs from the keys of {file}: the proof cannot verify")
    else:
        warnings.append("no config.json next to the sum values: main_coins_num unknown, every per-coin "
                        "figure is labelled self-reported")
    batch_files = sorted((root / "batches").glob("*/sum_values.json")) if root and is_trunk else []
    if batch_files:
        sums = dict.fromkeys(values, 0)
        batch_total = 0
        for bf in batch_files:
            bvalues, btotal = _sum_values(bf)
            read.append(bf)
            if list(bvalues) != list(values):
                consistent = False
                warnings.append(f"{bf}: coin list differs from the trunk's")
                continue
            batch_total += btotal
            for k, v in bvalues.items():
                sums[k] += v
        bad = [k for k in values if sums[k] % STARK_P != values[k]]
        if bad or batch_total % STARK_P != total:
            consistent = False
            warnings.append(f"batch sum values do not add up to the trunk's for {len(bad)} coin(s) "
                            f"{', '.join(bad[:8])}{' and total_value' if batch_total % STARK_P != total else ''}")
    elif is_trunk and root:
        warnings.append("no batches/*/sum_values.json next to the trunk: batch sums not cross-checked")
    if not consistent:
        warnings.append("zk-STARK v1 sum values are inconsistent: every figure is labelled self-reported")
    liabilities = []
    for i, (coin, v) in enumerate(values.items()):
        constrained = main_num is not None and i < main_num
        prov = ZK_PUBLISHED if consistent and constrained else SELF_REPORTED
        why = (f"per-coin sum constrained by the proof (coin {i + 1} of main_coins_num {main_num})" if constrained
               else "beyond main_coins_num: the proof constrains it only through total_value"
               if main_num is not None else "main_coins_num unknown")
        liabilities.append(Liability(coin, Decimal(v), prov, "okx-zk-stark-v1", file,
                                     f"{main_path.parent.name}/sum_values.json[{coin}]; {why}", USD_SCALED, False))
    meta = {"config": cfg_file or "", "main_coins_num": "" if main_num is None else str(main_num),
            "coins": str(len(values)), "batches_checked": str(len(batch_files))}
    proof_file = main_path.parent / "sum_proof.json"
    if proof_file.is_file():
        proof = parse_json(proof_file)
        read.append(proof_file)
        if isinstance(proof, dict) and isinstance(proof.get("mtree_root"), str):
            meta["mtree_root"] = proof["mtree_root"]
    return Parsed(items=liabilities, warnings=warnings, meta=meta, totals={"total_value": Decimal(total)}, read=read)


def parse_v2_sum_proof(data: dict, file: str) -> Parsed:
    inputs = data["proof"]["public_inputs"]
    where = "$.proof.public_inputs"
    if not isinstance(inputs, list) or len(inputs) < 6:
        raise LiabilitiesError(file, where, None, "expected at least 6 public inputs (equity, debt, root hash)")
    elems = [json_int(v, file, jpath(where, i), "public_inputs") % GOLDILOCKS_P for i, v in enumerate(inputs)]
    equity, debt = elems[0], elems[1]
    if equity < debt:
        raise LiabilitiesError(file, jpath(where, 1), "total debt",
                               f"{debt} exceeds total equity {equity}: negative net liabilities")
    root_hash = b"".join(e.to_bytes(8, "little") for e in elems[2:6]).hex()
    warnings = [
        "OKX v2: porscan does not verify the plonky2 proof (use `zk-por-cli verify-global`); "
        "the totals are its public inputs as published",
        "OKX v2 proofs carry no per-asset totals: per-asset ratios need another liabilities source",
        "OKX v2 totals are USD-denominated integers at an unstated scale",
    ]
    meta = {"root_hash": root_hash, "totals_provenance": ZK_PUBLISHED, "totals_unit": USD_SCALED}
    general = data.get("general")
    if isinstance(general, dict):
        for key in ("round_num", "batch_size", "token_num", "recursion_branchout_num"):
            if key in general:
                meta[key] = str(general[key])
        if general.get("recursion_branchout_num", 64) != 64:
            warnings.append(f"general.recursion_branchout_num is {general['recursion_branchout_num']}, "
                            "the verifier requires 64")
    if "circuits_info" not in data:
        warnings.append("no circuits_info: the verifier knows the circuit only for round 508787475")
    totals = {"total_equity": Decimal(equity), "total_debt": Decimal(debt),
              "net_liabilities": Decimal(equity - debt)}
    return Parsed(items=[], warnings=warnings, meta=meta, totals=totals)

