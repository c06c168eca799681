"""The snapshot window on real chains: a wallet funded just before the snapshot height H and drained just
after is window-dressed by its exact amount; one funded long before and spent long after is not; a
partial case counts b0 - max(b-, b+). Anvil (EVM, also with a duration turned into heights by block
timestamps) and Bitcoin Knots regtest (UTXO dumps at past heights). The run's balances at H are read
by the scan's own reader and stored; the window reads H -/+ w with the same adapters."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from scanner.config.networks import CoinTarget, load_networks
from scanner.errors import UsageError
from scanner.pipeline.balances import read_groups
from scanner.pipeline.plan import NO_PUBLISHED_AMOUNT, Job
from scanner.pipeline.window import parse_window, window_of_run
from scanner.storage import RunSpec, open_store
from scanner.window_model import WindowReport
from support.common import need_anvil
from support.window_world import ETH, evm_network_toml, move_money

SAT = 10**8


def _addr(i: int) -> str:
    return "0x" + f"{0xD0 + i:02x}" * 20


async def store_run(db: str, coins: dict, networks: dict, rows: list[tuple[str, str]], height: int) -> int:
    """A stored run whose balances at ``height`` were read by the scan's reader: rows are (coin, address)."""
    store = await open_store(db)
    try:
        run = await store.start_run(RunSpec(exchange="Window", input_path="window.csv", input_sha256="0" * 64,
                                            liabilities_path=None, liabilities_sha256=None, params={},
                                            tool_version="test"))
        groups: dict = {}
        for line, (coin, address) in enumerate(rows, start=2):
            groups.setdefault((coin, height), []).append(Job(line, coin, address, None, NO_PUBLISHED_AMOUNT))

        async def save(key: str, recs: list) -> None:
            await store.save_balances(run.id, key, recs)

        await read_groups(groups, coins, networks, on_slice=save)
        return run.id
    finally:
        await store.close()


async def window(db: str, run_id: int, text: str, coins: dict, networks: dict) -> WindowReport:
    store = await open_store(db, create=False)
    try:
        return await window_of_run(store, run_id, parse_window(text), coins, networks, top_n=5)
    finally:
        await store.close()


def test_parse_window():
    assert parse_window("100").blocks == 100
    assert parse_window("100 blocks").blocks == 100
    assert parse_window("3d").seconds == 3 * 86400
    assert parse_window("6h").seconds == 6 * 3600
    assert parse_window("90s").seconds == 90
    for bad in ("0", "-5", "3x", "", "1.5h"):
        with pytest.raises(UsageError):
            parse_window(bad)


# ------------------------------------------------------------------------------------------ anvil


