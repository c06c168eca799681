"""Which adapter reads which kind of network: ``kind`` in config/networks.toml -> factory.

Each chains module stays free of scanner types; the factories here build an adapter from a
``Network`` (its endpoints, and ``options``: the network's extra TOML keys, e.g. an address
encoding). Modules are imported lazily so a missing optional dependency only disables its kind.

To add a kind: write ``chains/<kind>.py`` with an adapter speaking ``chains.protocol.ChainAdapter``,
add a factory below and an entry in ``FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable

from chains.protocol import AdapterError, ChainAdapter

from .netconfig import Network


def _evm(network: Network, **options) -> ChainAdapter:
    from chains.evm import EvmAdapter

    return EvmAdapter(network.id, network.endpoints, multicall3=network.multicall3, **options)


FACTORIES: dict[str, Callable[..., ChainAdapter]] = {
    "evm": _evm,
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
