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
        """A UsageError when a name the filters list matches no row of the file, or no row passes
        them all: a mistyped ``--coin BTCC`` skipped every row and read as "all checks held: 0 of 0",
        exit 0, a run stored; ``--coin ETH,BTCC`` silently checked ETH alone. Reads until every
        name has been seen and a row passes (the whole file only when one is missing, to name what
        the file has)."""
        if not self.coins and not self.networks:
            return
        coins: dict[str, int] = {}
        networks: dict[str, int] = {}
        unseen_coins, unseen_networks = set(self.coins), set(self.networks)
        passed = False
        for row in iter_rows(head.path, head):
            coin, network = row.coin.upper(), row.network.upper()
            coins[coin] = coins.get(coin, 0) + 1
            networks[network] = networks.get(network, 0) + 1
            unseen_coins.discard(coin)
            unseen_networks.discard(network)
            passed = passed or not self.reason(row.coin, row.network)
            if passed and not unseen_coins and not unseen_networks:
                return
        if unseen_coins:
            raise UsageError(f"--coin {','.join(sorted(unseen_coins))} matches no row of {shown} "
                             f"(its coins: {_most(coins)})")
        if unseen_networks:
            raise UsageError(f"--network {','.join(sorted(unseen_networks))} matches no row of {shown} "
                             f"(its networks: {_most(networks)})")
        raise UsageError(f"--coin {','.join(sorted(self.coins))} with --network {','.join(sorted(self.networks))} "
                         f"matches no row of {shown}")


def _most(counts: dict[str, int], shown: int = 8) -> str:
    """The most frequent names first, briefly: an OKX file has 300 coins."""
    names = sorted((n or "(empty)" for n in counts), key=lambda n: (-counts.get(n, 0), n))
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "") or "none"
