"""bench/stark: OKX zk-STARK v1 sum proofs, porscan's verifier against OKX's validator on the same files.

1. The proof sets are the generated ones in ../shared/vectors/okx/zk_STARK (``ca9f1b4``: 4 batches and
   the trunk; ``fa0e43b``: 4 batches), each with its ``config.derived.json``. porscan must verify all
   of them before anything is timed.
2. porscan: ``verify_sum_proof_set`` on each set (reading the JSON included), --repeat times: with the
   default workers (a set this small runs in one process, see PARALLEL_MIN_PROOFS) and on one core;
   then the same proofs --scale times over in one ``verify_sum_proofs`` call, where the process pool
   runs (all cores) and on one core.
3. OKX (``--okx-validator DIR``, the folder holding OKX's ``por_stark.py``, ``fri.py``, ``utils.py``...
   of the commit that generated the sets; OKX's code is not part of porscan): a fresh interpreter with
   DIR on its path runs ``verify_por_proof`` on the same folders, reading the JSON the way
   ``mk_and_verify_proofs.py`` does, --repeat times, sequentially as OKX's validator does.
Prints median seconds for each and OKX / porscan.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.pipeline.liabilities.proofs import VERIFIED  # noqa: E402
from scanner.pipeline.liabilities.stark import load_config, verify_sum_proof_set, verify_sum_proofs  # noqa: E402

VECTORS = ROOT.parent / "shared" / "vectors" / "okx" / "zk_STARK"
SETS = ("ca9f1b4", "fa0e43b")

# Runs inside a fresh interpreter with OKX's folder first on sys.path (its modules are called utils,
# fft, constants...). Reads each proof like mk_and_verify_proofs.verify_batch_proof, calls
# por_stark.verify_por_proof (2 arguments at the generating commits, 3 with main_coins_num later).
OKX_DRIVER = textwrap.dedent("""
    import inspect, json, sys, time
    sys.path.insert(0, sys.argv[1])
    from por_stark import verify_por_proof
    from utils import hex_array_to_bytes
    job = json.loads(sys.argv[2])
    takes_main = len(inspect.signature(verify_por_proof).parameters) == 3

    def run():
        for folder in job["folders"]:
            with open(folder + "/sum_proof.json") as ff:
                j = json.load(ff)
                proof = [j["steps"], j["uts"], bytes.fromhex(j["mtree_root"]), bytes.fromhex(j["l_mtree_root"]),
                         bytes.fromhex(j["pow_nonce"]), hex_array_to_bytes(j["mtree_branches"]),
                         hex_array_to_bytes(j["mtree_entries_data"]), hex_array_to_bytes(j["l_mtree_branches"]),
                         hex_array_to_bytes(j["low_degree_proof"])]
            with open(folder + "/sum_values.json") as ff:
                sv = json.load(ff)
            values = [sv[c] for c in job["coins"]] + [sv["total_value"]]
            args = (values, proof, job["main"]) if takes_main else (values, proof)
            assert verify_por_proof(*args)

    times = []
    for _ in range(job["repeat"]):
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
    print(json.dumps(times))
""")


def folders_of(root: Path) -> list[Path]:
    batches = sorted(p for p in (root / "batches").iterdir() if p.is_dir())
    return batches + ([root / "trunk"] if (root / "trunk").is_dir() else [])


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def okx_times(validator: Path, sets: list[Path], repeat: int, scale: int) -> list[float]:
    config = load_config(sets[0])
    job = {"folders": [str(f) for s in sets for f in folders_of(s)] * scale, "coins": list(config.coins),
           "main": config.main_coins_num, "repeat": repeat}
    proc = subprocess.run([sys.executable, "-c", OKX_DRIVER, str(validator), json.dumps(job)],
                          capture_output=True, text=True, cwd=validator)
    if proc.returncode:
        raise SystemExit(f"OKX's validator failed on the vector sets:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=Path, default=VECTORS, help="folder holding ca9f1b4/ and fa0e43b/")
    ap.add_argument("--okx-validator", type=Path, help="OKX's zk_STARK folder (por_stark.py, fri.py, utils.py...)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--scale", type=int, default=8, help="times over the 9 proofs for the process-pool run")
    a = ap.parse_args()
    sets = [a.vectors / name / "sum_proof_data" for name in SETS]
    if not all(s.is_dir() for s in sets):
        raise SystemExit(f"vector sets not found under {a.vectors}")
    proofs = sum(len(folders_of(s)) for s in sets)
    for s in sets:  # what is timed must be the verifying path
        bad = [c for c in verify_sum_proof_set(s, workers=1) if c.kind != "okx-zk-stark-v1-sum-set" and c.status != VERIFIED]
        if bad:
            raise SystemExit(f"porscan does not verify {bad[0].file}: {bad[0].reason}")
    cores = os.cpu_count() or 1
    print(f"{proofs} sum proofs ({', '.join(SETS)}), {cores} cores, median of {a.repeat}", flush=True)

    ours = timed(lambda: [verify_sum_proof_set(s) for s in sets], a.repeat)
    one = timed(lambda: [verify_sum_proof_set(s, workers=1) for s in sets], a.repeat)
    config = load_config(sets[0])
    jobs = [(str(f), config) for s in sets for f in folders_of(s)] * a.scale
    pool = timed(lambda: verify_sum_proofs(jobs), max(1, a.repeat // 2))
    pool_one = timed(lambda: verify_sum_proofs(jobs, workers=1), max(1, a.repeat // 2))
    med = statistics.median
    print(f"porscan        : {med(ours):.3f} s for the sets (default workers), {med(one):.3f} s on one core "
          f"({med(one) / proofs * 1000:.1f} ms a proof)")
    print(f"porscan x{a.scale:<5}: {med(pool):.3f} s for {len(jobs)} proofs in the process pool ({cores} cores), "
          f"{med(pool_one):.3f} s on one core")
    if a.okx_validator is None:
        print("OKX            : not run (give --okx-validator DIR, OKX's zk_STARK folder)")
        return
    theirs = okx_times(a.okx_validator, sets, a.repeat, 1)
    theirs_scaled = okx_times(a.okx_validator, sets, max(1, a.repeat // 2), a.scale)
    print(f"OKX validator  : {med(theirs):.3f} s for the sets ({med(theirs) / proofs * 1000:.1f} ms a proof), "
          f"{med(theirs_scaled):.3f} s for the x{a.scale} run")
    print(f"ratio          : OKX / porscan = {med(theirs) / med(ours):.1f}x on the sets, "
          f"{med(theirs_scaled) / med(pool):.1f}x on the x{a.scale} run")


if __name__ == "__main__":
    main()
