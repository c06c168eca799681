"""bench/btc: Bitcoin balances at a snapshot height on Bitcoin Knots regtest, through each adapter.

Pays N distinct P2WPKH addresses (plus a share of P2TR and 2-of-3 P2WSH multisig outputs) with
``sendmany`` in big transactions (one block each), takes the tip as the snapshot H, then moves on
(more blocks, some addresses paid again) so H is in the past. Then reads all N at H with:

* the Core/Knots adapter, ``dumptxoutset ... rollback`` CSV: one UTXO-set pass (requests stay flat),
  and the same dump in Bitcoin Core's compact binary snapshot format,
* the Core adapter with ``scantxoutset`` (only possible at the tip, so it reads at the tip height),
* the Electrum adapter against ElectrumX synced to the node,
* the Esplora adapter against the FAKE Esplora fed from the node, on a sample (--esplora-sample):
  that fake runs in this same process and its cost is counted, so treat its rate as a lower bound.

Every read is checked against the amounts paid (exact totals). Prints addresses/s and requests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.btc_world import ElectrumX, Knots, btc, electrumx_bin, knots_root, tool_missing  # noqa: E402
from chains.bitcoin_core import BitcoinCoreAdapter, parse_dump  # noqa: E402
from chains.electrum import ElectrumAdapter  # noqa: E402
from chains.esplora import EsploraAdapter  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from chains.utxo import chain_params, script_pubkey  # noqa: E402
from signatures.encoding import segwit_encode  # noqa: E402

BTC = Asset("bench", "BTC", 8)


def addresses(n: int) -> list[str]:
    out = []
    for i in range(n):
        h = hashlib.sha256(f"porscan-bench-btc/{i}".encode()).digest()
        if i % 10 == 7:
            out.append(segwit_encode("bcrt", 1, h))  # P2TR
        elif i % 10 == 9:
            out.append(segwit_encode("bcrt", 0, h))  # P2WSH (a multisig script hash in real life)
        else:
            out.append(segwit_encode("bcrt", 0, h[:20]))  # P2WPKH
    return out


def fund(node: Knots, addrs: list[str], per_tx: int) -> tuple[int, dict[str, int]]:
    node.rpc("createwallet", "bench")
    miner = node.rpc("getnewaddress", "", "bech32", wallet="bench")
    node.rpc("generatetoaddress", 101 + len(addrs) // per_tx, miner)
    expected: dict[str, int] = {}
    for k in range(0, len(addrs), per_tx):
        part = {a: 10_000 + i for i, a in enumerate(addrs[k:k + per_tx], k)}
        node.rpc("sendmany", "", {a: btc(v) for a, v in part.items()}, wallet="bench", timeout=600)
        node.rpc("generatetoaddress", 1, miner)
        expected.update(part)
    h = node.rpc("getblockcount")
    # after the snapshot: some addresses get paid again
    node.rpc("sendmany", "", {a: btc(5_000) for a in addrs[:200]}, wallet="bench")
    node.rpc("generatetoaddress", 3, miner)
    return h, expected


async def timed(adapter, addrs, height):
    t = time.perf_counter()
    try:
        batch = await adapter.balances(BTC, addrs, height)
    finally:
        await adapter.close()
    return time.perf_counter() - t, batch


def report(name: str, dt: float, batch, truth: int | None) -> None:
    n = batch.expected
    exact = "" if truth is None else ("; total exact" if batch.total_base_units == truth else
                                       f"; TOTAL WRONG {batch.total_base_units} != {truth}")
    print(f"{name:34s}: {n:>7,} addresses in {dt:7.2f} s = {n / dt:>9,.0f} addr/s, {batch.requests:>6,} requests, "
          f"read {batch.read:,}/{n:,}{exact}", flush=True)
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert truth is None or batch.total_base_units == truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addresses", type=int, default=50_000)
    ap.add_argument("--per-tx", type=int, default=2_000, help="outputs per sendmany transaction")
    ap.add_argument("--esplora-sample", type=int, default=2_000)
    a = ap.parse_args()
    why = tool_missing("knots", knots_root() / "usr" / "bin" / "bitcoind")
    if why:
        sys.exit(f"bench/btc: {why}")
    node = Knots.start()
    try:
        addrs = addresses(a.addresses)
        t = time.perf_counter()
        h, expected = fund(node, addrs, a.per_tx)
        truth = sum(expected.values())
        tip = node.rpc("getblockcount")
        print(f"funded {len(addrs):,} addresses in {time.perf_counter() - t:.1f} s on Knots regtest; snapshot {h}, "
              f"tip {tip}; {node.rpc('gettxoutsetinfo', 'none')['txouts']:,} coins in the UTXO set", flush=True)
        opts = {"dump_dir": node.dump_dir, "dump_dir_local": node.dump_dir_local}
        core = BitcoinCoreAdapter("bench", Endpoint("knots", node.url, timeout=600), opts, coin="BTC", chain="regtest")
        dt, b = asyncio.run(timed(core, addrs, h))
        report("core: dumptxoutset rollback (H)", dt, b, truth)
        binary = BitcoinCoreAdapter("bench", Endpoint("knots", node.url, timeout=600), dict(opts, dump_format="binary"),
                                    coin="BTC", chain="regtest")
        dt, b = asyncio.run(timed(binary, addrs, h))
        report("core: Core binary snapshot (H)", dt, b, truth)
        # parse speed per coin, which is what a mainnet dump (~170M coins) costs on the porscan side
        wanted = {script_pubkey(x, chain_params("BTC", "regtest")).hex() for x in addrs}
        for fmt in ("csv", "binary"):
            keep = BitcoinCoreAdapter("bench", Endpoint("knots", node.url, timeout=600),
                                      dict(opts, dump_format=fmt, keep_dump=True), coin="BTC", chain="regtest")
            asyncio.run(timed(keep, addrs[:10], h))
            (path,) = [p for p in Path(node.dump_dir_local).iterdir()]
            t = time.perf_counter()
            _, coins, _ = parse_dump(path, wanted)
            dt = time.perf_counter() - t
            path.unlink()
            print(f"   {fmt:6s} dump parse: {coins / dt:,.0f} coins/s "
                  f"(~{170e6 / (coins / dt) / 60:.0f} min for a ~170M-coin mainnet UTXO set)", flush=True)
        scan = BitcoinCoreAdapter("bench", Endpoint("knots", node.url, timeout=600), {"mode": "scan"}, coin="BTC",
                                  chain="regtest")
        dt, b = asyncio.run(timed(scan, addrs, tip))
        report("core: scantxoutset (at the tip)", dt, b, truth + 200 * 5_000)
        if tool_missing("electrumx", electrumx_bin()) is None:
            t = time.perf_counter()
            ex = ElectrumX.start(node.url)
            try:
                ex.wait_synced(tip, timeout=600)
                print(f"(ElectrumX synced {tip} blocks in {time.perf_counter() - t:.1f} s)", flush=True)
                el = ElectrumAdapter("bench", Endpoint("electrumx", ex.url, max_batch=500, concurrency=4, timeout=600),
                                     coin="BTC", chain="regtest")
                dt, b = asyncio.run(timed(el, addrs, h))
                report("electrum: ElectrumX history (H)", dt, b, truth)
            finally:
                ex.stop()
        else:
            print("electrum: skipped (ElectrumX not installed)")
        from support.fake_esplora import LABEL, FakeEsplora, chain_data_from_node

        t = time.perf_counter()
        fake = FakeEsplora(chain_data_from_node(node)).start()
        print(f"(FAKE Esplora indexed the chain in {time.perf_counter() - t:.1f} s)", flush=True)
        try:
            sample = addrs[:a.esplora_sample]
            es = EsploraAdapter("bench", Endpoint(LABEL, fake.url, concurrency=16, timeout=600), coin="BTC",
                                chain="regtest")
            dt, b = asyncio.run(timed(es, sample, h))
            report("esplora: FAKE server, sample (H)", dt, b, sum(expected[x] for x in sample))
        finally:
            fake.stop()
    finally:
        node.stop()


if __name__ == "__main__":
    main()
