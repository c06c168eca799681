"""The one small protocol every chain adapter speaks.

``balances(asset, addresses, height) -> BalanceBatch``: one result per address, each carrying the
amount in base units *or* an error, and the block actually read. A failed read is never a zero:
``amount_base_units`` is ``None`` and ``error`` says why; completeness is counted, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Sequence


@dataclass(frozen=True, slots=True)
class Asset:
    """What to read on one network: the native coin (``contract is None``) or a token."""

    network: str  # network id from scanner/config/networks.toml, e.g. "ethereum"
    symbol: str  # asset symbol, e.g. "ETH", "USDT"
    decimals: int
    contract: str | None = None  # token contract address (EVM: 0x...), None = native coin

    @property
    def native(self) -> bool:
        return self.contract is None


@dataclass(frozen=True, slots=True)
class BlockRef:
    number: int
    hash: str | None  # None when the node did not say
    at_snapshot: bool = True  # False: read at "latest" because the height could not be honoured

    @property
    def label(self) -> str:
        return f"{self.number}" if self.at_snapshot else f"{self.number} (latest, not the snapshot)"


class BalanceResult(NamedTuple):
    """One address's read. A tuple (immutable, cheap: adapters make hundreds of thousands)."""

    address: str
    amount_base_units: int | None  # None = not read (see error)
    block: BlockRef | None
    error: str | None = None
    endpoint: str = ""  # endpoint label (never the URL: it may hold a key)
    # Parts of amount_base_units that are not liquid, by name: ("staked", n), ("unbonding", n).
    # Empty = all liquid, or the split is unknown (then ``parts_known`` is False).
    parts: tuple[tuple[str, int], ...] = ()
    parts_known: bool = True

    @property
    def ok(self) -> bool:
        return self.amount_base_units is not None


@dataclass(frozen=True, slots=True)
class BalanceBatch:
    asset: Asset
    height_requested: int | None  # None = latest
    results: tuple[BalanceResult, ...]
    strategy: str = ""  # how it was read, e.g. "state-override-reader", "multicall3", "batched-calls"
    requests: int = 0  # HTTP requests sent (retries included)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def read(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def expected(self) -> int:
        return len(self.results)

    @property
    def complete(self) -> bool:
        return self.read == self.expected

    @property
    def total_base_units(self) -> int:
        """Sum of what was read. Use with ``read``/``expected``: unread addresses are not zeros."""
        return sum(r.amount_base_units for r in self.results if r.amount_base_units is not None)


class ChainAdapter(Protocol):
    """Anything that can read balances of one network, and account for what that cost."""

    network: str

    @property
    def requests(self) -> int:
        """Requests sent so far (retries included), over all of the adapter's endpoints."""
        ...

    def provider_errors(self) -> dict[str, dict[str, int]]:
        """Per endpoint label: error kind -> count (429, timeout, ...), for the run's notes."""
        ...

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch: ...

    async def close(self) -> None: ...


class AdapterError(Exception):
    """An adapter cannot work at all (bad config, no endpoint answers); per-address problems are results."""


class NotArchiveError(AdapterError):
    """The endpoint has no state for the requested block (pruned node, "missing trie node")."""
