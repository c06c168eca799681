"""A sample exchange on local chains: what the README's main job and the end-to-end tests scan.

Starts real local nodes (two anvil chains standing for Ethereum and Arbitrum; Bitcoin Knots regtest
and litecoind regtest when those nodes are installed) and, for the chains no node can run here
(TRON, Solana), the FAKE stand-ins of scanner/devnet/fake_tron_solana.py, in-process on 127.0.0.1,
their endpoint labels starting with ``FAKE``. It writes a reserve file signed with porscan's own
keys whose snapshot heights are the local chains' snapshot blocks, funds every address at the
snapshot (native coins with anvil's balance cheat code, the USDT token through real mint
transactions, BTC and LTC by paying the mainnet addresses' scripts on regtest, TRX, USDT-TRC20 and
SOL in the FAKE servers' state), then moves money after the snapshot on the real nodes so that only
reads at the snapshot match. TRON and Solana cannot be read at a height: those figures are read at
the latest block and labelled so (the FAKE chains do not move money after the snapshot, so their
totals still equal the snapshot's). A few rows are wrong on purpose (a published amount the chain
does not hold, a bad signature, an unreadable row), and a liabilities file (porscan's simple format)
sets one asset below 100%.

Everything it writes goes to one folder: reserves.csv, liabilities.csv, networks.toml, coins.toml
and expected.json (the snapshot totals per coin, computed from the world's own bookkeeping).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_abi import encode as abi_encode
from eth_utils import keccak

from ..amounts import fmt, from_base_units, to_base_units
from .localnodes import Anvil, anvil_binary, deploy, rpc, rpc_batch
from .sample_exchange import DECIMALS, HEIGHTS, build_rows, write_sample

USDT_TRC20_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # the mainnet USDT contract address, served by the FAKE
def units_of(amount: str, decimals: int) -> int:
    """A sample row's amount in base units (the sample writes only amounts its coin can hold)."""
    units = to_base_units(Decimal(amount), decimals)
    if units is None:
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return units


MISMATCH_NOTE = "published amount deliberately above the chain's balance"


@dataclass
class LocalExchange:
    folder: Path
    reserves: Path
    liabilities: Path
    networks: Path
    coins: Path
    expected: dict[str, dict]  # coin -> {"onchain": base units at the snapshot, "addresses": distinct addresses,
    #                                   "at_snapshot": whether porscan can read it at the snapshot height}
    nodes: list = field(default_factory=list)  # local nodes and FAKE servers: anything with stop()

    def stop(self) -> None:
        """Stop every node and server (each one even when another fails; the first error is raised)."""
        first: BaseException | None = None
        while self.nodes:
            try:
                self.nodes.pop().stop()
            except BaseException as exc:  # noqa: BLE001 - re-raised after the others are stopped
                first = first or exc
        if first is not None:
            raise first

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


_REGTEST_PREFIXES = {"BTC": (b"\x6f", b"\xc4", "bcrt"), "LTC": (b"\x6f", b"\x3a", "rltc")}  # P2PKH, P2SH, bech32 hrp


def regtest_address(address: str, coin: str = "BTC") -> str:
    """The regtest encoding of a mainnet Bitcoin (or Litecoin) address's output script (the local world
    pays the very scripts the reserve file names; only the address encoding differs between the chains)."""
    from chains.utxo import chain_params, script_pubkey
    from signatures.encoding import b58check_encode, segwit_encode

    p2pkh, p2sh, hrp = _REGTEST_PREFIXES[coin]
    spk = script_pubkey(address, chain_params(coin, "main"))
    if spk[:3] == b"\x76\xa9\x14":
        return b58check_encode(p2pkh + spk[3:23])
    if spk[:2] == b"\xa9\x14":
        return b58check_encode(p2sh + spk[2:22])
    return segwit_encode(hrp, 0 if spk[0] == 0 else spk[0] - 0x50, spk[2:])


def _fund_bitcoin(node, rows, rng: random.Random, coin: str = "BTC") -> tuple[int, dict[str, int]]:
    """Pay every ``coin`` row's script its published amount on a regtest node, mine the snapshot
    block, then move on (one address paid again, more blocks)."""
    from .localbtc import btc, funded_wallet

    paid: dict[str, int] = {}
    for r in rows:
        if r.coin == coin:
            paid[r.address] = paid.get(r.address, 0) + units_of(r.amount, 8)
    miner = funded_wallet(node, "exchange-sample", sum(paid.values()) + 10**8)
    node.rpc("sendmany", "", {regtest_address(a, coin): btc(v) for a, v in paid.items()}, wallet="exchange-sample")
    node.rpc("generatetoaddress", 1, miner)
    height = node.rpc("getblockcount")
    # after the snapshot: one address paid again, more blocks
    first = next(iter(paid))
    node.rpc("sendtoaddress", regtest_address(first, coin), btc(rng.randrange(10**6, 10**8)), wallet="exchange-sample")
    node.rpc("generatetoaddress", 2, miner)
    return height, paid


