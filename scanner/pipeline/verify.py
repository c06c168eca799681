"""``porscan verify``: ownership verification of a whole reserve file, on every core.

The file is cut into ~1 MB chunks at line boundaries; each worker process reads its chunk, parses
and verifies the rows and returns compact per-(coin, network) tallies plus the already-encoded
report lines. The parent only writes bytes in file order, so memory stays bounded whatever the
file size and the report is streamed.
"""

from __future__ import annotations

import csv
import ctypes
import gc
import hashlib
import io
from json.encoder import encode_basestring
import os
import signal
from collections.abc import Callable, Iterable
from typing import Any
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
import multiprocessing
from time import monotonic

from signatures.dispatch import import_all, verify_claims
from signatures.model import STATUS_ORDER, Status
from signatures.registry import Resolution, address_shape, resolve, resolve_name

from ..csvcells import row as csv_row
from ..records import RowRecord
from ..amounts import EXACT, SIGNIFICANT_KEPT, shown_places, text_to_base_units
from .filters import Filters
from .ingest import FileHead, Layout, RowError, iter_chunks, iter_lines, row_parser

_STATUS_INDEX = {s: i for i, s in enumerate(STATUS_ORDER)}
_STATUS_TEXT = tuple(s.value for s in STATUS_ORDER)
_I_INVALID = _STATUS_INDEX[Status.INVALID_ROW]
_I_SKIPPED = _STATUS_INDEX[Status.SKIPPED]
_I_FAILED = _STATUS_INDEX[Status.FAILED]
# a row parsed but, on purpose, not verified (``ChunkTask.verify`` False: the scan's balance plan,
# which needs only what ingest gives): a status that is read on chain like any verified one
_I_UNCHECKED = _STATUS_INDEX[Status.UNSUPPORTED]
UNCHECKED_REASON = "not verified: parsed for the balance plan only"
esc = encode_basestring  # JSON string literal (C implementation), non-ASCII kept

FAILURE_COLUMNS = ("line", "coin", "network", "address", "amount", "status", "scheme", "reason")


def status_column_skip(status: str) -> str:
    """Why a row of an auditor file is skipped by its ``status`` column (only ``5`` is checked), or ""."""
    return "" if not status or status == "5" else f"auditor status column is {status!r}, not 5"


@dataclass(frozen=True, slots=True)
class ChunkTask:
    path: str
    offset: int
    length: int
    first_line: int
    layout: Layout
    heights: dict[str, int]
    filters: Filters
    want_rows: bool
    want_failures: bool
    decimals: dict[str, int] = field(default_factory=dict)  # coin key (upper) -> base-unit exponent
    want_records: bool = False  # per-row tuples for storage (``porscan scan``)
    verify: bool = True  # False: parse only (the scan's balance plan); rows to verify are UNCHECKED
    want_tallies: bool = True  # False: no per-coin sums (a scan sums what it stores, in its aggregation)
    # the scan's balance plan (plan.WorkerPlan): rows that take the planner's straight path come back
    # as their groups' jobs (ChunkResult.planned), the others as records
    plan: Any = None


