"""USD prices at the snapshot, each naming its source and time: the price book the USD comparison uses.

Three sources, each giving :class:`PriceQuote` records:

* ``published``: prices the liabilities file publishes (Binance ``CexAssetsInfo`` ``BasePrice``,
  decoded with its scale by ``liabilities/binance.py`` into the set's ``meta``): the exchange's word;
* ``oracle``: a Chainlink-style aggregator's ``latestRoundData()`` read by ``eth_call`` at the snapshot
  block of its network (``chains/oracle.py``); the price time is the answer's ``updatedAt``. An answer
  older than ``max_age_seconds`` before the block's time, or not positive, or whose ``decimals()``
  differ from the configured ones, is refused with the reason;
* ``http-api``: a historical price API configured like an endpoint (``${VAR}`` secrets, ids per asset,
  the JSON path of the price), asked at the snapshot's time.

:func:`price_book` returns one quote per asset, from the first source in ``precedence`` that has one,
and for every asset without a quote the reasons each source gave. A price is never zero: a missing or
refused price is a reason, not a number. Feeds and APIs are data in ``scanner/config/price_feeds.toml``.

Why one file: one record, its config and the precedence rule, and the three sources that fill it, which
share that config and the wording of their reasons; the I/O itself is in ``chains/oracle.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from chains.httpapi import bounded_map
from chains.jsonrpc import Endpoint, TransportError
from chains.oracle import EvmOracleReader, OracleAnswer, OracleError, OracleReader, PriceApiClient
from chains.evm import parse_address
from chains.secrets import ConfigError as UnsetVariable, url_problem

from ..amounts import EXACT
from ..config.assets import config_dir
from ..config.files import read_toml
from ..errors import ConfigError
from .liabilities.model import LiabilitySet

PUBLISHED, ORACLE, HTTP_API = "published", "oracle", "http-api"
SOURCE_KINDS = (ORACLE, HTTP_API, PUBLISHED)  # also the default precedence
PUBLISHED_PRICE_KEY = "price_usd."  # LiabilitySet.meta key prefix: "price_usd.BTC" -> "23128.48"
PUBLISHED_PRICE_FIELD = "price_field"  # LiabilitySet.meta: which field of the file the prices are
DEFAULT_MAX_AGE = 86400
TIME_FORMATS = ("unix", "unix_ms", "iso", "date")
_PACKAGED = Path(__file__).resolve().parents[1] / "config" / "price_feeds.toml"


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """One asset's USD price at the snapshot and where it came from."""

    asset: str
    usd: Decimal  # exact, > 0
    source: str  # PUBLISHED | ORACLE | HTTP_API
    label: str  # the feed or endpoint label (never a URL: it may carry a key), or the file it was read from
    at: str | None  # ISO time of the price (None: the source does not say, e.g. a file's BasePrice)
    block: int | None = None  # the block it was read at, for on-chain answers
    network: str | None = None
    detail: str = ""  # feed address and round, API id, file field, ...

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "usd": str(self.usd), "source": self.source, "label": self.label, "at": self.at,
                "block": self.block, "network": self.network, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class FeedConfig:
    asset: str
    network: str
    address: str
    decimals: int
    pair: str = ""
    source: str = ""  # where the address was confirmed


@dataclass(frozen=True, slots=True)
class HttpApiConfig:
    label: str
    url: str  # template: ${VAR} secrets, {asset_id}, {timestamp}
    price_path: str
    ids: Mapping[str, str]
    timestamp_param: str | None = None
    timestamp_format: str = "unix"
    time_path: str | None = None
    requests_per_second: float | None = None
    concurrency: int = 2
    timeout: float = 30.0

    def template(self) -> str:
        """The URL template with the time in it (as a query parameter when the template has no ``{timestamp}``)."""
        if "{timestamp}" in self.url or not self.timestamp_param:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{self.timestamp_param}={{timestamp}}"


