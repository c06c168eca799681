"""Networks, endpoints and coin keys as data: ``scanner/config/networks.toml`` and ``scanner/config/coins.toml``.

An endpoint URL may reference ``${ENV_VAR}`` (API keys); the value is read from the environment
when the endpoint is used and never printed: endpoints are shown by their ``label``.
"""

from __future__ import annotations

from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path

from chains.jsonrpc import Endpoint
from chains.httpapi import resolve_headers
from chains.secrets import ConfigError as UnsetVariable, display_url, expand_env, url_problem
from chains.protocol import Asset

from ..errors import ConfigError
from .assets import config_dir
from .files import read_toml, table


class NetConfigError(ConfigError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    kind: str  # "evm", later "bitcoin", "tron", "solana"
    chain_id: int | None
    native_symbol: str
    native_decimals: int
    endpoints: tuple[Endpoint, ...]
    multicall3: str | None = None
    skipped_endpoints: tuple[str, ...] = ()  # labels left out (e.g. their API key variable is unset)
    # kind-specific settings: the network table's other keys (e.g. address_format for bitcoin kinds)
    options: dict = field(default_factory=dict, compare=False, hash=False)
    # per endpoint, its TOML table (same order as ``endpoints``): kind-specific keys such as protocol
    endpoint_options: tuple[dict, ...] = field(default=(), compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class CoinTarget:
    """What a reserve file's coin key means on chain."""

    coin: str  # coin key, upper-case
    network: str  # network id
    asset: str  # asset symbol (USDT for USDT-TRC20)
    contract: str | None
    decimals: int

    def to_asset(self) -> Asset:
        return Asset(network=self.network, symbol=self.asset, decimals=self.decimals, contract=self.contract)


def _load(path: Path) -> dict:
    return read_toml(path, NetConfigError)


# the network kinds porscan has an adapter for (scanner/pipeline/adapters.py builds one per kind;
# a test keeps the two in step), and any kind whose module chains/<kind>.py offers
# ``build_endpoint_adapter`` (see scanner/pipeline/adapters.py: a chain family added in one file)
KINDS = frozenset({"evm", "tron", "solana", "bitcoin"})


@lru_cache(maxsize=1)  # the installed chains/ modules do not change while porscan runs
def module_kinds() -> frozenset[str]:
    """Kinds added as one module each (chains/<kind>.py with ``build_endpoint_adapter``)."""
    import pkgutil

    import chains

    return frozenset(m.name for m in pkgutil.iter_modules(chains.__path__) if m.name not in KINDS and is_kind(m.name))


def all_kinds() -> frozenset[str]:
    return KINDS | module_kinds()


def is_kind(kind: object) -> bool:
    """A kind the config accepts: a built-in one, or a module chains/<kind>.py offering build_endpoint_adapter."""
    return kind in KINDS or (isinstance(kind, str) and kind.isidentifier() and _module_kind(kind))


@lru_cache(maxsize=64)  # read each module's source once, not once per network of that kind
def _module_kind(kind: str) -> bool:
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"chains.{kind}")
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False
    with open(spec.origin, encoding="utf-8") as fh:
        return "def build_endpoint_adapter(" in fh.read()


_NETWORK_KEYS = frozenset({"kind", "chain_id", "native_symbol", "native_decimals", "multicall3", "endpoints"})
# The keys a network or endpoint table may hold: porscan's own, then those the adapters read
# (chains/*.py, scanner/pipeline/adapters.py). Any other is a typo that was silently ignored
# (``requests_per_secnd`` ran without a rate limit): refused, naming the nearest known key.
NETWORK_OPTION_KEYS = frozenset({
    "source", "coin", "chain", "stakehub", "probe_addresses", "commitment", "stake_accounts",
    "genesis_validators_root", "seconds_per_slot", "network_passphrase", "address_prefix", "token_contract",
    "native_contract", "ss58_prefix", "genesis_hash", "staking", "address_format"})
ENDPOINT_KEYS = frozenset({
    "label", "url", "requests_per_second", "concurrency", "max_batch", "timeout", "archive", "headers",
    "jsonrpc_url", "protocol", "balance_history", "attempts", "backoff_min", "backoff_max", "api", "hyperion",
    "hyperion_page", "keys_per_call", "seqno_param", "node_chain", "mode", "dump_dir", "dump_dir_local",
    "allow_rollback", "keep_dump", "dump_timeout", "dump_format", "token_contract", "source"})


def _unknown_key(where: str, key: object, known: frozenset[str]) -> str:
    import difflib

    near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.75)
    return f"{where}{key}: unknown key" + (f" (did you mean {near[0]}?)" if near else "")


