"""The Store: every query written once; each backend supplies execution and value conversion.

SQL here uses ``?`` placeholders (the PostgreSQL backend numbers them). A backend implements
``_fetch`` (one statement, autocommitted), ``_transaction`` (several statements, each run over a
list of argument tuples, in one transaction), ``_save_chunk`` (checkpoint first, then bulk rows, one
transaction) and the ``_in_*``/``_out_*`` value converters. Converters keep amounts exact.

Why one file: it is the store's whole API, written once for both backends (the backends supply only
the SQL dialect and value converters); splitting it would split that one interface."""

from __future__ import annotations

import abc
import asyncio
from datetime import date, datetime, timezone
from decimal import Decimal
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, AsyncIterator, Iterable, Sequence, TypeVar

from .migrations import BALANCE_COLUMNS, VERIFICATION_COLUMNS
from .model import (FAILED_BALANCE_STATUSES, FAILED_ROW_STATUSES, STAGE_BALANCES, STAGE_VERIFY, AddressObservation,
                    AlertInfo, AssetTotal, BalanceRecord, ExchangeInfo, Failure, LiabilityRecord, RatioPoint,
                    RatioRecord, RowRecord, RunInfo, RunSpec, StoreError, params_key)
from ..records import TallyRow

RUN_COLUMNS = ("id, exchange, status, started_at, finished_at, input_path, input_sha256, liabilities_path, "
               "liabilities_sha256, params, tool_version, snapshot_date, summary")
ROW_SELECT = ", ".join(VERIFICATION_COLUMNS[1:])
BALANCE_SELECT = ", ".join(BALANCE_COLUMNS[1:])
TOTAL_COLUMNS = ("asset, network, rows_total, rows_expected, rows_read, published, onchain, proven, owner_only, "
                 "key_only, unverified, unread_published, blocks, staked, unbonding, split_unknown, split_unknown_rows")
RATIO_COLUMNS = ("asset, liabilities, proven_reserves, with_unproven_reserves, proven_ratio, with_unproven_ratio, "
                 "provenance, coverage")
# a ratio is read with its asset's rows read / expected (the all-network total), which say whether
# its reserves were read at all: the columns hold "0" for an asset of which nothing was read
RATIO_SELECT = (", ".join(f"q.{c}" for c in RATIO_COLUMNS.split(", ")) + ", t.rows_read, t.rows_expected")
RATIO_FROM_TOTALS = "LEFT JOIN asset_totals t ON t.run_id = q.run_id AND t.asset = q.asset AND t.network = '*'"
ALERT_COLUMNS = ("id, exchange, key, message, detail, first_run_id, last_run_id, opened_at, last_seen_at, "
                 "resolved_at, notified_at, resolved_notified_at")


# The fields of a TallyRow and the columns they are read from: a row's from verifications, then its
# balance's (after the balance's line, which joins them), in TallyRow's field order, so that a result
# row maps onto the fields by name. Base units as text, which both backends give as is and int()
# reads faster than a driver's numeric.
TALLY_ROW_COLUMNS = {"line": "line", "coin": "coin", "network": "network", "status": "status",
                     "amount_text": "amount_text", "amount_base_units": "CAST(amount_base_units AS TEXT)",
                     "custodian": "custodian", "snapshot_height": "snapshot_height"}
TALLY_BALANCE_COLUMNS = {"read_coin": "coin", "asset": "asset", "read_network": "network", "decimals": "decimals",
                         "address": "address", "onchain_base_units": "CAST(onchain_base_units AS TEXT)",
                         "block_number": "block_number", "block_hash": "block_hash", "at_snapshot": "at_snapshot",
                         "staked": "CAST(staked AS TEXT)", "unbonding": "CAST(unbonding AS TEXT)",
                         "balance_status": "status"}
assert (*TALLY_ROW_COLUMNS, *TALLY_BALANCE_COLUMNS) == TallyRow._fields
_NO_BALANCE = (None,) * len(TALLY_BALANCE_COLUMNS)

T = TypeVar("T")


def checked_units(v: int | None) -> int | None:
    """A base-unit amount as stored: an int or None; anything else (a float, a Decimal that a
    numeric(78,0) column would round, a bool) is refused."""
    if v is None or v.__class__ is int:
        return v
    raise StoreError(f"base-unit amount must be an int, got {type(v).__name__} {v!r}")


def _names(columns: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in columns.split(","))


RUN_NAMES, TOTAL_NAMES, RATIO_NAMES, ALERT_NAMES = map(_names, (RUN_COLUMNS, TOTAL_COLUMNS, RATIO_COLUMNS, ALERT_COLUMNS))
ROW_AT = {name: i for i, name in enumerate(VERIFICATION_COLUMNS[1:])}  # position of each column in ROW_SELECT
BALANCE_AT = {name: i for i, name in enumerate(BALANCE_COLUMNS[1:])}


def _required(value: T | None, what: str) -> T:
    """A value of a NOT NULL column (a NULL there means the database was changed by hand)."""
    if value is None:
        raise StoreError(f"a required {what} is NULL in the database")
    return value


class Row:
    """One result row read by column name: ``Row(r, names)["exchange"]``."""

    __slots__ = ("_r", "_names")

    def __init__(self, r: Sequence[Any], names: Sequence[str]):
        if len(r) != len(names):
            raise StoreError(f"a row has {len(r)} columns, {len(names)} expected")
        self._r, self._names = r, names

    def __getitem__(self, name: str) -> Any:
        return self._r[self._names.index(name)]


# the columns address_history selects, in order
_OBSERVATION_NAMES = ("run_id", "exchange", "snapshot_date", "started_at", "line", "coin", "network", "row_status",
                      "scheme", "reason", "amount_text", "amount_base_units", "balance_status", "asset",
                      "onchain_base_units", "decimals", "block_number", "block_hash", "at_snapshot")