@dataclass(frozen=True, slots=True)
class PriceConfig:
    feeds: Mapping[str, FeedConfig] = field(default_factory=dict)
    apis: tuple[HttpApiConfig, ...] = ()
    precedence: tuple[str, ...] = SOURCE_KINDS
    max_age_seconds: int = DEFAULT_MAX_AGE
    skipped: tuple[str, ...] = ()  # APIs left out, with why (an unset ${VAR})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """When to price: the snapshot block per network (oracle reads) and/or a unix time (HTTP APIs;
    when absent, the time of a snapshot block is used)."""

    heights: Mapping[str, int] = field(default_factory=dict)
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class PriceBook:
    quotes: Mapping[str, PriceQuote]  # asset -> the quote chosen
    missing: Mapping[str, str]  # asset -> why there is none (every source's reason)
    passed_over: Mapping[str, tuple[str, ...]]  # asset -> why sources before the chosen one gave nothing
    precedence: tuple[str, ...]
    timestamp: int | None  # the time the HTTP APIs were asked for
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"precedence": list(self.precedence), "timestamp": self.timestamp,
                "quotes": {a: q.to_json() for a, q in sorted(self.quotes.items())},
                "missing": dict(sorted(self.missing.items())),
                "passed_over": {a: list(v) for a, v in sorted(self.passed_over.items()) if v},
                "notes": list(self.notes)}


# ---------------------------------------------------------------------------------------- config


def _fail(path: Path, problems: list[str]) -> None:
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))


def _is_int(v: Any, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def load_price_config(path: Path | None = None) -> PriceConfig:
    """``price_feeds.toml`` (the config folder's, else the packaged one): every mistake at once, each
    naming the file and the key; an API whose ``${VAR}`` is unset is skipped and listed in ``skipped``."""
    if path is None:
        path = config_dir() / "price_feeds.toml"
        if not path.exists():
            path = _PACKAGED
    data = read_toml(path)
    problems: list[str] = []
    settings = data.get("settings", {})
    precedence = settings.get("precedence", list(SOURCE_KINDS))
    if (not isinstance(precedence, list) or not precedence or len(set(precedence)) != len(precedence)
            or any(p not in SOURCE_KINDS for p in precedence)):
        problems.append(f"settings.precedence: {precedence!r} is not a list of distinct {', '.join(SOURCE_KINDS)}")
    max_age = settings.get("max_age_seconds", DEFAULT_MAX_AGE)
    if not _is_int(max_age, 1, 10**9):
        problems.append(f"settings.max_age_seconds: {max_age!r} is not a whole number of seconds > 0")
    feeds: dict[str, FeedConfig] = {}
    for asset, spec in (data.get("feeds") or {}).items():
        where = f"feeds.{asset}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: not a table")
            continue
        bad = [k for k in ("network", "address") if not isinstance(spec.get(k), str) or not spec.get(k)]
        problems += [f"{where}.{k}: missing" for k in bad]
        if "address" not in bad and parse_address(spec["address"]) is None:
            problems.append(f"{where}.address: {spec['address']!r} is not an EVM address (0x + 40 hex, EIP-55)")
        if not _is_int(spec.get("decimals"), 0, 77):
            problems.append(f"{where}.decimals: {spec.get('decimals')!r} is not 0..77")
        if not bad:
            feeds[asset.upper()] = FeedConfig(asset=asset.upper(), network=spec["network"], address=spec["address"].strip(),
                                              decimals=spec.get("decimals", 0), pair=str(spec.get("pair", "")),
                                              source=str(spec.get("source", "")))
    apis: list[HttpApiConfig] = []
    skipped: list[str] = []
    for label, spec in (data.get("http_apis") or {}).items():
        where = f"http_apis.{label}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: not a table")
            continue
        url, price_path, ids = spec.get("url"), spec.get("price_path"), spec.get("ids", {})
        fmt = spec.get("timestamp_format", "unix")
        mistakes = []
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            mistakes.append(f"{where}.url: missing or not an http(s) URL")
        elif why := url_problem(re.sub(r"\{\w+\}", "1", url), ("http", "https")):  # its {placeholders} read as 1
            mistakes.append(f"{where}.url: {why}")
        if not isinstance(price_path, str) or not price_path:
            mistakes.append(f"{where}.price_path: missing")
        if not isinstance(ids, dict) or not all(isinstance(v, str) and v for v in ids.values()):
            mistakes.append(f"{where}.ids: not a table of asset = \"api id\"")
        if fmt not in TIME_FORMATS:
            mistakes.append(f"{where}.timestamp_format: {fmt!r} is not one of {', '.join(TIME_FORMATS)}")
        if isinstance(url, str) and "{timestamp}" not in url and not spec.get("timestamp_param"):
            mistakes.append(f"{where}: the snapshot time goes nowhere (no {{timestamp}} in url, no timestamp_param)")
        problems += mistakes
        if mistakes:
            continue
        api = HttpApiConfig(label=label, url=str(url), price_path=str(price_path), ids={k.upper(): v for k, v in ids.items()},
                            timestamp_param=spec.get("timestamp_param"), timestamp_format=fmt,
                            time_path=spec.get("time_path"), requests_per_second=spec.get("requests_per_second"),
                            concurrency=int(spec.get("concurrency", 2)), timeout=float(spec.get("timeout", 30.0)))
        try:
            Endpoint(label, api.template()).resolved_url()
        except UnsetVariable as exc:  # a key that is not set: that API is left out, and the book says so
            skipped.append(f"{label} ({exc})")
            continue
        apis.append(api)
    _fail(path, problems)
    return PriceConfig(feeds=feeds, apis=tuple(apis), precedence=tuple(precedence), max_age_seconds=max_age,
                       skipped=tuple(skipped))


# ---------------------------------------------------------------------------------------- pure core


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge_answer(asset: str, feed: FeedConfig, ans: OracleAnswer, max_age: int) -> PriceQuote | str:
    """The quote an aggregator answer gives, or why it is refused (stale, not positive, other decimals)."""
    where = f"{feed.network} feed {feed.address} at block {ans.block.number}"
    if ans.decimals != feed.decimals:
        return f"{where}: decimals() is {ans.decimals}, the config says {feed.decimals}"
    if ans.answer <= 0:
        return f"{where}: answer {ans.answer} is not a price (<= 0)"
    if ans.updated_at == 0:
        return f"{where}: round {ans.round_id} has no updatedAt (incomplete round)"
    age = ans.block_timestamp - ans.updated_at
    if age > max_age:
        return (f"{where}: stale, updated {iso(ans.updated_at)}, {age} s before the block's time "
                f"{iso(ans.block_timestamp)} (limit {max_age} s)")
    usd = EXACT.scaleb(Decimal(ans.answer), -ans.decimals)
    return PriceQuote(asset=asset, usd=usd, source=ORACLE, label=f"{feed.pair or asset + ' / USD'} ({ans.endpoint})",
                      at=iso(ans.updated_at), block=ans.block.number, network=feed.network,
                      detail=f"feed {feed.address} round {ans.round_id}; answer {ans.answer} / 10^{ans.decimals}")


def published_prices(liab: LiabilitySet | None) -> dict[str, PriceQuote]:
    """The USD prices a liabilities set publishes (``meta['price_usd.<ASSET>']``); a price that is not
    positive is left out (never a zero price)."""
    if liab is None:
        return {}
    name = Path(liab.inputs[0][0]).name if liab.inputs else liab.format
    what = liab.meta.get(PUBLISHED_PRICE_FIELD, "price")
    out: dict[str, PriceQuote] = {}
    for key, text in liab.meta.items():
        if not key.startswith(PUBLISHED_PRICE_KEY):
            continue
        asset = key[len(PUBLISHED_PRICE_KEY):]
        try:
            usd = Decimal(text)
        except InvalidOperation:
            continue
        if usd.is_finite() and usd > 0:
            out[asset] = PriceQuote(asset=asset, usd=usd, source=PUBLISHED, label=f"{liab.format} {what} ({name})",
                                    at=None, detail=f"{what} of {asset} in {name} (sha256 {liab.file_sha256[:12]})")
    return out


_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def value_at(data: Any, path: str) -> Any:
    """The value at a dotted path with ``[n]`` indexes (``data.prices[0].usd``); KeyError naming the part missing."""
    cur = data
    for m in _PATH_TOKEN.finditer(path):
        index, key = m.group(1), m.group(2)
        if index is not None:
            if not isinstance(cur, list) or int(index) >= len(cur):
                raise KeyError(f"[{index}]")
            cur = cur[int(index)]
        else:
            if not isinstance(cur, dict) or key not in cur:
                raise KeyError(key)
            cur = cur[key]
    return cur


def usd_value(value: Any) -> Decimal:
    """A price from JSON: a number (parsed as Decimal) or a decimal string; ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a price")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value[:40]!r} is not a decimal number") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{str(value)[:40]!r} is not a price")
    if value <= 0:
        raise ValueError(f"{value} is not a price (<= 0)")
    return value