_URL_SCHEMES = ("http://", "https://", "ws://", "wss://", "tcp://", "ssl://")
ENDPOINT_SCHEMES = tuple(s[:-3] for s in _URL_SCHEMES)
_SCHEMES_SAID = ", ".join(ENDPOINT_SCHEMES)
MAX_DECIMALS = 77  # 10**77 < 2**256: no token has more


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _network_problems(nid: str, spec: dict) -> list[str]:
    """What is wrong with one network table (all of it, not the first thing)."""
    problems = []
    if not isinstance(spec, dict):
        return [f"network {nid}: not a table"]
    kind = spec.get("kind", "evm")
    if not is_kind(kind):
        problems.append(f"network {nid}: kind: {kind!r} is not one porscan reads ({', '.join(sorted(KINDS))})")
    chain_id = spec.get("chain_id")
    if chain_id is not None and not _is_int(chain_id, 0, 2**63):
        problems.append(f"network {nid}: chain_id: {chain_id!r} is not a chain id (a whole number)")
    elif kind == "evm" and chain_id is None:
        problems.append(f"network {nid}: chain_id: missing (every EVM endpoint is checked against it)")
    if not _is_int(spec.get("native_decimals", 18), 0, MAX_DECIMALS):
        problems.append(f"network {nid}: native_decimals: {spec.get('native_decimals')!r} is not 0..{MAX_DECIMALS}")
    problems += [_unknown_key(f"network {nid}: ", k, _NETWORK_KEYS | NETWORK_OPTION_KEYS)
                 for k in spec if k not in _NETWORK_KEYS | NETWORK_OPTION_KEYS]
    endpoints = spec.get("endpoints", [])
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) for e in endpoints):
        problems.append(f"network {nid}: endpoints: expected [[networks.{nid}.endpoints]] tables, got "
                        f"{str(endpoints)[:40]!r}")
        endpoints = []
    labels: dict[str, int] = {}
    for i, e in enumerate(endpoints):
        label = e.get("label") or f"{nid}-{i}"
        problems += [_unknown_key(f"network {nid}: endpoint {label}: ", k, ENDPOINT_KEYS) for k in e
                     if k not in ENDPOINT_KEYS]
        if not isinstance(label, str):
            problems.append(f"network {nid}: endpoint {i}: label: {label!r} is not a name")
        elif label in labels:  # reports, limits and failover name endpoints by label: two would be one
            problems.append(f"network {nid}: endpoint {label}: label: also the label of endpoint {labels[label]}")
        else:
            labels[label] = i
        for flag in ("archive", "balance_history"):
            if flag in e and not isinstance(e[flag], bool):  # bool("no") is True
                problems.append(f"network {nid}: endpoint {label}: {flag}: {e[flag]!r} is not true or false")
        url = e.get("url")
        where = f"network {nid}: endpoint {e.get('label') or i}: url"
        if not isinstance(url, str):
            problems.append(f"{where}: missing")
        elif not url.lower().startswith(_URL_SCHEMES):
            problems.append(f"{where}: {url.split('://')[0] + '://' if '://' in url else url[:20]!r} is not a scheme "
                            f"porscan speaks ({_SCHEMES_SAID})")
        elif why := url_problem(url, ENDPOINT_SCHEMES):  # never the URL itself: it may hold a password
            problems.append(f"{where}: {why}")
        rpc_url = e.get("jsonrpc_url")
        if rpc_url is not None and not (isinstance(rpc_url, str) and rpc_url.lower().startswith(("http://", "https://"))):
            problems.append(f"{where.removesuffix(': url')}: jsonrpc_url: {display_url(str(rpc_url))[:40]!r} is not an "
                            f"http:// or https:// URL")
        elif rpc_url is not None and (why := url_problem(rpc_url, ("http", "https"))):
            problems.append(f"{where.removesuffix(': url')}: jsonrpc_url: {why}")
    return problems


