"""Oracle prices at the snapshot block, on a real anvil node with a real aggregator-style contract
(contracts/TestAggregator.sol): the answer as of an older block is that block's, stale and
non-positive answers are refused, an endpoint of another chain is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal

import pytest

from chains.jsonrpc import Endpoint
from chains.oracle import EvmOracleReader, OracleError
from scanner.config.networks import Network
from scanner.devnet.localnodes import ROOT, rpc
from scanner.pipeline.prices import (ORACLE, PUBLISHED, FeedConfig, PriceConfig, PriceQuote, Snapshot, iso,
                                     judge_answer, price_book)
from support.common import run
from support.oracle import ARTIFACT as ORACLE_ARTIFACT, CODE, deploy_feed, head, set_round

ARTIFACT = ORACLE_ARTIFACT
DAY = 86400
_deploy, _set_round, _head = deploy_feed, set_round, head


@dataclass
class Feeds:
    url: str
    eth: str  # two rounds: OLD at block h_old, NEW at block h_new
    h_old: int
    h_new: int
    t_old: int  # updatedAt of the old round
    t_new: int
    stale: str  # updatedAt two days before its block
    negative: str
    zero: str
    six: str  # 6 decimals on chain
    h_all: int  # every feed has its round


OLD, NEW = 3012_34567891, 3100_00000000  # USD x 10^8


@pytest.fixture(scope="module")
def feeds(anvil) -> Feeds:
    url = anvil.url
    sender = rpc(url, "eth_accounts")[0]
    eth = _deploy(url, sender, 8, "ETH / USD")
    _, now = _head(url)
    _set_round(url, sender, eth, OLD, now - 30)
    h_old, _ = _head(url)
    rpc(url, "evm_mine")
    _, now2 = _head(url)
    _set_round(url, sender, eth, NEW, now2)
    h_new, _ = _head(url)
    rpc(url, "evm_mine")
    stale = _deploy(url, sender, 8, "STALE / USD")
    _set_round(url, sender, stale, 500_00000000, now2 - 2 * DAY)
    negative = _deploy(url, sender, 8, "NEG / USD")
    _set_round(url, sender, negative, -5, now2)
    zero = _deploy(url, sender, 8, "ZERO / USD")
    _set_round(url, sender, zero, 0, now2)
    six = _deploy(url, sender, 6, "SIX / USD")
    _set_round(url, sender, six, 1_000_000, now2)
    rpc(url, "evm_mine")
    return Feeds(url, eth, h_old, h_new, now - 30, now2, stale, negative, zero, six, _head(url)[0])


async def _read(url: str, feed: str, height: int, chain_id: int | None = 31337):
    reader = EvmOracleReader("local", Endpoint("anvil", url), chain_id=chain_id, attempts=1)
    try:
        return await reader.latest_round(feed, height)
    finally:
        await reader.close()


def test_answer_as_of_the_block(feeds):
    old = run(_read(feeds.url, feeds.eth, feeds.h_old))
    new = run(_read(feeds.url, feeds.eth, feeds.h_new))
    assert (old.round_id, old.answer, old.updated_at) == (1, OLD, feeds.t_old)
    assert (new.round_id, new.answer, new.updated_at) == (2, NEW, feeds.t_new)
    assert old.block.number == feeds.h_old and old.block.hash and old.decimals == 8
    blk = rpc(feeds.url, "eth_getBlockByNumber", [hex(feeds.h_old), False])
    assert old.block.hash == blk["hash"] and old.block_timestamp == int(blk["timestamp"], 16)
    q = judge_answer("ETH", FeedConfig("ETH", "local", feeds.eth, 8, "ETH / USD"), old, DAY)
    assert isinstance(q, PriceQuote)
    assert q.usd == Decimal("3012.34567891") and q.source == ORACLE and q.block == feeds.h_old
    assert q.at == iso(feeds.t_old) and "round 1" in q.detail and "anvil" in q.label


def test_before_the_first_round_no_answer(feeds):
    with pytest.raises(OracleError, match="No data present|latestRoundData"):
        run(_read(feeds.url, feeds.eth, feeds.h_old - 1))


def test_wrong_chain_refused(feeds):
    with pytest.raises(OracleError, match="chain id 31337, not local's 1"):
        run(_read(feeds.url, feeds.eth, feeds.h_new, chain_id=1))


def test_not_a_contract_refused(feeds):
    with pytest.raises(OracleError, match="bytes returned|failed"):
        run(_read(feeds.url, "0x" + "11" * 20, feeds.h_new))


@pytest.mark.parametrize("name,decimals,fragment", [
    ("stale", 8, "stale, updated"),
    ("negative", 8, "answer -5 is not a price"),
    ("zero", 8, "answer 0 is not a price"),
    ("six", 8, "decimals() is 6, the config says 8"),
])
def test_answers_refused(feeds, name, decimals, fragment):
    feed = getattr(feeds, name)
    ans = run(_read(feeds.url, feed, feeds.h_all))
    got = judge_answer("X", FeedConfig("X", "local", feed, decimals), ans, DAY)
    assert isinstance(got, str) and fragment in got


def test_staleness_is_configurable(feeds):
    ans = run(_read(feeds.url, feeds.stale, feeds.h_all))
    assert isinstance(judge_answer("X", FeedConfig("X", "local", feeds.stale, 8), ans, 3 * DAY), PriceQuote)


def _local(url: str, chain_id: int = 31337) -> dict[str, Network]:
    return {"local": Network("local", "evm", chain_id, "ETH", 18, (Endpoint("anvil", url),))}


def test_price_book_oracle_then_published(feeds):
    config = PriceConfig(feeds={"ETH": FeedConfig("ETH", "local", feeds.eth, 8, "ETH / USD"),
                                "NEG": FeedConfig("NEG", "local", feeds.negative, 8)})
    published = {"ETH": PriceQuote("ETH", Decimal("1585.33"), PUBLISHED, "binance BasePrice (config.json)", None),
                 "NEG": PriceQuote("NEG", Decimal("2"), PUBLISHED, "binance BasePrice (config.json)", None)}
    book = run(price_book(["eth", "NEG", "DOGE"], Snapshot(heights={"local": feeds.h_old}), config,
                          published=published, networks=_local(feeds.url)))
    assert book.quotes["ETH"].usd == Decimal("3012.34567891") and book.quotes["ETH"].block == feeds.h_old
    # the negative feed has no round at h_old: refused, so the published price is used, and why is said
    assert book.quotes["NEG"].source == PUBLISHED and "oracle:" in book.passed_over["NEG"][0]
    assert "DOGE" in book.missing and "no feed configured" in book.missing["DOGE"]
    assert all(q.usd > 0 for q in book.quotes.values())
    later = run(price_book(["ETH"], Snapshot(heights={"local": feeds.h_new}), config, networks=_local(feeds.url)))
    assert later.quotes["ETH"].usd == Decimal("3100")


def test_price_book_wrong_chain_falls_back_and_says_why(feeds):
    config = PriceConfig(feeds={"ETH": FeedConfig("ETH", "local", feeds.eth, 8)})
    book = run(price_book(["ETH"], Snapshot(heights={"local": feeds.h_new}), config, networks=_local(feeds.url, 1)))
    assert "ETH" in book.missing and "serves chain id 31337" in book.missing["ETH"]
    book = run(price_book(["ETH"], Snapshot(heights={"other": 5}), config, networks=_local(feeds.url)))
    assert "no snapshot block for network local" in book.missing["ETH"]


def test_artifact_matches_source(tmp_path):
    modules = ROOT / ".cache" / "npm" / "node_modules"
    if not shutil.which("node") or not (modules / "solc").exists():
        pytest.skip("solc-js not installed (scripts/node-tools.sh)")
    out = tmp_path / "a.json"
    subprocess.run(["node", str(ROOT / "contracts" / "compile.js"), str(modules), str(out),
                    str(ROOT / "contracts" / "TestAggregator.sol")], check=True, capture_output=True, cwd=ROOT)
    assert json.loads(out.read_text())["contracts"]["TestAggregator"]["runtime"] == CODE["runtime"]
