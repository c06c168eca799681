"""Which adapter reads which kind of network: ``kind`` in scanner/config/networks.toml -> factory.

Each chains module stays free of scanner types; the factories here build an adapter from a
``Network`` (its endpoints, and ``options``: the network's extra TOML keys, e.g. an address
encoding). Modules are imported lazily so a missing optional dependency only disables its kind.

To add a kind: write ``chains/<kind>.py`` with an adapter speaking ``chains.protocol.ChainAdapter``,
add a factory below and an entry in ``FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable

from chains.protocol import AdapterError, ChainAdapter

from ..config.networks import Network


def _evm(network: Network, **options) -> ChainAdapter:
    from chains.evm import EvmAdapter

    return EvmAdapter(network.id, network.endpoints, multicall3=network.multicall3, chain_id=network.chain_id, **options)


def _bitcoin(network: Network, **options) -> ChainAdapter:
    """Bitcoin family (BTC, LTC, DOGE, BCH, DASH): network keys ``coin`` and ``chain`` (main | test |
    regtest); each endpoint says its ``protocol``: "core" (Core/Knots JSON-RPC, the default for
    http(s) URLs), "electrum" (default for tcp:// and ssl:// URLs) or "esplora". Several endpoints
    fail over in the order written (chains/failover.py)."""
    from chains.bitcoin_core import BitcoinCoreAdapter
    from chains.electrum import ElectrumAdapter
    from chains.esplora import EsploraAdapter
    from chains.failover import FailoverAdapter

    classes: dict[str, type[BitcoinCoreAdapter | ElectrumAdapter | EsploraAdapter]] = {
        "core": BitcoinCoreAdapter, "electrum": ElectrumAdapter, "esplora": EsploraAdapter}
    coin = str(network.options.get("coin", network.native_symbol))
    chain = str(network.options.get("chain", "main"))
    known = {k: options[k] for k in ("attempts", "backoff_min", "backoff_max") if k in options}
    adapters: list[ChainAdapter] = []
    for i, ep in enumerate(network.endpoints):
        opts = network.endpoint_options[i] if i < len(network.endpoint_options) else {}
        default = "electrum" if ep.url.split("://", 1)[0] in ("tcp", "ssl", "tls") else "core"
        proto = str(opts.get("protocol", default))
        if proto not in classes:
            raise AdapterError(f"network {network.id}, endpoint {ep.label}: protocol {proto!r} is not one of "
                               f"{', '.join(classes)}")
        adapters.append(classes[proto](network.id, ep, opts, coin=coin, chain=chain, **known))
    return adapters[0] if len(adapters) == 1 else FailoverAdapter(network.id, adapters)


def _tron(network: Network, **_options) -> ChainAdapter:
    """TRON (TRX, TRC-20) over the HTTP API; endpoint keys ``balance_history`` and ``headers``."""
    from chains.tron import TronAdapter

    return TronAdapter(network.id, network.endpoints, network.endpoint_options,
                       probe_addresses=network.options.get("probe_addresses", ()))


def _solana(network: Network, **_options) -> ChainAdapter:
    """Solana (SOL, SPL tokens of both token programs); network key ``commitment``."""
    from chains.solana import SolanaAdapter

    return SolanaAdapter(network.id, network.endpoints, commitment=network.options.get("commitment", "finalized"))


FACTORIES: dict[str, Callable[..., ChainAdapter]] = {
    "evm": _evm,
    "tron": _tron,
    "solana": _solana,
    "bitcoin": _bitcoin,
}


def supported_kinds() -> frozenset[str]:
    return frozenset(FACTORIES)


def make_adapter(network: Network, **options) -> ChainAdapter:
    """Build the adapter for ``network``. ``options`` are adapter tuning knobs (EVM: reader_batch,
    concurrency, ...); a factory ignores the ones it does not know."""
    factory = FACTORIES.get(network.kind)
    if factory is None:
        raise AdapterError(f"network {network.id}: no adapter for kind {network.kind!r} yet")
    return factory(network, **options)
