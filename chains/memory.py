"""A FAKE adapter over balances held in memory, for pipeline tests and the documentation's examples.

It speaks the whole :class:`~chains.protocol.ChainAdapter` protocol (balances, requests,
provider_errors, close) so the stages above the adapters can be tested without a node, and it
can fail the ways a real adapter does: an address it has no figure for is unread with a reason
(never a zero), and ``broken`` makes every call raise as an adapter bug would. Its endpoint
label starts with FAKE: it is never a configured endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .protocol import Asset, BalanceBatch, BalanceResult, BlockRef

LABEL = "FAKE-memory"


@dataclass
class MemoryAdapter:
    network: str
    amounts: Mapping[str, int] = field(default_factory=dict)  # address -> base units at every height
    block_hash: str = "0x" + "ab" * 32
    broken: BaseException | None = None  # raised by balances(), as a bug in an adapter would be
    requests: int = 0
    closed: bool = False
    label: str = LABEL  # endpoint label (several in-memory "endpoints" can stand behind a FailoverAdapter)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        return {self.label: {}}

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        self.requests += 1
        if self.broken is not None:
            raise self.broken
        block = BlockRef(height if height is not None else 0, self.block_hash, height is not None)
        results = tuple(BalanceResult(a, self.amounts[a], block, None, self.label) if a in self.amounts
                        else BalanceResult(a, None, block, "FAKE: no figure for this address", self.label)
                        for a in addresses)
        return BalanceBatch(asset, height, results, "memory", 1)

    async def close(self) -> None:
        self.closed = True