def _sums(rows, coin: str) -> dict[str, int]:
    """address -> the base units its ``coin`` rows publish (summed)."""
    out: dict[str, int] = {}
    for r in rows:
        if r.coin == coin:
            out[r.address] = out.get(r.address, 0) + units_of(r.amount, DECIMALS[coin])
    return out


def _serve_fakes(rows, world: "LocalExchange", heights: dict[str, int]) -> tuple[str | None, str | None]:
    """The FAKE TRON and Solana servers (threads in this process), funded with what the TRX,
    USDT-TRC20 and SOL rows publish; their URLs, or (None, None) with the reason printed."""
    try:
        from .fake_tron_solana import FakeSolana, FakeTron, tron_addr
    except ImportError as exc:  # a dependency of the stand-ins missing: the rest of the demo still runs
        print(f"porscan: FAKE TRON/Solana stand-ins unavailable ({exc}); TRX, USDT-TRC20 and SOL rows stay unread",
              file=sys.stderr)
        return None, None
    trx, usdt, sol = _sums(rows, "TRX"), _sums(rows, "USDT-TRC20"), _sums(rows, "SOL")
    # TRON: some history, every balance written at the snapshot block, then a few blocks where
    # nothing moves (the reads are at the latest block, labelled so; their totals equal the snapshot's)
    tron_snapshot = heights["TRX"]
    tron = FakeTron(history_lookup=False, start_block=tron_snapshot - 20, seed="porscan-demo")
    tron.mine(20)
    contract = tron_addr(USDT_TRC20_CONTRACT)
    tron.add_token(contract, DECIMALS["USDT-TRC20"])
    for a, v in trx.items():
        tron.set_trx(tron_addr(a), v)
    for a, v in usdt.items():
        tron.set_token(contract, tron_addr(a), v)
    tron.mine(3)
    # Solana: the slot is past the snapshot and advances with every request
    sol_fake = FakeSolana(slot=heights["SOL"] + 12, slot_step=1)
    sol_fake.lamports.update(sol)
    servers = []
    for fake in (tron, sol_fake):
        servers.append(fake.serve().start())
        world.nodes.append(servers[-1])  # stopped with the world
    for coin, bucket in (("TRX", trx), ("USDT-TRC20", usdt), ("SOL", sol)):
        world.expected[coin] = {"onchain": sum(bucket.values()), "addresses": len(bucket), "at_snapshot": False}
    return servers[0].url, servers[1].url


