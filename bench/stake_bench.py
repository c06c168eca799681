"""bench/stake: staked/unbonding reads per reserve address, Solana stake accounts and BNB Chain StakeHub.

* ``solana``: N owners on the FAKE Solana JSON-RPC (no validator runs here), in its own process, with
  stake accounts in every state written by the real Stake program (solders.litesvm); porscan reads SOL
  with ``stake_accounts`` on (getMultipleAccounts + one filtered getProgramAccounts per owner) and off.
* ``stakehub``: N delegators on a real anvil node, V validators whose StakeCredit contracts (the test
  doubles with StakeCredit's ABI) hold delegations and unbond requests written into storage at the
  snapshot block; porscan reads BNB with StakeHub through its StakeHubReader override, Multicall3
  aggregate3 and batched eth_call, at the snapshot.

Every figure read is checked exactly. Prints addresses/s and HTTP requests per 1,000 addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402


# ---------------------------------------------------------------------------------------------- Solana


def solana_world(n: int):
    from scanner.devnet.fake_tron_solana import FakeSolana, solana_world as owners_world
    from scanner.devnet.solana_stake import stake_world
    from chains.solana import WITHDRAWER_OFFSET

    fake = FakeSolana(slot=310_000_000, slot_step=0)
    world = owners_world(fake, n=n, prefix="bench-stake")
    truth = stake_world(fake, world["owners"])
    fake.index_program_accounts(WITHDRAWER_OFFSET, 32)
    return fake, world, truth


def serve_solana(n: int) -> None:
    """Child process: build the world and serve it until killed."""
    from scanner.devnet.loopthread import start_local_site

    fake, _, _ = solana_world(n)

    async def run() -> None:
        _, port = await start_local_site(fake.app())
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


async def solana_read(url: str, owners: list[str], stake: bool, max_batch: int, concurrency: int):
    from chains.solana import SolanaAdapter

    ad = SolanaAdapter("solana", Endpoint("FAKE-SOLANA", url, max_batch=max_batch, concurrency=concurrency,
                                          timeout=60), stake_accounts=stake)
    t = time.perf_counter()
    try:
        batch = await ad.balances(Asset("solana", "SOL", 9), owners, None)
    finally:
        await ad.close()
    return time.perf_counter() - t, batch


def bench_solana(n: int, max_batch: int, concurrency: int) -> None:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "serve-solana", "--addresses", str(n)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        _, world, truth = solana_world(n)  # the same deterministic world, for the expected figures
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on" not in line:
            raise SystemExit(f"the FAKE Solana server did not start: {line!r}")
        url = line.split("listening on", 1)[1].strip()
        accounts = sum(1 for t_ in truth.values() if t_.lamports)
        print(f"solana: {n:,} owners, stake accounts for {accounts:,} of them, built by the Stake program in "
              f"{time.perf_counter() - t:.1f} s (FAKE node in its own process)", flush=True)
        owners = world["owners"]
        for stake in (False, True):
            dt, batch = asyncio.run(solana_read(url, owners, stake, max_batch, concurrency))
            exact = all(r.amount_base_units == world["sol"][r.address] + (truth[r.address].lamports if stake else 0)
                        for r in batch.results)
            if stake:
                exact = exact and all(dict(r.parts).get("staked", 0) == truth[r.address].staked
                                      and dict(r.parts).get("unbonding", 0) == truth[r.address].unbonding
                                      for r in batch.results)
            print(f"solana SOL {'with stake accounts' if stake else 'liquid only        '}: {n:,} owners in "
                  f"{dt:.2f} s = {n / dt:,.0f} addr/s, {batch.requests} HTTP requests "
                  f"({batch.requests * 1000 / n:,.1f} per 1,000 addresses; max_batch {max_batch}), "
                  f"{batch.read}/{batch.expected} read, {'exact' if exact and batch.complete else 'NOT EXACT'}",
                  flush=True)
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------- StakeHub


def _slot_of(key: bytes, slot: int) -> bytes:
    from eth_utils import keccak

    return keccak(bytes(12) + key + slot.to_bytes(32, "big"))


def stakehub_world(url: str, n: int, validators: int):
    """Delegations written into the credits' storage (TestStakeCredit: totalPooledBNB slot 0, totalSupply 1,
    balanceOf mapping 3, unbond queues mapping 4 of (shares, bnbAmount, unlockTime))."""
    from eth_utils import keccak

    from scanner.devnet.localnodes import rpc, rpc_batch
    from support.evm_world import ARTIFACTS as EVM_ARTIFACTS
    from support.evm_world import MULTICALL3
    from support.stakehub_world import STAKEHUB, ARTIFACTS, add_validator, deploy_credit, delegator

    dev = rpc(url, "eth_accounts")[0]
    rpc(url, "anvil_setCode", [STAKEHUB, ARTIFACTS["TestStakeHub"]["runtime"]])
    rpc(url, "anvil_setCode", [MULTICALL3, EVM_ARTIFACTS["Multicall3Compatible"]["runtime"]])
    credits = []
    for v in range(validators):
        credit = deploy_credit(url, dev, 2 * 10**27 + v, 2 * 10**27)  # 1 share = 1 BNB (+ a rounding remainder)
        add_validator(url, dev, v, credit)
        credits.append(credit)
    addrs = [delegator(i, "bench") for i in range(n)]
    truth: dict[str, tuple[int, int]] = {}
    calls = []
    for i, a in enumerate(addrs):
        key = bytes.fromhex(a[2:])
        staked = unbonding = 0
        calls.append(("anvil_setBalance", [a, hex(10**17 + i)]))
        if i % 5 == 4:
            truth[a] = (0, 0)
            continue
        for v in (i % validators, (i * 7 + 3) % validators):
            shares = 10**18 + i * 10**12 + v
            calls.append(("anvil_setStorageAt", [credits[v], "0x" + _slot_of(key, 3).hex(),
                                                 "0x" + shares.to_bytes(32, "big").hex()]))
            staked += (shares * (2 * 10**27 + v)) // (2 * 10**27)
            if i % 3 == 0 and v == i % validators:
                queue = _slot_of(key, 4)
                amount = 10**17 + i
                first = int.from_bytes(keccak(queue), "big")
                calls.append(("anvil_setStorageAt", [credits[v], "0x" + queue.hex(), "0x" + (1).to_bytes(32, "big").hex()]))
                calls.append(("anvil_setStorageAt", [credits[v], "0x" + (first + 1).to_bytes(32, "big").hex(),
                                                     "0x" + amount.to_bytes(32, "big").hex()]))
                unbonding += amount
            if (i * 7 + 3) % validators == i % validators:
                break
        truth[a] = (staked, unbonding)
        if len(calls) > 4000:
            rpc_batch(url, calls, timeout=600)
            calls = []
    if calls:
        rpc_batch(url, calls, timeout=600)
    rpc(url, "evm_mine")
    snapshot = int(rpc(url, "eth_blockNumber"), 16)
    rpc(url, "evm_mine")
    rpc_batch(url, [("anvil_setStorageAt", [credits[0], "0x" + _slot_of(bytes.fromhex(a[2:]), 3).hex(), "0x" + "00" * 32])
                    for a in addrs[:50]])  # changed after the snapshot: must not show
    natives = {a: 10**17 + i for i, a in enumerate(addrs)}
    return addrs, truth, natives, snapshot


async def stakehub_read(url: str, addrs: list[str], snapshot: int, strategy: str, concurrency: int):
    from chains.evm import EvmAdapter
    from support.stakehub_world import STAKEHUB

    ad = EvmAdapter("bench", Endpoint("anvil", url, concurrency=concurrency, timeout=120, max_batch=1000),
                    stakehub=STAKEHUB, force_strategy=strategy)
    t = time.perf_counter()
    try:
        batch = await ad.balances(Asset("bench", "BNB", 18), addrs, snapshot)
    finally:
        await ad.close()
    return time.perf_counter() - t, batch


def bench_stakehub(n: int, validators: int, concurrency: int) -> None:
    from scanner.devnet.localnodes import Anvil

    with Anvil.start() as node:
        t = time.perf_counter()
        addrs, truth, natives, snapshot = stakehub_world(node.url, n, validators)
        print(f"stakehub: {n:,} delegators over {validators} validators written on anvil in "
              f"{time.perf_counter() - t:.1f} s; snapshot block {snapshot}", flush=True)
        for strategy in ("state-override-reader", "multicall3", "batched-calls"):
            dt, batch = asyncio.run(stakehub_read(node.url, addrs, snapshot, strategy, concurrency))
            exact = batch.complete and all(
                r.parts_known and r.amount_base_units == natives[r.address] + sum(truth[r.address])
                and dict(r.parts).get("staked", 0) == truth[r.address][0]
                and dict(r.parts).get("unbonding", 0) == truth[r.address][1] for r in batch.results)
            print(f"stakehub BNB {strategy:21s}: {n:,} addresses in {dt:.2f} s = {n / dt:,.0f} addr/s, "
                  f"{batch.requests} HTTP requests ({batch.requests * 1000 / n:,.1f} per 1,000 addresses, "
                  f"native read included), {'exact' if exact else 'NOT EXACT'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="both", choices=["both", "solana", "stakehub", "serve-solana"])
    ap.add_argument("--addresses", type=int, default=5000)
    ap.add_argument("--validators", type=int, default=45, help="StakeHub validators (BNB Chain has about 45-60)")
    ap.add_argument("--max-batch", type=int, default=100, help="Solana JSON-RPC calls per HTTP request")
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()
    if a.what == "serve-solana":
        serve_solana(a.addresses)
        return
    if a.what in ("both", "solana"):
        bench_solana(a.addresses, a.max_batch, a.concurrency)
    if a.what in ("both", "stakehub"):
        bench_stakehub(a.addresses, a.validators, a.concurrency)


if __name__ == "__main__":
    main()
