"""A fresh run's rows and balance reads, kept in memory as the scan stores them, for its aggregation.

The aggregation sums :class:`TallyRow` records in line order: each stored verification row joined with
its balance read. Reading them back from the store costs more than summing them (600k rows on
PostgreSQL: ~2.6 core-s of the server and ~2 of the client to read, ~1.4 of the server to find the
wallets listed more than once). A run that starts fresh has every record it stores in hand when it
stores it, so it keeps them and gives the aggregation the same records the store would: the
verification rows in line order, each with its balance record, and the lines whose wallet is read
more than once (:meth:`Store.repeated_wallet_lines`, by the same case fold).

Only what the store read would give, or nothing: a run that resumes (records stored by an earlier
process), a line with balances of several assets (the store gives the first by asset, in its
collation), a run larger than ``limit`` records, or a chunk not stored in line order turns the held
records off for good (:attr:`usable` False, memory given back) and the aggregation reads the store.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence

from ..records import BalanceRecord, RowRecord, TallyRow
from ..storage.base import TALLY_BALANCE_COLUMNS
from .aggregate import _fold

log = logging.getLogger("porscan.aggregate")
LIMIT = 1_000_000  # records held (rows waiting for their sum + balance reads) before the store is read instead
_NO_BALANCE = (None,) * len(TALLY_BALANCE_COLUMNS)  # a row without a balance record, as the store gives it


def estimated_rows(path: str, data_offset: int, size: int, sample: int = 1 << 20) -> int:
    """About how many detail lines a file holds past ``data_offset``: its lines in the first ``sample``
    bytes, scaled to the rest (a file much larger than the limit is not held at all, not dropped once
    a million records are in memory)."""
    if size <= data_offset:
        return 0
    with open(path, "rb") as f:
        f.seek(data_offset)
        head = f.read(sample)
    lines = max(1, head.count(b"\n"))
    return lines if len(head) >= size - data_offset else lines * (size - data_offset) // max(1, len(head))


class HeldRows:
    """The rows (verification) and balance reads stored so far by this process, not yet summed."""

    __slots__ = ("limit", "usable", "why", "_rows", "_last_line", "_balances", "_wallets", "_repeated")

    def __init__(self, limit: int = LIMIT, expected: int = 0) -> None:
        self.limit = limit
        self.usable = limit > 0 and expected <= limit
        self.why = "" if self.usable else "off" if limit <= 0 else f"about {expected:,} rows, more than {limit:,}"
        self._rows: deque[RowRecord] = deque()
        self._last_line = -(2**63)
        self._balances: dict[int, BalanceRecord] = {}
        self._wallets: dict[int, int] = {}  # hash of the folded address -> first line read with it
        self._repeated: set[int] = set()

    def drop(self, why: str) -> None:
        """Stop holding (the aggregation reads the store): ``why`` says which rule turned it off."""
        if self.usable:
            log.debug("aggregation reads the store back: %s", why)
            self.usable, self.why = False, why
            self._rows, self._balances, self._wallets, self._repeated = deque(), {}, {}, set()

    def _held(self) -> int:
        return len(self._rows) + len(self._balances)

    def add_rows(self, rows: Sequence[RowRecord]) -> None:
        """A verification chunk just stored (chunks are stored in file order)."""
        if not self.usable or not rows:
            return
        if rows[0].line <= self._last_line:
            self.drop("verification chunks stored out of line order")
            return
        self._last_line = rows[-1].line
        self._rows.extend(rows)
        if self._held() > self.limit:
            self.drop(f"more than {self.limit:,} records to hold")

    def add_balances(self, balances: Sequence[BalanceRecord]) -> None:
        """A slice of balance reads just stored."""
        if not self.usable:
            return
        held, wallets, repeated = self._balances, self._wallets, self._repeated
        for b in balances:
            if b.line in held:
                self.drop("a line read for more than one asset")
                return
            held[b.line] = b
            if b.onchain_base_units is not None:
                # a hash of the key: a collision only names one more line that may repeat a wallet, and
                # the aggregation tells real repeats apart by the address itself
                key = hash(_fold(b.address))
                first = wallets.setdefault(key, b.line)
                if first != b.line:
                    repeated.add(first)
                    repeated.add(b.line)
        if self._held() > self.limit:
            self.drop(f"more than {self.limit:,} records to hold")

    def repeated_wallet_lines(self) -> set[int]:
        """:meth:`Store.repeated_wallet_lines` of the balances held (all of the run's, once they are read),
        or a superset of it."""
        return set(self._repeated)

    def tallies(self, after: int, upto: int | None, batch: int = 50_000) -> Iterator[list[TallyRow]]:
        """:meth:`Store.iter_tally`: the rows in (after, upto], in line order, each joined with its balance
        read; each row is given once (and let go)."""
        rows, balances, make = self._rows, self._balances, TallyRow._make
        while rows and rows[0].line <= after:  # summed already (a row is never given twice)
            balances.pop(rows.popleft().line, None)
        top = (2**63) if upto is None else upto
        out: list[TallyRow] = []
        append = out.append
        while rows and rows[0].line <= top:
            line, coin, network, _address, height, text, units, status, _scheme, _reason, custodian = rows.popleft()
            b = balances.pop(line, None)
            if b is None:
                append(make((line, coin, network, status, text, units, custodian, height) + _NO_BALANCE))
            else:
                (_, read_coin, read_network, asset, address, _height, _published, onchain, decimals, block_number,
                 block_hash, at_snapshot, balance_status, _why, _endpoint, staked, unbonding) = b
                append(make((line, coin, network, status, text, units, custodian, height, read_coin, asset,
                             read_network, decimals, address, onchain, block_number, block_hash, at_snapshot, staked,
                             unbonding, balance_status)))
            if len(out) == batch:
                yield out
                out = []
                append = out.append
        if out:
            yield out