def time_text(ts: int, fmt: str) -> str:
    if fmt == "unix":
        return str(ts)
    if fmt == "unix_ms":
        return str(ts * 1000)
    if fmt == "iso":
        return iso(ts)
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d-%m-%Y")


def _time_of(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return iso(value // 1000 if value > 10**11 else value)  # milliseconds when that large
    if isinstance(value, str) and value:
        return value
    return None


def choose(candidates: Mapping[str, PriceQuote | str], precedence: Sequence[str]) -> tuple[PriceQuote | None, tuple[str, ...]]:
    """The first source in ``precedence`` with a quote, and the reasons of those before it (all, when none has one)."""
    reasons: list[str] = []
    for kind in precedence:
        got = candidates.get(kind)
        if isinstance(got, PriceQuote):
            return got, tuple(reasons)
        if got:
            reasons.append(f"{kind}: {got}")
    return None, tuple(reasons)


# ---------------------------------------------------------------------------------------- async shell


async def _read_feed(asset: str, feed: FeedConfig, height: int, readers: Sequence[OracleReader],
                     max_age: int) -> PriceQuote | str:
    """A feed read from the first endpoint that answers (the next one on any endpoint failure), then judged."""
    failures = []
    for reader in readers:
        try:
            ans = await reader.latest_round(feed.address, height)
        except (OracleError, TransportError) as exc:
            failures.append(str(exc))
            continue
        return judge_answer(asset, feed, ans, max_age)
    return "; ".join(failures) or f"no endpoint for network {feed.network}"


async def oracle_quotes(assets: Sequence[str], config: PriceConfig, snapshot: Snapshot,
                        readers: Mapping[str, Sequence[OracleReader]]) -> dict[str, PriceQuote | str]:
    """Per asset: the judged oracle quote, or why there is none."""
    out: dict[str, PriceQuote | str] = {}
    todo = []
    for asset in assets:
        feed = config.feeds.get(asset)
        if feed is None:
            out[asset] = "no feed configured"
        elif feed.network not in snapshot.heights:
            out[asset] = f"no snapshot block for network {feed.network} (an answer at the head is not the snapshot's)"
        elif not readers.get(feed.network):
            out[asset] = f"no endpoint for network {feed.network}"
        else:
            todo.append((asset, feed))
    results = await bounded_map(todo, lambda af: _read_feed(af[0], af[1], snapshot.heights[af[1].network],
                                                            readers[af[1].network], config.max_age_seconds), 4)
    out.update((asset, r) for (asset, _), r in zip(todo, results))
    return out


async def http_quotes(assets: Sequence[str], api: HttpApiConfig, timestamp: int, *, attempts: int = 4,
                      backoff_min: float = 0.05) -> dict[str, PriceQuote | str]:
    """Per asset: the API's price at ``timestamp``, or why there is none (the label, never the URL)."""
    client = PriceApiClient(Endpoint(api.label, api.template(), requests_per_second=api.requests_per_second,
                                     concurrency=api.concurrency, timeout=api.timeout),
                            attempts=attempts, backoff_min=backoff_min)
    when = time_text(timestamp, api.timestamp_format)

    async def one(asset: str) -> PriceQuote | str:
        asset_id = api.ids.get(asset)
        if asset_id is None:
            return f"{api.label}: no id for {asset} in its ids"
        try:
            reply = await client.get(asset_id, when)
        except TransportError as exc:
            return f"{api.label}: {client.redact(str(exc))}"
        path = api.price_path.replace("{asset_id}", asset_id)
        try:
            usd = usd_value(value_at(reply, path))
        except KeyError as exc:
            return f"{api.label}: no price at {path} in the reply for {asset_id} ({exc.args[0]} missing)"
        except ValueError as exc:
            return f"{api.label}: {path} for {asset_id}: {exc}"
        at = iso(timestamp)
        if api.time_path:
            try:
                at = _time_of(value_at(reply, api.time_path.replace("{asset_id}", asset_id))) or at
            except KeyError:
                pass
        return PriceQuote(asset=asset, usd=usd, source=HTTP_API, label=api.label, at=at,
                          detail=f"id {asset_id} at {when}")

    try:
        results = await bounded_map(assets, one, max(1, api.concurrency))
    finally:
        await client.close()
    return dict(zip(assets, results))


def build_readers(networks: Mapping[str, Any], wanted: Iterable[str]) -> dict[str, list[OracleReader]]:
    """One oracle reader per endpoint (in the config's order) of each wanted EVM network."""
    out: dict[str, list[OracleReader]] = {}
    for nid in wanted:
        net = networks.get(nid)
        if net is None or net.kind != "evm":
            continue
        out[nid] = [EvmOracleReader(nid, ep, chain_id=net.chain_id) for ep in net.endpoints]
    return out


async def price_book(assets: Iterable[str], snapshot: Snapshot, config: PriceConfig | None = None, *,
                     published: Mapping[str, PriceQuote] | None = None, networks: Mapping[str, Any] | None = None,
                     readers: Mapping[str, Sequence[OracleReader]] | None = None,
                     precedence: Sequence[str] | None = None, attempts: int = 4) -> PriceBook:
    """One quote per asset with its source, and a reason for each asset without one (never a zero price).

    ``published``: the liabilities file's prices (:func:`published_prices`); ``readers``: oracle readers per
    network (default: built from ``networks``, i.e. networks.toml, and closed here); ``precedence``
    overrides the config's."""
    config = config or load_price_config()
    order = tuple(precedence or config.precedence)
    wanted = list(dict.fromkeys(a.strip().upper() for a in assets))
    notes = [f"http-api {s} skipped" for s in config.skipped]
    own_readers = readers is None
    if readers is None:
        if networks is None:
            from ..config.networks import load_networks

            networks = load_networks()
        nets = {config.feeds[a].network for a in wanted if a in config.feeds and ORACLE in order}
        if HTTP_API in order and config.apis and snapshot.timestamp is None:
            nets |= set(snapshot.heights)  # the APIs are asked at a snapshot block's time
        readers = build_readers(networks, nets & set(snapshot.heights))
    candidates: dict[str, dict[str, PriceQuote | str]] = {a: {} for a in wanted}
    timestamp = snapshot.timestamp
    try:
        if ORACLE in order:
            for a, r in (await oracle_quotes(wanted, config, snapshot, readers)).items():
                candidates[a][ORACLE] = r
        if HTTP_API in order:
            if timestamp is None:
                timestamp, why = await _snapshot_time(snapshot, readers)
                if why:
                    notes.append(why)
            for a in wanted:
                candidates[a][HTTP_API] = "no historical price API configured"
            if timestamp is not None:
                for api in config.apis:
                    got = await http_quotes(wanted, api, timestamp, attempts=attempts)
                    for a, r in got.items():
                        prev = candidates[a][HTTP_API]
                        if isinstance(prev, PriceQuote):
                            continue  # the first API in the file that has a price wins
                        candidates[a][HTTP_API] = r if isinstance(r, PriceQuote) or prev.startswith("no historical") \
                            else f"{prev}; {r}"
            else:
                for a in wanted:
                    candidates[a][HTTP_API] = "no snapshot time to ask a historical price API for"
    finally:
        if own_readers:
            for network_readers in readers.values():
                for reader in network_readers:
                    await reader.close()
    pub = published or {}
    for a in wanted:
        candidates[a][PUBLISHED] = pub.get(a) or "the liabilities file publishes no price for it"
    quotes: dict[str, PriceQuote] = {}
    missing: dict[str, str] = {}
    passed: dict[str, tuple[str, ...]] = {}
    for a in wanted:
        quote, reasons = choose(candidates[a], order)
        if quote is None:
            missing[a] = "; ".join(reasons) or "no source in the precedence"
        else:
            quotes[a] = quote
            passed[a] = reasons
    return PriceBook(quotes=quotes, missing=missing, passed_over=passed, precedence=order, timestamp=timestamp,
                     notes=tuple(notes))


async def _snapshot_time(snapshot: Snapshot, readers: Mapping[str, Sequence[OracleReader]]) -> tuple[int | None, str]:
    """The unix time of a snapshot block (the first network with a reader that answers)."""
    why = []
    for nid, height in snapshot.heights.items():
        for reader in readers.get(nid, ()):
            try:
                return await reader.block_time(height), ""
            except (OracleError, TransportError) as exc:
                why.append(str(exc))
    return None, "no snapshot time for the historical price APIs" + (f": {'; '.join(why)}" if why else
                                                                     " (give one, or a snapshot block with an endpoint)")
