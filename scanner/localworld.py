"""A sample exchange on local chains: what the README's main job and the end-to-end tests scan.

Starts real local nodes (two anvil chains standing for Ethereum and Arbitrum; Bitcoin Knots regtest
when the Bitcoin adapter and node are available), writes a reserve file signed with porscan's own
keys whose snapshot heights are the local chains' snapshot blocks, funds every address at the
snapshot (native coins with anvil's balance cheat code, the USDT token through real mint
transactions), then moves money after the snapshot so that only reads at the snapshot match.
A few rows are wrong on purpose (a published amount the chain does not hold, a bad signature, an
unreadable row), and a liabilities file (porscan's simple format) sets one asset below 100%.

Everything it writes goes to one folder: reserves.csv, liabilities.csv, networks.toml, coins.toml
and expected.json (the snapshot totals per coin, computed from the world's own bookkeeping).
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_abi import encode as abi_encode
from eth_utils import keccak

from .amounts import fmt, from_base_units, to_base_units
from .localnodes import Anvil, anvil_binary, deploy, rpc, rpc_batch
from .sample_exchange import DECIMALS, build_rows, write_sample

MISMATCH_NOTE = "published amount deliberately above the chain's balance"


@dataclass
class LocalExchange:
    folder: Path
    reserves: Path
    liabilities: Path
    networks: Path
    coins: Path
    expected: dict[str, dict[str, int]]  # coin -> {"onchain": base units at the snapshot (distinct addresses), "rows": n}
    nodes: list = field(default_factory=list)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
        self.nodes.clear()

    def __enter__(self) -> "LocalExchange":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _mint_calls(url: str, token: str, dev: str, holders: dict[str, int]) -> list[tuple[str, list]]:
    """Real mint transactions, numbered explicitly so that a batch of them is not a nonce race."""
    sel = keccak(text="mint(address,uint256)")[:4]
    nonce = int(rpc(url, "eth_getTransactionCount", [dev, "pending"]), 16)
    return [("eth_sendTransaction", [{"from": dev, "to": token, "gas": hex(200_000), "nonce": hex(nonce + i),
                                      "data": "0x" + (sel + abi_encode(["address", "uint256"], [h, v])).hex()}])
            for i, (h, v) in enumerate(holders.items())]


def regtest_address(address: str) -> str:
    """The regtest encoding of a mainnet Bitcoin address's output script (the local world pays the
    very scripts the reserve file names; only the address encoding differs between the chains)."""
    from chains.utxo import chain_params, script_pubkey
    from signatures.encoding import b58check_encode, segwit_encode

    spk = script_pubkey(address, chain_params("BTC", "main"))
    if spk[:3] == b"\x76\xa9\x14":
        return b58check_encode(b"\x6f" + spk[3:23])
    if spk[:2] == b"\xa9\x14":
        return b58check_encode(b"\xc4" + spk[2:22])
    return segwit_encode("bcrt", 0 if spk[0] == 0 else spk[0] - 0x50, spk[2:])


def _fund_bitcoin(node, rows, rng: random.Random) -> tuple[int, dict[str, int]]:
    """Pay every BTC row's script its published amount, mine the snapshot block, then move on."""
    from .localbtc import btc, funded_wallet

    paid: dict[str, int] = {}
    for r in rows:
        if r.coin == "BTC":
            paid[r.address] = paid.get(r.address, 0) + to_base_units(Decimal(r.amount), 8)
    miner = funded_wallet(node, "exchange-sample", sum(paid.values()) + 10**8)
    node.rpc("sendmany", "", {regtest_address(a): btc(v) for a, v in paid.items()}, wallet="exchange-sample")
    node.rpc("generatetoaddress", 1, miner)
    height = node.rpc("getblockcount")
    # after the snapshot: one address paid again, more blocks
    first = next(iter(paid))
    node.rpc("sendtoaddress", regtest_address(first), btc(rng.randrange(10**6, 10**8)), wallet="exchange-sample")
    node.rpc("generatetoaddress", 2, miner)
    return height, paid