def load_networks(path: Path | None = None) -> dict[str, Network]:
    path = path or config_dir() / "networks.toml"
    data = _load(path)
    out: dict[str, Network] = {}
    networks = table(data.get("networks", {}), path, "networks", "[networks.ID] tables", NetConfigError)
    problems = [p for nid, spec in networks.items() for p in _network_problems(nid, spec)]
    if problems:  # every mistake at once, each with the file and the key
        raise NetConfigError("\n".join(f"{path}: {p}" for p in problems))
    for nid, spec in networks.items():  # checked above: every network a table, its endpoints tables
        try:
            eps = []
            ep_opts = []
            skipped = []
            for i, e in enumerate(spec.get("endpoints", [])):
                label = e.get("label") or f"{nid}-{i}"
                ep = Endpoint(label=label, url=e["url"], requests_per_second=_limit(path, nid, label, e, "requests_per_second"),
                              concurrency=_limit(path, nid, label, e, "concurrency", 4),
                              max_batch=_limit(path, nid, label, e, "max_batch", 1000),
                              timeout=_limit(path, nid, label, e, "timeout", 60.0), archive=bool(e.get("archive", True)),
                              network=nid)
                try:
                    ep.resolved_url()
                    resolve_headers(ep.label, e.get("headers"))  # a header's ${VAR} too (TRON API keys)
                    if e.get("jsonrpc_url"):
                        expand_env(e["jsonrpc_url"], f"endpoint {ep.label} (jsonrpc_url)")
                except UnsetVariable as exc:  # an API key that is not set: leave the endpoint out, say so
                    skipped.append(f"{ep.label} ({exc})")
                    continue
                eps.append(ep)
                ep_opts.append(dict(e))
            options = {k: v for k, v in spec.items() if k not in _NETWORK_KEYS}
            out[nid] = Network(id=nid, kind=spec.get("kind", "evm"), chain_id=spec.get("chain_id"),
                               native_symbol=spec.get("native_symbol", nid.upper()),
                               native_decimals=int(spec.get("native_decimals", 18)), endpoints=tuple(eps),
                               multicall3=spec.get("multicall3"), skipped_endpoints=tuple(skipped),
                               options=options, endpoint_options=tuple(ep_opts))
        except NetConfigError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise NetConfigError(f"{path}: network {nid}: {exc!r}") from exc
    return out


_INT_LIMITS = frozenset({"concurrency", "max_batch"})


def _limit(path: Path, nid: str, label: str, spec: dict, key: str, default: float | None = None):
    """An endpoint's limit: a positive number (an integer >= 1 for concurrency and max_batch).

    A zero or negative rate would stall or spin the rate limiter; a zero concurrency, batch size or
    timeout can never send anything. Such values are refused here, naming the endpoint and the key."""
    value = spec.get(key, default)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0  # NaN fails too
    if key in _INT_LIMITS:
        ok = ok and isinstance(value, int) and value >= 1
    elif ok:
        value = float(value)
    if not ok:
        kind = "an integer >= 1" if key in _INT_LIMITS else "a number > 0"
        raise NetConfigError(f"{path}: network {nid}: endpoint {label}: {key} must be {kind}, got {value!r}")
    return value


