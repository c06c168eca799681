"""TRON adapter against the FAKE TRON HTTP API (scanner/devnet/fake_tron_solana.py; no TRON node can run here).

State is built on real secp256k1 keys (tronpy) and base58check addresses. Covers TRX at the snapshot
block on a balance-history node, the silent-zero trap of a node without history, reads at the latest
block and their labels, TRC-20 (latest only), reverting / missing / mis-configured tokens, bad
addresses, failover, API-key headers, and faults at 20 %: totals stay exact, nothing unread is a zero.
Also ``porscan balances`` end to end on a CSV with TRX, USDT-TRC20 and SOL rows against both fakes.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from support.common import balances_then_close
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from chains.failover import FailoverAdapter, per_endpoint
from chains.tron import TronAdapter, tron_address
from scanner.devnet.fake_tron_solana import USDT_SPL_MINT, FakeSolana, FakeTron, Faults, solana_world, tron_world

TRX = Asset("tron", "TRX", 6)


def _node(history: bool, seed: str):
    fake = FakeTron(history_lookup=history, seed=seed)
    world = tron_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


@pytest.fixture(scope="module")
def history_node():
    yield from _node(True, "hist")


@pytest.fixture(scope="module")
def plain_node():
    """A node WITHOUT balance history: getaccountbalance answers 0 for everything."""
    yield from _node(False, "plain")


def read(endpoints, asset, addresses, height, options=None, **kw):
    eps = endpoints if isinstance(endpoints, list) else [Endpoint("FAKE-TRON", endpoints, concurrency=8)]
    opts = options if isinstance(options, list) else [options or {}] * len(eps)

    async def go():
        pairs = [(ep, opts[i] if i < len(opts) else {}) for i, ep in enumerate(eps)]
        adapters, left_out = per_endpoint(pairs, lambda p: p[0].label, lambda p: TronAdapter("tron", *p, **kw))
        ad = FailoverAdapter("tron", adapters, notes=left_out)
        return await balances_then_close(asset, ad, addresses, height), ad

    return asyncio.run(go())


def usdt(world) -> Asset:
    return Asset("tron", "USDT", 6, world["usdt_contract"])


def test_fixture_keys_are_real_tron_addresses(history_node):
    _, world, _ = history_node
    from tronpy.keys import PrivateKey, to_base58check_address

    from scanner.devnet.fake_tron_solana import seeded

    addr = next(iter(world["trx"]))
    assert addr.startswith("T") and to_base58check_address(world["hex"][addr]) == addr
    assert PrivateKey(seeded("tron/w/0")).public_key.to_base58check_address() == addr
    assert tron_address(addr) == bytes.fromhex(world["hex"][addr]) == tron_address(world["hex"][addr])


def test_trx_at_snapshot_on_a_history_node(history_node):
    fake, world, url = history_node
    addrs = list(world["trx"])
    batch, _ = read(url, TRX, addrs, world["snapshot"], {"balance_history": True})
    assert batch.complete and "getaccountbalance" in batch.strategy
    got = {r.address: r.amount_base_units for r in batch.results}
    assert got == world["trx"]
    assert any(world["trx"][a] != world["trx_latest"][a] for a in world["moved"])  # the snapshot matters
    assert max(world["trx"].values()) > 2**62  # exact beyond float precision
    assert all(got[a] == 0 for a in world["never_activated"])
    assert all(r.block.at_snapshot and r.block.number == world["snapshot"] and r.block.hash == fake.block_id(world["snapshot"])
               for r in batch.results)
    assert "FAKE-TRON" in batch.notes[0] and "balance history verified" in batch.notes[0]


def test_silent_zero_node_is_detected_and_read_at_latest(plain_node):
    fake, world, url = plain_node
    addrs = list(world["trx"])
    # the trap is real: this node says 0 at the snapshot for an account that held TRX then
    rich = next(a for a in addrs if world["trx"][a] > 0)
    answer = fake.getaccountbalance({"account_identifier": {"address": world["hex"][rich]},
                                     "block_identifier": {"hash": fake.block_id(world["snapshot"]), "number": world["snapshot"]}})
    assert answer.get("balance") == 0 and "Error" not in answer
    batch, _ = read(url, TRX, addrs, world["snapshot"], {"balance_history": True})
    assert batch.complete and "getaccount@latest" in batch.strategy
    assert {r.address: r.amount_base_units for r in batch.results} == world["trx_latest"]
    assert all(not r.block.at_snapshot and r.block.number == fake.head for r in batch.results)
    assert any("keeps no balance history" in n for n in batch.notes)
    assert any(f"NOT at snapshot block {world['snapshot']}" in n for n in batch.notes)


def test_unverifiable_history_is_not_trusted(plain_node):
    """Only never-activated accounts in the batch: no witness proves history, so latest is used."""
    _, world, url = plain_node
    batch, _ = read(url, TRX, world["never_activated"], world["snapshot"], {"balance_history": True})
    assert batch.complete and all(r.amount_base_units == 0 and not r.block.at_snapshot for r in batch.results)
    assert any("could not be verified" in n for n in batch.notes)


def test_history_probe_address_from_config(plain_node, history_node):
    """A configured probe account lets a history node be verified even when the batch holds nothing."""
    _, hworld, hurl = history_node
    rich = next(a for a in hworld["trx"] if hworld["trx_latest"][a] > 0)
    batch, _ = read(hurl, TRX, hworld["never_activated"], hworld["snapshot"], {"balance_history": True},
                    probe_addresses=[rich])
    assert batch.complete and all(r.block.at_snapshot for r in batch.results)


def test_latest_without_declared_history_is_labelled(history_node):
    fake, world, url = history_node
    batch, ad = read(url, TRX, list(world["trx"]), world["snapshot"])
    assert {r.address: r.amount_base_units for r in batch.results} == world["trx_latest"]
    assert all(r.block.number == fake.head and not r.block.at_snapshot and "not the snapshot" in r.block.label
               for r in batch.results)
    assert batch.requests == len(world["trx"]) + 2 == ad.requests  # one per address + head before/after


def test_history_node_first_then_failover_for_what_it_missed(history_node, plain_node):
    _, world, hurl = history_node
    _, _, purl = plain_node
    eps = [Endpoint("FAKE-TRON-plain", purl), Endpoint("FAKE-TRON-history", hurl)]
    batch, _ = read(eps, TRX, list(world["trx"]), world["snapshot"], [{}, {"balance_history": True}])
    assert batch.strategy.startswith("FAKE-TRON-history:getaccountbalance")
    assert {r.address: r.amount_base_units for r in batch.results} == world["trx"]
    assert {r.endpoint for r in batch.results} == {"FAKE-TRON-history"}


def test_trc20_is_read_at_latest_and_labelled(history_node):
    fake, world, url = history_node
    holders = list(world["usdt"])
    batch, _ = read(url, usdt(world), holders, world["snapshot"], {"balance_history": True})
    assert batch.complete and "triggerconstantcontract@latest" in batch.strategy
    assert {r.address: r.amount_base_units for r in batch.results} == world["usdt"]
    assert max(world["usdt"].values()) > 2**70  # uint256 words decoded exactly
    assert all(not r.block.at_snapshot and r.block.number == fake.head for r in batch.results)
    assert any("TRC-20 balances exist only at the latest block" in n for n in batch.notes)
    usdc = Asset("tron", "USDC", 6, world["usdc_contract"])
    batch, _ = read(url, usdc, holders, None)
    assert {r.address: r.amount_base_units for r in batch.results} == world["usdc"]


def test_trc20_in_jsonrpc_batches(history_node):
    """With ``jsonrpc_url``, balanceOf goes out as eth_call batches of ``max_batch``: the same exact
    balances in a few requests instead of one per holder, under the endpoint's API-key header."""
    fake, world, url = history_node
    holders = list(world["usdt"]) * 3  # 24 holders, each read once: 5 batches of at most 5
    before = dict(fake.calls)
    opts = {"jsonrpc_url": url + "/jsonrpc", "max_batch": 5, "headers": {"TRON-PRO-API-KEY": "FAKE-key"}}
    batch, ad = read(url, usdt(world), holders, world["snapshot"], opts)
    assert batch.complete and "eth_call@latest" in batch.strategy
    assert {r.address: r.amount_base_units for r in batch.results} == world["usdt"]
    assert batch.total_base_units == 3 * sum(world["usdt"].values())
    assert max(world["usdt"].values()) > 2**70  # the word is decoded exactly
    assert all(not r.block.at_snapshot and r.block.number == fake.head for r in batch.results)
    sent = {k: fake.calls[k] - before.get(k, 0) for k in fake.calls}
    assert sent["/jsonrpc"] == 5 and sent.get("/wallet/triggerconstantcontract", 0) == 1  # decimals() only
    assert batch.requests == 5 + 1 + 2  # batches, decimals, head before and after
    assert fake.api_keys["FAKE-key"] >= 8
    assert not any("read again" in n for n in batch.notes)


