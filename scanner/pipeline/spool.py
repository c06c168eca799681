"""A balance plan's rows, group by group, kept in memory up to a budget and on disk past it.

A plan holds every row it will read (line, coin, address, published amount): ~250 bytes a row as
Python objects, 2.5 GB for Binance's 10^7-row deposit-address list, held while the reads run. A
:class:`JobSpool` is one group's rows in file order. The spools of one plan share a
:class:`SpoolBudget`; when the rows held in memory pass it, the spool holding most writes them to an
unnamed temporary file (pickled batches; removed when the spool is dropped). Reading is in slices, in
order, which is how the reads use a group: memory then holds the budget and one slice, whatever the
file's size. A 600k-row file stays under the default budget and never touches the disk.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, NamedTuple, Union


BUDGET = 1_000_000  # rows a plan holds in memory (~250 MB) before its largest group goes to disk
BATCH = 50_000  # rows per pickled batch on disk: what one read of the file loads at once


class Job(NamedTuple):
    """One row to read: its line, coin key as written, address and the published amount in base units."""

    line: int
    coin: str
    address: str
    published: int | None
    why: str  # why ``published`` is None, if it is


class SpoolBudget:
    """The rows the spools of one plan hold in memory, and the limit past which the largest is written out."""

    def __init__(self, limit: int = BUDGET) -> None:
        self.limit = limit
        self.held = 0
        self.spools: list[JobSpool] = []

    def over(self) -> None:
        max(self.spools, key=lambda s: len(s._buf)).spill()


class JobSpool:
    """One group's rows (:class:`Job`) in the order appended. ``len()``; :meth:`slices` reads them in order."""

    def __init__(self, budget: SpoolBudget | None = None, keep: bool = True) -> None:
        self.keep = keep  # False: the rows are counted, not kept (a plan made for its counts)
        self._budget = budget if budget is not None else SpoolBudget()
        self._budget.spools.append(self)
        self._buf: list[Job] = []
        self._file: IO[bytes] | None = None
        self._batches: list[tuple[int, int]] = []  # (offset, rows) of each batch on disk, in order
        self._n = 0
        self._last_line = -(2**63)
        self.in_line_order = True

    def append(self, job: Job) -> None:
        if not self.keep:
            self._n += 1
            return
        if job.line <= self._last_line:
            self.in_line_order = False
        self._last_line = job.line
        self._buf.append(job)
        self._n += 1
        budget = self._budget
        budget.held += 1
        if budget.held > budget.limit:
            budget.over()

    def extend(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self.append(job)

    def extend_rows(self, rows: Sequence[tuple]) -> None:
        """Jobs given as plain tuples of Job's fields, in line order among themselves (a worker's
        share of one chunk): as ``append`` of each, in one step."""
        if not rows:
            return
        if not self.keep:
            self._n += len(rows)
            return
        if rows[0][0] <= self._last_line:
            self.in_line_order = False
        self._last_line = rows[-1][0]
        self._buf.extend(map(Job._make, rows))
        self._n += len(rows)
        budget = self._budget
        budget.held += len(rows)
        while budget.held > budget.limit and any(s._buf for s in budget.spools):
            budget.over()

    def spill(self) -> None:
        """Write the rows held in memory to this spool's file."""
        if not self._buf:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="porscan-plan-")
        f = self._file
        f.seek(0, 2)
        for i in range(0, len(self._buf), BATCH):
            batch = [tuple(job) for job in self._buf[i:i + BATCH]]  # plain tuples: smaller, and faster to load
            self._batches.append((f.tell(), len(batch)))
            pickle.dump(batch, f, protocol=pickle.HIGHEST_PROTOCOL)
        self._budget.held -= len(self._buf)
        self._buf = []

    @property
    def on_disk(self) -> int:
        return sum(n for _, n in self._batches)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Job]:
        make = Job._make
        for offset, _ in self._batches:
            # each read seeks first: two readers of one spool (a job read again) do not share a position
            assert self._file is not None
            self._file.seek(offset)
            for t in pickle.load(self._file):
                yield make(t)
        yield from list(self._buf)  # held as the Jobs appended

    def slices(self, size: int) -> Iterator[list[Job]]:
        part: list[Job] = []
        for job in self:
            part.append(job)
            if len(part) == size:
                yield part
                part = []
        if part:
            yield part

    def discard(self) -> None:
        """Drop the rows (merged into another spool): the file is closed, the budget given back."""
        self.close()
        self._budget.held -= len(self._buf)
        self._buf, self._batches, self._n = [], [], 0
        if self in self._budget.spools:
            self._budget.spools.remove(self)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        self.close()


Jobs = Union[Sequence[Job], JobSpool]  # a group's rows: a list (small plans, tests) or a spool


def slices(jobs: Jobs, size: int) -> Iterator[list[Job]]:
    """A group's rows in slices of ``size`` rows, in order (the last may be shorter)."""
    if isinstance(jobs, JobSpool):
        yield from jobs.slices(size)
        return
    for i in range(0, len(jobs), size):
        yield list(jobs[i:i + size])


def merged(parts: list[Jobs]) -> Jobs:
    """The rows of several groups as one, in line order. Lists make a sorted list; spools whose rows
    came in line order (a file's rows do) are merged as they stream, into a spool."""
    spools = [p for p in parts if isinstance(p, JobSpool)]
    if any(not p.keep for p in spools):  # counted only: the count is all there is to merge
        counted = JobSpool(spools[0]._budget, keep=False)
        counted._n = sum(len(p) for p in parts)
        return counted
    if not spools:
        out = [j for p in parts for j in p]
        out.sort(key=lambda j: j.line)
        return out
    if len(parts) == 1 and spools[0].in_line_order:
        return spools[0]
    into = JobSpool(spools[0]._budget)
    if len(spools) == len(parts) and all(p.in_line_order for p in spools):
        into.extend(heapq.merge(*parts, key=lambda j: j.line))
    else:  # rows given out of order: sorted in memory (no caller gives a large plan out of order)
        into.extend(sorted((j for p in parts for j in p), key=lambda j: j.line))
    for p in spools:
        p.discard()
    return into
