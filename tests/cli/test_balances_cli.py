"""``porscan balances`` end to end against a real anvil node."""

from __future__ import annotations

import json

import pytest

from support.evm_world import build_world
from scanner.amounts import from_base_units, fmt
from scanner.cli.main import main
from scanner.devnet.samplegen import OKX11_HEADER



@pytest.fixture(scope="module")
def node(anvil):
    return anvil


@pytest.fixture(scope="module")
def setup(node, tmp_path_factory):
    w = build_world(node.url, n_native=12, n_holders=6)
    d = tmp_path_factory.mktemp("bal")
    (d / "networks.toml").write_text(f'''
[networks.testnet]
kind = "evm"
chain_id = 31337
native_symbol = "ETH"
native_decimals = 18
[[networks.testnet.endpoints]]
label = "local-anvil"
url = "{node.url}"
concurrency = 4
''')
    (d / "coins.toml").write_text(f'''
[ETH]
network = "testnet"
asset = "ETH"
decimals = 18
["USDT-ERC20"]
network = "testnet"
asset = "USDT"
contract = "{w.token}"
decimals = 6
''')
    lines = []
    for a, wei in w.native.items():
        lines.append(f"ETH,ETH,{w.snapshot},{a},{fmt(from_base_units(wei, 18))},msg,0x00,,")
    for h, units in w.token_balances.items():
        lines.append(f"USDT-ERC20,ETH,{w.snapshot},{h},{fmt(from_base_units(units, 6))},msg,0x00,,")
    first = next(iter(w.native))
    lines.append(f"ETH,ETH,{w.snapshot},{first},999,msg,0x00,,")  # published amount is wrong
    lines.append("SOL,SOL,5,So11111111111111111111111111111111111111112,1,msg,0x00,,")  # not in this coin map
    lines.append(f"ETH,ETH,{w.snapshot},{w.empty[0]},0,msg,0x00,,")  # a real zero
    lines.append("ETH,ETH,abc,0x00,1,msg,0x00,,")  # bad height
    f = d / "reserves.csv"
    f.write_text(OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
    return w, d, f, len(w.native) + len(w.token_balances)


def test_balances_command(setup):
    w, d, f, n_good = setup
    out = d / "b.json"
    code = main(["balances", str(f), "--config", str(d / "networks.toml"), "--coins", str(d / "coins.toml"),
                 "--json", str(out), "--no-progress"])
    assert code == 1  # one mismatch, one invalid row
    rep = json.loads(out.read_text())
    assert rep["schema"] == "porscan.balances/1"
    by_status = rep["summary"]["by_status"]
    assert by_status == {"match": n_good + 1, "mismatch": 1, "unsupported": 1, "invalid_row": 1}
    (net,) = [n for n in rep["networks"] if n["network"] == "testnet"]
    assert net["rows_read"] == net["rows_expected"] == n_good + 2 and net["unread"] == 0
    eth = next(c for c in net["coins"] if c["coin"] == "ETH")
    # the wallet listed twice is counted once, as scan counts it
    assert int(eth["onchain_total_base_units"]) == sum(w.native.values()) and net["duplicates"] == 1
    assert all(b["at_snapshot"] and b["hash"] for b in net["blocks"])
    assert {b["number"] for b in net["blocks"]} == {w.snapshot}
    mismatch = next(r for r in rep["rows"] if r["status"] == "mismatch")
    assert "published 999000000000000000000" in mismatch["reason"]
    unsupported = next(r for r in rep["rows"] if r["status"] == "unsupported")
    assert "no balance adapter for coin SOL" in unsupported["reason"]


def test_filters_and_rpc_override(setup, node):
    w, d, f, _ = setup
    out = d / "c.json"
    code = main(["balances", str(f), "--coin", "USDT-ERC20", "--config", str(d / "networks.toml"),
                 "--coins", str(d / "coins.toml"), "--rpc", f"testnet={node.url}", "--json", str(out), "-q"])
    assert code == 0
    rep = json.loads(out.read_text())
    assert rep["summary"]["by_status"] == {"match": len(w.token_balances)}


def test_bad_config_exits_2(setup, tmp_path):
    _, d, f, _ = setup
    bad = tmp_path / "n.toml"
    bad.write_text("[networks.x\n")
    assert main(["balances", str(f), "--config", str(bad), "--coins", str(d / "coins.toml")]) == 2


def test_a_chain_that_cannot_be_read_has_no_total_and_an_incomplete_exit(setup, capsys):
    """An endpoint that refuses every request: the coin's on-chain total was '0' in the JSON and the
    table, and the exit was 1 (failed) where the shared table says 3 (incomplete)."""
    w, d, f, _ = setup
    out = d / "down.json"
    code = main(["balances", str(f), "--coin", "USDT-ERC20", "--config", str(d / "networks.toml"),
                 "--coins", str(d / "coins.toml"), "--rpc", "testnet=http://127.0.0.1:9", "--json", str(out),
                 "--no-progress"])
    assert code == 3
    rep = json.loads(out.read_text())
    assert rep["summary"]["by_status"] == {"unread": len(w.token_balances)}
    (coin,) = next(n for n in rep["networks"] if n["network"] == "testnet")["coins"]
    assert coin["onchain_total"] is None and coin["onchain_total_base_units"] is None
    assert coin["published_total_base_units"] == str(sum(w.token_balances.values()))
    assert "— (unread)" in capsys.readouterr().out
