"""Real published layouts read on a real chain (anvil): HTX's file (summary block, ``-`` heights and
balances, coin names resolved by rule) and Binance's address list (network column says the chain),
through ``porscan balances``, ``porscan scan`` and ``porscan verify``.

The chain is built so that "read at the snapshot" is really tested: every balance is written, the
head is taken as the snapshot height, a block is mined, then every balance changes on later blocks.
A read at the latest block would therefore see other figures than the ones expected here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from support.evm_world import addr, call_data

from scanner.amounts import fmt, from_base_units
from scanner.cli.main import main
from scanner.devnet.localnodes import deploy, rpc
from scanner.devnet.localnodes import send_transaction as send
from scanner.devnet.samplegen import evm_sign_personal, seeded_key

MSG = "King will be back!"
HTX_SUMMARY_HEADER = "coin,snapshot height,balance"
HTX_DETAIL_HEADER = "coin,address,snapshot height,balance,message,signature"
BINANCE_HEADER = "coin,network,address,balance,height,custodian"
STETH_HOLDER = "0xae7ab96520de3a18e5e111b5eaab095312d7fe84"  # any 0x-address: stETH names no chain


def eth(wei: int) -> str:
    return fmt(from_base_units(wei, 18))


def usdt(units: int) -> str:
    return fmt(from_base_units(units, 6))


@dataclass
class Chain:
    url: str
    folder: Path
    token: str
    snapshot: int
    eth_signed: str  # ETH at the snapshot, published (signed row)
    eth_dash: str  # ETH at the snapshot, published as "-", "-"
    usdt_signed: str  # USDT holder, published amount right
    usdt_wrong: str  # USDT holder, published amount wrong
    sig_eth: str
    sig_usdt: str
    at: dict  # address -> base units at the snapshot (ETH in wei, USDT in units)
    later: dict  # address -> base units at the head (every one differs from ``at``)

    def networks_toml(self) -> Path:
        return self.folder / "networks.toml"

    def coins_toml(self) -> Path:
        return self.folder / "coins.toml"


def _mint(url: str, sender: str, token: str, holder: str, units: int) -> None:
    send(url, {"from": sender, "to": token,
               "data": call_data("mint(address,uint256)", ["address", "uint256"], [holder, units])})


@pytest.fixture(scope="module")
def chain(anvil, tmp_path_factory) -> Chain:
    url = anvil.url
    a0 = rpc(url, "eth_accounts")[0]
    token = deploy(url, a0, "TestToken", ["string", "string", "uint8"], ["Tether USD", "USDT", 6])
    eth_signed, sig_eth = evm_sign_personal(seeded_key(1, "htx-eth"), MSG)
    usdt_signed, sig_usdt = evm_sign_personal(seeded_key(2, "htx-usdt"), MSG)
    eth_dash = addr(0, "htx-dash")
    usdt_wrong = addr(1, "htx-usdt-wrong")
    at = {eth_signed: 3 * 10**18 + 5 * 10**17 + 7, eth_dash: 2 * 10**18 + 123,
          usdt_signed: 1_234_567_891, usdt_wrong: 5_000_000}
    rpc(url, "anvil_setBalance", [eth_signed, hex(at[eth_signed])])
    rpc(url, "anvil_setBalance", [eth_dash, hex(at[eth_dash])])
    _mint(url, a0, token, usdt_signed, at[usdt_signed])  # real transactions: mined, so the cheat codes too
    _mint(url, a0, token, usdt_wrong, at[usdt_wrong])
    snapshot = int(rpc(url, "eth_blockNumber"), 16)
    rpc(url, "evm_mine")
    # after the snapshot: every balance moves
    later = {eth_signed: 11 * 10**18, eth_dash: 9 * 10**18 + 1,
             usdt_signed: at[usdt_signed] + 777, usdt_wrong: at[usdt_wrong] + 1_000_000}
    rpc(url, "anvil_setBalance", [eth_signed, hex(later[eth_signed])])
    rpc(url, "anvil_setBalance", [eth_dash, hex(later[eth_dash])])
    _mint(url, a0, token, usdt_signed, 777)
    _mint(url, a0, token, usdt_wrong, 1_000_000)
    rpc(url, "evm_mine")
    # the recipe held: the chain answers the figures above at the snapshot and other ones at the head
    for a in (eth_signed, eth_dash):
        assert int(rpc(url, "eth_getBalance", [a, hex(snapshot)]), 16) == at[a]
        assert int(rpc(url, "eth_getBalance", [a, "latest"]), 16) == later[a]
    for a in (usdt_signed, usdt_wrong):
        call = {"to": token, "data": call_data("balanceOf(address)", ["address"], [a])}
        assert int(rpc(url, "eth_call", [call, hex(snapshot)]), 16) == at[a]
        assert int(rpc(url, "eth_call", [call, "latest"]), 16) == later[a]
    folder = tmp_path_factory.mktemp("layouts")
    # a network with an endpoint that answers nothing: --rpc ethereum=URL must replace it
    (folder / "networks.toml").write_text('''
[networks.ethereum]
kind = "evm"
chain_id = 31337
native_symbol = "ETH"
native_decimals = 18
[[networks.ethereum.endpoints]]
label = "nowhere"
url = "http://127.0.0.1:9"
''')
    # USDT-ETH and stETH are deliberately absent: the first resolves by rule, the second cannot
    (folder / "coins.toml").write_text(f'''
[ETH]
network = "ethereum"
asset = "ETH"
decimals = 18
["USDT-ERC20"]
network = "ethereum"
asset = "USDT"
contract = "{token}"
decimals = 6
''')
    return Chain(url, folder, token, snapshot, eth_signed, eth_dash, usdt_signed, usdt_wrong, sig_eth, sig_usdt,
                 at, later)


# ------------------------------------------------------------------------------------- HTX layout

WRONG_USDT = "5.000001"  # published for ``usdt_wrong``; the chain holds 5 at the snapshot


def htx_file(c: Chain, summary_eth: bool = True, usdt_height: int | None = None) -> str:
    """HTX's layout: the summary block, a blank line, the detail rows. ``summary_eth``: the summary
    lists ETH with its height (as HTX's files do), else only ETH(ALL) with ``-``, and the ``-`` row's
    height must come from the network's other rows. ``usdt_height``: the USDT-ETH rows' height."""
    h = c.snapshot
    uh = h if usdt_height is None else usdt_height
    eth_pub = eth(c.at[c.eth_signed])
    usdt_pub = fmt(from_base_units(c.at[c.usdt_signed], 6) + Decimal(WRONG_USDT))
    summary = [HTX_SUMMARY_HEADER, f"ETH(ALL),-,{fmt(Decimal(eth_pub) + Decimal('10.5'))}"]
    if summary_eth:
        summary.append(f"ETH,{h},{eth_pub}")
    summary += ["stETH,-,10.5", f"USDT(ALL),-,{usdt_pub}", f"USDT-ETH,{uh},{usdt_pub}"]
    detail = [HTX_DETAIL_HEADER,
              f"ETH,{c.eth_signed},{h},{eth_pub},{MSG},{c.sig_eth}",
              f"ETH,{c.eth_dash.lower()},-,-,{MSG},",
              f"USDT-ETH,{c.usdt_signed},{uh},{usdt(c.at[c.usdt_signed])},{MSG},{c.sig_usdt}",
              f"USDT-ETH,{c.usdt_wrong},{uh},{WRONG_USDT},-,-",
              f"stETH,{STETH_HOLDER},-,10.5,{MSG},"]
    return "\n".join(summary) + "\n\n" + "\n".join(detail) + "\n"


def _balances(c: Chain, path: Path, out: Path, *extra: str) -> tuple[int, dict]:
    code = main(["balances", str(path), "--coins", str(c.coins_toml()), "--config", str(c.networks_toml()),
                 "--rpc", f"ethereum={c.url}", "--json", str(out), "--no-progress", *extra])
    return code, json.loads(out.read_text())


def _by_address(report: dict) -> dict[str, dict]:
    return {r["address"].lower(): r for r in report["rows"]}


def test_htx_file_balances_at_the_snapshot(chain, tmp_path):
    c = chain
    path = tmp_path / "huobi_por.csv"
    path.write_text(htx_file(c))
    code, rep = _balances(c, path, tmp_path / "b.json")
    assert code == 1  # one mismatch
    assert rep["summary"]["by_status"] == {"match": 2, "mismatch": 1, "unpublished": 1, "unsupported": 1}
    rows = _by_address(rep)
    # ETH, height and amount published: read at that height, matches
    r = rows[c.eth_signed.lower()]
    assert (r["status"], r["network"], r["block_number"], r["at_snapshot"]) == ("match", "ethereum", c.snapshot, True)
    assert r["onchain_base_units"] == str(c.at[c.eth_signed])
    # ETH, "-" and "-": read at the file's ethereum height, nothing compared, never a mismatch
    r = rows[c.eth_dash.lower()]
    assert r["status"] == "unpublished" and r["reason"] == "no published amount"
    assert r["block_number"] == c.snapshot and r["at_snapshot"] is True
    assert r["onchain_base_units"] == str(c.at[c.eth_dash])  # not the later balance
    assert r["published_base_units"] is None
    # USDT-ETH (not in coins.toml): read through the USDT-ERC20 contract at the snapshot
    r = rows[c.usdt_signed.lower()]
    assert (r["status"], r["network"], r["block_number"], r["at_snapshot"]) == ("match", "ethereum", c.snapshot, True)
    assert r["onchain_base_units"] == r["published_base_units"] == str(c.at[c.usdt_signed])
    r = rows[c.usdt_wrong.lower()]
    assert r["status"] == "mismatch" and r["onchain_base_units"] == str(c.at[c.usdt_wrong])
    assert r["published_base_units"] == "5000001" and "difference -1 base units" in r["reason"]
    # stETH names no chain porscan can read (and coins.toml has no entry): unsupported, with a reason
    r = rows[STETH_HOLDER]
    assert r["status"] == "unsupported" and r["onchain_base_units"] is None
    assert r["reason"].lower().startswith("no balance adapter for coin steth: ") and "names no chain" in r["reason"]
    (net,) = [n for n in rep["networks"] if n["network"] == "ethereum"]
    assert net["rows_read"] == 4 and net["unread"] == 0
    assert net["blocks"] and all(b["number"] == c.snapshot and b["at_snapshot"] and b["hash"] for b in net["blocks"])
    coins = {x["coin"]: x for x in net["coins"]}
    assert coins["ETH"]["onchain_total_base_units"] == str(c.at[c.eth_signed] + c.at[c.eth_dash])
    assert coins["ETH"]["published_total_base_units"] == str(c.at[c.eth_signed])  # "-" adds nothing
    assert coins["USDT-ETH"]["onchain_total_base_units"] == str(c.at[c.usdt_signed] + c.at[c.usdt_wrong])
    assert coins["USDT-ETH"]["published_total_base_units"] == str(c.at[c.usdt_signed] + 5_000_001)


@pytest.mark.parametrize("summary_eth,other_height,at_snapshot", [
    (False, False, True),  # no ETH in the summary: the height of ethereum's other rows
    (False, True, False),  # ethereum given two heights by the file: the latest block, labelled
])
def test_htx_dash_row_height_from_the_network(chain, tmp_path, summary_eth, other_height, at_snapshot):
    """Where the summary block does not give the ``-`` row's coin a height, the row is read at its
    network's one snapshot height (from other rows and the summary), else at the latest block."""
    c = chain
    path = tmp_path / "huobi_por.csv"
    path.write_text(htx_file(c, summary_eth=summary_eth, usdt_height=c.snapshot - 1 if other_height else None))
    code, rep = _balances(c, path, tmp_path / "b.json", "--coin", "ETH")
    assert code == 0
    r = _by_address(rep)[c.eth_dash.lower()]
    assert r["status"] == "unpublished" and r["at_snapshot"] is at_snapshot
    (net,) = rep["networks"]
    if at_snapshot:
        assert r["block_number"] == c.snapshot and r["onchain_base_units"] == str(c.at[c.eth_dash])
        assert r["reason"] == "no published amount"
        assert any(f"read at {c.snapshot}" in n for n in net["notes"])
    else:
        assert r["block_number"] > c.snapshot and r["onchain_base_units"] == str(c.later[c.eth_dash])
        assert "not at the snapshot" in r["reason"] and r["reason"].startswith("no published amount")
        assert any("latest block" in n for n in net["notes"])


def test_htx_file_through_scan(chain, tmp_path):
    c = chain
    path = tmp_path / "huobi_por.csv"
    path.write_text(htx_file(c))
    out = tmp_path / "scan.json"
    code = main(["scan", str(path), "--coins", str(c.coins_toml()), "--config", str(c.networks_toml()),
                 "--rpc", f"ethereum={c.url}", "--db", str(tmp_path / "runs.db"), "--exchange", "HTX",
                 "--json", str(out), "--no-progress", "-q"])
    assert code == 1  # the USDT mismatch
    rep = json.loads(out.read_text())
    assert rep["schema"] == "porscan.scan/1"
    assert rep["balances"]["by_status"] == {"match": 2, "mismatch": 1, "unpublished": 1, "unsupported": 1}
    assert rep["verification"]["by_status"] == {"verified": 2, "unsigned": 3}
    assets = {a["asset"]: a for a in rep["assets"]}
    # USDT-ETH, resolved by rule, counts under USDT on ethereum
    (usdt_net,) = [n for n in assets["USDT"]["networks"] if n["network"] == "ethereum"]
    assert usdt_net["coins"] == ["USDT-ETH"]
    assert Decimal(usdt_net["onchain"]) == from_base_units(c.at[c.usdt_signed] + c.at[c.usdt_wrong], 6)
    assert Decimal(usdt_net["published"]) == from_base_units(c.at[c.usdt_signed], 6) + Decimal(WRONG_USDT)
    assert Decimal(usdt_net["proven"]) == from_base_units(c.at[c.usdt_signed], 6)  # the signed row
    assert Decimal(usdt_net["unverified"]) == from_base_units(c.at[c.usdt_wrong], 6)  # the unsigned one
    assert usdt_net["rows"] == usdt_net["rows_read"] == 2
    assert [(b["number"], b["at_snapshot"]) for b in usdt_net["blocks"]] == [(c.snapshot, True)]
    assert Decimal(assets["USDT"]["onchain"]) == Decimal(usdt_net["onchain"])
    # the "-" row: its balance counts on chain, nothing in the published total
    (eth_net,) = [n for n in assets["ETH"]["networks"] if n["network"] == "ethereum"]
    assert eth_net["coins"] == ["ETH"]
    assert Decimal(eth_net["onchain"]) == from_base_units(c.at[c.eth_signed] + c.at[c.eth_dash], 18)
    assert Decimal(eth_net["published"]) == from_base_units(c.at[c.eth_signed], 18)
    assert Decimal(eth_net["proven"]) == from_base_units(c.at[c.eth_signed], 18)
    assert Decimal(eth_net["unverified"]) == from_base_units(c.at[c.eth_dash], 18)
    assert eth_net["rows"] == eth_net["rows_read"] == 2 and Decimal(eth_net["unread_published"]) == 0
    assert [(b["number"], b["at_snapshot"]) for b in eth_net["blocks"]] == [(c.snapshot, True)]


def test_htx_scan_summary_block_with_a_dash_row(chain, tmp_path):
    """The summary's ETH figure is the sum of the ETH rows that publish an amount (the ``-`` row
    publishes none): ``porscan verify`` calls it a match; ``porscan scan`` must agree."""
    c = chain
    path = tmp_path / "huobi_por.csv"
    path.write_text(htx_file(c))
    vout = tmp_path / "v.json"
    assert main(["verify", str(path), "--json", str(vout), "-q", "--workers", "1"]) == 0
    vsum = {s["coin"]: s for s in json.loads(vout.read_text())["summary"]["summary_block"]}
    out = tmp_path / "scan.json"
    main(["scan", str(path), "--coins", str(c.coins_toml()), "--config", str(c.networks_toml()),
          "--rpc", f"ethereum={c.url}", "--db", str(tmp_path / "runs.db"), "--exchange", "HTX",
          "--json", str(out), "--no-progress", "-q"])
    ssum = {s["coin"]: s for s in json.loads(out.read_text())["summary_block"]["rows"]}
    assert vsum["ETH"]["status"] == vsum["ETH(ALL)"]["status"] == "match"
    assert vsum["ETH"]["detail_sum"] == eth(c.at[c.eth_signed])
    for coin in ("ETH", "ETH(ALL)", "USDT-ETH", "USDT(ALL)"):
        assert (ssum[coin]["status"], ssum[coin]["detail_sum"]) == (vsum[coin]["status"], vsum[coin]["detail_sum"]), ssum[coin]


# --------------------------------------------------------------------------- Binance address list

def test_binance_list_network_column_says_the_chain(chain, tmp_path):
    c = chain
    h = c.snapshot
    path = tmp_path / "binance_wallets.csv"
    path.write_text(f"{BINANCE_HEADER}\n"
                    f"ETH,ETH,{c.eth_signed},{eth(c.at[c.eth_signed])},{h},\n"
                    f"ETH,ETH,{c.eth_dash},{eth(c.at[c.eth_dash] + 1)},{h},Ceffu\n"
                    f"USDT,ETH,{c.usdt_signed.lower()},{usdt(c.at[c.usdt_signed])},{h},\n"
                    f"USDT,ETH,{c.usdt_wrong},{WRONG_USDT},{h},Ceffu\n")
    code, rep = _balances(c, path, tmp_path / "b.json")
    assert rep["input"]["layout"] == "binance"
    assert code == 1
    assert rep["summary"]["by_status"] == {"match": 2, "mismatch": 2}
    rows = _by_address(rep)
    for a, status in ((c.eth_signed, "match"), (c.eth_dash, "mismatch"), (c.usdt_signed, "match"),
                      (c.usdt_wrong, "mismatch")):
        r = rows[a.lower()]
        assert (r["status"], r["network"], r["block_number"], r["at_snapshot"]) == (status, "ethereum", h, True), r
        assert r["onchain_base_units"] == str(c.at[a])
    assert rows[c.usdt_signed.lower()]["coin"] == "USDT@ETH"  # read as USDT on ethereum
    assert "difference -1 base units" in rows[c.eth_dash.lower()]["reason"]
    (net,) = rep["networks"]
    coins = {x["coin"]: x for x in net["coins"]}
    assert coins["USDT@ETH"]["onchain_total_base_units"] == str(c.at[c.usdt_signed] + c.at[c.usdt_wrong])
    assert coins["ETH@ETH"]["onchain_total_base_units"] == str(c.at[c.eth_signed] + c.at[c.eth_dash])
    # ownership: an address list proves nothing; every row unsigned, which fails only on request
    vout = tmp_path / "v.json"
    assert main(["verify", str(path), "--json", str(vout), "-q", "--workers", "1"]) == 0
    vrep = json.loads(vout.read_text())
    assert {r["status"] for r in vrep["rows"]} == {"unsigned"} and len(vrep["rows"]) == 4
    assert main(["verify", str(path), "-q", "--workers", "1", "--require-signatures"]) == 1


def test_binance_list_through_scan_keeps_the_custodian_as_its_own_line(chain, tmp_path):
    """The custodian column survives storage and comes out per asset: rows, published and on-chain
    amounts of the wallets a third party holds, within the asset's totals."""
    c = chain
    h = c.snapshot
    path = tmp_path / "binance_wallets.csv"
    path.write_text(f"{BINANCE_HEADER}\n"
                    f"ETH,ETH,{c.eth_signed},{eth(c.at[c.eth_signed])},{h},\n"
                    f"ETH,ETH,{c.eth_dash},{eth(c.at[c.eth_dash])},{h},Ceffu\n"
                    f"USDT,ETH,{c.usdt_signed},{usdt(c.at[c.usdt_signed])},{h},Ceffu\n")
    out = tmp_path / "scan.json"
    main(["scan", str(path), "--coins", str(c.coins_toml()), "--config", str(c.networks_toml()),
          "--rpc", f"ethereum={c.url}", "--db", str(tmp_path / "runs.db"), "--exchange", "Binance",
          "--json", str(out), "--no-progress", "-q"])
    rep = json.loads(out.read_text())
    assets = {a["asset"]: a for a in rep["assets"]}
    assert assets["ETH"]["custodians"] == [{"custodian": "Ceffu", "rows": 1, "rows_read": 1,
                                            "published": eth(c.at[c.eth_dash]), "onchain": eth(c.at[c.eth_dash])}]
    assert assets["USDT"]["custodians"][0]["onchain"] == usdt(c.at[c.usdt_signed])
    assert Decimal(assets["ETH"]["onchain"]) == from_base_units(c.at[c.eth_signed] + c.at[c.eth_dash], 18)
    assert rep["verification"]["by_status"] == {"unsigned": 3}