def test_trc20_batch_refused_whole_is_read_one_by_one(history_node):
    """A node whose maxBatchSize is below the endpoint's max_batch refuses each batch with one error
    object: every balance is then read through triggerconstantcontract, exactly, and the note says so."""
    fake, world, url = history_node
    holders = list(world["usdt"])
    before = fake.calls["/wallet/triggerconstantcontract"]
    fake.jsonrpc_max_batch = 10
    try:
        batch, _ = read(url, usdt(world), holders, None, {"jsonrpc_url": url + "/jsonrpc", "max_batch": 12},
                        attempts=2, backoff_min=0.001, backoff_max=0.002)
        assert fake.jsonrpc([{"id": i, "method": "eth_blockNumber", "params": []} for i in range(11)])["error"]["code"] == -32005
    finally:
        fake.jsonrpc_max_batch = 100
    assert batch.complete and {r.address: r.amount_base_units for r in batch.results} == world["usdt"]
    assert fake.calls["/wallet/triggerconstantcontract"] - before == len(holders) + 1
    (note,) = [n for n in batch.notes if "read again" in n]
    assert f"{len(holders)} of {len(holders)} TRC-20 balances" in note and "batch rejected" in note


@pytest.mark.parametrize("case", ["reverting", "missing"])
def test_broken_tokens_over_jsonrpc_are_errors_not_zeros(history_node, case):
    """``"0x"`` (no contract) and a revert are not balances on the JSON-RPC path either."""
    fake, world, url = history_node
    contract = world[case]
    to = "0x" + tron_address(contract)[1:].hex()
    holder = tron_address(next(iter(world["usdt"])))
    call = {"id": 1, "method": "eth_call", "params": [{"to": to, "data": "0x70a08231" + "0" * 24 + holder[1:].hex()}, "latest"]}
    from chains.tron import parse_call_word
    answer = fake.jsonrpc([call])[0]
    value, err = parse_call_word(answer.get("result", RuntimeError(str(answer.get("error")))))
    assert value is None and err
    asset = Asset("tron", "BAD", 6, contract)  # its decimals() check fails first: nothing is read at all
    batch, _ = read(url, asset, list(world["usdt"])[:6], None, {"jsonrpc_url": url + "/jsonrpc"})
    expect = {"reverting": "REVERT", "missing": "Smart contract is not exist"}[case]
    assert batch.read == 0 and batch.total_base_units == 0 and all(expect in r.error for r in batch.results)