def build_local_exchange(folder: str | Path, seed: int = 7, scale: int = 1, bitcoin: bool = True,
                         litecoin: bool = True, tron_solana: bool = True) -> LocalExchange:
    """Start the local chains, fund the sample exchange and write its files. Call ``stop()`` after
    (it stops every node and server, also when building fails half-way).

    ``scale`` multiplies the number of rows (30 EVM, 12 TRON, 10 Bitcoin multisig per unit). With
    ``bitcoin`` (and the Knots chroot installed by scripts/bitcoin-tools.sh), BTC rows are funded on
    a Bitcoin Knots regtest node and read at their snapshot height too. With ``litecoin`` (and
    litecoind installed), the LTC row is funded on a litecoind regtest node and read at its snapshot
    height (money moves after it; the endpoint allows porscan's invalidateblock rollback). With
    ``tron_solana``, the TRX, USDT-TRC20 and SOL rows are served by the FAKE TRON and Solana servers
    (threads in this process, labels starting with ``FAKE``), read at the latest block. A node or
    stand-in that is missing leaves its rows unread, with the reason printed on stderr."""
    if anvil_binary() is None:
        raise RuntimeError("anvil is not installed (scripts/node-tools.sh installs it)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    world = LocalExchange(folder=folder, reserves=folder / "reserves.csv", liabilities=folder / "liabilities.csv",
                          networks=folder / "networks.toml",
                          coins=folder / "coins.toml", expected={}, nodes=[])
    try:
        eth = Anvil.start()
        world.nodes.append(eth)
        arb = Anvil.start()
        world.nodes.append(arb)
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
        native: dict[str, dict[str, int]] = {"ETH": {}, "ETH-ARBITRUM": {}}
        usdt: dict[str, int] = {}
        mismatch_line_coin = None
        for i, r in enumerate(rows):
            if r.coin not in ("ETH", "ETH-ARBITRUM", "USDT-ERC20"):
                continue
            units = units_of(r.amount, DECIMALS[r.coin])
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
            world.expected["BTC"] = {"onchain": sum(paid.values()), "addresses": len(paid), "at_snapshot": True}
        ltc = _start_litecoind() if litecoin else None
        if ltc is not None:
            world.nodes.append(ltc)
            heights["LTC"], paid = _fund_bitcoin(ltc, rows, rng, coin="LTC")
            world.expected["LTC"] = {"onchain": sum(paid.values()), "addresses": len(paid), "at_snapshot": True}
        tron_url = sol_url = None
        if tron_solana:
            heights |= {"TRX": HEIGHTS["TRX"], "USDT-TRC20": HEIGHTS["USDT-TRC20"], "SOL": HEIGHTS["SOL"]}
            tron_url, sol_url = _serve_fakes(rows, world, heights)
        write_sample(world.reserves, seed, with_bad_rows=True, heights=heights, rows=rows)
        world.expected |= {
            "ETH": {"onchain": sum(native["ETH"].values()), "addresses": len(native["ETH"]), "at_snapshot": True},
            "ETH-ARBITRUM": {"onchain": sum(native["ETH-ARBITRUM"].values()), "addresses": len(native["ETH-ARBITRUM"]),
                             "at_snapshot": True},
            "USDT-ERC20": {"onchain": sum(usdt.values()), "addresses": len(usdt), "at_snapshot": True},
        }
        (folder / "expected.json").write_text(json.dumps({"heights": heights, "coins": world.expected,
                                                          "mismatch": mismatch_line_coin}, indent=1))
        _write_config(world, eth.url, arb.url, token, knots, ltc, tron_url, sol_url)
        _write_liabilities(world, rows, native, usdt)
        return world
    except BaseException:
        world.stop()
        raise


def _start_knots():
    """A Knots regtest node, or None (with the reason printed) when the chroot is not installed."""
    from .localbtc import Knots, knots_root, tool_missing

    why = tool_missing("knots", knots_root() / "usr" / "bin" / "bitcoind")
    if why:
        print(f"porscan: no local Bitcoin node, BTC rows stay unread: {why}", file=sys.stderr)
        return None
    return Knots.start()


def _start_litecoind():
    """A litecoind regtest node, or None (with the reason printed) when litecoind is not installed."""
    from .localbtc import Litecoind, litecoind_bin, tool_missing

    why = tool_missing("litecoind", litecoind_bin())
    if why:
        print(f"porscan: no local Litecoin node, LTC rows stay unread: {why}", file=sys.stderr)
        return None
    return Litecoind.start(extra="keypool=1")  # a one-key pool: createwallet in ms, not ~1 s


# coin keys of the sample outside Ethereum/Arbitrum/Bitcoin: (network, asset, decimals, contract).
# A network with no local node or stand-in gets no endpoint, so its rows say "network tron has no
# usable endpoint" instead of an unknown coin
_OTHER_COINS = {"TRX": ("tron", "TRX", 6, None), "USDT-TRC20": ("tron", "USDT", 6, USDT_TRC20_CONTRACT),
                "SOL": ("solana", "SOL", 9, None), "LTC": ("litecoin", "LTC", 8, None)}


_REPLAYED = "# mainnet addresses in the file, their scripts paid on a regtest node (node_chain)"


def knots_network_toml(knots) -> str:
    """networks.toml section for a local Knots regtest node serving a file of mainnet addresses."""
    return _section("bitcoin", "bitcoin", "BTC", 8,
                    f'label = "local-knots-regtest", url = "{knots.url}", protocol = "core", node_chain = "regtest", '
                    f'dump_dir = "{knots.dump_dir}", dump_dir_local = "{knots.dump_dir_local}", timeout = 600',
                    _REPLAYED, 'coin = "BTC"\nchain = "main"\n')


def litecoind_network_toml(node) -> str:
    """networks.toml section for a local litecoind regtest node serving a file of mainnet addresses.
    Litecoin Core 0.21 has no UTXO dump at a past height: with money moved after the snapshot, porscan
    reads it by rolling the node back (invalidateblock, scantxoutset, reconsiderblock)."""
    return _section("litecoin", "bitcoin", "LTC", 8,
                    f'label = "local-litecoind-regtest", url = "{node.url}", protocol = "core", node_chain = "regtest", '
                    'allow_rollback = true, timeout = 600', _REPLAYED, 'coin = "LTC"\nchain = "main"\n')