class CoinTargets(dict):
    """Coin name -> :class:`CoinTarget`: ``scanner/config/coins.toml``'s keys exactly; a name it lacks is
    resolved by rule on first lookup and remembered.

    The rule (:func:`signatures.registry.resolve_name`) reads an asset and a chain from the name
    (``USDT-ETH``, ``USDT-Avalanche C-Chain``); the chain's entry for that asset in coins.toml gives
    the token contract and decimals (``USDT-ETH`` reads like ``USDT-ERC20``), or the asset is the
    chain's own coin. Anything less certain stays unresolved, with the reason in :meth:`why_not`.
    A dict, so every reader of the coin map (balances, aggregation, decimals) sees the same answer.
    """

    def __init__(self, exact: dict[str, CoinTarget] | None = None):
        super().__init__(exact or {})
        self._misses: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # coin name -> how it was resolved, for reports

    def get(self, key, default=None):
        key = key.strip().upper()
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in self._misses:
            return default
        return self._remember(key, key) or default

    def __missing__(self, key):
        target = self.get(key)
        if target is None:
            raise KeyError(key)
        return target

    def why_not(self, coin: str) -> str:
        return self._misses.get(coin.strip().upper(), "")

    def key_for(self, coin: str, network: str = "", keyed_by_network: bool = False) -> str:
        """The key a row's balance is read and summed under. The coin name alone where it resolves
        (OKX's coin keys); ``COIN@NETWORK`` where the network column must say the chain: files keyed
        by network (address lists, auditor CSV: ``USDT`` on ``BSC``) and names that resolve only with
        it. Looked up with :meth:`get` like any coin key."""
        key = coin.strip().upper()
        net = network.strip().upper()
        if not net or (not keyed_by_network and self.get(key) is not None):
            return key
        both = f"{key}@{net}"
        if not dict.__contains__(self, both) and both not in self._misses:
            self._remember(both, coin, net)
        return both

    @staticmethod
    def read_as(key: str, coin: str) -> str:
        """The coin a balance record names: the row's own, or ``COIN@NETWORK`` when the network
        column said the chain (the record then says what the row was read as)."""
        return key if "@" in key else coin

    def _remember(self, key: str, name: str, network: str = "") -> CoinTarget | None:
        """Resolve ``name`` (on ``network``) by rule and keep the answer under ``key``: the target,
        or why there is none."""
        target, why = self._by_rule(name, network, key)
        if target is None:
            self._misses[key] = why
        else:
            self[key] = target
            self.notes[key] = why
        return target

    def _by_rule(self, name: str, network: str = "", key: str = "") -> tuple[CoinTarget | None, str]:
        from signatures.registry import CHAINS, resolve_name

        res = resolve_name(name, "", "")
        key = key or name
        if network:
            return self._on_network(name, network, key, res.asset, res.chain)
        if res.scheme is None or not res.chain:
            # the balance side never guesses a chain from an address's format (any EVM chain has 0x-addresses)
            return None, f"coin name {name!r} names no chain porscan can read (map it in scanner/config/coins.toml)"
        chain = CHAINS.get(res.chain)
        return self._asset_on(key, name, res.asset, res.chain, chain.native if chain else None, "by its name")

    def _on_network(self, name: str, network: str, key: str, asset: str, own_chain: str) -> tuple[CoinTarget | None, str]:
        """A coin on the chain its network column names (address lists, auditor files, a coin key that
        resolves only with its network). The network decides, never the coin: ``ETH`` on ``Arbitrum One``
        is ETH on arbitrum, ``BTC`` on ``BSC`` a token on bsc (or nothing), not Bitcoin's coin; a network
        that names no chain porscan reads leaves the row unread rather than read on the coin's chain
        (``ETC`` on ``OKC`` is not ETC on Ethereum Classic). A coin name that carries a chain of its own
        (``USDT-TRC20``) must agree with the network."""
        said = f"{name} on {network}"
        where = self._network_chain(network)
        if where is None:
            return None, (f"network {network!r} names no chain porscan can read: {said} is not read "
                          f"(map {key} in scanner/config/coins.toml)")
        chain, native = where
        if own_chain and asset != name.strip().upper() and own_chain != chain:
            return None, f"coin name {name!r} names chain {own_chain}, its network column {network!r} names {chain}"
        return self._asset_on(key, said, asset, chain, native, "by its network")

    def _network_chain(self, network: str) -> tuple[str, str | None] | None:
        """(network id, its own coin) of a network column: a chain's name or alias (``Arbitrum One``,
        ``BSC``, ``TRX``), else the coins.toml key of a chain's own coin (``DOT``, ``ADA``, ``XRP``)."""
        from signatures.registry import chain_alias

        alias = chain_alias(network)
        if alias is not None:
            return alias.id, alias.native
        own = dict.get(self, network.strip().upper())
        if own is not None and own.contract is None:
            return own.network, own.asset
        return None

    def _asset_on(self, key: str, said: str, asset: str, chain: str, native: str | None,
                  how: str) -> tuple[CoinTarget | None, str]:
        """``asset`` on ``chain``: the one coins.toml entry of that asset there, or the chain's own coin."""
        same = {(t.contract, t.decimals): t for t in self.values() if t.network == chain and t.asset == asset}
        if len(same) == 1:
            (found,) = same.values()
            return (CoinTarget(coin=key, network=found.network, asset=found.asset, contract=found.contract,
                               decimals=found.decimals),
                    f"{said} read as {found.coin} ({found.asset} on {found.network}), {how}")
        if len(same) > 1:
            keys = ", ".join(sorted(t.coin for t in same.values()))
            return None, (f"{asset} on {chain} has several tokens in scanner/config/coins.toml ({keys}): "
                          f"say which {said} is there")
        natives = {t.decimals for t in self.values() if t.network == chain and t.contract is None}
        if native is not None and asset == native and len(natives) == 1:
            return (CoinTarget(coin=key, network=chain, asset=asset, contract=None, decimals=natives.pop()),
                    f"{said} read as {chain}'s own coin {asset}, {how}")
        return None, f"no token contract for {asset} on {chain} in scanner/config/coins.toml"