def test_jsonrpc_word_parsing():
    from chains.tron import parse_call_word

    assert parse_call_word("0x" + "00" * 31 + "2a") == (42, None)
    assert parse_call_word("0x" + "ff" * 32)[0] == 2**256 - 1
    for bad in ("0x", "0x" + "00" * 33, "0x" + "0g" * 32, None, 7, {"x": 1}, "00" * 32):
        value, err = parse_call_word(bad)
        assert value is None and "not one 32-byte word" in err, bad
    value, err = parse_call_word(RuntimeError("HTTP 500"))
    assert value is None and err == "eth_call: HTTP 500"


@pytest.mark.parametrize("case", ["reverting", "missing", "decimals"])
def test_broken_tokens_are_errors_not_zeros(history_node, case):
    _, world, url = history_node
    asset = {"reverting": Asset("tron", "BAD", 6, world["reverting"]),
             "missing": Asset("tron", "NONE", 6, world["missing"]),
             "decimals": Asset("tron", "USDT", 18, world["usdt_contract"])}[case]
    batch, _ = read(url, asset, list(world["usdt"])[:6], None)
    assert batch.read == 0 and batch.total_base_units == 0
    assert all(r.amount_base_units is None and r.error for r in batch.results)
    expect = {"reverting": "REVERT", "missing": "Smart contract is not exist", "decimals": "has 6 decimals on chain"}[case]
    assert all(expect in r.error for r in batch.results), batch.results[0].error