@dataclass(slots=True)
class Tally:
    """Counts per status (in STATUS_ORDER) and the published amount sum of one (coin, network)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(STATUS_ORDER))
    amount: Decimal = Decimal(0)
    amount_rows: int = 0  # rows whose amount entered ``amount``
    heights: set[int] = field(default_factory=set)
    places: dict[int, int] = field(default_factory=dict)  # decimals shown -> amounts (the rounding they allow)
    # third-party custodian (address lists) -> [rows, published amount]: shown as its own line
    custodians: dict[str, list] = field(default_factory=dict)

    def merge(self, other: "Tally") -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.amount = EXACT.add(self.amount, other.amount)
        self.amount_rows += other.amount_rows
        self.heights |= other.heights
        for p, n in other.places.items():
            self.places[p] = self.places.get(p, 0) + n
        for name, (n, amount) in other.custodians.items():
            mine = self.custodians.setdefault(name, [0, Decimal(0)])
            mine[0] += n
            mine[1] = EXACT.add(mine[1], amount)

    @property
    def rows(self) -> int:
        return sum(self.counts)


@dataclass(slots=True)
class ChunkResult:
    first_line: int
    length: int
    rows: int
    tallies: dict[tuple[str, str], Tally]
    row_json: bytes  # JSON objects joined by ",\n", UTF-8: encoded once, in the worker
    failures_csv: str
    invalid_lines: list[tuple[int, str]]  # first few parse errors for the terminal
    # with ``want_records``: a tuple per row in file order, its fields in RECORD_ORDER; read them
    # with :func:`row_records`
    records: list[tuple] = field(default_factory=list)
    # with ``ChunkTask.plan``: (coin key, height) -> Job tuples of the rows planned in the worker (the
    # others are in ``records``); None when the chunk is planned from its records alone
    planned: dict | None = None


# The fields of a worker's record tuple, in order (process_chunk appends them so): RowRecord's own,
# so that row_records makes each record from its tuple as it is
RECORD_ORDER = ("line", "coin", "network", "address", "snapshot_height", "amount_text", "amount_base_units",
                "status", "scheme", "reason", "custodian")
assert RECORD_ORDER == RowRecord._fields


def row_records(res: ChunkResult) -> list[RowRecord]:
    """A chunk's rows (``want_records``) as records: each tuple's fields are RowRecord's, in order
    (RECORD_ORDER), so the tuple is made the record as it is.

    Why the workers send tuples, not RowRecords: when RowRecord was a frozen slotted dataclass it
    cost ~5 us a row more to build and pickle in the worker and ~2 us more to unpickle here (on
    scan's verify stage over 600k rows, +6 % of the workers' CPU and +75 % of this process's); a
    named tuple unpickles through its Python ``__new__``, ~0.6 us a row here against ~0.25 us for
    ``_make`` on a plain tuple, and this process is the scan's busiest."""
    return list(map(RowRecord._make, res.records))


# Rows verified between two looks at the clock, and the least time between two progress reports
# from one chunk: a row of the slow schemes (BLS, STARK) takes milliseconds, so a 1 MiB chunk of
# them takes seconds, and progress that moved per chunk sat still for that long.
PROGRESS_BATCH = 32
PROGRESS_SECONDS = 0.1
POLL_SECONDS = 0.1  # how often the parent reads the workers' progress while it waits

Progress = Callable[[int, int], None]  # (input bytes done, rows done), as increments


def process_chunk(task: ChunkTask, progress: Progress | None = None) -> ChunkResult:
    """Parse and verify one chunk. Runs in a worker process; pure apart from reading the file.

    ``progress`` receives increments while the rows are verified (every PROGRESS_SECONDS at most,
    bytes pro rata of the rows done) and the rest at the end: over the chunk, exactly its length
    and its row count."""
    tallies: dict[tuple[str, str], Tally] = {}
    out_rows: list[str] = []
    fail_buf = io.StringIO()
    fail_writer = csv.writer(fail_buf, lineterminator="\n")
    invalid: list[tuple[int, str]] = []
    layout = task.layout
    keyed = layout.keyed_by_network
    filters = task.filters
    filtering = bool(filters.coins or filters.networks)
    want_rows = task.want_rows
    want_failures = task.want_failures
    want_records = task.want_records
    want_units = want_rows or want_records
    records: list[tuple] = []
    add = EXACT.add
    decimals = task.decimals
    # per (coin, network) as written, to skip the lookup per row; a map with ``for_row`` (scan's)
    # reads the network column too, where it says the chain (address lists: USDT on BSC has 18)
    coin_decimals: dict[tuple[str, str], int | None] = {}
    for_row = getattr(decimals, "for_row", None)
    base_unit_file = layout.amount_in_base_units
    has_custodian = "custodian" in layout.columns
    tally = task.want_tallies
    # Pass 1 parses the chunk and sorts the rows to verify by scheme; pass 2 verifies one scheme at a
    # time (the same code and curve tables stay hot in the CPU caches: ~5 % faster than file order on
    # a mixed file); pass 3 tallies and encodes in file order.
    parse = row_parser(layout, task.path, task.heights)
    parsed: list = []  # ReserveRow | RowError | (ReserveRow, skip reason), in file order
    # (coin, network, address format) -> its resolution's row indexes; the format is part of the key
    # because a coin name may resolve by it (HTX's "stETH" rows: EVM by their 0x-addresses)
    groups: dict[tuple[str, str, str], list[int]] = {}
    by_scheme: dict[Resolution, list[int]] = {}  # resolution -> row indexes (hashed in Python: once per group)
    for lineno, line in iter_lines(task.path, task.offset, task.length, task.first_line):
        row = parse(line, lineno)
        if type(row) is not RowError:
            skip = filters.reason(row.coin, row.network) if filtering else ""
            if not skip and row.status_column:  # tested here first: most files have no such column
                skip = status_column_skip(row.status_column)
            if skip:
                row = (row, skip)
            elif task.verify:
                key = (row.coin, row.network, address_shape(row.address))
                group = groups.get(key)
                if group is None:
                    resolution = resolve_name(row.coin, row.network, row.address, keyed)
                    group = groups[key] = by_scheme.setdefault(resolution, [])
                group.append(len(parsed))
        parsed.append(row)
    n = len(parsed)
    verdicts: list = [None] * n
    done = reported_rows = reported_bytes = 0
    last = monotonic()
    for resolved, indexes in by_scheme.items():
        # a ReserveRow has every field a Claim has; the scheme is resolved once per batch
        for start in range(0, len(indexes), PROGRESS_BATCH):
            batch = indexes[start:start + PROGRESS_BATCH]
            for i, verdict in zip(batch, verify_claims([parsed[i] for i in batch], keyed, resolved)):
                verdicts[i] = verdict
            done += len(batch)
            if progress is not None and (now := monotonic()) - last >= PROGRESS_SECONDS:
                last = now
                nbytes = task.length * done // n - reported_bytes
                progress(nbytes, done - reported_rows)
                reported_bytes += nbytes
                reported_rows = done
    for row, verdict in zip(parsed, verdicts):
        if type(row) is RowError:
            lineno, coin, network, address = row.line, row.coin, row.network, row.address
            status_i, scheme, reason = _I_INVALID, "", f"{row.field}: {row.message}"
            amount_text, height, amount, custodian = row.amount_text, None, None, ""
            if len(invalid) < 20:
                invalid.append((lineno, str(row)))
        else:
            if verdict is not None:
                status_i, scheme, reason = _STATUS_INDEX[verdict.status], verdict.scheme, verdict.reason
            elif type(row) is tuple:  # skipped: (row, reason)
                row, reason = row
                status_i, scheme = _I_SKIPPED, ""
            else:  # parse only (not task.verify)
                status_i, scheme, reason = _I_UNCHECKED, "", UNCHECKED_REASON
            lineno, coin, network, address = row.line, row.coin, row.network, row.address
            amount_text, height, amount, custodian = row.amount_text, row.snapshot_height, row.amount, row.custodian
        if tally:
            t = tallies.get((coin, network))
            if t is None:
                t = tallies[(coin, network)] = Tally()
            t.counts[status_i] += 1
            if amount is not None:
                t.amount = add(t.amount, amount)
                t.amount_rows += 1
                if not base_unit_file:  # base units are exact; a coin-unit figure may be rounded
                    if len(amount_text) <= SIGNIFICANT_KEPT:  # at most 15 digits: the decimals it shows
                        dot = amount_text.find(".")
                        p = len(amount_text) - dot - 1 if dot >= 0 else 0
                    else:
                        p = shown_places(amount_text)
                    t.places[p] = t.places.get(p, 0) + 1
            if height is not None:
                t.heights.add(height)
            if has_custodian and custodian:  # only files with the column pay
                held = t.custodians.get(custodian)
                if held is None:
                    held = t.custodians[custodian] = [0, Decimal(0)]
                held[0] += 1
                if amount is not None:
                    held[1] = add(held[1], amount)
        if want_units:
            units = None
            if amount is not None:
                if base_unit_file:
                    units = int(amount)
                else:
                    d = coin_decimals.get((coin, network), -1)
                    if d == -1:
                        d = coin_decimals[(coin, network)] = (for_row(coin, network, keyed) if for_row is not None
                                                              else decimals.get(coin.upper()))
                    if d is not None:
                        units = text_to_base_units(amount_text, d, parsed=True)
            if want_records:  # in RECORD_ORDER (RowRecord's fields), which row_records relies on
                records.append((lineno, coin, network, address, height, amount_text, units,
                                _STATUS_TEXT[status_i], scheme, reason, custodian))
        if want_rows:
            base_units = "null" if units is None else f'"{units}"'
            out_rows.append(
                f'{{"line":{lineno},"coin":{esc(coin)},"network":{esc(network)},"address":{esc(address)},'
                f'"status":"{_STATUS_TEXT[status_i]}","scheme":{esc(scheme)},"reason":{esc(reason)},'
                f'"amount":{esc(amount_text)},"amount_base_units":{base_units},'
                f'"snapshot_height":{"null" if height is None else height}}}')
        if want_failures and (status_i == _I_FAILED or status_i == _I_INVALID):
            fail_writer.writerow(csv_row((lineno, coin, network, address, amount_text,
                                          _STATUS_TEXT[status_i], scheme, reason)))
    if progress is not None and (task.length != reported_bytes or n != reported_rows):
        progress(task.length - reported_bytes, n - reported_rows)
    planned = None
    if task.plan is not None and want_records:
        split = task.plan.split(records)
        if split is not None:
            planned, records = split
    return ChunkResult(first_line=task.first_line, length=task.length, rows=n, tallies=tallies,
                       row_json=",\n".join(out_rows).encode(), failures_csv=fail_buf.getvalue(),
                       invalid_lines=invalid, records=records, planned=planned)


@dataclass(slots=True)
class VerifyOutcome:
    head: FileHead
    rows: int
    tallies: dict[tuple[str, str], Tally]
    sha256: str  # "" when run_verify was told not to hash (the caller did)
    invalid_samples: list[tuple[int, str]]

    def status_totals(self) -> dict[str, int]:
        totals = [0] * len(STATUS_ORDER)
        for t in self.tallies.values():
            for i, c in enumerate(t.counts):
                totals[i] += c
        return {s.value: totals[i] for i, s in enumerate(STATUS_ORDER)}

    @property
    def any_failed(self) -> bool:
        return self.failed(require_signatures=False)

    def failed(self, require_signatures: bool) -> bool:
        """Did any row fail (or not parse)? With ``require_signatures`` an unsigned row counts too."""
        totals = self.status_totals()
        return bool(totals["failed"] or totals["invalid_row"] or (require_signatures and totals["unsigned"]))


class RowSink:
    """Receives each chunk's encoded output in file order."""

    def rows(self, data: bytes) -> None: ...
    def failures(self, text: str) -> None: ...


def run_verify(head: FileHead, *, workers: int | None = None, filters: Filters = Filters(),
               decimals: dict[str, int] | None = None,
               sink: RowSink | None = None, want_rows: bool = False, want_failures: bool = False,
               chunk_bytes: int = 1 << 20, on_progress: Callable[[int, int], None] | None = None,
               want_records: bool = False, skip_chunks: frozenset[int] | set[int] = frozenset(),
               on_chunk: Callable[[ChunkResult], None] | None = None, hash_input: bool = True,
               verify: bool = True, nice: int = 0, want_tallies: bool = True, plan: Any = None) -> VerifyOutcome:
    """Verify every detail row of ``head.path``; streams encoded rows/failures to ``sink``.
    ``verify`` False parses only: rows that would be verified come back UNCHECKED (the scan's
    balance plan, made from the file while verification runs beside the balance reads).
    ``want_tallies`` False keeps no per-coin sums (the outcome's are empty: a scan sums the rows it
    stores in its own aggregation). ``nice``:
    the workers' niceness increment (verification as background work beside the scan's balance reads).
    ``plan`` (a plan.WorkerPlan, with ``want_records``): the workers plan the rows it can
    (:attr:`ChunkResult.planned`).

    ``on_chunk`` receives every chunk's result in file order (with ``want_records``, its rows as
    tuples that :func:`row_records` turns into records); chunks whose first line is in ``skip_chunks`` (already stored by an interrupted run)
    are not verified again, only counted in progress. ``on_progress(bytes, rows)`` gets increments
    while chunks are being verified, not only as each one ends (see :func:`process_chunk`), always
    from the calling thread; over the run they add up to the input's bytes and its rows."""
    assert head.layout is not None
    workers = max(1, workers or os.cpu_count() or 1)
    hasher = hashlib.sha256() if hash_input else None  # False: the caller hashed the file already
    heights = head.heights
    decimals = decimals or {}
    skipped_bytes = 0

    def make_tasks():
        nonlocal skipped_bytes
        for off, length, first in iter_chunks(head, chunk_bytes, hasher):
            if first in skip_chunks:
                skipped_bytes += length
                if on_progress:
                    on_progress(length, 0)
                continue
            yield ChunkTask(path=head.path, offset=off, length=length, first_line=first, layout=head.layout,
                            heights=heights, filters=filters, want_rows=want_rows, want_failures=want_failures,
                            decimals=decimals, want_records=want_records, verify=verify, want_tallies=want_tallies,
                            plan=plan)

    tasks = make_tasks()
    tallies: dict[tuple[str, str], Tally] = {}
    rows = 0
    samples: list[tuple[int, str]] = []
    data_bytes = head.size - head.data_offset

    def consume(res: ChunkResult) -> None:
        nonlocal rows
        rows += res.rows
        for key, t in res.tallies.items():
            mine = tallies.get(key)
            if mine is None:
                tallies[key] = t
            else:
                mine.merge(t)
        if len(samples) < 20:
            samples.extend(res.invalid_lines[: 20 - len(samples)])
        if sink is not None:
            if res.row_json:
                sink.rows(res.row_json)
            if res.failures_csv:
                sink.failures(res.failures_csv)
        if on_chunk is not None:
            on_chunk(res)

    if workers == 1 or data_bytes <= chunk_bytes:
        for task in tasks:
            consume(process_chunk(task, on_progress))
    else:
        # the workers are forked from this thread while the scan's other threads read balances, which
        # import modules on first use: whatever a worker may import is imported here first
        import_all()
        ctx = multiprocessing.get_context("fork")
        # the workers add what they have done to two shared counters (bytes, rows); this thread
        # reads them while it waits for the next chunk in file order and passes on the difference
        shared = ctx.Array("q", 2) if on_progress else None
        seen = [0, 0]

        def poll() -> None:
            assert shared is not None and on_progress is not None
            with shared.get_lock():
                nbytes, nrows = shared[0], shared[1]
            if nbytes != seen[0] or nrows != seen[1]:
                on_progress(nbytes - seen[0], nrows - seen[1])
                seen[0], seen[1] = nbytes, nrows

        def result(fut: Future[ChunkResult]) -> ChunkResult:
            if shared is None:
                return fut.result()
            while True:
                try:
                    res = fut.result(timeout=POLL_SECONDS)
                except TimeoutError:
                    poll()
                    continue
                poll()
                return res

        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_start,
                                 initargs=(os.getpid(), shared, nice)) as pool:
            window: list[Future[ChunkResult]] = []
            ahead = chunks_ahead(workers, chunk_bytes)
            for task in tasks:
                window.append(pool.submit(_process_in_worker, task))
                if len(window) >= ahead:
                    consume(result(window.pop(0)))
            for fut in window:
                consume(result(fut))
    return VerifyOutcome(head=head, rows=rows, tallies=tallies, sha256=hasher.hexdigest() if hasher else "",
                         invalid_samples=samples)