@pytest.fixture(scope="module")
def evm_chain(tmp_path_factory):
    """The story of support/window_world.py on anvil, the run's balances at H read and stored."""
    need_anvil()
    from scanner.devnet.localnodes import Anvil

    node = Anvil.start()
    folder = tmp_path_factory.mktemp("window-evm")
    try:
        wallets = {who: _addr(i) for i, who in enumerate("abcd")}
        H = move_money(node, wallets)
        (folder / "networks.toml").write_text(evm_network_toml(node.url))
        networks = load_networks(folder / "networks.toml")
        coins = {"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18)}
        db = str(folder / "w.db")
        run_id = asyncio.run(store_run(db, coins, networks, [("ETH", wallets[x]) for x in "abcd"], H))
        yield {"node": node, "H": H, **wallets, "db": db, "run": run_id, "coins": coins, "networks": networks}
    finally:
        node.stop()


def test_evm_window_dressed_exact(evm_chain):
    e = evm_chain
    w = asyncio.run(window(e["db"], e["run"], "5", e["coins"], e["networks"]))
    eth = w.asset("ETH")
    assert eth is not None
    # A: 3 dressed; B: 0; C: 5 - max(1, 2) = 3; D: funded at H-3 and kept: 0 dressed (arrived 4)
    assert eth.dressed == Decimal(6)
    assert eth.arrived == Decimal(3 + 0 + 4 + 4)
    assert eth.left == Decimal(3 + 0 + 3 + 0)
    assert (eth.addresses, eth.addresses_read) == (4, 4)
    (place,) = eth.networks
    assert place.dressed == 6 * ETH and place.at == (3 + 7 + 5 + 4) * ETH
    by_address = {x.address: x for x in eth.top}
    assert set(by_address) == {e["a"], e["c"]}  # only wallets with a dressed amount are named
    assert (by_address[e["a"]].before, by_address[e["a"]].at, by_address[e["a"]].after) == (0, 3 * ETH, 0)
    assert (by_address[e["c"]].before, by_address[e["c"]].at, by_address[e["c"]].after) == (ETH, 5 * ETH, 2 * ETH)
    (blocks,) = w.heights
    assert (blocks.before, blocks.snapshot, blocks.after, blocks.how) == (e["H"] - 5, e["H"], e["H"] + 5, "blocks")
    assert WindowReport.from_json(w.to_json()) == w


def test_evm_wide_window_sees_the_long_held_wallet_as_present(evm_chain):
    e = evm_chain
    w = asyncio.run(window(e["db"], e["run"], "49", e["coins"], e["networks"]))
    eth = w.asset("ETH")
    assert eth is not None
    # at H-49 and H+49: B holds 7 on both sides (not dressed); A 3, C 5 - max(1, 2), D 4 - max(0, 4)
    assert eth.dressed == Decimal(3 + 0 + 3 + 0)
    assert {x.address for x in eth.top} == {e["a"], e["c"]}


def test_evm_duration_found_by_block_timestamps(evm_chain):
    e = evm_chain
    w = asyncio.run(window(e["db"], e["run"], "60s", e["coins"], e["networks"]))
    (blocks,) = w.heights
    # 12 s a block: 60 s is 5 blocks on both sides, found by binary search over timestamps
    assert (blocks.before, blocks.after, blocks.how) == (e["H"] - 5, e["H"] + 5, "block timestamps")
    assert w.asset("ETH").dressed == Decimal(6)  # type: ignore[union-attr]


def test_heights_placed_by_the_next_endpoint_when_the_first_is_down(evm_chain, tmp_path):
    e = evm_chain
    (tmp_path / "n.toml").write_text(evm_network_toml(e["node"].url).replace(
        'endpoints = [{ label = "local-anvil"',
        'endpoints = [{ label = "down", url = "http://127.0.0.1:9", timeout = 2 }, { label = "local-anvil"'))
    networks = load_networks(tmp_path / "n.toml")
    assert [ep.label for ep in networks["ethereum"].endpoints] == ["down", "local-anvil"]
    w = asyncio.run(window(e["db"], e["run"], "60s", e["coins"], networks))
    (blocks,) = w.heights
    assert (blocks.before, blocks.after, blocks.how) == (e["H"] - 5, e["H"] + 5, "block timestamps")
    assert w.asset("ETH").dressed == Decimal(6)  # type: ignore[union-attr]


def test_evm_beyond_the_head_is_unread_not_zero(evm_chain):
    e = evm_chain
    w = asyncio.run(window(e["db"], e["run"], "100", e["coins"], e["networks"]))
    eth = w.asset("ETH")
    assert eth is not None
    assert (eth.addresses, eth.addresses_read) == (4, 0)
    assert eth.dressed == 0 and eth.top == () and not eth.complete
    (unread,) = eth.unread
    assert unread.addresses == 4 and "beyond the chain head" in unread.reason
    (blocks,) = w.heights
    assert blocks.after is None and "beyond the chain head" in blocks.note
    # a duration past the head's time: the same
    w = asyncio.run(window(e["db"], e["run"], "1h", e["coins"], e["networks"]))
    assert w.asset("ETH").addresses_read == 0  # type: ignore[union-attr]
    assert "after the chain head" in w.heights[0].note


def test_networks_that_cannot_read_a_past_height_are_listed(evm_chain, tmp_path):
    e = evm_chain
    (tmp_path / "n.toml").write_text(evm_network_toml(e["node"].url) + '''
[networks.solana]
kind = "solana"
native_symbol = "SOL"
native_decimals = 9
endpoints = [{ label = "nowhere", url = "http://127.0.0.1:9" }]
''')
    networks = load_networks(tmp_path / "n.toml")
    coins = dict(e["coins"], SOL=CoinTarget("SOL", "solana", "SOL", None, 9))
    db = str(tmp_path / "s.db")
    run_id = asyncio.run(store_run(db, coins, networks, [("ETH", e["a"]), ("SOL", "So11111111111111111111111111111111111111112")],
                                   e["H"]))
    w = asyncio.run(window(db, run_id, "5", coins, networks))
    assert w.asset("SOL") is None
    (nr,) = w.not_readable
    assert nr.addresses == 1 and nr.reason.startswith("solana: not readable at a past height")
    assert w.asset("ETH").dressed == Decimal(3)  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ Knots


@pytest.fixture(scope="module")
def btc_chain(knots, tmp_path_factory):
    """Knots regtest: A paid 3 BTC at H-2 and swept at H+2, B 7 BTC at H-50 swept at H+50, C 1 BTC
    before, 5 at H (4 more at H-3), 2 after (swept and paid 2 again at H+2). One wallet each, so a
    sweep empties exactly that address; the miner pays the fees of what it sends."""
    from scanner.devnet.localbtc import btc, funded_wallet

    miner = funded_wallet(knots, "window-miner", 30 * SAT)
    addr = {}
    for who in "abc":
        knots.rpc("createwallet", f"window-{who}")
        addr[who] = knots.rpc("getnewaddress", "", "bech32", wallet=f"window-{who}")

    def pay(who: str, sats: int) -> None:
        knots.rpc("sendtoaddress", addr[who], btc(sats), wallet="window-miner")

    def sweep(who: str) -> None:
        knots.rpc("sendall", [miner], wallet=f"window-{who}")

    clock = [int(knots.rpc("getblockheader", knots.rpc("getbestblockhash"))["time"])]

    def mine(n: int = 1) -> int:
        for _ in range(n):  # ten minutes a block (the node's mock time), so a duration maps to heights
            clock[0] += 600
            knots.rpc("setmocktime", clock[0])
            knots.rpc("generatetoaddress", 1, miner)
        return knots.rpc("getblockcount")

    pay("b", 7 * SAT)
    pay("c", 1 * SAT)
    H = mine() + 50
    mine(H - 4 - knots.rpc("getblockcount"))
    pay("c", 4 * SAT)
    mine()  # H - 3
    pay("a", 3 * SAT)
    assert mine() == H - 2
    mine(3)  # H + 1
    sweep("a")
    sweep("c")
    pay("c", 2 * SAT)
    assert mine() == H + 2
    mine(H + 49 - (H + 2))
    sweep("b")
    assert mine() == H + 50
    mine(3)
    folder = tmp_path_factory.mktemp("window-btc")
    (folder / "networks.toml").write_text(f'''[networks.bitcoin]
kind = "bitcoin"
coin = "BTC"
chain = "regtest"
native_symbol = "BTC"
native_decimals = 8
endpoints = [{{ label = "local-knots", url = "{knots.url}", protocol = "core", dump_dir = "{knots.dump_dir}", dump_dir_local = "{knots.dump_dir_local}", timeout = 600 }}]
''')
    networks = load_networks(folder / "networks.toml")
    coins = {"BTC": CoinTarget("BTC", "bitcoin", "BTC", None, 8)}
    db = str(folder / "b.db")
    run_id = asyncio.run(store_run(db, coins, networks, [("BTC", addr[x]) for x in "abc"], H))
    return {"H": H, **addr, "db": db, "run": run_id, "coins": coins, "networks": networks}


def test_knots_window_dressed_exact(btc_chain):
    b = btc_chain
    w = asyncio.run(window(b["db"], b["run"], "5", b["coins"], b["networks"]))
    btc_ = w.asset("BTC")
    assert btc_ is not None
    assert (btc_.addresses, btc_.addresses_read) == (3, 3)
    # A: 3 dressed; B: present on both sides; C: 5 - max(1, 2) = 3
    assert btc_.dressed == Decimal(6)
    assert btc_.arrived == Decimal(3 + 0 + 4)
    assert btc_.left == Decimal(3 + 0 + 3)
    top = {x.address: (x.before, x.at, x.after) for x in btc_.top}
    assert top == {b["a"]: (0, 3 * SAT, 0), b["c"]: (SAT, 5 * SAT, 2 * SAT)}
    (blocks,) = w.heights
    assert (blocks.before, blocks.after) == (b["H"] - 5, b["H"] + 5)


def test_knots_duration_found_by_block_times(btc_chain):
    b = btc_chain
    w = asyncio.run(window(b["db"], b["run"], "50m", b["coins"], b["networks"]))
    (blocks,) = w.heights
    # ten minutes a block: 50 minutes is 5 blocks, found from the headers' times
    assert (blocks.before, blocks.after, blocks.how) == (b["H"] - 5, b["H"] + 5, "block timestamps")
    assert "not strictly increasing" in blocks.note
    assert w.asset("BTC").dressed == Decimal(6)  # type: ignore[union-attr]


def test_knots_beyond_the_head_is_unread(btc_chain):
    b = btc_chain
    w = asyncio.run(window(b["db"], b["run"], "200", b["coins"], b["networks"]))
    btc_ = w.asset("BTC")
    assert btc_ is not None and btc_.addresses_read == 0 and btc_.dressed == 0
    assert "beyond the chain head" in btc_.unread[0].reason


# ------------------------------------------------------------------------------------------ rubric


def _window_of(dressed: str, read: int = 4, addresses: int = 4) -> WindowReport:
    from scanner.window_model import WindowAsset

    return WindowReport(window="5", blocks=5, seconds=None, top_n=5, assets=(WindowAsset(
        asset="ETH", dressed=Decimal(dressed), arrived=Decimal(dressed), left=Decimal(dressed), at=Decimal(100),
        addresses=addresses, addresses_read=read),))


def test_rubric_grades_the_dressed_share_of_proven_reserves():
    import dataclasses

    from scanner.pipeline.rubric import rubric
    from scanner.report_model import ScanReport
    from support.reports import scan_report

    fig = {"published": "100", "onchain": "100", "proven": "100", "rows": 4, "rows_expected": 4, "rows_read": 4}
    base = scan_report({"assets": [{"asset": "ETH", **fig, "networks": []}]})

    def graded(window: WindowReport | None) -> tuple[str, str]:
        c = next(c for c in rubric(dataclasses.replace(base, window=window)).criteria if c.name == "window")
        return c.grade, c.value

    assert graded(None)[0] == "-"
    assert graded(_window_of("0"))[0] == "A"
    assert graded(_window_of("0.5"))[0] == "B"  # 0.5 %
    assert graded(_window_of("5"))[0] == "C"
    grade, value = graded(_window_of("50"))
    assert grade == "D" and "ETH 50" in value
    assert graded(_window_of("50", read=0))[0] == "-"  # nothing read on both sides: not measured
    # a stored report carries its window, and one stored before windows existed still loads
    report = dataclasses.replace(base, window=_window_of("5"))
    doc = report.to_json()
    assert ScanReport.from_json(doc).window == report.window
    assert "window" not in base.to_json() and ScanReport.from_json(base.to_json()).window is None


def test_a_duration_without_block_times(tmp_path):
    """An Electrum endpoint tells no block times: a duration on Bitcoin becomes d / 600 s blocks, said to
    be an approximation; on a kind with no clock at all it is not placed (never guessed)."""
    from scanner.pipeline.window import _place

    (tmp_path / "n.toml").write_text('''[networks.bitcoin]
kind = "bitcoin"
coin = "BTC"
native_symbol = "BTC"
native_decimals = 8
endpoints = [{ label = "ex", url = "tcp://127.0.0.1:9" }]

[networks.litecoin]
kind = "bitcoin"
coin = "LTC"
native_symbol = "LTC"
native_decimals = 8
endpoints = [{ label = "ex", url = "tcp://127.0.0.1:9" }]

[networks.tron]
kind = "tron"
native_symbol = "TRX"
native_decimals = 6
endpoints = [{ label = "t", url = "http://127.0.0.1:9", balance_history = true }]
''')
    nets = load_networks(tmp_path / "n.toml")
    btc_ = asyncio.run(_place(nets["bitcoin"], 1000, parse_window("1h"), []))
    assert (btc_.before, btc_.after) == (994, 1006) and btc_.how.startswith("approximation: 3600s / 600s")
    ltc = asyncio.run(_place(nets["litecoin"], 1000, parse_window("1h"), []))
    assert (ltc.before, ltc.after) == (976, 1024)  # 150 s blocks
    early = asyncio.run(_place(nets["bitcoin"], 3, parse_window("5"), []))
    assert (early.before, early.after) == (None, 8) and "before block 0" in early.note
    tron = asyncio.run(_place(nets["tron"], 1000, parse_window("1h"), []))
    assert tron.before is None and tron.after is None and "give tron w in blocks" in tron.note
