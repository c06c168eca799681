"""The rows a run is asked for: ``--coin`` and ``--network``, as verification, the balance plan and
the dry run apply them, and the check that they match a row of the file at all."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from .ingest import FileHead, iter_rows


@dataclass(frozen=True, slots=True)
class Filters:
    coins: frozenset[str] = frozenset()  # upper-case coin keys; empty = all
    networks: frozenset[str] = frozenset()

    def reason(self, coin: str, network: str) -> str:
        if self.coins and coin.upper() not in self.coins:
            return "filtered out by --coin"
        if self.networks and network.upper() not in self.networks:
            return "filtered out by --network"
        return ""

    def require_a_match(self, head: FileHead, shown: str) -> None:
        """A UsageError when no row of the file passes the filters: a mistyped ``--coin BTCC`` skipped
        every row and read as "all checks held: 0 of 0", exit 0, a run stored. Reads up to the first
        row that passes (the whole file only when none does, to name what the file has)."""
        if not self.coins and not self.networks:
            return
        coins: dict[str, int] = {}
        networks: dict[str, int] = {}
        for row in iter_rows(head.path, head):
            if not self.reason(row.coin, row.network):
                return
            coins[row.coin.upper()] = coins.get(row.coin.upper(), 0) + 1
            networks[row.network.upper()] = networks.get(row.network.upper(), 0) + 1
        if self.coins and not self.coins & coins.keys():
            raise UsageError(f"--coin {','.join(sorted(self.coins))} matches no row of {shown} "
                             f"(its coins: {_most(coins)})")
        if self.networks and not self.networks & networks.keys():
            raise UsageError(f"--network {','.join(sorted(self.networks))} matches no row of {shown} "
                             f"(its networks: {_most(networks)})")
        raise UsageError(f"--coin {','.join(sorted(self.coins))} with --network {','.join(sorted(self.networks))} "
                         f"matches no row of {shown}")


def _most(counts: dict[str, int], shown: int = 8) -> str:
    """The most frequent names first, briefly: an OKX file has 300 coins."""
    names = sorted((n or "(empty)" for n in counts), key=lambda n: (-counts.get(n, 0), n))
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "") or "none"