# Chunks handed to the workers ahead of the one consumed: 3 to 8 per worker, about 32 MiB of input
# in all. A scan consumes a chunk by storing it through its event loop, which is busy with balance
# reads at the same time; with 3 per worker (6 MiB) the workers sat idle while it waited (bench/scan:
# 1.6-1.7 of 2 cores busy for the balance reads' first seconds).
AHEAD_BYTES = 32 << 20


def chunks_ahead(workers: int, chunk_bytes: int) -> int:
    return workers * max(3, min(8, AHEAD_BYTES // max(1, chunk_bytes * workers)))


_SHARED_PROGRESS: Any = None  # in a verify worker: the parent's (bytes, rows) counters, or None


def _add_progress(nbytes: int, nrows: int) -> None:
    with _SHARED_PROGRESS.get_lock():
        _SHARED_PROGRESS[0] += nbytes
        _SHARED_PROGRESS[1] += nrows


def _process_in_worker(task: ChunkTask) -> ChunkResult:
    return process_chunk(task, _add_progress if _SHARED_PROGRESS is not None else None)


def _worker_start(parent: int, shared: Any = None, nice: int = 0) -> None:
    """In each verify worker, first thing: die with the parent, then freeze the inherited heap.

    A SIGKILLed porscan left its workers blocked on a pipe for ever; PR_SET_PDEATHSIG (Linux) has
    the kernel kill a worker when the thread that forked it goes, and a parent already gone by then
    is caught by its pid. gc.freeze: the inherited objects (modules, tables) leave the collector's
    generations, so a worker's full collections only walk what its chunks create."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pid check below still stops a late start
        pass
    if os.getppid() != parent:
        os._exit(1)
    global _SHARED_PROGRESS
    _SHARED_PROGRESS = shared
    if nice:
        os.nice(nice)
    gc.freeze()


def schemes_available(coins: Iterable[str]) -> dict[str, bool]:  # pragma: no cover - used by --dry
    return {c: resolve(c, "")[0] is not None for c in coins}