def test_bad_addresses_duplicates_and_hex_form(history_node):
    _, world, url = history_node
    a = next(x for x in world["trx"] if world["trx"][x])
    addrs = [a, a, world["hex"][a], "TNotAnAddress", "0x" + "11" * 20, a[:-1] + ("1" if a[-1] != "1" else "2")]
    batch, _ = read(url, TRX, addrs, world["snapshot"], {"balance_history": True})
    r = batch.results
    assert r[0].amount_base_units == r[1].amount_base_units == r[2].amount_base_units == world["trx"][a]
    assert all(x.amount_base_units is None and x.error == "not a TRON address" for x in r[3:])
    assert batch.read == 3 and not batch.complete


def test_failover_from_a_dead_endpoint(history_node):
    _, world, url = history_node
    eps = [Endpoint("FAKE-dead", "http://127.0.0.1:9", timeout=0.5), Endpoint("FAKE-TRON", url)]
    batch, _ = read(eps, TRX, list(world["trx"]), world["snapshot"], [{"balance_history": True}] * 2,
                    attempts=2, backoff_max=0.01)
    assert batch.complete and {r.endpoint for r in batch.results} == {"FAKE-TRON"}
    assert any(n.startswith("FAKE-dead") for n in batch.notes)


def test_api_key_header_sent_and_never_in_messages(history_node, monkeypatch):
    fake, world, url = history_node
    monkeypatch.setenv("PORSCAN_TEST_TRON_KEY", "tr0n-s3cr3t-key")
    headers = {"TRON-PRO-API-KEY": "${PORSCAN_TEST_TRON_KEY}"}
    addrs = list(world["trx"])[:3]
    read(url, TRX, addrs, None, {"headers": headers})
    assert fake.api_keys["tr0n-s3cr3t-key"] >= 3
    dead = Endpoint("FAKE-keyed-dead", "http://127.0.0.1:9", timeout=0.3)
    batch, _ = read([dead], TRX, addrs, None, [{"headers": headers}], attempts=2, backoff_max=0.01)
    assert batch.read == 0 and "tr0n-s3cr3t-key" not in repr(batch)
    monkeypatch.delenv("PORSCAN_TEST_TRON_KEY")
    batch, _ = read([dead, Endpoint("FAKE-TRON", url)], TRX, addrs, None, [{"headers": headers}, {}])
    assert batch.complete and any("PORSCAN_TEST_TRON_KEY" in n and "left out" in n for n in batch.notes)