def _section(nid: str, kind: str, symbol: str, decimals: int, endpoint: str, comment: str, extra: str = "") -> str:
    return f"""{comment}
[networks.{nid}]
kind = "{kind}"
{extra}native_symbol = "{symbol}"
native_decimals = {decimals}
endpoints = [{{ {endpoint} }}]
"""


def fake_network_toml(tron_url: str | None, sol_url: str | None) -> str:
    """networks.toml sections for the FAKE TRON and Solana stand-ins (labels start with FAKE)."""
    out = []
    if tron_url:
        out.append(_section("tron", "tron", "TRX", 6,
                            f'label = "FAKE-tron-local", url = "{tron_url}", concurrency = 8, balance_history = false, '
                            f'jsonrpc_url = "{tron_url}/jsonrpc"',
                            "# FAKE stand-in, not a node: no TRON node can run here (scanner/devnet/fake_tron_solana.py).\n"
                            "# No balance history: TRX and USDT-TRC20 are read at the latest block and labelled so;\n"
                            "# USDT-TRC20 through its JSON-RPC in batches (jsonrpc_url)"))
    if sol_url:
        out.append(_section("solana", "solana", "SOL", 9, f'label = "FAKE-solana-local", url = "{sol_url}", concurrency = 4',
                            "# FAKE stand-in, not a validator: no Solana validator can run here "
                            "(scanner/devnet/fake_tron_solana.py).\n"
                            "# Solana has no balance at a slot: SOL is read at the latest slot and labelled so"))
    return "\n".join(out)


def _write_config(world: LocalExchange, eth_url: str, arb_url: str, token: str, knots, ltc=None,
                  tron_url: str | None = None, sol_url: str | None = None) -> None:
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
    if ltc is not None:
        sections.append(litecoind_network_toml(ltc))
    sections.append(fake_network_toml(tron_url, sol_url))
    served = {"tron": tron_url, "solana": sol_url, "litecoin": ltc}
    for nid, kind in (("tron", "tron"), ("solana", "solana"), ("litecoin", "bitcoin")):
        if served[nid] is None:
            sections.append(f'''[networks.{nid}]   # no local node: rows stay unread
kind = "{kind}"
native_symbol = "{nid.upper()}"
endpoints = []
''')
    world.networks.write_text("\n".join(s for s in sections if s))
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
    for coin, (nid, asset, decimals, contract) in _OTHER_COINS.items():
        lines = [f'["{coin}"]', f'network = "{nid}"', f'asset = "{asset}"']
        if contract:
            lines.append(f'contract = "{contract}"')
        coins.append("\n".join(lines + [f"decimals = {decimals}", ""]))
    world.coins.write_text("\n".join(coins))


def _write_liabilities(world: LocalExchange, rows, native: dict, usdt: dict) -> None:
    """The sample's liabilities: ETH at 90% of its reserves, USDT at 125% (below 100% on purpose), BTC
    at 95% of what the file publishes, and LTC, TRX and SOL (90-95%) when their chains are read here."""
    def published(coin: str):
        return sum((Decimal(r.amount) for r in rows if r.coin == coin), Decimal(0))

    def line(asset: str, amount: Decimal, factor: str, places: str = "0.00000001") -> str:
        return f"{asset},{fmt((amount * Decimal(factor)).quantize(Decimal(places)))},sample exchange ledger,false"

    eth = from_base_units(sum(native["ETH"].values()) + sum(native["ETH-ARBITRUM"].values()), 18)
    usd_units = sum(usdt.values()) + world.expected.get("USDT-TRC20", {}).get("onchain", 0)
    lines = ["asset,amount,source,proven", line("ETH", eth, "0.9"),
             # more USDT owed than held on the chains porscan reads: a ratio below 100% on purpose
             line("USDT", from_base_units(usd_units, 6), "1.25", "0.01"),
             line("BTC", published("BTC"), "0.95")]
    for asset, factor in (("LTC", "0.95"), ("TRX", "0.9"), ("SOL", "0.9")):
        if asset in world.expected:
            lines.append(line(asset, published(asset), factor))
    world.liabilities.write_text("\n".join(lines) + "\n")


__all__ = ["LocalExchange", "build_local_exchange", "fake_network_toml", "knots_network_toml",
           "litecoind_network_toml", "regtest_address"]