class RuleDecimals(dict):
    """Coin name -> decimals: the given map, then the coin map (which resolves names by rule)."""

    def __init__(self, exact: dict[str, int], coins: CoinTargets):
        super().__init__(exact)
        self.update({k: t.decimals for k, t in coins.items()})
        self._coins = coins

    def get(self, key, default=None):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        target = self._coins.get(key)
        return default if target is None else target.decimals

    def for_row(self, coin: str, network: str, keyed_by_network: bool) -> int | None:
        """Decimals of a row's coin as its balance is read (:meth:`CoinTargets.key_for`)."""
        target = self._coins.get(self._coins.key_for(coin, network, keyed_by_network))
        return target.decimals if target is not None else self.get(coin.strip().upper())


def check_coins(coins: dict[str, CoinTarget], networks: dict[str, Network], book, path: Path | None = None) -> None:
    """The coin map against the networks and assets.toml, every mistake at once: a network no
    networks file defines (a typo), an asset other than the one assets.toml gives the key."""
    path = path or config_dir() / "coins.toml"
    known = set(networks)
    default = config_dir() / "networks.toml"
    if default.exists():
        known |= set(table(_load(default).get("networks", {}), default, "networks", "[networks.ID] tables",
                           NetConfigError))
    problems = []
    for key, t in dict.items(coins):
        if t.network not in known:
            problems.append(f"coin {key}: network: {t.network!r} is no network in networks.toml "
                            f"({', '.join(sorted(known))})")
        info = book.get(key)
        if info is not None and info.asset != t.asset:
            problems.append(f"coin {key}: asset: {t.asset!r}, but scanner/config/assets.toml counts {key} towards {info.asset}")
    if problems:
        raise NetConfigError("\n".join(f"{path}: {p}" for p in problems))