def test_moving_chain_reports_the_blocks_read(history_node):
    fake, world, url = history_node
    fake.mine_every = 5
    try:
        head0 = fake.head
        batch, _ = read(url, TRX, list(world["trx"]), world["snapshot"])
    finally:
        fake.mine_every = 0
    first = batch.results[0].block.number  # the head read before the balances (a block may come first)
    assert head0 <= first <= head0 + 1
    assert all(r.block.number == first and not r.block.at_snapshot for r in batch.results)
    (note,) = [n for n in batch.notes if "latest state" in n]
    assert f"blocks {first}..{fake.head}" in note and fake.head > first
    # nothing moved in the balances themselves, so they are still exact
    assert {r.address: r.amount_base_units for r in batch.results} == world["trx_latest"]


def test_tron_jsonrpc_trap_latest_only(history_node):
    """TRON's JSON-RPC has no state at a height: TRX at the snapshot never goes there, even on an
    endpoint that declares it (only TRC-20, latest anyway, is read through it)."""
    fake, world, url = history_node
    addr = "0x" + next(iter(world["hex"].values()))[2:]
    assert fake.jsonrpc({"id": 1, "method": "eth_getBalance", "params": [addr, hex(world["snapshot"])]})["error"]["message"] \
        == "QUANTITY not supported, just support TAG as latest"
    before = fake.calls["/jsonrpc"]
    batch, _ = read(url, TRX, list(world["trx"]), world["snapshot"],
                    {"balance_history": True, "jsonrpc_url": url + "/jsonrpc"})
    assert batch.complete and {r.address: r.amount_base_units for r in batch.results} == world["trx"]
    assert fake.calls["/jsonrpc"] == before


@pytest.mark.parametrize("asset_kind", ["trx-history", "trx-latest", "trc20", "trc20-jsonrpc"])
def test_faults_at_20_percent_keep_totals_exact(asset_kind):
    fake = FakeTron(history_lookup=True, seed="faults", faults=Faults(0.0, seed=7, timeout_sleep=0.6))
    world = tron_world(fake, n=30, prefix="f")
    asset = usdt(world) if asset_kind.startswith("trc20") else TRX
    truth = {"trx-history": world["trx"], "trx-latest": world["trx_latest"], "trc20": world["usdt"],
             "trc20-jsonrpc": world["usdt"]}[asset_kind]
    opts: dict = {"balance_history": asset_kind == "trx-history"}
    with fake.serve() as srv:
        if asset_kind == "trc20-jsonrpc":
            opts.update(jsonrpc_url=srv.url + "/jsonrpc", max_batch=4)
        fake.faults = Faults(0.2, seed=7, timeout_sleep=0.6)
        batch, ad = read([Endpoint("FAKE-TRON-faulty", srv.url, timeout=0.4, concurrency=8)], asset,
                         list(truth) * 2, world["snapshot"], [opts], attempts=12, backoff_min=0.005, backoff_max=0.03)
    assert sum(fake.faults.injected.values()) > 5 and len(fake.faults.injected) >= 3
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert {r.address: r.amount_base_units for r in batch.results} == truth
    assert batch.total_base_units == 2 * sum(truth.values())
    errors = ad.provider_errors()["FAKE-TRON-faulty"]
    assert sum(errors.values()) >= sum(fake.faults.injected.values()) - 2  # counted, not hidden


def test_retries_exhausted_give_incomplete_never_zero(history_node):
    fake = FakeTron(seed="dead", faults=Faults(1.0, kinds=("http500", "malformed", "rate-limit-reply")))
    world = tron_world(fake, n=12, prefix="d")
    with fake.serve() as srv:
        batch, _ = read(srv.url, TRX, list(world["trx"]), None, attempts=3, backoff_min=0.001, backoff_max=0.005)
    assert batch.read == 0 and batch.expected == 12 and batch.total_base_units == 0
    assert all(r.amount_base_units is None and r.error for r in batch.results)


