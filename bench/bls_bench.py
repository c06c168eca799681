"""bench/bls: BETH validator-key rows (BLS12-381 proof of possession), porscan verify end to end.

1. Generates (once, cached in bench/.data/) an 11-column OKX file of BETH rows signed with porscan's
   own keys (arkworks: sk * H(m)); every 100th row carries another row's signature, so it must fail.
2. Checks the first rows with py_ecc, the reference, before anything is timed (a bench over rows
   that do not verify would time the wrong path).
3. Runs ``porscan verify FILE --json ... --no-progress -q`` as a subprocess, --repeat times, and
   prints rows/s (median and best, end to end: start-up, parsing, verification, report).
4. Times the verifier function alone on one core (signatures.bls.verify_bls) and py_ecc on a few rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signatures.bls import DST, verify_bls  # noqa: E402
from signatures.evm import okx_evm_digest  # noqa: E402
from signatures.model import Claim, Status  # noqa: E402
from scanner.devnet.samplegen import MESSAGE, OKX11_HEADER  # noqa: E402

DATA = ROOT / "bench" / ".data"
HEIGHT = 21_000_000
BAD_EVERY = 100  # every 100th row: another row's signature


def _secret(i: int, seed: int) -> int:
    from py_ecc.optimized_bls12_381 import curve_order

    return int.from_bytes(hashlib.sha256(f"porscan-bench-bls/{seed}/{i}".encode()).digest(), "big") % curve_order or 1


def generate(path: Path, rows: int, seed: int) -> None:
    from py_arkworks_bls12381 import G1Point, G2Point, Scalar

    h = G2Point.hash_to_curve(okx_evm_digest(MESSAGE.encode()), DST)
    g1 = G1Point()
    lines, total = [], 0
    prev_sig = ""
    for i in range(rows):
        sk = Scalar(_secret(i, seed))
        pub = "0x" + (g1 * sk).to_compressed_bytes().hex()
        sig = "0x" + (h * sk).to_compressed_bytes().hex()
        shown = prev_sig if i % BAD_EVERY == BAD_EVERY - 1 else sig
        prev_sig = sig
        units = 320_000 + i  # in 0.0001 BETH: 32.0000, 32.0001, ...
        total += units
        amount = f"{units // 10_000}.{units % 10_000:04d}"
        lines.append(",".join(["BETH", "ETH", str(HEIGHT), pub, amount, MESSAGE, shown, "", ""]))
    tmp = path.with_suffix(".part")
    with open(tmp, "w") as fh:
        fh.write("coin,snapshot height,amount\n")
        fh.write(f"BETH,{HEIGHT},{total // 10_000}.{total % 10_000:04d}\n\n")
        fh.write(OKX11_HEADER + "\n")
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_rows(path: Path, n: int | None = None) -> list[Claim]:
    out: list[Claim] = []
    with open(path) as fh:
        for line in fh:
            if line.startswith("BETH,ETH,"):
                c = line.rstrip("\n").split(",")
                out.append(Claim(coin=c[0], network=c[1], address=c[3], message=c[5], signature1=c[6]))
                if n is not None and len(out) >= n:
                    break
    return out


def reference_check(claims: list[Claim]) -> float:
    """py_ecc on these rows must agree with porscan's verifier; returns py_ecc's seconds per row."""
    from py_ecc.bls import G2ProofOfPossession

    started = time.perf_counter()
    for c in claims:
        ref = G2ProofOfPossession.Verify(bytes.fromhex(c.address[2:]), okx_evm_digest(c.message.encode()),
                                         bytes.fromhex(c.signature1[2:]))
        ours = verify_bls(c).status is Status.VERIFIED
        if ref != ours:
            raise SystemExit(f"py_ecc says {ref}, porscan says {ours} for {c.address}: not timing a wrong verifier")
    return (time.perf_counter() - started) / len(claims)


def run_porscan(path: Path, workers: int) -> dict:
    out_json = DATA / "bls-verify-report.json"
    cmd = [sys.executable, "-m", "scanner", "verify", str(path), "--json", str(out_json),
           "--no-progress", "--workers", str(workers), "-q"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"porscan verify failed ({proc.returncode}): {proc.stderr}")
    with open(out_json) as fh:
        summary = json.load(fh)["summary"]
    return {"elapsed": elapsed, "rows": summary["rows"], "by_status": summary["by_status"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference-rows", type=int, default=3, help="rows checked (and timed) with py_ecc")
    a = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"beth-{a.rows}-s{a.seed}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, a.rows, a.seed)
        print(f"generated {path.name} ({a.rows:,} BETH rows, own keys) in {time.perf_counter() - t:.1f} s", flush=True)
    else:
        print(f"using cached {path.name}", flush=True)
    sample = read_rows(path, a.reference_rows)
    ref_s = reference_check(sample)
    claims = read_rows(path)
    started = time.perf_counter()
    verified = sum(verify_bls(c).status is Status.VERIFIED for c in claims)
    one_core = len(claims) / (time.perf_counter() - started)
    runs = [run_porscan(path, a.workers) for _ in range(a.repeat)]
    rates = sorted(r["rows"] / r["elapsed"] for r in runs)
    print(f"porscan verify : {runs[0]['rows']:,} BETH rows, {a.workers} workers: median {statistics.median(rates):,.0f} rows/s, "
          f"best {rates[-1]:,.0f} rows/s over {a.repeat} runs (end to end: start-up, parsing, verification, JSON report)")
    print(f"                 statuses {runs[0]['by_status']} (every {BAD_EVERY}th row carries another row's signature)")
    print(f"verify_bls     : {one_core:,.0f} rows/s on one core, in process ({verified:,} of {len(claims):,} verified)")
    print(f"py_ecc         : {1 / ref_s:,.1f} rows/s on one core ({len(sample)} rows, agrees with porscan on each)")


if __name__ == "__main__":
    main()
