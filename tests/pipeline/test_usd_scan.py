"""A scan with OKX v2 liabilities (public inputs) and prices from each source -- an aggregator read
at the snapshot block on a real anvil, a historical price API (FAKE stand-in on loopback), and the
liabilities file's own prices (Binance's BasePrice) -- shows a total USD ratio with the price source
and time in the terminal, the JSON report and the HTML page."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from aiohttp import web

from scanner.cli.main import main
from scanner.devnet.localnodes import rpc
from scanner.devnet.loopthread import ServedApp
from scanner.pipeline.liabilities.okx_v2_global import load_zk_digests
from support.common import shared_path
from support.oracle import deploy_feed, head, set_round

ANSWER = 3000_12345678  # USD x 10^8
API_PRICE = "2999.5"
EQUITY, DEBT = 100_000_000_000_000, 10_000_000_000_000  # v2 public inputs: USD x 10^6 -> net 90,000,000 USD


class FakeHistory:
    """FAKE historical price API on loopback: /history?id=..&ts=.. -> {"data": {id: {"usd", "time"}}}."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/history", self.history)
        self.asked: list[dict[str, str]] = []

    async def history(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.asked.append(q)
        if q.get("id") != "ether":
            return web.json_response({"data": {}})
        return web.json_response({"data": {"ether": {"usd": API_PRICE, "time": int(q["ts"]) - 60}}})


@pytest.fixture(scope="module")
def world(anvil, tmp_path_factory):
    folder = tmp_path_factory.mktemp("usd")
    url = anvil.url
    accounts = rpc(url, "eth_accounts")
    feed = deploy_feed(url, accounts[0], 8, "ETH / USD")
    _, now = head(url)
    set_round(url, accounts[0], feed, ANSWER, now)
    rpc(url, "evm_mine")
    height, _ = head(url)
    rpc(url, "evm_mine")
    message = "I am an OKX address"
    rows = [f"ETH,ETH,{height},{a},{int(rpc(url, 'eth_getBalance', [a, hex(height)]), 16) / 10**18:.0f},{message},"
            f"{rpc(url, 'personal_sign', ['0x' + message.encode().hex(), a])},,,,"  # EIP-191 by the node's own key
            for a in accounts[1:4]]
    reserves = folder / "reserves.csv"
    reserves.write_text("coin,Network,Snapshot Height,address,amount,message,signature1,signature2,"
                        "redeem script/ public key, eoa1, eoa2\n" + "\n".join(rows) + "\n")
    (folder / "networks.toml").write_text(f'[networks.ethereum]\nkind = "evm"\nchain_id = 31337\nnative_symbol = "ETH"\n'
                                          f'native_decimals = 18\n\n[[networks.ethereum.endpoints]]\nlabel = "anvil"\n'
                                          f'url = "{url}"\narchive = true\n')
    (folder / "coins.toml").write_text('[ETH]\nnetwork = "ethereum"\nasset = "ETH"\ndecimals = 18\nsource = "test"\n')
    (pinned,) = [d for d in load_zk_digests() if 508787475 in d.rounds]
    (folder / "sum_proof_data.json").write_text(json.dumps({
        "general": {"round_num": 508787475, "recursion_branchout_num": 64, "batch_size": 1024, "token_num": 220},
        "root_vd_digest": {"elements": list(pinned.digest)},
        "proof": {"proof": {}, "public_inputs": [EQUITY, DEBT, 1, 2, 3, 4]}}))
    fake = FakeHistory()
    served = ServedApp(fake.app).start()
    (folder / "prices.toml").write_text(
        f'[settings]\nprecedence = ["oracle", "http-api", "published"]\nmax_age_seconds = 86400\n\n'
        f'[feeds.ETH]\nnetwork = "ethereum"\naddress = "{feed}"\ndecimals = 8\npair = "ETH / USD"\nsource = "test"\n\n'
        f'[http_apis.fake-history]\nurl = "{served.url}/history?id={{asset_id}}"\ntimestamp_param = "ts"\n'
        f'timestamp_format = "unix"\nprice_path = "data.{{asset_id}}.usd"\ntime_path = "data.{{asset_id}}.time"\n'
        f'ids = {{ ETH = "ether" }}\n')
    yield folder
    served.stop()


def _scan(world, tmp_path, capsys, prices: str, liabilities: str, *extra: str):
    out, html = tmp_path / f"{prices}.json", tmp_path / f"{prices}.html"
    code = main(["scan", str(world / "reserves.csv"), "--liabilities", liabilities, "--config", str(world / "networks.toml"),
                 "--coins", str(world / "coins.toml"), "--db", str(tmp_path / f"{prices}.db"), "--no-progress",
                 "--prices", prices, "--price-config", str(world / "prices.toml"), "--json", str(out), "--html", str(html),
                 *extra])
    return code, json.loads(out.read_text()), capsys.readouterr().out, html.read_text()


@pytest.mark.parametrize("source,label,price", [("oracle", "ETH / USD", Decimal(ANSWER) / 10**8),
                                                ("http-api", "fake-history", Decimal(API_PRICE))])
def test_v2_liabilities_and_a_price_give_a_total_usd_ratio_with_its_source(world, tmp_path, capsys, source, label, price):
    code, report, terminal, page = _scan(world, tmp_path, capsys, source, str(world / "sum_proof_data.json"),
                                         "--usd-scale", "6")
    assert code == 0, terminal
    usd = report["usd"]
    (eth,) = usd["assets"]
    assert eth["price_source"] == source and Decimal(eth["price"]) == price and eth["price_at"]
    assert label in (eth["price_label"] or "") or source == "oracle"
    reserves = sum(Decimal(a["proven"]) for a in report["assets"])
    assert Decimal(usd["proven"]) == reserves * price
    assert Decimal(usd["liabilities"]) == Decimal(EQUITY - DEBT) / 10**6
    from scanner.pipeline.ratios import ratio

    assert Decimal(usd["ratio_exact"]) == ratio(Decimal(usd["proven"]), Decimal(usd["liabilities"]))
    assert "--usd-scale" in usd["liabilities_source"] and usd["complete"]
    # the same figures, source and time in the terminal and the HTML page
    assert "total reserve ratio in USD" in terminal and source in terminal and eth["price_at"] in terminal
    assert 'id="usd"' in page and source in page and eth["price_at"] in page
    shown = re.search(r"proven (\d[\d,.]*%)", terminal.split("total reserve ratio in USD", 1)[1]).group(1)
    assert shown in page  # one rounding rule


def test_the_liabilities_files_own_prices(world, tmp_path, capsys):
    binance = shared_path("binance", "verifier", "config.json")
    code, report, terminal, page = _scan(world, tmp_path, capsys, "published", str(binance))
    usd = report["usd"]
    eth = next(a for a in usd["assets"] if a["asset"] == "ETH")
    assert eth["price_source"] == "published" and Decimal(eth["price"]) > 0
    assert usd["liabilities"] is not None and "BasePrice" in usd["liabilities_source"]
    assert usd["ratio"] is not None and "published" in terminal and 'id="usd"' in page


def test_without_a_scale_there_is_no_total_ratio_and_it_says_why(world, tmp_path, capsys):
    code, report, terminal, _ = _scan(world, tmp_path, capsys, "oracle", str(world / "sum_proof_data.json"))
    assert report["usd"]["ratio"] is None and "--usd-scale" in report["usd"]["liabilities_source"]
    assert "--usd-scale" in terminal
