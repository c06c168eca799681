"""The price book's HTTP and published sources, and its config.

The historical price API is a FAKE stand-in (aiohttp on 127.0.0.1): it checks the API key and the
snapshot time it is asked for, has no price for one id and answers 429 for another. Binance prices
come from BasePrice in ../shared/vectors/binance/verifier/config.json (skipped without it)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from aiohttp import web

from scanner.errors import ConfigError
from scanner.config.networks import load_networks
from scanner.pipeline.liabilities import load_liabilities
from scanner.pipeline.prices import (HTTP_API, ORACLE, PUBLISHED, HttpApiConfig, PriceConfig, PriceQuote, Snapshot,
                                     choose, iso, load_price_config, price_book, published_prices, value_at)
from support.common import local_sites, shared_path

KEY = "fake-key-7Hq2x9"
TS = 1_700_000_000  # the snapshot time asked for


class FakeHistory:
    """FAKE historical price API: /history?key=..&id=..&ts=.. -> {"data": {id: {"usd": "...", "time": ts}}}."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/history", self.history)

    async def history(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.asked.append(q)
        if q.get("key") != KEY:
            return web.json_response({"error": "bad key"}, status=401)
        if q.get("id") == "busy":
            return web.json_response({"error": "slow down"}, status=429)
        if q.get("ts") != str(TS):
            return web.json_response({"error": "wrong time"}, status=400)
        prices = {"bitcoin": "23128.48", "ether": 1585.33}  # a string and a JSON number: both exact
        data = {q["id"]: {"usd": prices[q["id"]], "time": TS - 120}} if q["id"] in prices else {}
        return web.json_response(data={"data": data}, dumps=lambda o: json.dumps(o, default=float))


async def _with_fake(fn):
    fake = FakeHistory()
    async with local_sites((fake.app, None)) as (port,):
        return await fn(f"http://127.0.0.1:{port}", fake), fake


def _api(base: str) -> HttpApiConfig:
    return HttpApiConfig(label="fake-history", url=base + "/history?key=${FAKE_PRICE_KEY}&id={asset_id}",
                         timestamp_param="ts", price_path="data.{asset_id}.usd", time_path="data.{asset_id}.time",
                         ids={"BTC": "bitcoin", "ETH": "ether", "XRP": "ripple", "BUSY": "busy"})


def test_http_api_prices_missing_and_429(monkeypatch):
    monkeypatch.setenv("FAKE_PRICE_KEY", KEY)

    async def go(base, fake):
        config = PriceConfig(apis=(_api(base),), precedence=(HTTP_API,))
        return await price_book(["BTC", "ETH", "XRP", "BUSY", "DOGE"], Snapshot(timestamp=TS), config, readers={},
                                attempts=2)

    book, fake = asyncio.run(_with_fake(go))
    btc, eth = book.quotes["BTC"], book.quotes["ETH"]
    assert btc.usd == Decimal("23128.48") and eth.usd == Decimal("1585.33")  # exact, never through float
    assert btc.source == HTTP_API and btc.label == "fake-history" and btc.at == iso(TS - 120)
    assert "no price at data.ripple.usd" in book.missing["XRP"]
    assert "429" in book.missing["BUSY"] and "after 2 attempts" in book.missing["BUSY"]
    assert sum(1 for q in fake.asked if q["id"] == "busy") == 2  # retried, then given up
    assert "no id for DOGE" in book.missing["DOGE"]
    assert {q["ts"] for q in fake.asked} == {str(TS)}
    assert KEY not in json.dumps(book.to_json()) and "127.0.0.1" not in json.dumps(book.to_json())


def test_http_api_unset_key_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_PRICE_KEY", raising=False)
    path = tmp_path / "price_feeds.toml"
    path.write_text('[http_apis.fake]\nurl = "https://prices.invalid/h?key=${FAKE_PRICE_KEY}&id={asset_id}"\n'
                    'timestamp_param = "ts"\nprice_path = "price"\nids = { BTC = "bitcoin" }\n')
    config = load_price_config(path)
    assert config.apis == () and "FAKE_PRICE_KEY" in config.skipped[0]
    book = asyncio.run(price_book(["BTC"], Snapshot(timestamp=TS), config, readers={}))
    assert "BTC" in book.missing and any("skipped" in n for n in book.notes)


def test_http_api_key_redacted_from_reasons(monkeypatch):
    monkeypatch.setenv("FAKE_PRICE_KEY", "wrong-key-abcdef")

    async def go(base, fake):
        return await price_book(["BTC"], Snapshot(timestamp=TS), PriceConfig(apis=(_api(base),)), readers={})

    book, _ = asyncio.run(_with_fake(go))
    assert "401" in book.missing["BTC"] and "wrong-key-abcdef" not in json.dumps(book.to_json())


def test_binance_base_price_published():
    path = shared_path("binance", "verifier", "config.json")
    raw = {e["Symbol"]: e["BasePrice"] for e in json.loads(path.read_text())["CexAssetsInfo"]}
    prices = published_prices(load_liabilities(path))
    assert set(prices) == set(raw)
    for sym, base in raw.items():  # BasePrice is USD x 10^8 for these assets
        assert prices[sym].usd * 10**8 == base and prices[sym].source == PUBLISHED
        assert prices[sym].at is None and "BasePrice" in prices[sym].label and "config.json" in prices[sym].label
    book = asyncio.run(price_book(list(raw), Snapshot(), PriceConfig(), published=prices, readers={}))
    assert book.quotes["BTC"].usd == Decimal("23128.48") and not book.missing
    assert "oracle: no feed configured" in book.passed_over["BTC"]


def test_binance_zero_base_price_is_no_price(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"CexAssetsInfo": [
        {"TotalEquity": 10, "TotalDebt": 0, "BasePrice": 0, "Symbol": "BTC", "Index": 0},
        {"TotalEquity": 10, "TotalDebt": 0, "BasePrice": 12345, "Symbol": "DOGE", "Index": 1}]}))
    prices = published_prices(load_liabilities(path))
    assert "BTC" not in prices and prices["DOGE"].usd == Decimal("12345") / 10**14  # two-digit asset: 10^14
    book = asyncio.run(price_book(["BTC"], Snapshot(), PriceConfig(), published=prices, readers={}))
    assert "BTC" not in book.quotes and "publishes no price" in book.missing["BTC"]


