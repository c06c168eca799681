"""bench/evm: EVM balance reads at a snapshot block on a local anvil node.

Funds N addresses (native and an ERC-20 of our own, balances written at the snapshot, then the
head moves on), then reads them all at the snapshot with porscan's EVM adapter (probe picks the
state-override reader). In the same run, the same reads one address per request (32 in flight)
and through web3.py's ``batch_requests``, on a sample (they are too slow for all N), as rates.
Prints addresses/s, requests sent and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from eth_utils import keccak  # noqa: E402

from chains.evm import EvmAdapter  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from scanner.devnet.localnodes import Anvil, deploy, rpc, rpc_batch  # noqa: E402


def fund(url: str, n: int) -> tuple[list[str], str, int, int, int]:
    addrs = ["0x" + keccak(text=f"bench-evm/{i}")[12:].hex() for i in range(n)]
    dev = rpc(url, "eth_accounts")[0]
    token = deploy(url, dev, "TestToken", ["string", "string", "uint8"], ["Bench USD", "BUSD", 6])
    native_total = token_total = 0
    step = 2000
    for i in range(0, n, step):
        part = addrs[i:i + step]
        calls = []
        for j, a in enumerate(part, i):
            wei = 10**17 + j
            units = 1_000_000 + j
            native_total += wei
            token_total += units
            slot = keccak(bytes(12) + bytes.fromhex(a[2:]) + (3).to_bytes(32, "big")).hex()
            calls.append(("anvil_setBalance", [a, hex(wei)]))
            calls.append(("anvil_setStorageAt", [token, "0x" + slot, "0x" + units.to_bytes(32, "big").hex()]))
        rpc_batch(url, calls, timeout=600)
    snapshot = int(rpc(url, "eth_blockNumber"), 16)
    rpc(url, "evm_mine")
    rpc_batch(url, [("anvil_setBalance", [a, "0x1"]) for a in addrs[:100]])
    rpc(url, "evm_mine")
    return addrs, token, snapshot, native_total, token_total


async def porscan_read(url: str, asset: Asset, addrs: list[str], height: int) -> tuple[float, int, int, int]:
    ad = EvmAdapter("bench", Endpoint("anvil", url, concurrency=4, timeout=600))
    t = time.perf_counter()
    batch = await ad.balances(asset, addrs, height)
    dt = time.perf_counter() - t
    await ad.close()
    return dt, batch.requests, batch.read, batch.total_base_units


async def one_per_request(url: str, asset: Asset, addrs: list[str], height: int, inflight: int = 32) -> tuple[float, int]:
    import aiohttp

    sem = asyncio.Semaphore(inflight)
    total = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=inflight)) as s:
        async def one(i: int, a: str) -> None:
            nonlocal total
            if asset.contract is None:
                body = {"jsonrpc": "2.0", "id": i, "method": "eth_getBalance", "params": [a, hex(height)]}
            else:
                body = {"jsonrpc": "2.0", "id": i, "method": "eth_call",
                        "params": [{"to": asset.contract, "data": "0x70a08231" + "0" * 24 + a[2:]}, hex(height)]}
            async with sem:
                async with s.post(url, json=body) as r:
                    res = (await r.json())["result"]
            total += int(res, 16)

        t = time.perf_counter()
        await asyncio.gather(*(one(i, a) for i, a in enumerate(addrs)))
        return time.perf_counter() - t, total


async def web3_batch(url: str, asset: Asset, addrs: list[str], height: int, size: int = 1000) -> tuple[float, int]:
    from web3 import AsyncHTTPProvider, AsyncWeb3

    w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": 600}))
    total = 0
    t = time.perf_counter()
    for i in range(0, len(addrs), size):
        async with w3.batch_requests() as batch:
            for a in addrs[i:i + size]:
                ca = w3.to_checksum_address(a)
                if asset.contract is None:
                    batch.add(w3.eth.get_balance(ca, height))
                else:
                    batch.add(w3.eth.call({"to": w3.to_checksum_address(asset.contract),
                                           "data": "0x70a08231" + "0" * 24 + a[2:]}, height))
            results = await batch.async_execute()
        for r in results:
            total += r if isinstance(r, int) else int.from_bytes(bytes(r), "big")
    dt = time.perf_counter() - t
    await w3.provider.disconnect()
    return dt, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addresses", type=int, default=600_000)
    ap.add_argument("--sample", type=int, default=20_000, help="addresses for the slow comparison paths")
    a = ap.parse_args()
    with Anvil.start() as node:
        t = time.perf_counter()
        addrs, token, snap, native_total, token_total = fund(node.url, a.addresses)
        print(f"funded {len(addrs):,} addresses (native + ERC-20) on anvil in {time.perf_counter() - t:.1f} s; "
              f"snapshot block {snap}", flush=True)
        sample = addrs[:a.sample]
        for label, asset, truth in (("native", Asset("bench", "ETH", 18), native_total),
                                    ("ERC-20", Asset("bench", "BUSD", 6, token), token_total)):
            dt, reqs, read, total = asyncio.run(porscan_read(node.url, asset, addrs, snap))
            assert read == len(addrs) and total == truth, (read, total, truth)
            rate = len(addrs) / dt
            print(f"{label:7s} porscan        : {len(addrs):,} addresses in {dt:.2f} s = {rate:,.0f} addr/s, "
                  f"{reqs} requests ({len(addrs) / max(reqs, 1):,.0f} addresses per request); totals exact")
            dt1, _ = asyncio.run(one_per_request(node.url, asset, sample, snap))
            r1 = len(sample) / dt1
            print(f"{label:7s} 1 per request  : {len(sample):,} addresses in {dt1:.2f} s = {r1:,.0f} addr/s (32 in flight)"
                  f" -> porscan is {rate / r1:.0f}x faster")
            dt2, _ = asyncio.run(web3_batch(node.url, asset, sample, snap))
            r2 = len(sample) / dt2
            print(f"{label:7s} web3 batch     : {len(sample):,} addresses in {dt2:.2f} s = {r2:,.0f} addr/s "
                  f"(batch_requests, 1000 per batch) -> porscan is {rate / r2:.0f}x faster", flush=True)


if __name__ == "__main__":
    main()