def test_error_replies_leave_rows_unread(history_node):
    """A node answering {"Error": ...} for some accounts: those rows are unread, the others exact."""
    fake = FakeTron(seed="err", faults=Faults(0.0))
    world = tron_world(fake, n=30, prefix="e")
    with fake.serve() as srv:
        fake.faults = Faults(0.3, kinds=("error-reply",), seed=3, paths=("/wallet/getaccount",))
        batch, _ = read(srv.url, TRX, list(world["trx"]), None)
    unread = [r for r in batch.results if not r.ok]
    assert 0 < len(unread) < batch.expected and batch.read == batch.expected - len(unread)
    assert all("NullPointerException" in r.error for r in unread)
    assert all(r.amount_base_units == world["trx_latest"][r.address] for r in batch.results if r.ok)


# ------------------------------------------------------------------------------------------ CLI


def _toml_value(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)


def network_toml(nid: str, kind: str, symbol: str, decimals: int, label: str, url: str, **endpoint) -> str:
    extra = "".join(f"{k} = {_toml_value(v)}\n" for k, v in endpoint.items())
    return (f"[networks.{nid}]\nkind = {json.dumps(kind)}\nnative_symbol = {json.dumps(symbol)}\n"
            f"native_decimals = {decimals}\n[[networks.{nid}.endpoints]]\nlabel = {json.dumps(label)}\n"
            f"url = {json.dumps(url)}\n{extra}")


def coin_toml(key: str, network: str, asset: str, decimals: int, contract: str | None = None) -> str:
    return (f"[{json.dumps(key)}]\nnetwork = {json.dumps(network)}\nasset = {json.dumps(asset)}\n"
            f"decimals = {decimals}\n" + (f"contract = {json.dumps(contract)}\n" if contract else ""))