_FAILED_ROWS_SQL = ", ".join(f"'{s}'" for s in FAILED_ROW_STATUSES)
_FAILED_BALANCES_SQL = ", ".join(f"'{s}'" for s in FAILED_BALANCE_STATUSES)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _check_date(text: str | None, what: str = "snapshot_date") -> str | None:
    """``text`` if it is a YYYY-MM-DD date (or None), else StoreError."""
    if text is None:
        return None
    try:
        if isinstance(text, str) and len(text) == 10 and date.fromisoformat(text).isoformat() == text:
            return text
    except ValueError:
        pass
    raise StoreError(f"{what} must be a YYYY-MM-DD date, got {text!r}")


def _limits(limit: int, offset: int) -> tuple[int, int]:
    if not (isinstance(limit, int) and isinstance(offset, int)) or limit < 0 or offset < 0:
        raise StoreError(f"limit and offset must be non-negative integers, got {limit!r}, {offset!r}")
    return limit, offset


class Store(abc.ABC):
    """A run store (SQLite or PostgreSQL); open with ``scanner.storage.open_store``."""

    backend: str = ""
    url: str = ""  # password redacted

    # ---- what a backend provides -------------------------------------------------------------

    @abc.abstractmethod
    async def _fetch(self, sql: str, *args) -> list[Sequence]:
        """Run one statement (autocommitted) and return its rows as positional sequences."""

    @abc.abstractmethod
    async def _transaction(self, steps: Sequence[tuple[str, Sequence[tuple]]]) -> None:
        """Run each ``(sql, [args, ...])`` step over its argument tuples, all in one transaction."""

    @abc.abstractmethod
    async def _save_chunk(self, run_id: int, stage: str, chunk_key: str, table: str, columns: Sequence[str],
                          records: Sequence) -> bool:
        """Checkpoint (only if new and the run is running) and bulk-insert ``_encode_chunk`` rows,
        in one transaction. False when the checkpoint already existed (nothing written)."""

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A transaction that the store's run statements and the caller's own join (a job queue's
        enqueue commits with the run row, or neither does). PostgreSQL only: SQLite has one writer
        thread and no connection to share."""
        raise StoreError("a transaction shared with a job queue needs a PostgreSQL store")

    @abc.abstractmethod
    def hold(self, name: str) -> AbstractAsyncContextManager[bool]:
        """``async with store.hold(name) as held``: an exclusive hold on ``name`` across every process
        using this store, True when taken, False (at once, no waiting) when another holder has it.
        Released on exit, and by the system when the holder dies (a SIGKILLed process holds nothing)."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The highest migration applied."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # value converters: Python -> database (_in_*) and back (_out_*)
    _run_date_sql: str = ""  # SQL expression: the run's snapshot date, else its UTC start date

    def _in_units(self, v: int | None):
        return checked_units(v)

    def _in_dec(self, v: Decimal | None):
        if v is None or isinstance(v, (Decimal, int)) and not isinstance(v, bool):
            return v
        raise StoreError(f"coin amount must be a Decimal (never a float), got {type(v).__name__} {v!r}")

    @abc.abstractmethod
    def _in_json(self, v): ...

    @abc.abstractmethod
    def _in_ts(self, v: datetime): ...

    @abc.abstractmethod
    def _in_date(self, v: str | None): ...

    def _in_bool(self, v: bool | None):
        return v

    @abc.abstractmethod
    def _out_units(self, v) -> int | None: ...

    @abc.abstractmethod
    def _out_dec(self, v) -> Decimal | None: ...

    @abc.abstractmethod
    def _out_json(self, v): ...

    @abc.abstractmethod
    def _out_ts(self, v) -> str | None: ...

    @abc.abstractmethod
    def _out_date(self, v) -> str | None: ...

    def _out_bool(self, v) -> bool | None:
        return None if v is None else bool(v)

    # ---- record encoding -----------------------------------------------------------------------

    def _encode_chunk(self, run_id: int, kind: str, records: Sequence) -> list[tuple]:
        u = self._in_units
        if kind == STAGE_VERIFY:
            return [(run_id, r.line, r.coin, r.network, r.address, r.snapshot_height, r.amount_text,
                     u(r.amount_base_units), r.status, r.scheme, r.reason, r.custodian) for r in records]
        b = self._in_bool
        return [(run_id, r.line, r.coin, r.network, r.asset, r.address, r.snapshot_height, u(r.published_base_units),
                 u(r.onchain_base_units), r.decimals, r.block_number, r.block_hash, b(r.at_snapshot), r.status,
                 r.reason, r.endpoint, u(r.staked), u(r.unbonding)) for r in records]

    # Rows come back as positional sequences (sqlite3 tuples, asyncpg Records); every decoder reads
    # them by column name through ``Row``, so a column added or reordered in a SELECT cannot shift
    # a value into the wrong field.

    def _run(self, r: Sequence[Any]) -> RunInfo:
        c = Row(r, RUN_NAMES)
        damaged: list[str] = []

        def column(name: str, empty: Any) -> Any:
            # one damaged run must not hide the others (`porscan runs`, the feed's lists and pages)
            try:
                return self._run_json(c, name)
            except StoreError as exc:
                damaged.append(str(exc))
                return empty

        params = column("params", {})
        summary = None if c["summary"] is None else column("summary", None)
        return RunInfo(id=int(c["id"]), exchange=c["exchange"], status=c["status"],
                       started_at=self._out_ts_req(c["started_at"]), finished_at=self._out_ts(c["finished_at"]),
                       input_path=c["input_path"], input_sha256=c["input_sha256"],
                       liabilities_path=c["liabilities_path"], liabilities_sha256=c["liabilities_sha256"],
                       params=params, tool_version=c["tool_version"],
                       snapshot_date=self._out_date(c["snapshot_date"]), summary=summary, damaged="; ".join(damaged))

    def _run_json(self, c: Row, column: str) -> Any:
        """A run's JSON column, or a StoreError naming the run, the column and the store: a damaged row
        (edited by hand, a disk fault) was a JSONDecodeError traceback from `porscan runs` and `report`."""
        try:
            value = self._out_json(c[column])
        except (ValueError, TypeError) as exc:
            raise StoreError(f"run {c['id']} in {self.url}: its stored {column} is not JSON ({exc}); "
                             f"the row is damaged") from exc
        if column == "summary" and not isinstance(value, dict):
            raise StoreError(f"run {c['id']} in {self.url}: its stored summary is not a JSON object; the row is damaged")
        return value

    def _row(self, r: Sequence[Any]) -> RowRecord:
        # the hot path of a resumed run's aggregation: positions looked up once, in ROW_AT
        a = ROW_AT
        return RowRecord(line=r[a["line"]], coin=r[a["coin"]], network=r[a["network"]], address=r[a["address"]],
                         snapshot_height=r[a["snapshot_height"]], amount_text=r[a["amount_text"]],
                         amount_base_units=self._out_units(r[a["amount_base_units"]]), status=r[a["status"]],
                         scheme=r[a["scheme"]], reason=r[a["reason"]], custodian=r[a["custodian"]])

    def _balance(self, r: Sequence[Any]) -> BalanceRecord:
        a, u = BALANCE_AT, self._out_units
        return BalanceRecord(line=r[a["line"]], coin=r[a["coin"]], network=r[a["network"]], asset=r[a["asset"]],
                             address=r[a["address"]], snapshot_height=r[a["snapshot_height"]],
                             published_base_units=u(r[a["published_base_units"]]),
                             onchain_base_units=u(r[a["onchain_base_units"]]), decimals=r[a["decimals"]],
                             block_number=r[a["block_number"]], block_hash=r[a["block_hash"]],
                             at_snapshot=self._out_bool(r[a["at_snapshot"]]), status=r[a["status"]],
                             reason=r[a["reason"]], endpoint=r[a["endpoint"]], staked=u(r[a["staked"]]),
                             unbonding=u(r[a["unbonding"]]))

    def _total(self, r: Sequence[Any]) -> AssetTotal:
        c, d = Row(r, TOTAL_NAMES), self._out_dec_req
        return AssetTotal(asset=c["asset"], network=c["network"], rows=int(c["rows_total"]),
                          rows_expected=int(c["rows_expected"]), rows_read=int(c["rows_read"]),
                          published=d(c["published"]), onchain=d(c["onchain"]), proven=d(c["proven"]),
                          owner_only=d(c["owner_only"]), key_only=d(c["key_only"]), unverified=d(c["unverified"]),
                          unread_published=d(c["unread_published"]), blocks=self._out_json(c["blocks"]),
                          staked=d(c["staked"]), unbonding=d(c["unbonding"]), split_unknown=d(c["split_unknown"]),
                          split_unknown_rows=int(c["split_unknown_rows"]))

    def _ratio(self, r: Sequence[Any]) -> RatioRecord:
        """A row of ``RATIO_SELECT``."""
        c, d = Row(r, (*RATIO_NAMES, "rows_read", "rows_expected")), self._out_dec
        read = None if c["rows_read"] is None else int(c["rows_read"])
        expected = None if c["rows_expected"] is None else int(c["rows_expected"])
        unread = bool(expected) and read == 0  # the stored "0" stands for unknown
        return RatioRecord(asset=c["asset"], liabilities=d(c["liabilities"]),
                           proven_reserves=None if unread else self._out_dec_req(c["proven_reserves"]),
                           with_unproven_reserves=None if unread else self._out_dec_req(c["with_unproven_reserves"]),
                           proven_ratio=d(c["proven_ratio"]), with_unproven_ratio=d(c["with_unproven_ratio"]),
                           provenance=c["provenance"], coverage=d(c["coverage"]), rows_read=read, rows_expected=expected)

    def _alert(self, r: Sequence[Any]) -> AlertInfo:
        c, t = Row(r, ALERT_NAMES), self._out_ts
        return AlertInfo(id=int(c["id"]), exchange=c["exchange"], key=c["key"], message=c["message"],
                         detail=self._out_json(c["detail"]), first_run_id=c["first_run_id"],
                         last_run_id=c["last_run_id"], opened_at=self._out_ts_req(c["opened_at"]),
                         last_seen_at=self._out_ts_req(c["last_seen_at"]), resolved_at=t(c["resolved_at"]),
                         notified_at=t(c["notified_at"]), resolved_notified_at=t(c["resolved_notified_at"]))

    def _out_dec_req(self, v: Any) -> Decimal:
        return _required(self._out_dec(v), "amount")

    def _out_ts_req(self, v: Any) -> str:
        return _required(self._out_ts(v), "timestamp")

    # ---- runs ----------------------------------------------------------------------------------

    async def find_resumable(self, spec: RunSpec) -> RunInfo | None:
        """The newest unfinished (running or failed) run with the same exchange, input hash,
        liabilities hash and parameters."""
        rows = await self._fetch(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE exchange = ? AND input_sha256 = ? AND params_key = ? "
            "AND liabilities_sha256 IS NOT DISTINCT FROM ? AND status <> 'done' ORDER BY id DESC LIMIT 1",
            spec.exchange, spec.input_sha256, params_key(spec.params), spec.liabilities_sha256)
        return self._run(rows[0]) if rows else None

    async def start_run(self, spec: RunSpec) -> RunInfo:
        if not spec.exchange or not spec.input_sha256:
            raise StoreError("a run needs an exchange and the input file's sha256")
        snapshot = _check_date(spec.snapshot_date)
        key = params_key(spec.params)  # also checks that params are JSON-able
        rows = await self._fetch(
            "INSERT INTO runs (exchange, status, started_at, input_path, input_sha256, liabilities_path, "
            "liabilities_sha256, params, params_key, tool_version, snapshot_date) "
            f"VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {RUN_COLUMNS}",
            spec.exchange, self._in_ts(utc_now()), spec.input_path, spec.input_sha256, spec.liabilities_path,
            spec.liabilities_sha256, self._in_json(spec.params), key, spec.tool_version, self._in_date(snapshot))
        return self._run(rows[0])

    _claims: AsyncExitStack  # the holds claim_run keeps; each backend closes it with the store

    async def claim_run(self, run_id: int) -> bool:
        """Hold the run for this process until the store is closed (the :meth:`hold` of ``run <id>``);
        False when another live process holds it (a scan resuming a run that another one is scanning
        now would write and read beside it). The hold dies with its process, even by SIGKILL: nothing
        is left to clear."""
        claim = self.hold(f"run {run_id}")
        if not await claim.__aenter__():
            await claim.__aexit__(None, None, None)
            return False
        self._claims.push_async_exit(claim)
        return True

    async def get_run(self, run_id: int) -> RunInfo:
        rows = await self._fetch(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", run_id)
        if not rows:
            raise StoreError(f"no run {run_id} in {self.url}")
        return self._run(rows[0])

    async def list_runs(self, exchange: str | None = None, limit: int = 50, offset: int = 0,
                        status: str | None = None) -> list[RunInfo]:
        """Runs, newest first; optionally of one exchange and/or one status."""
        where, args = [], []
        for column, value in (("exchange", exchange), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {RUN_COLUMNS} FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._fetch(sql + " ORDER BY id DESC LIMIT ? OFFSET ?", *args, *_limits(limit, offset))
        return [self._run(r) for r in rows]

    async def count_runs(self, exchange: str | None = None) -> int:
        if exchange is None:
            rows = await self._fetch("SELECT count(*) FROM runs")
        else:
            rows = await self._fetch("SELECT count(*) FROM runs WHERE exchange = ?", exchange)
        return int(rows[0][0])

    async def resume_run(self, run_id: int) -> RunInfo:
        """Mark an unfinished (running or failed) run as running again; StoreError if it is done."""
        rows = await self._fetch(f"UPDATE runs SET status = 'running', finished_at = NULL "
                                 f"WHERE id = ? AND status <> 'done' RETURNING {RUN_COLUMNS}", run_id)
        if not rows:
            run = await self.get_run(run_id)  # raises for an unknown run
            raise StoreError(f"run {run.id} is already {run.status}; it cannot be resumed")
        return self._run(rows[0])

    async def set_snapshot_date(self, run_id: int, snapshot_date: str | None) -> None:
        """Record the snapshot date once known (e.g. read from the file after the run started)."""
        day = self._in_date(_check_date(snapshot_date))
        if not await self._fetch("UPDATE runs SET snapshot_date = ? WHERE id = ? RETURNING id", day, run_id):
            await self.get_run(run_id)

    async def finish_run(self, run_id: int, status: str, summary: dict, finished_at: datetime | None = None) -> None:
        """Mark the run ``status`` at ``finished_at`` (default now): pass the instant the summary
        itself states, so the stored run and its report agree to the microsecond."""
        if status not in ("done", "failed"):
            raise StoreError(f"a run finishes as 'done' or 'failed', not {status!r}")
        rows = await self._fetch("UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ? RETURNING id",
                                 status, self._in_ts(finished_at or utc_now()), self._in_json(summary), run_id)
        if not rows:
            await self.get_run(run_id)

    async def delete_run(self, run_id: int) -> None:
        """Remove a run and everything stored for it (retention)."""
        await self.get_run(run_id)
        one = [(run_id,)]
        await self._transaction(
            [(f"DELETE FROM {t} WHERE run_id = ?", one)
             for t in ("verifications", "balances", "checkpoints", "asset_totals", "liabilities", "ratios",
                       "balance_notes")]
            + [(f"UPDATE alerts SET {c} = NULL WHERE {c} = ?", one) for c in ("first_run_id", "last_run_id")]
            + [("DELETE FROM runs WHERE id = ?", one)])

    # ---- per-row data, checkpointed per chunk --------------------------------------------------

    async def done_chunks(self, run_id: int, stage: str) -> set[str]:
        rows = await self._fetch("SELECT chunk_key FROM checkpoints WHERE run_id = ? AND stage = ?", run_id, stage)
        return {r[0] for r in rows}

    async def save_rows(self, run_id: int, chunk_key: str, rows: Sequence[RowRecord]) -> None:
        """Rows plus checkpoint ("verify", chunk_key) in one transaction; a saved chunk is a no-op."""
        await self._save_chunk(run_id, STAGE_VERIFY, chunk_key, "verifications", VERIFICATION_COLUMNS, rows)

    async def save_balances(self, run_id: int, chunk_key: str, balances: Sequence[BalanceRecord]) -> None:
        """Balances plus checkpoint ("balances", chunk_key) in one transaction; a saved chunk is a no-op."""
        await self._save_chunk(run_id, STAGE_BALANCES, chunk_key, "balances", BALANCE_COLUMNS, balances)

    async def _chunk_refused(self, run_id: int, stage: str, chunk_key: str) -> None:
        """After a checkpoint insert did nothing: fine if the chunk is saved, else say why."""
        if chunk_key in await self.done_chunks(run_id, stage):
            return
        run = await self.get_run(run_id)
        raise StoreError(f"run {run.id} is {run.status}: resume it before saving more {stage} data")

    def _overlap(self, run_id: int, stage: str, chunk_key: str, exc: Exception) -> StoreError:
        return StoreError(f"run {run_id}: {stage} chunk {chunk_key!r} repeats a line already saved by another chunk "
                          f"(nothing of it was written): {exc}")

    async def iter_rows(self, run_id: int, batch: int = 50_000) -> AsyncIterator[list[RowRecord]]:
        """A run's verified rows in line order, ``batch`` at a time (keyset pagination)."""
        last = -(2**62)
        while True:
            rows = await self._fetch(f"SELECT {ROW_SELECT} FROM verifications WHERE run_id = ? AND line > ? "
                                     "ORDER BY line LIMIT ?", run_id, last, batch)
            if not rows:
                return
            out = [self._row(r) for r in rows]
            last = out[-1].line
            yield out
            if len(rows) < batch:
                return

    async def iter_balances(self, run_id: int, batch: int = 50_000) -> AsyncIterator[list[BalanceRecord]]:
        """A run's balances in (line, asset) order, ``batch`` at a time."""
        last: tuple[int, str] = (-(2**62), "")
        while True:
            rows = await self._fetch(f"SELECT {BALANCE_SELECT} FROM balances WHERE run_id = ? AND (line, asset) > "
                                     "(?, ?) ORDER BY line, asset LIMIT ?", run_id, *last, batch)
            if not rows:
                return
            out = [self._balance(r) for r in rows]
            last = (out[-1].line, out[-1].asset)
            yield out
            if len(rows) < batch:
                return

    async def iter_tally(self, run_id: int, batch: int = 50_000, *, after: int | None = None,
                         upto: int | None = None) -> AsyncIterator[list[TallyRow]]:
        """A run's rows in line order, each with its balance read, ``batch`` rows at a time: only the
        fields the aggregation sums (:class:`TallyRow`). A line with balances of several assets is given
        with the first by asset (the one :meth:`iter_balances` gives first). The next batch is fetched
        while the caller sums this one. ``after``/``upto``: only the lines in (after, upto]."""
        last = -(2**62) if after is None else after
        pending = asyncio.ensure_future(self._tally_batch(run_id, last, batch, upto))
        try:
            while True:
                rows, balances = await pending
                if not rows:
                    return
                last = rows[-1][0]
                full = len(rows) == batch
                if full:
                    pending = asyncio.ensure_future(self._tally_batch(run_id, last, batch, upto))
                yield self._tallies(rows, balances)
                if not full:
                    return
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def _tally_batch(self, run_id: int, after: int, batch: int,
                           upto: int | None = None) -> tuple[list[Sequence], list[Sequence]]:
        # two index ranges, not a join: a join's plan depends on table statistics, which a run's rows
        # just written do not have yet (PostgreSQL then sorted all balances for every batch: minutes)
        rows = await self._fetch(f"SELECT {', '.join(TALLY_ROW_COLUMNS.values())} FROM verifications "
                                 "WHERE run_id = ? AND line > ? AND line <= ? ORDER BY line LIMIT ?", run_id, after,
                                 2**62 if upto is None else upto, batch)
        if not rows:
            return [], []
        balances = await self._fetch(f"SELECT line, {', '.join(TALLY_BALANCE_COLUMNS.values())} FROM balances "
                                     "WHERE run_id = ? AND line > ? AND line <= ? ORDER BY line, asset",
                                     run_id, after, rows[-1][0])
        return rows, balances

    # The key two spellings of one wallet share in repeated_wallet_lines: ASCII letters folded to lower
    # case, as aggregate.canonical_address folds them. Per backend: here SQLite's (its lower() folds
    # ASCII only), and the lines of each key as that backend aggregates them.
    _wallet_key_sql = "lower(address)"
    _lines_agg_sql = "group_concat(line)"

    def _out_lines(self, v: Any) -> Iterable[int]:
        return map(int, str(v).split(","))

    async def repeated_wallet_lines(self, run_id: int) -> set[int]:
        """Lines of a run's read balances whose address, case-folded, is read more than once (on any
        asset or network): the only rows that can list a wallet again. Addresses that are one wallet
        are equal case-folded (aggregate.canonical_address only folds case; ingest strips them), so no
        repeat is missed; the aggregation tells the real repeats apart among these few rows.

        One pass, grouped by the folded address, each group's lines aggregated: a join of the groups
        back to the rows took twice the time (and folded every address twice)."""
        rows = await self._fetch(
            f"SELECT {self._lines_agg_sql} FROM (SELECT line, {self._wallet_key_sql} AS k FROM balances "
            "WHERE run_id = ? AND onchain_base_units IS NOT NULL) r GROUP BY k HAVING count(*) > 1", run_id)
        return {line for r in rows for line in self._out_lines(r[0])}

    def _tallies(self, rows: Sequence[Sequence[Any]], balances: Sequence[Sequence[Any]]) -> list[TallyRow]:
        # the columns are selected in TallyRow's field order (TALLY_*_COLUMNS) and unpacked by those
        # names (one pass over each record, not a subscript per field: 600k rows are summed per OKX
        # file); only amounts and the flag go through the backend's converters
        units, flag, make = self._out_units, self._out_bool, TallyRow._make
        out: list[TallyRow] = []
        append = out.append
        ahead = iter(balances)  # a line's balances in asset order: the first one is the line's
        bal = next(ahead, None)
        bal_line = bal[0] if bal is not None else None
        for line, coin, network, status, amount_text, amount_base_units, custodian, snapshot_height in rows:
            while bal_line is not None and bal_line < line:  # a line's balances of further assets are passed over
                bal = next(ahead, None)
                bal_line = bal[0] if bal is not None else None
            row = (line, coin, network, status, amount_text, units(amount_base_units), custodian, snapshot_height)
            if bal_line == line:
                (_, read_coin, asset, read_network, decimals, address, onchain_base_units, block_number, block_hash,
                 at_snapshot, staked, unbonding, balance_status) = bal  # type: ignore[misc]
                append(make(row + (read_coin, asset, read_network, decimals, address, units(onchain_base_units),
                                   block_number, block_hash, flag(at_snapshot), units(staked), units(unbonding),
                                   balance_status)))
            else:
                append(make(row + _NO_BALANCE))
        return out

    async def _count_by_status(self, table: str, run_id: int) -> dict[str, int]:
        rows = await self._fetch(f"SELECT status, count(*) FROM {table} WHERE run_id = ? GROUP BY status", run_id)
        return {r[0]: int(r[1]) for r in rows}

    async def count_rows(self, run_id: int) -> dict[str, int]:
        """Verified rows of a run by status."""
        return await self._count_by_status("verifications", run_id)

    async def count_balances(self, run_id: int) -> dict[str, int]:
        """Balance reads of a run by status."""
        return await self._count_by_status("balances", run_id)

    # ---- results -------------------------------------------------------------------------------

    async def save_results(self, run_id: int, totals: Sequence[AssetTotal], liabilities: Sequence[LiabilityRecord],
                           ratios: Sequence[RatioRecord]) -> None:
        """Replace the run's totals, liabilities and ratios (one transaction; order is kept)."""
        await self.get_run(run_id)
        d, one = self._in_dec, [(run_id,)]
        await self._transaction([
            *((f"DELETE FROM {t} WHERE run_id = ?", one) for t in ("asset_totals", "liabilities", "ratios")),
            (f"INSERT INTO asset_totals (run_id, seq, {TOTAL_COLUMNS}) VALUES ({', '.join(['?'] * 19)})",
             [(run_id, i, t.asset, t.network, t.rows, t.rows_expected, t.rows_read, d(t.published), d(t.onchain),
               d(t.proven), d(t.owner_only), d(t.key_only), d(t.unverified), d(t.unread_published),
               self._in_json(t.blocks), d(t.staked), d(t.unbonding), d(t.split_unknown), t.split_unknown_rows)
              for i, t in enumerate(totals)]),
            ("INSERT INTO liabilities (run_id, seq, asset, amount, provenance, source, file, detail) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(run_id, i, x.asset, d(x.amount), x.provenance, x.source, x.file, x.detail)
              for i, x in enumerate(liabilities)]),
            (f"INSERT INTO ratios (run_id, seq, {RATIO_COLUMNS}) VALUES ({', '.join(['?'] * 10)})",
             # the reserve columns are NOT NULL (migration 2): an unread asset's are stored as "0" and read
             # back as None, its total saying that nothing was read (see _ratio)
             [(run_id, i, q.asset, d(q.liabilities), d(q.proven_reserves or Decimal(0)),
               d(q.with_unproven_reserves or Decimal(0)),
               d(q.proven_ratio), d(q.with_unproven_ratio), q.provenance, d(q.coverage))
              for i, q in enumerate(ratios)]),
        ])

    async def load_totals(self, run_id: int, asset: str | None = None, network: str | None = None
                          ) -> list[AssetTotal]:
        """A run's totals in saved order; ``network='*'`` gives the all-network lines, a network name the
        per-network breakdown."""
        where, args = ["run_id = ?"], [run_id]  # type: list[str], list[Any]
        for column, value in (("asset", asset), ("network", network)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = await self._fetch(f"SELECT {TOTAL_COLUMNS} FROM asset_totals WHERE {' AND '.join(where)} ORDER BY seq",
                                 *args)
        return [self._total(r) for r in rows]

    async def load_ratios(self, run_id: int) -> list[RatioRecord]:
        rows = await self._fetch(f"SELECT {RATIO_SELECT} FROM ratios q {RATIO_FROM_TOTALS} WHERE q.run_id = ? "
                                 "ORDER BY q.seq", run_id)
        return [self._ratio(r) for r in rows]

    async def load_results(self, run_id: int) -> tuple[list[AssetTotal], list[LiabilityRecord], list[RatioRecord]]:
        names = ("asset", "amount", "provenance", "source", "file", "detail")
        rows = await self._fetch(f"SELECT {', '.join(names)} FROM liabilities WHERE run_id = ? ORDER BY seq", run_id)
        liabilities = []
        for r in (Row(x, names) for x in rows):
            liabilities.append(LiabilityRecord(asset=r["asset"], amount=self._out_dec_req(r["amount"]),
                                               provenance=r["provenance"], source=r["source"], file=r["file"],
                                               detail=r["detail"]))
        return await self.load_totals(run_id), liabilities, await self.load_ratios(run_id)

    # ---- feed queries --------------------------------------------------------------------------

    async def exchanges(self) -> list[ExchangeInfo]:
        names = ("exchange", "runs", "done_runs", "latest_run_id", "latest_done_run_id", "latest_snapshot_date")
        rows = await self._fetch(
            "SELECT exchange, count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), max(id), "
            "max(CASE WHEN status = 'done' THEN id END), max(CASE WHEN status = 'done' THEN snapshot_date END) "
            "FROM runs GROUP BY exchange ORDER BY exchange")
        out = []
        for r in (Row(x, names) for x in rows):
            out.append(ExchangeInfo(exchange=r["exchange"], runs=int(r["runs"]), done_runs=int(r["done_runs"]),
                                    latest_run_id=int(r["latest_run_id"]), latest_done_run_id=r["latest_done_run_id"],
                                    latest_snapshot_date=self._out_date(r["latest_snapshot_date"])))
        return out

    async def latest_run(self, exchange: str, status: str = "done") -> RunInfo | None:
        """The run with the newest snapshot date (else start date), newest id first among equals."""
        rows = await self._fetch(f"SELECT {RUN_COLUMNS} FROM runs WHERE exchange = ? AND status = ? "
                                 f"ORDER BY {self._run_date_sql} DESC, id DESC LIMIT 1", exchange, status)
        return self._run(rows[0]) if rows else None

    async def latest_ratios(self, exchange: str) -> tuple[RunInfo, list[RatioRecord]] | None:
        """The latest done run of an exchange and its per-asset ratios."""
        run = await self.latest_run(exchange)
        return None if run is None else (run, await self.load_ratios(run.id))

    async def ratio_series(self, exchange: str, asset: str, since: str | None = None, until: str | None = None,
                           limit: int = 10_000) -> list[RatioPoint]:
        """One point per snapshot date (the newest done run of that date), oldest first."""
        day = self._run_date_sql
        where, args = ["exchange = ?", "status = 'done'"], [exchange]
        for op, value in ((">=", since), ("<=", until)):
            if value is not None:
                where.append(f"{day} {op} ?")
                args.append(self._in_date(_check_date(value, "date")))
        cond = " AND ".join(where)
        rows = await self._fetch(
            f"SELECT runs.id, {day}, runs.finished_at, {RATIO_SELECT} "
            f"FROM runs JOIN ratios q ON q.run_id = runs.id {RATIO_FROM_TOTALS} WHERE q.asset = ? AND runs.id IN "
            f"(SELECT max(id) FROM runs WHERE {cond} GROUP BY {day}) ORDER BY 2 LIMIT ?",
            asset, *args, _limits(limit, 0)[0])
        return [RatioPoint(run_id=int(r[0]), snapshot_date=_required(self._out_date(r[1]), "snapshot date"), finished_at=self._out_ts(r[2]),
                           ratio=self._ratio(tuple(r)[3:])) for r in rows]

    async def address_history(self, address: str, exchange: str | None = None, limit: int = 100,
                              offset: int = 0) -> list[AddressObservation]:
        """One address across runs (newest run first): its row status and, when read, its balance."""
        sql = ("SELECT v.run_id, runs.exchange, runs.snapshot_date, runs.started_at, v.line, v.coin, v.network, "
               "v.status, v.scheme, v.reason, v.amount_text, v.amount_base_units, b.status, b.asset, "
               "b.onchain_base_units, b.decimals, b.block_number, b.block_hash, b.at_snapshot "
               "FROM verifications v JOIN runs ON runs.id = v.run_id "
               "LEFT JOIN balances b ON b.run_id = v.run_id AND b.line = v.line WHERE v.address = ?")
        args: list[Any] = [address]
        if exchange is not None:
            sql += " AND runs.exchange = ?"
            args.append(exchange)
        rows = await self._fetch(sql + " ORDER BY v.run_id DESC, v.line, b.asset LIMIT ? OFFSET ?", *args,
                                 *_limits(limit, offset))
        u = self._out_units
        out = []
        for r in (Row(x, _OBSERVATION_NAMES) for x in rows):
            out.append(AddressObservation(
                run_id=int(r["run_id"]), exchange=r["exchange"], snapshot_date=self._out_date(r["snapshot_date"]),
                started_at=self._out_ts_req(r["started_at"]), line=r["line"], coin=r["coin"], network=r["network"],
                row_status=r["row_status"], scheme=r["scheme"], reason=r["reason"], amount_text=r["amount_text"],
                amount_base_units=u(r["amount_base_units"]), balance_status=r["balance_status"], asset=r["asset"],
                onchain_base_units=u(r["onchain_base_units"]), decimals=r["decimals"], block_number=r["block_number"],
                block_hash=r["block_hash"], at_snapshot=self._out_bool(r["at_snapshot"])))
        return out

    async def failures(self, run_id: int, limit: int = 100, offset: int = 0) -> list[Failure]:
        """A run's failed rows (verify: failed/invalid_row; balances: mismatch/unread/invalid_row), by line."""
        rows = await self._fetch(
            "SELECT stage, line, coin, network, address, status, reason FROM ("
            "SELECT 'verify' AS stage, line, coin, network, address, status, reason FROM verifications "
            f"WHERE run_id = ? AND status IN ({_FAILED_ROWS_SQL}) UNION ALL "
            "SELECT 'balances' AS stage, line, coin, network, address, status, reason FROM balances "
            f"WHERE run_id = ? AND status IN ({_FAILED_BALANCES_SQL})) f ORDER BY line, stage DESC LIMIT ? OFFSET ?",
            run_id, run_id, *_limits(limit, offset))
        names = ("stage", "line", "coin", "network", "address", "status", "reason")
        return [Failure(**{n: row[n] for n in names}) for row in (Row(r, names) for r in rows)]

    async def count_failures(self, run_id: int) -> dict[str, int]:
        """How many failures ``failures`` lists, by stage (for pagination)."""
        rows = await self._fetch(
            f"SELECT 'verify', count(*) FROM verifications WHERE run_id = ? AND status IN ({_FAILED_ROWS_SQL}) "
            f"UNION ALL SELECT 'balances', count(*) FROM balances WHERE run_id = ? AND status IN "
            f"({_FAILED_BALANCES_SQL})", run_id, run_id)
        return {r[0]: int(r[1]) for r in rows}

    # ---- alerts: one open alert per (exchange, condition key) ----------------------------------

    async def raise_alert(self, exchange: str, key: str, message: str, detail: dict | None = None,
                          run_id: int | None = None) -> tuple[AlertInfo, bool]:
        """Open the alert, or refresh it if already open. True when it is new (notify once)."""
        now, detail_db = self._in_ts(utc_now()), self._in_json(detail or {})
        rows = await self._fetch(
            "INSERT INTO alerts (exchange, key, message, detail, first_run_id, last_run_id, opened_at, last_seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (exchange, key) WHERE resolved_at IS NULL "
            f"DO NOTHING RETURNING {ALERT_COLUMNS}", exchange, key, message, detail_db, run_id, run_id, now, now)
        if rows:
            return self._alert(rows[0]), True
        rows = await self._fetch(
            "UPDATE alerts SET message = ?, detail = ?, last_run_id = coalesce(?, last_run_id), last_seen_at = ? "
            f"WHERE exchange = ? AND key = ? AND resolved_at IS NULL RETURNING {ALERT_COLUMNS}",
            message, detail_db, run_id, now, exchange, key)
        if not rows:  # resolved between the two statements: open it again
            return await self.raise_alert(exchange, key, message, detail, run_id)
        return self._alert(rows[0]), False

    async def resolve_alert(self, exchange: str, key: str) -> bool:
        """Close the open alert for this condition; False if none was open."""
        rows = await self._fetch("UPDATE alerts SET resolved_at = ? WHERE exchange = ? AND key = ? "
                                 "AND resolved_at IS NULL RETURNING id", self._in_ts(utc_now()), exchange, key)
        return bool(rows)

    async def mark_alert_notified(self, alert_id: int, event: str = "opened") -> None:
        """Record that the alert's ``event`` ("opened" or "resolved") reached the webhook."""
        column = {"opened": "notified_at", "resolved": "resolved_notified_at"}.get(event)
        if column is None:
            raise StoreError(f"an alert event is 'opened' or 'resolved', not {event!r}")
        await self._fetch(f"UPDATE alerts SET {column} = ? WHERE id = ?", self._in_ts(utc_now()), alert_id)

    async def undelivered_alerts(self, exchange: str) -> list[AlertInfo]:
        """The exchange's alerts with an event not yet delivered: open and not announced, or resolved
        and the resolution not announced; oldest first (the order they happened)."""
        rows = await self._fetch(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE exchange = ? AND (notified_at IS NULL OR "
            "(resolved_at IS NOT NULL AND resolved_notified_at IS NULL)) ORDER BY id", exchange)
        return [self._alert(r) for r in rows]

    async def list_alerts(self, exchange: str | None = None, open_only: bool = False, limit: int = 50,
                          offset: int = 0) -> list[AlertInfo]:
        """Alerts, newest first."""
        where, args = [], []
        if exchange is not None:
            where.append("exchange = ?")
            args.append(exchange)
        if open_only:
            where.append("resolved_at IS NULL")
        sql = f"SELECT {ALERT_COLUMNS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._fetch(sql + " ORDER BY id DESC LIMIT ? OFFSET ?", *args, *_limits(limit, offset))
        return [self._alert(r) for r in rows]

    # ---- feed server and scheduled job ------------------------------------------------------

    async def feed_state(self) -> tuple:
        """A cheap fingerprint of what the feed shows: it changes whenever a run starts, finishes or
        changes status, and whenever an alert is opened, refreshed or resolved (the feed's cache key)."""
        rows = await self._fetch(
            "SELECT (SELECT coalesce(max(id), 0) FROM runs), "
            "(SELECT sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END) FROM runs), "
            "(SELECT count(finished_at) FROM runs), (SELECT max(finished_at) FROM runs), "
            "(SELECT coalesce(max(id), 0) FROM alerts), (SELECT count(resolved_at) FROM alerts), "
            "(SELECT max(last_seen_at) FROM alerts)")
        r = rows[0]
        return (int(r[0]), int(r[1] or 0), int(r[2] or 0), self._out_ts(r[3]), int(r[4]), int(r[5] or 0),
                self._out_ts(r[6]))

    async def unread_by_endpoint(self, run_id: int) -> list[tuple[str, str, int]]:
        """A run's balance reads that failed (status ``unread``), counted per network and endpoint
        label: the provider errors the feed's /metrics shows."""
        rows = await self._fetch("SELECT network, endpoint, count(*) FROM balances WHERE run_id = ? AND "
                                 "status = 'unread' GROUP BY network, endpoint ORDER BY network, endpoint", run_id)
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ---- balance notes per network (distributed runs: written by workers, read by the coordinator) --

    async def save_balance_notes(self, run_id: int, network: str, notes: Sequence[str]) -> None:
        """Replace what ``network``'s balance reads of the run said (a job run again says it once)."""
        await self._transaction([
            ("DELETE FROM balance_notes WHERE run_id = ? AND network = ?", [(run_id, network)]),
            ("INSERT INTO balance_notes (run_id, network, seq, note) VALUES (?, ?, ?, ?)",
             [(run_id, network, i, note) for i, note in enumerate(notes)]),
        ])

    async def balance_notes(self, run_id: int) -> dict[str, list[str]]:
        """The run's balance notes by network, networks sorted, each in the order said."""
        rows = await self._fetch("SELECT network, note FROM balance_notes WHERE run_id = ? ORDER BY network, seq", run_id)
        out: dict[str, list[str]] = {}
        for network, note in rows:
            out.setdefault(network, []).append(note)
        return out