_COIN_KEYS = frozenset({"network", "asset", "contract", "decimals", "source"})


def _coin_problems(key: str, spec: object) -> list[str]:
    """What is wrong with one coin table, all of it: a table without ``network`` was skipped and a
    missing ``asset`` was ``KeyError('asset')``; a key porscan does not read was ignored."""
    if not isinstance(spec, dict):
        return [f"coin {key}: expected a table ([{key}] with network, asset, decimals), got {str(spec)[:40]!r}"]
    problems = [_unknown_key(f"coin {key}: ", k, _COIN_KEYS) for k in spec if k not in _COIN_KEYS]
    for name in ("network", "asset"):
        if not isinstance(spec.get(name), str) or not spec[name].strip():
            problems.append(f"coin {key}: {name}: " + ("missing" if name not in spec else f"{spec[name]!r} is not a name"))
    if "contract" in spec and not isinstance(spec["contract"], str):
        problems.append(f"coin {key}: contract: {spec['contract']!r} is not an address (a string)")
    if not _is_int(spec.get("decimals"), 0, MAX_DECIMALS):
        problems.append(f"coin {key}: decimals: {spec.get('decimals')!r} is not 0..{MAX_DECIMALS}")
    return problems


def load_coins(path: Path | None = None) -> CoinTargets:
    path = path or config_dir() / "coins.toml"
    data = _load(path)
    out = CoinTargets()
    bad = [f"{path}: {p}" for key, spec in data.items() for p in _coin_problems(key, spec)]
    if bad:
        raise NetConfigError("\n".join(bad))
    for key, spec in data.items():
        try:
            out[key.upper()] = CoinTarget(coin=key.upper(), network=spec["network"], asset=spec["asset"],
                                          contract=spec.get("contract") or None,
                                          decimals=int(spec["decimals"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise NetConfigError(f"{path}: coin {key}: {exc!r}") from exc
    return out


def with_overrides(networks: dict[str, Network], overrides: list[str]) -> dict[str, Network]:
    """``NETWORK=URL`` pairs replace a network's endpoints (``--rpc`` on the command line)."""
    out = dict(networks)
    for item in overrides:
        if "=" not in item:
            raise NetConfigError(f"--rpc {item!r}: expected NETWORK=URL")
        nid, url = item.split("=", 1)
        base = out.get(nid)
        ep = Endpoint(label=f"{nid}-cli", url=url, concurrency=8, max_batch=1000)
        try:
            ep.resolved_url()
        except UnsetVariable as exc:  # an unset ${VAR}: the command cannot run as asked
            raise NetConfigError(f"--rpc {nid}=...: {exc}") from exc
        if not url.lower().startswith(_URL_SCHEMES):
            raise NetConfigError(f"--rpc {nid}=...: not a URL porscan speaks ({_SCHEMES_SAID})")
        why = url_problem(url, ENDPOINT_SCHEMES)
        if why:  # found now, not after six retries of a scan; the URL is not quoted (it may hold a password)
            raise NetConfigError(f"--rpc {nid}=...: {why}")
        if base is None:
            raise NetConfigError(f"--rpc {nid}=...: no network {nid!r} in networks.toml "
                                 f"(known: {', '.join(sorted(out)) or 'none'})")
        replaced = tuple(f"{e.label} (replaced by --rpc {nid}=...)" for e in base.endpoints)
        out[nid] = Network(id=base.id, kind=base.kind, chain_id=base.chain_id, native_symbol=base.native_symbol,
                           native_decimals=base.native_decimals, endpoints=(ep,),
                           multicall3=base.multicall3, skipped_endpoints=replaced + base.skipped_endpoints,
                           options=base.options,
                           endpoint_options=({"label": ep.label, "url": url},))
    return out