def test_porscan_balances_cli_with_tron_and_solana_fakes(tmp_path):
    from scanner.amounts import fmt, from_base_units
    from scanner.cli.main import main
    from scanner.devnet.samplegen import OKX11_HEADER

    tron = FakeTron(history_lookup=True, seed="cli")
    tw = tron_world(tron, n=12, prefix="cli")
    sol = FakeSolana()
    sw = solana_world(sol, n=9, prefix="cli")
    with tron.serve() as tsrv, sol.serve() as ssrv:
        (tmp_path / "networks.toml").write_text(
            network_toml("tron", "tron", "TRX", 6, "FAKE-TRON", tsrv.url, balance_history=True, concurrency=4)
            + network_toml("solana", "solana", "SOL", 9, "FAKE-SOLANA", ssrv.url))
        (tmp_path / "coins.toml").write_text(
            coin_toml("TRX", "tron", "TRX", 6) + coin_toml("USDT-TRC20", "tron", "USDT", 6, tw["usdt_contract"])
            + coin_toml("SOL", "solana", "SOL", 9) + coin_toml("USDT-SPL", "solana", "USDT", 6, USDT_SPL_MINT))
        snap = tw["snapshot"]
        lines = [f"TRX,TRX,{snap},{a},{fmt(from_base_units(v, 6))},msg,0x00,," for a, v in tw["trx"].items()]
        lines += [f"USDT-TRC20,TRX,{snap},{a},{fmt(from_base_units(v, 6))},msg,0x00,," for a, v in tw["usdt"].items()]
        lines += [f"SOL,SOL,{sol.slot - 1000},{a},{fmt(from_base_units(v, 9))},msg,0x00,," for a, v in sw["sol"].items()]
        lines += [f"USDT-SPL,SOL,{sol.slot - 1000},{a},{fmt(from_base_units(v, 6))},msg,0x00,," for a, v in sw["usdt"].items()]
        moved = tw["moved"][0]
        lines.append(f"TRX,TRX,{snap},{moved},{fmt(from_base_units(tw['trx_latest'][moved], 6))},msg,0x00,,")  # latest, not snapshot
        lines.append(f"TRX,TRX,{snap},TBadAddress111,1,msg,0x00,,")
        (tmp_path / "reserves.csv").write_text(OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
        out = tmp_path / "b.json"
        code = main(["balances", str(tmp_path / "reserves.csv"), "--config", str(tmp_path / "networks.toml"),
                     "--coins", str(tmp_path / "coins.toml"), "--json", str(out), "--no-progress"])
    assert code == 1  # one mismatch and one unread row
    rep = json.loads(out.read_text())
    n_good = len(tw["trx"]) + len(tw["usdt"]) + len(sw["sol"]) + len(sw["usdt"])
    assert rep["summary"]["by_status"] == {"match": n_good, "mismatch": 1, "unread": 1}
    rows = rep["rows"]
    trx_rows = [r for r in rows if r["coin"] == "TRX" and r["status"] == "match"]
    assert trx_rows and all(r["at_snapshot"] and r["block_number"] == snap and r["block_hash"] for r in trx_rows)
    for coin in ("USDT-TRC20", "SOL", "USDT-SPL"):
        these = [r for r in rows if r["coin"] == coin]
        assert these and all(r["at_snapshot"] is False and "not at the snapshot" in r["reason"] for r in these), coin
    mismatch = next(r for r in rows if r["status"] == "mismatch")
    assert mismatch["address"] == moved and int(mismatch["onchain_base_units"]) == tw["trx"][moved]
    unread = next(r for r in rows if r["status"] == "unread")
    assert unread["reason"] == "not a TRON address" and unread["onchain_base_units"] is None
    nets = {n["network"]: n for n in rep["networks"]}
    assert nets["tron"]["unread"] == 1 and nets["tron"]["rows_read"] == nets["tron"]["rows_expected"] - 1
    sol_usdt = next(c for c in nets["solana"]["coins"] if c["coin"] == "USDT-SPL")
    assert int(sol_usdt["onchain_total_base_units"]) == sum(sw["usdt"].values())
    assert any("FAKE-SOLANA" in n for n in nets["solana"]["notes"])


def test_config_tron_and_solana_entries_build_adapters():
    """The shipped config: TRON contracts are base58check 0x41 addresses (the hex forms published with
    them), Solana mints 32-byte keys, and both kinds build adapters with their endpoint options."""
    from chains.solana import SolanaAdapter, solana_pubkey
    from scanner.pipeline.adapters import make_adapter
    from scanner.config.networks import load_coins, load_networks

    coins, networks = load_coins(), load_networks()
    assert tron_address(coins["USDT-TRC20"].contract).hex() == "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert tron_address(coins["USDC-TRC"].contract).hex() == "413487b63d30b5b2c87fb7ffa8bcfade38eaac1abe"
    for key in ("TRX", "TRON", "USDT-TRC20", "USDC-TRC", "SOL", "USDT-SPL", "USDC-SPL"):
        t = coins[key]
        assert networks[t.network].kind in ("tron", "solana"), key
        if t.contract:
            ok = tron_address(t.contract) if t.network == "tron" else solana_pubkey(t.contract) == t.contract
            assert ok, key
    tron = make_adapter(networks["tron"])
    solana = make_adapter(networks["solana"])
    try:
        assert isinstance(tron, TronAdapter) and isinstance(solana, SolanaAdapter)
        assert all(ep.url.startswith("https://") for n in ("tron", "solana") for ep in networks[n].endpoints)
    finally:
        asyncio.run(tron.close())
        asyncio.run(solana.close())


def test_requests_per_second_is_honoured(history_node):
    """One HTTP request per address on TRON: the endpoint's rate limit paces them (token bucket)."""
    import time

    _, world, url = history_node
    addrs = list(world["trx"])  # 24 addresses + 2 head reads = 26 requests; burst 10, then 10/s
    t = time.perf_counter()
    batch, _ = read([Endpoint("FAKE-TRON-limited", url, requests_per_second=10, concurrency=8)], TRX, addrs, None)
    assert batch.complete and batch.requests == 26
    assert time.perf_counter() - t >= 1.4
