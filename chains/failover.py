"""Endpoint failover across adapters of one network (e.g. a Bitcoin node, then ElectrumX, then Esplora).

Each inner adapter reads from one endpoint, possibly with a different protocol. The first one
reads every address; the next ones read only what is still unread. Results are taken from an
endpoint only if it read the same block (number and hash) as the first one that answered, so one
figure never mixes two chains' views; a disagreement is a note, never a silent mix.
"""

from __future__ import annotations

from typing import Sequence

from .jsonrpc import JsonRpcClient
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef, ChainAdapter


class FailoverAdapter:
    def __init__(self, network: str, adapters: Sequence[ChainAdapter]):
        if not adapters:
            raise AdapterError(f"network {network}: no endpoints configured")
        self.network = network
        self.adapters = list(adapters)

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self.adapters)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for a in self.adapters:
            out.update(a.provider_errors())
        return out

    async def close(self) -> None:
        for a in self.adapters:
            await a.close()

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        before = self.requests
        results: list[BalanceResult | None] = [None] * len(addresses)
        todo = list(range(len(addresses)))
        notes: list[str] = []
        strategies: list[str] = []
        block: BlockRef | None = None
        for ad in self.adapters:
            if not todo:
                break
            try:
                b = await ad.balances(asset, [addresses[i] for i in todo], height)
            except AdapterError as exc:
                notes.append(str(exc))
                continue
            notes.extend(n for n in b.notes if n not in notes)
            blocks = {(r.block.number, r.block.hash) for r in b.results if r.ok and r.block is not None}
            if block is not None and blocks and blocks != {(block.number, block.hash)}:
                notes.append(f"{b.strategy}: read block(s) {sorted(blocks)}, not {block.number} {block.hash}: "
                             "its results are not used")
                continue
            if b.read:
                strategies.append(b.strategy)
            still = []
            for i, r in zip(todo, b.results):
                if r.ok:
                    if block is None and r.block is not None:
                        block = r.block
                    results[i] = r
                else:
                    prev = results[i]
                    results[i] = r if prev is None else BalanceResult(r.address, None, r.block,
                                                                      f"{prev.error}; {r.error}", r.endpoint)
                    still.append(i)
            todo = still
        final = tuple(r if r is not None else BalanceResult(a, None, None, "no endpoint could read it")
                      for a, r in zip(addresses, results))
        return BalanceBatch(asset, height, final, ",".join(strategies), self.requests - before, tuple(notes))


class OneEndpoint:
    """Mixin for adapters reading through one client (``self.client``): label, counters, close."""

    client: JsonRpcClient

    @property
    def label(self) -> str:
        return self.client.label

    @property
    def requests(self) -> int:
        return self.client.requests

    def provider_errors(self) -> dict[str, dict[str, int]]:
        return {self.label: dict(self.client.errors)}

    async def close(self) -> None:
        await self.client.close()