def test_precedence_and_reasons():
    q = {k: PriceQuote("BTC", Decimal(v), k, k, None) for k, v in ((ORACLE, "1"), (HTTP_API, "2"), (PUBLISHED, "3"))}
    assert choose(q, (ORACLE, HTTP_API, PUBLISHED))[0] is q[ORACLE]
    assert choose(q, (PUBLISHED, ORACLE))[0] is q[PUBLISHED]
    got, why = choose({ORACLE: "stale", HTTP_API: q[HTTP_API]}, (ORACLE, HTTP_API))
    assert got is q[HTTP_API] and why == ("oracle: stale",)
    assert choose({ORACLE: "stale"}, (ORACLE, PUBLISHED)) == (None, ("oracle: stale",))


def test_value_at_paths():
    data = {"a": [{"b": {"c": 5}}]}
    assert value_at(data, "a[0].b.c") == 5
    with pytest.raises(KeyError):
        value_at(data, "a[1].b")


def test_packaged_config_feeds_are_known_networks():
    config = load_price_config()
    nets = load_networks()
    assert config.feeds, "price_feeds.toml lists no feed"
    for asset, feed in config.feeds.items():
        assert feed.network in nets and nets[feed.network].kind == "evm", asset
        assert feed.source and "smartcontractkit" in feed.source, asset  # each names where it was confirmed
    assert config.precedence[0] == ORACLE and config.max_age_seconds == 86400


@pytest.mark.parametrize("text,fragment", [
    ('[settings]\nprecedence = ["oracle", "rumour"]\n', "settings.precedence"),
    ('[settings]\nmax_age_seconds = 0\n', "settings.max_age_seconds"),
    ('[feeds.BTC]\nnetwork = "ethereum"\naddress = "0x123"\ndecimals = 8\n', "feeds.BTC.address"),
    ('[feeds.BTC]\nnetwork = "ethereum"\naddress = "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419"\n', "feeds.BTC.decimals"),
    ('[http_apis.x]\nurl = "ftp://x"\nprice_path = "p"\ntimestamp_param = "t"\n', "http_apis.x.url"),
    ('[http_apis.x]\nurl = "https://x/{asset_id}"\nprice_path = "p"\n', "the snapshot time goes nowhere"),
])
def test_bad_config_names_file_and_key(tmp_path, text, fragment):
    path = tmp_path / "price_feeds.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment) as err:
        load_price_config(path)
    assert str(path) in str(err.value)
