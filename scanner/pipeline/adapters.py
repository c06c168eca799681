"""Which adapter reads which kind of network: ``kind`` in scanner/config/networks.toml -> factory.

Each chains module stays free of scanner types; the factories here build an adapter from a
``Network`` (its endpoints, and ``options``: the network's extra TOML keys, e.g. an address
encoding). Modules are imported lazily so a missing optional dependency only disables its kind.

Every kind builds one adapter per endpoint and composes them with the one failover mechanism,
``chains.failover.FailoverAdapter`` (next endpoint, block agreement, ``--cross-check``). To add a kind:
write ``chains/<kind>.py`` with an adapter reading from one endpoint (``chains.failover.EndpointAdapter``:
a ``chains.protocol.ChainAdapter`` with a ``label``), add a factory below and an entry in ``FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chains.protocol import AdapterError, ChainAdapter

if TYPE_CHECKING:
    from chains.failover import EndpointAdapter
    from chains.jsonrpc import Endpoint

from ..config.networks import Network


def _one_network(network: Network, build: Callable[[int, Endpoint], EndpointAdapter], cross_check: int = 0
                 ) -> ChainAdapter:
    """One adapter per endpoint (``build(index, endpoint)``) wrapped in the one failover mechanism
    (chains/failover.py). One usable endpoint and nothing to say or compare: the adapter itself, which
    reads exactly as the wrapper around it would (its unusable-endpoint errors reach the rows either way)."""
    from chains.failover import FailoverAdapter, per_endpoint

    adapters, left_out = per_endpoint(enumerate(network.endpoints), lambda item: item[1].label,
                                      lambda item: build(*item))
    if len(adapters) == 1 and not left_out:
        return adapters[0]
    return FailoverAdapter(network.id, adapters, cross_check=cross_check, notes=left_out)


def _options(network: Network, i: int) -> dict:
    return network.endpoint_options[i] if i < len(network.endpoint_options) else {}


def _retries(options: dict) -> dict:
    return {k: options[k] for k in ("attempts", "backoff_min", "backoff_max") if k in options}


def _evm(network: Network, cross_check: int = 0, **options) -> ChainAdapter:
    """EVM chains: ``options`` are EvmAdapter's knobs (force_strategy, reader_batch, ...); ``cross_check``
    re-reads a sample on a second endpoint (``--cross-check``)."""
    from chains.evm import EvmAdapter

    stakehub = network.options.get("stakehub")  # BNB Chain: delegations through StakeHub as parts
    return _one_network(network, lambda _i, ep: EvmAdapter(network.id, ep, multicall3=network.multicall3,
                                                           chain_id=network.chain_id, stakehub=stakehub, **options),
                        cross_check)


def _bitcoin(network: Network, **options) -> ChainAdapter:
    """Bitcoin family (BTC, LTC, DOGE, BCH, DASH): network keys ``coin`` and ``chain`` (main | test |
    regtest); each endpoint says its ``protocol``: "core" (Core/Knots JSON-RPC, the default for
    http(s) URLs), "electrum" (default for tcp:// and ssl:// URLs) or "esplora". Several endpoints
    fail over in the order written (chains/failover.py)."""
    from chains.bitcoin_core import BitcoinCoreAdapter
    from chains.electrum import ElectrumAdapter
    from chains.esplora import EsploraAdapter

    classes: dict[str, type[BitcoinCoreAdapter | ElectrumAdapter | EsploraAdapter]] = {
        "core": BitcoinCoreAdapter, "electrum": ElectrumAdapter, "esplora": EsploraAdapter}
    coin = str(network.options.get("coin", network.native_symbol))
    chain = str(network.options.get("chain", "main"))

    def build(i: int, ep: Endpoint) -> EndpointAdapter:
        opts = _options(network, i)
        default = "electrum" if ep.url.split("://", 1)[0] in ("tcp", "ssl", "tls") else "core"
        proto = str(opts.get("protocol", default))
        if proto not in classes:
            raise AdapterError(f"network {network.id}, endpoint {ep.label}: protocol {proto!r} is not one of "
                               f"{', '.join(classes)}")
        return classes[proto](network.id, ep, opts, coin=coin, chain=chain, **_retries(options))

    return _one_network(network, build)


def _tron(network: Network, **options) -> ChainAdapter:
    """TRON (TRX, TRC-20) over the HTTP API; endpoint keys ``balance_history`` and ``headers`` (an endpoint
    whose header variable is unset is left out, with a note)."""
    from chains.tron import TronAdapter

    probes = network.options.get("probe_addresses", ())
    return _one_network(network, lambda i, ep: TronAdapter(network.id, ep, _options(network, i),
                                                           probe_addresses=probes, **_retries(options)))


def _solana(network: Network, **options) -> ChainAdapter:
    """Solana (SOL, SPL tokens of both token programs); network keys ``commitment`` and ``stake_accounts``
    (SOL rows add the stake accounts each address is the withdrawer of, as staked/unbonding parts)."""
    from chains.solana import SolanaAdapter

    commitment = network.options.get("commitment", "finalized")
    stake = network.options.get("stake_accounts", False)
    if not isinstance(stake, bool):
        raise AdapterError(f"network {network.id}: stake_accounts must be true or false, not {stake!r}")
    return _one_network(network, lambda _i, ep: SolanaAdapter(network.id, ep, commitment=commitment,
                                                              stake_accounts=stake, **_retries(options)))


FACTORIES: dict[str, Callable[..., ChainAdapter]] = {
    "evm": _evm,
    "tron": _tron,
    "solana": _solana,
    "bitcoin": _bitcoin,
}


AT_SNAPSHOT, LATEST = "at snapshot", "latest"


def reads_at(network: Network) -> str:
    """Whether this network's adapter reads balances at the snapshot height or only at the latest
    block, as said before anything is read (``--dry``). A module kind says so in ``SNAPSHOT_READS``."""
    kind = network.kind
    if kind == "bitcoin":
        return AT_SNAPSHOT
    if kind == "evm":
        return AT_SNAPSHOT if any(e.archive for e in network.endpoints) else f"{AT_SNAPSHOT} (needs an archive endpoint)"
    if kind == "tron":
        return AT_SNAPSHOT if any(o.get("balance_history") for o in network.endpoint_options) else LATEST
    if kind == "solana":
        return LATEST
    import importlib

    try:
        module = importlib.import_module(f"chains.{kind}")
    except ImportError:
        return LATEST
    return str(getattr(module, "SNAPSHOT_READS", LATEST))


def supported_kinds() -> frozenset[str]:
    from ..config.networks import module_kinds

    return frozenset(FACTORIES) | module_kinds()


def make_adapter(network: Network, **options) -> ChainAdapter:
    """Build the adapter for ``network``. ``options`` are adapter tuning knobs (EVM: reader_batch,
    concurrency, ...); a factory ignores the ones it does not know."""
    factory = FACTORIES.get(network.kind)
    if factory is None:
        return _by_module(network, **options)
    return factory(network, **options)


def _by_module(network: Network, **options) -> ChainAdapter:
    """A kind added as one module: ``chains/<kind>.py`` offers ``build_endpoint_adapter(network_id,
    endpoint, endpoint_options, network_options, **retries) -> EndpointAdapter``; failover as for every kind."""
    import importlib

    from ..config.networks import is_kind

    if not is_kind(network.kind):
        raise AdapterError(f"network {network.id}: no adapter for kind {network.kind!r} yet")
    module = importlib.import_module(f"chains.{network.kind}")
    build = module.build_endpoint_adapter
    return _one_network(network, lambda i, ep: build(network.id, ep, _options(network, i), dict(network.options),
                                                     **_retries(options)))
