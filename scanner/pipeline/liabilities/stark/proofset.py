"""A whole v1 ``sum_proof_data`` folder: every batch and the trunk, in parallel, and their agreement."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

from ..proofs import FAILED, NOT_VERIFIED, VERIFIED, ProofCheck
from .field import P
from .verify import SumProofInvalid, StarkV1Config, load_config, read_sum_values, verify_sum_proof

SET_KIND = "okx-zk-stark-v1-sum-set"


def _proof_folders(root: Path) -> tuple[list[Path], Path | None]:
    batches_dir = root / "batches"
    batches = sorted(p for p in batches_dir.iterdir() if p.is_dir()) if batches_dir.is_dir() else []
    trunk = root / "trunk"
    return batches, trunk if trunk.is_dir() else None


# One proof takes ~15 ms whatever its batch size (16 spot checks, log-depth branches), and forking a
# worker costs about as much as two or three: below this many proofs one process is faster.
PARALLEL_MIN_PROOFS = 8


def _verify_one(job: tuple[str, StarkV1Config]) -> ProofCheck:
    return verify_sum_proof(job[0], job[1])


def verify_sum_proofs(jobs: Sequence[tuple[str, StarkV1Config]], workers: int | None = None) -> list[ProofCheck]:
    """Verify (folder, config) jobs, results in job order. ``workers``: processes; None = all cores
    once there are PARALLEL_MIN_PROOFS proofs or more, else this process; 1 = this process.

    This process takes every n-th job while n - 1 forked workers take the rest, so the pool's
    start-up overlaps with useful work."""
    if workers is None and len(jobs) < PARALLEL_MIN_PROOFS:
        workers = 1
    n = min(workers or os.cpu_count() or 1, len(jobs))
    if n <= 1:
        return [_verify_one(job) for job in jobs]
    # fork is cheap (no re-import) but unsafe once other threads run; spawn then
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    results: list[ProofCheck | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=n - 1, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {i: pool.submit(_verify_one, job) for i, job in enumerate(jobs) if i % n}
        for i in range(0, len(jobs), n):
            results[i] = _verify_one(jobs[i])
        for i, future in futures.items():
            results[i] = future.result()
    return [r for r in results if r is not None]


def verify_sum_proof_set(sum_proof_data_dir: str | Path, workers: int | None = None) -> list[ProofCheck]:
    """One ProofCheck per batch (sorted by name), one for the trunk, then the set's: all verified and
    Σ batch sums = trunk sums (mod p) per coin and for total_value. ``workers``: as in
    verify_sum_proofs."""
    root = Path(sum_proof_data_dir)
    try:
        config = load_config(root)
    except SumProofInvalid as exc:
        return [ProofCheck(file=str(root), kind=SET_KIND, status=FAILED, reason=str(exc))]
    batches, trunk = _proof_folders(root)
    if not batches and trunk is None:
        return [ProofCheck(file=str(root), kind=SET_KIND, status=FAILED,
                           reason=f"{root}: no batches/*/ or trunk/ folder: not a v1 sum_proof_data folder")]
    folders = [*batches, *([trunk] if trunk else [])]
    checks = verify_sum_proofs([(str(f), config) for f in folders], workers)
    return [*checks, _set_check(root, config, batches, trunk, checks)]


def _set_check(root: Path, config: StarkV1Config, batches: list[Path], trunk: Path | None,
               checks: list[ProofCheck]) -> ProofCheck:
    # the config file by name only (load_config reads it from the set's own folder): the record goes
    # into reports, which never carry the scanning machine's folders
    detail = {"batches": [b.name for b in batches], "main_coins_num": config.main_coins_num,
              "config": Path(config.source).name if config.source else "", "proven_coins": list(config.proven_coins),
              "total_only_coins": list(config.total_only_coins),
              "holes_closed": ["uts bounded to 16 (a*) / 32 (b*, trunk)", "FRI row checks actually run",
                               "entry and branch shapes checked against the config",
                               "main_coins_num and coin list from the set's config"]}
    failed = [Path(c.file).name for c in checks if c.status == FAILED]
    if failed:
        return ProofCheck(file=str(root), kind=SET_KIND, status=FAILED, detail=detail,
                          reason=f"{root}: sum proofs failed: {', '.join(failed)}")
    unchecked = [Path(c.file).name for c in checks if c.status != VERIFIED]
    if unchecked:
        return ProofCheck(file=str(root), kind=SET_KIND, status=NOT_VERIFIED, detail=detail,
                          reason=f"{root}: sum proofs porscan cannot verify: {', '.join(unchecked)}")
    if trunk is None:
        return ProofCheck(file=str(root), kind=SET_KIND, status=NOT_VERIFIED, detail=detail,
                          reason=f"{root}: no trunk/ folder: the {len(batches)} batch proofs verify, but their sums "
                                 "are bound to no trunk total")
    try:
        trunk_sums = read_sum_values(trunk, config)
        batch_sums = [read_sum_values(b, config) for b in batches]
    except SumProofInvalid as exc:
        return ProofCheck(file=str(root), kind=SET_KIND, status=FAILED, detail=detail, reason=str(exc))
    names = [*config.coins, "total_value"]
    for i, name in enumerate(names):
        added = sum(s[i] for s in batch_sums) % P
        if added != trunk_sums[i] % P:
            return ProofCheck(file=str(root), kind=SET_KIND, status=FAILED, detail=detail,
                              reason=f"{trunk / 'sum_values.json'}: $.{name} = {trunk_sums[i]}, but the batches' "
                                     f"sum_values.json add up to {added} (mod p)")
    # the trunk root names the set the figures of a trunk/sum_values.json belong to (apply_checks)
    detail["trunk_mtree_root"] = checks[-1].detail.get("mtree_root", "")
    proven = ", ".join(config.proven_coins)
    return ProofCheck(file=str(root), kind=SET_KIND, status=VERIFIED, detail=detail,
                      reason=(f"{len(batches)} batch proofs and the trunk verify and the batch sums equal the trunk's; "
                              f"individually proven: {proven}; the other {len(config.total_only_coins)} coins only "
                              "through total_value"))
