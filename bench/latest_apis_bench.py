"""bench/antelope, bench/aelf, bench/cardano: porscan's EOS, aelf and Cardano adapters reading N addresses
from their FAKE stand-ins (tests/support/fake_*.py: no nodeos/Hyperion, aelf node or Cardano db-sync can
run here), each served from its own process. This process builds the same seeded world (same keys, same
balances, same moves after the snapshot) to know the truth, reads with the adapter and checks every value
and label.

Prints, per mode: addresses, seconds, addresses/s, HTTP requests, requests per 1,000 addresses, rows read
/ expected, exact or not. On a public endpoint the configured requests_per_second is the limit, not this:
requests per 1,000 addresses is the figure that carries over.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset, BalanceBatch  # noqa: E402

MODES = {"antelope": ("latest", "hyperion"), "aelf": ("latest",), "cardano": ("koios", "blockfrost")}


def build(kind: str, n: int, seed: str):
    """(fake, world) for ``kind``: the same in the serving process and in the checking one."""
    if kind == "antelope":
        from support.fake_antelope import FakeAntelope, antelope_world

        fake = FakeAntelope()
        return fake, antelope_world(fake, n, seed, moves=max(40, n // 2))
    if kind == "aelf":
        from support.fake_aelf import FakeAelf, aelf_world

        fake = FakeAelf()
        return fake, aelf_world(fake, n, seed)
    from support.fake_cardano import FakeCardano, cardano_world

    fake = FakeCardano()
    return fake, cardano_world(fake, n, seed)


def serve(kind: str, n: int, seed: str) -> None:
    from aiohttp import web

    fake, _ = build(kind, n, seed)

    async def main() -> None:
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start(kind: str, n: int, seed: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--addresses", str(n), "--seed", seed],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the FAKE {kind} server did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


async def read(kind: str, mode: str, url: str, world: dict, concurrency: int) -> tuple[float, BalanceBatch, dict, bool]:
    ep = Endpoint(f"FAKE-{kind}", url, concurrency=concurrency, max_batch=50, timeout=30)
    if kind == "antelope":
        from chains.antelope import AntelopeAdapter

        ad: object = AntelopeAdapter("eos", ep, {"hyperion": mode == "hyperion"})
        asset, addrs, height = Asset("eos", "EOS", 4), world["accounts"], world["snapshot"]
        truth, at_snapshot = (world["eos"], True) if mode == "hyperion" else (world["eos_latest"], False)
    elif kind == "aelf":
        from chains.aelf import AelfAdapter

        ad = AelfAdapter("aelf", ep)
        asset, addrs, height = Asset("aelf", "ELF", 8), list(world["elf"]), world["snapshot"]
        truth, at_snapshot = world["elf_latest"], False
    else:
        from chains.cardano import CardanoAdapter

        ad = CardanoAdapter("cardano", ep, {"api": mode})
        asset, addrs, height = Asset("cardano", "ADA", 6), list(world["latest"]), world["snapshot"]
        truth, at_snapshot = world["latest"], False
    t = time.perf_counter()
    try:
        batch = await ad.balances(asset, addrs, height)  # type: ignore[attr-defined]
    finally:
        await ad.close()  # type: ignore[attr-defined]
    dt = time.perf_counter() - t
    labelled = all(r.block is not None and r.block.at_snapshot == at_snapshot for r in batch.results if r.ok)
    return dt, batch, truth, labelled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", nargs="?", choices=sorted(MODES))
    p.add_argument("--addresses", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seed", default="bench")
    p.add_argument("--serve", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve(args.serve, args.addresses, args.seed)
    if not args.kind:
        p.error("which kind: antelope, aelf or cardano")
    t = time.perf_counter()
    proc, url = start(args.kind, args.addresses, args.seed)
    try:
        _, world = build(args.kind, args.addresses, args.seed)
        print(f"FAKE {args.kind} API (stand-in, not a node) with {args.addresses} addresses: ready in "
              f"{time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}")
        print(f"{'mode':<10} {'addresses':>9} {'seconds':>8} {'addr/s':>8} {'requests':>9} {'req/1000':>9} "
              f"{'read/expected':>15}  check")
        for mode in MODES[args.kind]:
            dt, batch, truth, labelled = asyncio.run(read(args.kind, mode, url, world, args.concurrency))
            exact = {r.address: r.amount_base_units for r in batch.results} == truth
            check = ("exact" if exact else "WRONG VALUES") + (", labels ok" if labelled else ", WRONG LABELS")
            n = len(batch.results)
            print(f"{mode:<10} {n:>9} {dt:>8.2f} {n / dt:>8.0f} {batch.requests:>9} {1000 * batch.requests / n:>9.0f} "
                  f"{batch.read:>7}/{batch.expected:<7}  {check}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