def build_local_exchange(folder: str | Path, seed: int = 7, scale: int = 1, bitcoin: bool = True) -> LocalExchange:
    """Start the local chains, fund the sample exchange and write its files. Call ``stop()`` after.
    ``scale`` multiplies the number of rows (30 EVM, 12 TRON, 10 Bitcoin multisig per unit). With
    ``bitcoin`` (and the Knots chroot installed by scripts/bitcoin-tools.sh), BTC rows are funded on
    a Bitcoin Knots regtest node and read at their snapshot height too."""
    if anvil_binary() is None:
        raise RuntimeError("anvil is not installed (scripts/node-tools.sh installs it)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    eth, arb = Anvil.start(), Anvil.start()
    world = LocalExchange(folder, folder / "reserves.csv", folder / "liabilities.csv", folder / "networks.toml",
                          folder / "coins.toml", {}, [eth, arb])
    try:
        rows = build_rows(seed, evm=30 * scale, tron=12 * scale, btc=10 * scale)
        # Bitcoin amounts a regtest chain can pay (its whole supply is ~15k BTC); the ownership
        # messages do not cover amounts, so the signatures stay valid
        rows = [dataclasses.replace(r, amount=fmt(Decimal(rng.randrange(10**5, 80 * 10**8)).scaleb(-8)))
                if r.coin == "BTC" else r for r in rows]
        for node, blocks in ((eth, 120), (arb, 45)):  # some history before the snapshot
            rpc(node.url, "anvil_mine", [hex(blocks)])
        token = deploy(eth.url, rpc(eth.url, "eth_accounts")[0], "TestToken", ["string", "string", "uint8"],
                       ["Tether USD (local)", "USDT", DECIMALS["USDT-ERC20"]])
        # the chains' balances at the snapshot: what each row publishes, except a deliberate mismatch
        native = {"ETH": {}, "ETH-ARBITRUM": {}}
        usdt: dict[str, int] = {}
        mismatch_line_coin = None
        for i, r in enumerate(rows):
            if r.coin not in ("ETH", "ETH-ARBITRUM", "USDT-ERC20"):
                continue
            units = to_base_units(Decimal(r.amount), DECIMALS[r.coin])
            if mismatch_line_coin is None and r.coin == "ETH" and i > 3:
                units -= 10**15  # 0.001 ETH less on chain than published
                mismatch_line_coin = (r.address, r.coin)
            bucket = usdt if r.coin == "USDT-ERC20" else native[r.coin]
            bucket[r.address] = bucket.get(r.address, 0) + units
        rpc_batch(eth.url, [("anvil_setBalance", [a, hex(v)]) for a, v in native["ETH"].items()])
        rpc_batch(arb.url, [("anvil_setBalance", [a, hex(v)]) for a, v in native["ETH-ARBITRUM"].items()])
        dev = rpc(eth.url, "eth_accounts")[0]
        rpc_batch(eth.url, _mint_calls(eth.url, token, dev, usdt))
        rpc(eth.url, "evm_mine")
        # the snapshot: each chain's head after all writes, sealed by mining
        heights = {}
        for coin, node in (("ETH", eth), ("USDT-ERC20", eth), ("ETH-ARBITRUM", arb)):
            heights[coin] = int(rpc(node.url, "eth_blockNumber"), 16)
        for node in (eth, arb):
            rpc(node.url, "evm_mine")
        # after the snapshot, money moves: a read at "latest" would not match
        movers = list(native["ETH"])[:3]
        rpc_batch(eth.url, [("anvil_setBalance", [a, hex(rng.randrange(1, 10**18))]) for a in movers])
        rpc_batch(arb.url, [("anvil_setBalance", [a, "0x0"]) for a in list(native["ETH-ARBITRUM"])[:2]])
        if usdt:
            first = next(iter(usdt))
            rpc_batch(eth.url, _mint_calls(eth.url, token, dev, {first: 777_000_000}))
        for node in (eth, arb):
            rpc(node.url, "evm_mine")
        knots = _start_knots() if bitcoin else None
        if knots is not None:
            world.nodes.append(knots)
            heights["BTC"], paid = _fund_bitcoin(knots, rows, rng)
            world.expected["BTC"] = {"onchain": sum(paid.values()), "addresses": len(paid)}
        write_sample(world.reserves, seed, with_bad_rows=True, heights=heights, rows=rows)
        world.expected |= {
            "ETH": {"onchain": sum(native["ETH"].values()), "addresses": len(native["ETH"])},
            "ETH-ARBITRUM": {"onchain": sum(native["ETH-ARBITRUM"].values()), "addresses": len(native["ETH-ARBITRUM"])},
            "USDT-ERC20": {"onchain": sum(usdt.values()), "addresses": len(usdt)},
        }
        (folder / "expected.json").write_text(json.dumps({"heights": heights, "coins": world.expected,
                                                          "mismatch": mismatch_line_coin}, indent=1))
        _write_config(world, eth.url, arb.url, token, knots)
        btc_published = sum(to_base_units(Decimal(r.amount), 8) for r in rows if r.coin == "BTC")
        _write_liabilities(world, native, usdt, btc_published)
        return world
    except BaseException:
        world.stop()
        raise


def _start_knots():
    """A Knots regtest node, or None (with the reason printed) when the chroot is not installed."""
    import sys

    from .localbtc import Knots, knots_root, tool_missing

    why = tool_missing("knots", knots_root() / "usr" / "bin" / "bitcoind")
    if why:
        print(f"porscan: no local Bitcoin node, BTC rows stay unread: {why}", file=sys.stderr)
        return None
    return Knots.start()


# coin keys the sample lists whose chains have no local node: mapped to their networks with no
# endpoint, so their rows say "network tron has no usable endpoint" instead of an unknown coin
_NO_NODE = {"TRX": ("tron", "TRX", 6), "USDT-TRC20": ("tron", "USDT", 6), "SOL": ("solana", "SOL", 9),
            "LTC": ("litecoin", "LTC", 8)}


def knots_network_toml(knots) -> str:
    """networks.toml section for a local Knots regtest node serving a file of mainnet addresses."""
    return f'''# mainnet addresses in the file, their scripts paid on a regtest node (node_chain)
[networks.bitcoin]
kind = "bitcoin"
coin = "BTC"
chain = "main"
native_symbol = "BTC"
native_decimals = 8
endpoints = [{{ label = "local-knots-regtest", url = "{knots.url}", protocol = "core", node_chain = "regtest", dump_dir = "{knots.dump_dir}", dump_dir_local = "{knots.dump_dir_local}", timeout = 600 }}]
'''


def _write_config(world: LocalExchange, eth_url: str, arb_url: str, token: str, knots) -> None:
    sections = ["# Local chains of the sample exchange (written by porscan's local world; not real networks)"]
    for nid, url in (("ethereum", eth_url), ("arbitrum", arb_url)):
        sections.append(f'''[networks.{nid}]
kind = "evm"
chain_id = 31337
native_symbol = "ETH"
native_decimals = 18
endpoints = [{{ label = "local-anvil-{nid}", url = "{url}", concurrency = 4 }}]
''')
    if knots is not None:
        sections.append(knots_network_toml(knots))
    for nid, kind in (("tron", "tron"), ("solana", "solana"), ("litecoin", "bitcoin")):
        sections.append(f'''[networks.{nid}]   # no local node: rows stay unread
kind = "{kind}"
native_symbol = "{nid.upper()}"
endpoints = []
''')
    world.networks.write_text("\n".join(sections))
    coins = [f'''# Coin keys of the sample exchange on the local chains
[ETH]
network = "ethereum"
asset = "ETH"
decimals = 18

["ETH-ARBITRUM"]
network = "arbitrum"
asset = "ETH"
decimals = 18

["USDT-ERC20"]
network = "ethereum"
asset = "USDT"
contract = "{token}"
decimals = 6

[BTC]
network = "bitcoin"
asset = "BTC"
decimals = 8
''']
    for coin, (nid, asset, decimals) in _NO_NODE.items():
        coins.append(f'''["{coin}"]
network = "{nid}"
asset = "{asset}"
decimals = {decimals}
''')
    world.coins.write_text("\n".join(coins))


def _write_liabilities(world: LocalExchange, native: dict, usdt: dict, btc_sats: int) -> None:
    eth = from_base_units(sum(native["ETH"].values()) + sum(native["ETH-ARBITRUM"].values()), 18)
    usd = from_base_units(sum(usdt.values()), 6)
    lines = ["asset,amount,source,proven",
             f"ETH,{fmt((eth * Decimal('0.9')).quantize(Decimal('0.00000001')))},sample exchange ledger,false",
             # more USDT owed than held on the chains porscan reads: a ratio below 100% on purpose
             f"USDT,{fmt((usd * Decimal('1.25')).quantize(Decimal('0.01')))},sample exchange ledger,false",
             f"BTC,{fmt((from_base_units(btc_sats, 8) * Decimal('0.95')).quantize(Decimal('0.00000001')))},sample exchange ledger,false"]
    world.liabilities.write_text("\n".join(lines) + "\n")


__all__ = ["LocalExchange", "build_local_exchange"]
