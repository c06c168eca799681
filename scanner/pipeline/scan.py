"""``porscan scan``: the whole job, resumable.

ingest -> ownership verification (process pool) -> balances at the snapshot heights (every
configured adapter) -> per-asset aggregation -> liabilities and reserve ratios -> store and report.

Every stage writes to the store in checkpointed chunks: verification per input chunk (keyed by
its first line), balances per slice of a (coin, height) group. A run that is interrupted (even by
SIGKILL) and started again with the same inputs and options continues where it stopped; the
aggregation is always computed from what the store holds, so a resumed run's totals equal an
uninterrupted run's.

Why one file: the resumable run (context, stages, failure record, report) is one state machine over
one store; the plan (plan.py), balances (balances.py) and aggregation (aggregate.py) live apart."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping, Protocol

from chains.gcpause import paused_gc
from signatures.registry import resolve_name

from .. import __version__
from ..errors import UsageError
from .aggregate import Aggregation, CoinPlace
from ..amounts import EXACT, coverage as coverage_of, exact_sum, rounding_slack
from ..config.assets import AssetBook, config_dir, default_book
from .balances import NOTES_KEPT, SLICE, network_slices, read_groups
from .ingest import FileHead, IngestError, read_head, sha256_file
from .inputs import guess_exchange  # noqa: F401 (its callers import it from here too)
from ..config.networks import (CoinTargets, NetConfigError, Network, RuleDecimals, check_coins, load_coins,
                        load_networks, with_overrides)
from .reconcile import check_summary
from ..records import NO_FIGURES, AssetTotal, BalanceRecord, LiabilityRecord, RatioRecord, RowRecord, TallyRow
from ..report_model import (SCAN_SCHEMA, AssetReport, Block, Custodian, FailureList, InputFile, LiabilitiesInfo,  # noqa: F401
                            Place, RunHeader, ScanReport, SummaryBlock)
from ..storage import (RunInfo, RunSpec, Store, redact_url,
                      StoreError, open_store)
from ..storage.base import iso_utc, utc_now
from .held import HeldRows, estimated_rows
from .plan import BalancePlan, BalancePlanner
from .rubric import rubric
from .verify import Filters, row_records, run_verify, status_column_skip

# Verification beside the balance reads yields the cores to them (and to the plan the reads wait
# for, the local nodes, the database) and takes what they leave: on a small machine the reads are
# the longer path, and verification fills their waits.
VERIFY_NICE = 10
UNSUPPORTED_KEY = "unsupported"  # balances checkpoint of rows no adapter can read
SAVE_WAIT_SECONDS = 1.0  # how often verification's thread, waiting for a chunk's store, checks the scan still runs
FAILURES_LISTED = 1000  # failed, mismatched and unread rows written into the report (the store keeps all)


class ScanError(UsageError):
    """The scan cannot start or go on (bad input file, config or database): a usage-level error."""


@dataclass(frozen=True)
class ScanOptions:
    file: str  # the CSV read (a .gz/.zip/stdin input is unpacked to a local file first)
    source: str | None = None  # the input as the user gave it, when that is not ``file``
    liabilities: str | None = None
    liabilities_format: str | None = None
    zk_verifier: str | None = None  # a zk-por-cli binary run on OKX v2 sum proofs
    usd_scale: int | None = None  # the liabilities' zk USD integers are USD x 10^usd_scale (config)
    usd_total: Decimal | None = None  # the exchange's published USD total, to derive that scale from
    prices: tuple[str, ...] = ("published",)  # price sources, in order (prices.SOURCE_KINDS); () = no USD valuation
    price_config: str | None = None  # price_feeds.toml (default: the config folder's)
    db: str | None = None
    exchange: str | None = None
    snapshot_date: str | None = None
    resume: int | None = None  # run id to continue
    fresh: bool = False  # never continue an unfinished run of the same inputs
    networks_path: str | None = None
    coins_path: str | None = None
    rpc: tuple[str, ...] = ()
    coins: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    workers: int | None = None
    chunk_bytes: int = 1 << 20  # input bytes per verification checkpoint
    slice_rows: int = SLICE  # rows per balance-read checkpoint
    adapter_options: dict = field(default_factory=dict)
    window: str | None = None  # snapshot window (pipeline/window.py): blocks ("100") or a duration ("3d")
    window_top: int = 10  # wallets named per asset in the window
    distributed: bool = False  # jobs shared by `porscan worker` processes through PostgreSQL (distributed/)

    @property
    def given(self) -> str:
        """The input as the user named it (reports, the stored run, error messages)."""
        return str(self.source or self.file)


class ScanUI(Protocol):
    """What a scan reports while it runs (the CLI draws progress bars; tests and jobs may ignore it)."""

    def stage(self, name: str, total: int | None, done: int = 0) -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, text: str) -> None: ...
    def end_stage(self) -> None: ...


class NullUI:
    """A ScanUI that shows nothing (tests, the scheduled job)."""

    def stage(self, name: str, total: int | None, done: int = 0) -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, text: str) -> None: ...
    def end_stage(self) -> None: ...


@dataclass
class ScanOutcome:
    run: RunInfo
    report: ScanReport
    resumed: bool
    stage_seconds: dict[str, float]


def default_db() -> str:
    """``$PORSCAN_DB``, else a SQLite file in the user's data folder (the store's own default)."""
    from ..storage import default_db_path

    return str(default_db_path())


def is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("postgresql", "postgres") if "://" in url else False


def check_distributed(opts: ScanOptions) -> str:
    """The store URL of a distributed run, or a UsageError saying why it cannot be one."""
    db = opts.db or default_db()
    if not is_postgres(db):
        raise ScanError("--distributed needs a PostgreSQL store (--db postgresql://...): the workers take their jobs from it")
    if opts.source is not None and opts.source != opts.file:
        raise ScanError(f"--distributed: workers read the input at its path, so give a plain CSV file, not {opts.given}")
    return db


# --------------------------------------------------------------------------------------- context

@dataclass
class _Context:
    opts: ScanOptions
    head: FileHead
    networks: dict[str, Network]
    coins: CoinTargets
    book: AssetBook
    liabilities: Any  # LiabilitySet | None
    input_sha256: str
    config_sha256: str
    # key and place are pure functions of the config, asked once per row by the planner and the
    # aggregation (millions of times; a few distinct answers): remembered per (coin, network)
    _keys: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)
    _places: dict[str, CoinPlace] = field(default_factory=dict, repr=False, compare=False)

    def key(self, coin: str, network: str) -> str:
        """The key a row's coin is read and summed under (:meth:`CoinTargets.key_for`)."""
        key = self._keys.get((coin, network))
        if key is None:
            key = self._keys[(coin, network)] = self.coins.key_for(coin, network, self.head.layout.keyed_by_network)
        return key

    def place(self, coin: str) -> CoinPlace:
        place = self._places.get(coin)
        if place is None:
            place = self._places[coin] = self._place(coin)
        return place

    def _place(self, coin: str) -> CoinPlace:
        target = self.coins.get(coin)
        if target is not None:
            return CoinPlace(asset=target.asset, network=target.network, decimals=target.decimals, contract=target.contract)
        info = self.book.get(coin)
        if info is not None:
            return CoinPlace(info.asset, "unconfigured", info.decimals)
        return CoinPlace(resolve_name(coin, "", "").asset, "unconfigured", None)

    def decimals_map(self) -> "RuleDecimals":
        return RuleDecimals(self.book.decimals_map(), self.coins)


def _load_context(opts: ScanOptions, prove: bool = True) -> _Context:
    """Inputs read and checked; ``prove``: also check the liabilities' proofs (a dry run does not)."""
    try:
        head = read_head(opts.file)
    except (IngestError, OSError) as exc:
        raise ScanError(str(exc).replace(opts.file, opts.given)) from exc
    if head.layout is None:
        raise ScanError(f"{opts.given}: no detail header found; not a reserve file porscan knows")
    try:
        networks = with_overrides(load_networks(Path(opts.networks_path) if opts.networks_path else None), list(opts.rpc))
        coins = load_coins(Path(opts.coins_path) if opts.coins_path else None)
        check_coins(coins, networks, default_book(), Path(opts.coins_path) if opts.coins_path else None)
    except NetConfigError as exc:
        raise ScanError(str(exc)) from exc
    liabilities = None
    check_liabilities_format(opts.liabilities_format, opts.liabilities is not None)
    if opts.liabilities:
        from .liabilities import LiabilitiesError, load_liabilities

        try:
            liabilities = load_liabilities(opts.liabilities, opts.liabilities_format)
            if prove:
                liabilities = _proven(liabilities, opts)
        except LiabilitiesError as exc:
            raise ScanError(str(exc)) from exc
        except OSError as exc:
            raise ScanError(f"{opts.liabilities}: {exc.strerror or exc}") from exc
    # a filter that matches nothing stops here: no run stored, no "0 of 0 balances read" verdict
    Filters(opts.coins, opts.networks).require_a_match(head, opts.given)
    cfg = hashlib.sha256()
    for p in (opts.networks_path or config_dir() / "networks.toml", opts.coins_path or config_dir() / "coins.toml",
              config_dir() / "assets.toml"):
        cfg.update(Path(p).read_bytes())
    cfg.update(repr(sorted(opts.rpc)).encode())
    return _Context(opts, head, networks, coins, default_book(), liabilities, sha256_file(opts.file), cfg.hexdigest())


def check_liabilities_format(fmt: str | None, liabilities: bool, option: str = "--liabilities-format") -> None:
    """A forced liabilities format must be one porscan reads and have a file to apply to: without
    --liabilities it was ignored, silently (and a misspelt one only failed once a file came along)."""
    if fmt is None:
        return
    from .liabilities import FORMATS

    if fmt not in FORMATS:
        raise ScanError(f"{option} {fmt!r}: not a liabilities format porscan reads ({', '.join(FORMATS)})")
    if not liabilities:
        raise ScanError(f"{option} {fmt!r}: there is no liabilities file to read with it (give --liabilities)")


def _proven(liab, opts: ScanOptions):
    """The liabilities with their proofs checked by porscan (zk-verified / zk-published / failed)."""
    from .liabilities import OKX_ZK_V1
    from .liabilities.check import apply_checks, check_proofs
    from .liabilities.okx_zk import find_v1_dir

    where = Path(str(opts.liabilities))
    if liab.format == OKX_ZK_V1 and where.is_file():
        where = find_v1_dir(where) or where  # a sum_values.json: its proof set is the folder it sits in
    return apply_checks(liab, check_proofs(where, zk_verifier=opts.zk_verifier, workers=opts.workers))


def _params(ctx: _Context) -> dict:
    o = ctx.opts
    return {"coins": sorted(o.coins), "networks": sorted(o.networks), "chunk_bytes": o.chunk_bytes, "slice": o.slice_rows,
            "config_sha256": ctx.config_sha256,
            "adapter_options": {k: v for k, v in sorted(o.adapter_options.items()) if isinstance(v, (int, str, bool, type(None)))}}


# --------------------------------------------------------------------------------------- run

async def run_scan(opts: ScanOptions, ui: ScanUI | None = None) -> ScanOutcome:
    ui = ui or NullUI()
    ctx = _load_context(opts)
    try:
        store = await open_store(opts.db or default_db())
    except StoreError as exc:
        raise ScanError(str(exc)) from exc
    try:
        return await _run(ctx, store, ui)
    except (StoreError, NetConfigError) as exc:
        raise ScanError(str(exc)) from exc
    finally:
        await store.close()


async def _run(ctx: _Context, store: Store, ui: ScanUI) -> ScanOutcome:
    run, resumed = await open_run(ctx, store, ui)
    seconds: dict[str, float] = {}
    # a resumed run's records were stored by another process: its aggregation reads them all back
    head = ctx.head
    held = None if resumed else HeldRows(expected=estimated_rows(head.path, head.data_offset, head.size))
    tallying = _Tallying(ctx, store, run, held=held)
    try:
        notes = await _verify_beside_balances(ctx, store, run, ui, seconds, tallying)
        return await finish_scan(ctx, store, run, ui, notes, resumed, seconds, tallying)
    except BaseException as exc:  # noqa: BLE001 - recorded, then raised as it came
        await _record_failure(store, run.id, exc)
        if isinstance(exc, (StoreError, NetConfigError)):
            raise ScanError(str(exc)) from exc
        raise


async def open_run(ctx: _Context, store: Store, ui: ScanUI) -> tuple[RunInfo, bool]:
    """The run these inputs continue (``--resume``, or an unfinished one with the same inputs and
    options) or a new one; and whether it was resumed. Shared with the distributed coordinator."""
    opts = ctx.opts
    liab = ctx.liabilities
    spec = RunSpec(exchange=opts.exchange or guess_exchange(opts.given), input_path=opts.given,
                   input_sha256=ctx.input_sha256, liabilities_path=opts.liabilities,
                   liabilities_sha256=(liab.file_sha256 if liab is not None else None), params=_params(ctx),
                   tool_version=__version__, snapshot_date=opts.snapshot_date)
    resumed = False
    if opts.resume is not None:
        run = await store.get_run(opts.resume)
        await _claim(store, run.id)
        if run.damaged:  # its stored options cannot be read back: nothing to check a resume against
            raise ScanError(f"{run.damaged}; start anew with --fresh")
        if run.input_sha256 != spec.input_sha256:
            raise ScanError(f"run {run.id} read a different file (sha256 {run.input_sha256[:12]}...), not {opts.given}")
        if run.status == "done":
            raise ScanError(f"run {run.id} is already complete; `porscan report {run.id}` shows it")
        if run.liabilities_sha256 != spec.liabilities_sha256:
            raise ScanError(f"run {run.id} was started with another liabilities file; resume it with the same one")
        if run.params != spec.params:
            changed = sorted(k for k in set(run.params) | set(spec.params) if run.params.get(k) != spec.params.get(k))
            raise ScanError(f"run {run.id} was started with other options ({', '.join(changed)}); resuming with "
                            "different ones would mix two runs: use the same options, or start anew with --fresh")
        run = await store.resume_run(run.id)
        resumed = True
    else:
        found = None if opts.fresh else await store.find_resumable(spec)
        if found is not None:
            await _claim(store, found.id)
        if found is not None and found.damaged:
            raise ScanError(f"{found.damaged}; start anew with --fresh")
        if found is not None:
            run = await store.resume_run(found.id)
            resumed = True
        else:
            run = await store.start_run(spec)
            await _claim(store, run.id)  # seen as live by a scan of the same inputs started now
    if resumed:
        ui.note(f"resuming run {run.id} (started {run.started_at})")
        if opts.snapshot_date and opts.snapshot_date != run.snapshot_date:
            await store.set_snapshot_date(run.id, opts.snapshot_date)
            run = await store.get_run(run.id)
    return run, resumed


async def _claim(store: Store, run_id: int) -> None:
    """Hold the run for this process: a second scan of the same inputs started while the first runs
    resumed its run, wrote beside it and read the same nodes at the same time (two Knots dumps at
    once left rows unread), and both then finished it."""
    if not await store.claim_run(run_id):
        raise ScanError(f"run {run_id} is being scanned by another porscan process now: wait for it to end "
                        "(the same command then resumes it if it was interrupted), or start a separate run with --fresh")


async def finish_scan(ctx: _Context, store: Store, run: RunInfo, ui: ScanUI, notes: list[str], resumed: bool,
                      seconds: dict[str, float], tallying: _Tallying | None = None) -> ScanOutcome:
    """Once every row is verified and every balance read into the store: aggregate what the store
    holds (after what ``tallying`` has summed already), save the results and the report, mark the run
    done. Shared with the distributed coordinator."""
    liab = ctx.liabilities
    t = time.perf_counter()
    report, totals, ratios = await _stage_aggregate(ctx, store, run, ui, notes, tallying)
    seconds["aggregate"] = time.perf_counter() - t
    if ctx.opts.window:  # read after the snapshot's figures; never stored as the run's balances
        from .window import scan_window

        t = time.perf_counter()
        report = await scan_window(ctx, store, run, ui, report)
        seconds["window"] = time.perf_counter() - t
    t = time.perf_counter()
    liab_records = [LiabilityRecord(asset=l.asset, amount=l.amount, provenance=l.provenance, source=l.source,
                                    file=l.file, detail=l.detail)
                    for l in (liab.liabilities if liab is not None else ())]
    await store.save_results(run.id, totals, liab_records, ratios)
    finished = utc_now()
    report = dataclasses.replace(report, run=dataclasses.replace(
        report.run, status="done", resumed=resumed, stage_seconds={k: round(v, 3) for k, v in seconds.items()},
        finished_at=iso_utc(finished)))  # the same instant as the stored run's
    await store.finish_run(run.id, "done", report.to_json(), finished)
    run = await store.get_run(run.id)
    seconds["store"] = time.perf_counter() - t
    return ScanOutcome(run=run, report=report, resumed=resumed, stage_seconds=seconds)


async def _record_failure(store: Store, run_id: int, exc: BaseException) -> None:
    """A run that dies (an error, Ctrl-C, a cancelled task) is stored as failed with the reason,
    never left 'running'; a failed run resumes like an interrupted one. Only SIGKILL leaves it
    running, and the next run with the same inputs resumes it all the same."""
    why = "interrupted" if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)) else f"{type(exc).__name__}: {exc}"
    try:
        await store.finish_run(run_id, "failed", {"status": "failed", "error": why[:500]})
    except BaseException:  # noqa: BLE001 - the store itself may be what failed: the first error is the one to show
        pass


# --------------------------------------------------------------------------------------- stages

class _Stored:
    """How far verification has stored the file: every row up to ``line`` (chunks are stored in file
    order, and the chunks an interrupted run stored are all there), and whether it has ended."""

    def __init__(self) -> None:
        self.line: int | None = None
        self.ended = False
        self.changed = asyncio.Event()

    def advance(self, line: int) -> None:
        self.line = line
        self.changed.set()

    def end(self) -> None:
        self.ended = True
        self.changed.set()


async def _stage_verify(ctx: _Context, store: Store, run: RunInfo, ui: ScanUI, nice: int = 0,
                        stored: _Stored | None = None, held: HeldRows | None = None) -> None:
    head = ctx.head
    done = {int(k) for k in await store.done_chunks(run.id, "verify")}
    if done and held is not None:
        held.drop("rows stored before this process")
    loop = asyncio.get_running_loop()
    total_bytes = head.size - head.data_offset
    ui.stage("verify", total_bytes)

    async def save(key: str, records: list[RowRecord]) -> None:
        await store.save_rows(run.id, key, records)
        if held is not None:
            held.add_rows(records)

    stop = threading.Event()  # this stage has ended (cancelled, failed): the thread stores no more chunks

    def on_chunk(res) -> None:
        records = row_records(res)
        if stop.is_set():
            raise asyncio.CancelledError("the scan stopped")
        saved = asyncio.run_coroutine_threadsafe(save(str(res.first_line), records), loop)
        # Not a bare result(): a SIGTERM's KeyboardInterrupt can leave asyncio.run with this save never
        # run and the loop closed; the thread then waited forever and the process, having printed
        # "interrupted", never exited. Looked at once a second, only while a save takes that long.
        while True:
            try:
                saved.result(timeout=SAVE_WAIT_SECONDS)
                break
            except concurrent.futures.TimeoutError:
                if stop.is_set() or loop.is_closed() or not loop.is_running():
                    saved.cancel()
                    raise asyncio.CancelledError("the scan stopped") from None
        if stored is not None and records:
            loop.call_soon_threadsafe(stored.advance, records[-1].line)

    def on_progress(nbytes: int, _rows: int) -> None:
        loop.call_soon_threadsafe(ui.advance, nbytes)

    filters = Filters(ctx.opts.coins, ctx.opts.networks)
    try:
        await asyncio.to_thread(run_verify, head, workers=ctx.opts.workers, filters=filters, decimals=ctx.decimals_map(),
                                chunk_bytes=ctx.opts.chunk_bytes, want_records=True, skip_chunks=done,
                                on_chunk=on_chunk, on_progress=on_progress, hash_input=False,  # hashed at start
                                nice=nice, want_tallies=False)
    finally:
        stop.set()
    ui.end_stage()


async def plan_balances(ctx: _Context, ui: ScanUI | None = None) -> BalancePlan:
    """The balance plan made from the input file, parsed but not verified, by the verification
    workers: a read needs a row's coin, network, address, height and published amount, which ingest
    gives, and not its ownership verdict. The rows go through the planner exactly as the stored ones
    would (the same per-row code makes them, in worker processes), so the plan, and with it every
    slice's checkpoint key, is the one a plan over the verified rows gives: the reads need not wait
    for verification, and a resumed run plans the same slices again. The rows on the planner's
    straight path are grouped in the workers too (plan.WorkerPlan), by the same rule."""
    planner = BalancePlanner(ctx)
    head = ctx.head
    loop = asyncio.get_running_loop()
    if ui is not None:
        ui.stage("plan", head.size - head.data_offset)

    def on_chunk(res) -> None:
        if res.planned is not None:  # the rows the workers planned come first: no other row joins their groups
            planner.add_planned(res.planned)
        for r in row_records(res):
            planner.add(r)

    def on_progress(nbytes: int, _rows: int) -> None:
        if ui is not None:
            loop.call_soon_threadsafe(ui.advance, nbytes)

    # chunks as large as verification's or larger: nothing is checkpointed here, and any cut gives the same rows
    await asyncio.to_thread(run_verify, head, workers=ctx.opts.workers, filters=Filters(ctx.opts.coins, ctx.opts.networks),
                            decimals=ctx.decimals_map(), chunk_bytes=max(ctx.opts.chunk_bytes, 1 << 20),
                            want_records=True, on_chunk=on_chunk, on_progress=on_progress, hash_input=False, verify=False,
                            want_tallies=False, plan=planner.worker_plan(head.layout.keyed_by_network))
    if ui is not None:
        ui.end_stage()
    return planner.finish()


class _Beside:
    """The balances stage's view of the UI while verification shows its own progress: it counts
    silently, and once verification ends takes the UI over with what it has done so far."""

    def __init__(self, ui: ScanUI) -> None:
        self.ui = ui
        self.live = False
        self.shown: tuple[str, int | None] | None = None  # the stage begun and not ended
        self.done = 0

    def stage(self, name: str, total: int | None, done: int = 0) -> None:
        self.shown, self.done = (name, total), done
        if self.live:
            self.ui.stage(name, total, done)

    def advance(self, n: int) -> None:
        self.done += n
        if self.live:
            self.ui.advance(n)

    def note(self, text: str) -> None:
        self.ui.note(text)

    def end_stage(self) -> None:
        self.shown = None
        if self.live:
            self.ui.end_stage()

    def take_over(self) -> None:
        self.live = True
        if self.shown is not None:
            self.ui.stage(self.shown[0], self.shown[1], self.done)


async def _verify_beside_balances(ctx: _Context, store: Store, run: RunInfo, ui: ScanUI,
                                  seconds: dict[str, float], tallying: _Tallying | None = None) -> list[str]:
    """Verification (worker processes) and the balance plan, then the balance reads (this event
    loop, the nodes), at the same time: neither needs the other, each checkpoints on its own, and the
    aggregation reads both from the store once both are complete. Either failing stops the other.
    Verification starts first, so that its workers are forked while this process is small: forked
    after the plan, each would map the plan's pages too (counted in every worker's RSS).

    With ``tallying``: once every balance is stored and while verification goes on, the aggregation
    sums the rows verification has stored so far (the lines up to its frontier are final), so that
    little is left to sum when it ends; the lines are summed in order, each once."""
    beside = _Beside(ui)
    stored = _Stored()
    held = tallying.held if tallying is not None else None

    async def verify() -> None:
        t = time.perf_counter()
        try:
            await _stage_verify(ctx, store, run, ui, nice=VERIFY_NICE, stored=stored, held=held)
        finally:
            stored.end()
        seconds["verify"] = time.perf_counter() - t
        beside.take_over()

    async def balances() -> list[str]:
        t = time.perf_counter()
        plan = await plan_balances(ctx)
        seconds["plan"] = time.perf_counter() - t
        t = time.perf_counter()
        notes = await _stage_balances(ctx, store, run, beside, plan, held)
        seconds["balances"] = time.perf_counter() - t
        if tallying is not None:
            t = time.perf_counter()
            while True:
                if stored.line is not None and stored.line > tallying.after:
                    await tallying.feed(upto=stored.line)
                    continue
                if stored.ended:
                    break
                stored.changed.clear()
                await stored.changed.wait()
            seconds["aggregate_beside"] = time.perf_counter() - t
        return notes

    tasks = (asyncio.ensure_future(verify()), asyncio.ensure_future(balances()))
    try:
        _, notes = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return notes


async def _stage_balances(ctx: _Context, store: Store, run: RunInfo, ui: ScanUI,
                          plan: BalancePlan | None = None, held: HeldRows | None = None) -> list[str]:
    done = await store.done_chunks(run.id, "balances")
    if done and held is not None:
        held.drop("balances stored before this process")
    if plan is None:
        plan = await plan_balances(ctx)

    async def save(key: str, checks: list[BalanceRecord]) -> None:
        await store.save_balances(run.id, key, checks)
        if held is not None:
            held.add_balances(checks)

    if plan.unsupported and UNSUPPORTED_KEY not in done:
        await save(UNSUPPORTED_KEY, plan.unsupported)
    groups, height_notes = plan.groups, plan.height_notes
    total = sum(len(v) for v in groups.values())
    ui.stage("balances", total)

    async def network_read(nid: str, s) -> None:
        # stored, not only shown: a run interrupted after this network was read, resumed, reads nothing
        # more there and still says how it was read (the block and method of a UTXO read, a read at the
        # latest block); before, its report lost those notes. A process that read there adds its own to
        # what an earlier one said about the rows it had read.
        if s.rows:
            said = (await store.balance_notes(run.id)).get(nid, [])
            await store.save_balance_notes(run.id, nid, (said + [n for n in s.notes if n not in said])[:NOTES_KEPT])

    await read_groups(groups, ctx.coins, ctx.networks, on_slice=save, done=done, slice_rows=ctx.opts.slice_rows,
                      adapter_options=ctx.opts.adapter_options, on_progress=ui.advance, per_wallet=False,
                      on_network=network_read)
    plan.close()
    ui.end_stage()
    notes = [f"{nid}: {n}" for nid, n in sorted(height_notes.items())]
    for nid, said in (await store.balance_notes(run.id)).items():
        notes.extend(f"{nid}: {n}" for n in said)
    return notes


class _Tallying:
    """The aggregation of a run, fed from the store in line order in one go or several: each go sums
    the lines after the last one summed, up to ``upto``. A go may start only once every balance of
    the run is stored (the wallets that may repeat are found from them)."""

    def __init__(self, ctx: _Context, store: Store, run: RunInfo, held: HeldRows | None = None) -> None:
        self.agg = Aggregation(ctx.place, ctx.head.layout.amount_in_base_units, key_of=ctx.key)
        self.balance_status: Counter[str] = Counter()
        self.after = -(2**62)  # the last line summed
        self.store, self.run_id = store, run.id
        # what this process stored, given as the store would give it back (held.py); None or turned
        # off: read from the store
        self.held = held

    async def feed(self, upto: int | None = None) -> None:
        held = self.held
        if held is not None and held.usable:
            await self._feed_held(held, upto)
        else:
            await self._feed_store(upto)
        if upto is not None:  # every line up to it is stored and now summed, listed or not
            self.after = max(self.after, upto)

    async def _feed_held(self, held: HeldRows, upto: int | None) -> None:
        with paused_gc():
            if self.agg.repeated is None:
                self.agg.repeated = held.repeated_wallet_lines()
            for tallies in held.tallies(self.after, upto):
                self._add(tallies)
                await asyncio.sleep(0)  # the stores of verification chunks go on between batches

    async def _feed_store(self, upto: int | None) -> None:
        agg = self.agg
        repeated = (asyncio.ensure_future(self.store.repeated_wallet_lines(self.run_id)) if agg.repeated is None
                    else None)  # found while the first batch is read
        try:
            with paused_gc():  # millions of short-lived acyclic rows (chains/gcpause.py): 5.6 -> 4.2 s on 600k
                async for tallies in self.store.iter_tally(self.run_id, after=self.after, upto=upto):
                    if repeated is not None and agg.repeated is None:
                        agg.repeated = await repeated
                    self._add(tallies)
        finally:
            if repeated is not None:
                repeated.cancel()
                await asyncio.gather(repeated, return_exceptions=True)

    def _add(self, tallies: list[TallyRow]) -> None:
        agg, balance_status = self.agg, self.balance_status
        for t in tallies:
            if t.balance_status is not None:
                balance_status[t.balance_status] += 1
            agg.add_tally(t)
        self.after = tallies[-1].line


async def _stage_aggregate(ctx: _Context, store: Store, run: RunInfo, ui: ScanUI, notes: list[str],
                           tallying: _Tallying | None = None) -> tuple[ScanReport, list[AssetTotal], list[RatioRecord]]:
    ui.stage("aggregate", None)
    tallying = tallying or _Tallying(ctx, store, run)
    await tallying.feed()
    agg, balance_status = tallying.agg, tallying.balance_status
    totals = agg.totals()
    ratios, liab_by_asset = _ratios(totals, ctx.liabilities)
    if agg.duplicates:
        notes.append(f"{agg.duplicates} row(s) repeat a wallet already listed for the same asset and network: "
                     "its on-chain balance is counted once")
    if agg.height_conflicts:
        shown = "; ".join(f"{asset} {address} on {network} at {', '.join(str(h) for h in heights)}"
                          for (asset, network, address), heights in list(agg.height_conflicts.items())[:5])
        notes.append(f"{len(agg.height_conflicts)} wallet(s) listed at conflicting snapshot heights, each counted once, "
                     f"at the first listed: {shown}" + (" ..." if len(agg.height_conflicts) > 5 else ""))
    if agg.excess_decimals:
        notes.append(f"{agg.excess_decimals} row(s) publish more decimals than their coin has: their amounts are "
                     "summed exactly as published, but cannot match an on-chain balance")
    if agg.no_decimals:
        notes.append("amounts of " + ", ".join(sorted(agg.no_decimals)) + " are in base units of unknown size "
                     "(no decimals in scanner/config/assets.toml): left out of the published sums")
    from .overlap import overlap_notes

    # addresses another exchange's stored run (snapshots within a week) also claims: counted twice
    notes.extend(await overlap_notes(store, run.id))
    summary_checks = check_summary(ctx.head.summary, {c: (v[0], v[1]) for c, v in agg.coin_sums.items()}, ctx.book,
                                   agg.invalid_by_coin, {c: rounding_slack(p) for c, p in agg.coin_places.items()})
    report = _report(ctx, run, agg, totals, ratios, liab_by_asset, balance_status, summary_checks, notes)
    counts = await store.count_failures(run.id)
    listed = await store.failures(run.id, limit=FAILURES_LISTED)
    # the rows an auditor must look at, by line: failed or unreadable rows, mismatched, unread or
    # disputed balances; the store keeps every one (feed /failures, --failures-csv)
    report = dataclasses.replace(report, failures=FailureList(by_stage=counts, rows=tuple(listed)),
                                 usd=await _usd(ctx, report))
    report = dataclasses.replace(report, rubric=rubric(report))
    ui.end_stage()
    return report, totals, ratios


# --------------------------------------------------------------------------------------- USD

async def _usd(ctx: _Context, report: ScanReport):
    """Reserves and liabilities in USD at the snapshot, when there are prices or USD totals."""
    from .usd import UsdScale, compare_usd, scale_from_total

    liab, opts = ctx.liabilities, ctx.opts
    scale = None
    if opts.usd_scale is not None:
        scale = UsdScale(opts.usd_scale, f"scale 10^-{opts.usd_scale} from --usd-scale")
    elif opts.usd_total is not None and liab is not None:
        raw = liab.totals.get("net_liabilities", liab.totals.get("total_value"))
        if raw is None:
            raise ScanError("--usd-total: the liabilities file has no zk USD total to scale")
        scale = scale_from_total(raw, opts.usd_total)
    quotes, notes = await _quotes(ctx, report)
    usd = compare_usd(report.assets, liab, quotes, scale)
    if usd is not None and notes:
        usd = dataclasses.replace(usd, left_out=usd.left_out + tuple(notes))
    return usd


async def _quotes(ctx: _Context, report: ScanReport) -> tuple[dict, list[str]]:
    """USD prices at the snapshot, one per asset, each naming its source and time (prices.py), read at
    the snapshot block of each network the scan read; and what the price book has to say."""
    from .prices import Snapshot, load_price_config, price_book, published_prices

    opts = ctx.opts
    if not opts.prices:
        return {}, []
    heights: dict[str, int] = {}
    for a in report.assets:
        for n in a.networks:
            for b in n.blocks:
                if b.at_snapshot:
                    heights.setdefault(n.network, b.number)
    config = load_price_config(Path(opts.price_config) if opts.price_config else None)
    book = await price_book([a.asset for a in report.assets], Snapshot(heights=heights), config,
                            published=published_prices(ctx.liabilities), networks=ctx.networks,
                            precedence=opts.prices)
    notes = [f"price source: {n}" for n in book.notes]
    return dict(book.quotes), notes


# --------------------------------------------------------------------------------------- ratios

def _ratios(totals: list[AssetTotal], liab) -> tuple[list[RatioRecord], dict[str, dict]]:
    """Per asset: liabilities (coin units only), proven and with-unproven ratios, side by side."""
    from .ratios import reserve_ratios

    per_asset = [t for t in totals if t.network == "*"]
    proven = {t.asset: t.proven for t in per_asset}
    unproven = {t.asset: exact_sum((t.owner_only, t.key_only, t.unverified)) for t in per_asset}
    by_asset = {t.asset: t for t in per_asset}
    info: dict[str, dict] = {}
    out: list[RatioRecord] = []

    def record(asset: str, liabilities: Decimal | None, proven_ratio: Decimal | None,
               with_unproven_ratio: Decimal | None, provenance: str) -> RatioRecord:
        t = by_asset.get(asset)  # None: no reserve row names the asset (its reserves are none: 0)
        unread = t is not None and t.nothing_read  # reserves unknown, never zero
        mine, theirs = proven.get(asset, Decimal(0)), unproven.get(asset, Decimal(0))
        return RatioRecord(asset=asset, liabilities=liabilities, proven_reserves=None if unread else mine,
                           with_unproven_reserves=None if unread else EXACT.add(mine, theirs),
                           proven_ratio=proven_ratio, with_unproven_ratio=with_unproven_ratio, provenance=provenance,
                           coverage=None if t is None else coverage_of(t.rows_read, t.rows_expected),
                           rows_read=None if t is None else t.rows_read,
                           rows_expected=None if t is None else t.rows_expected)

    if liab is None:
        for t in per_asset:
            out.append(record(t.asset, None, None, None, "none"))
        return out, info
    items = liab.by_asset()
    unread = {t.asset: f"unread: none of its {t.rows_expected} row(s) could be read on chain"
              for t in per_asset if t.nothing_read}
    for r in reserve_ratios(proven, unproven, liab, unread):
        item = items.get(r.asset)
        info[r.asset] = {"amount": r.liabilities, "provenance": r.provenance, "verified": r.verified, "note": r.note,
                         "source": item.source if item is not None else None}
        out.append(record(r.asset, r.liabilities, r.proven_ratio, r.with_unproven_ratio, r.provenance))
    return out, info



# --------------------------------------------------------------------------------------- report

def _report(ctx: _Context, run: RunInfo, agg: Aggregation, totals: list[AssetTotal], ratios: list[RatioRecord],
            liab_by_asset: dict, balance_status: Counter, summary_checks, notes: list[str]) -> ScanReport:
    by_asset_ratio = {r.asset: r for r in ratios}
    assets = []
    for t in totals:
        if t.network != "*":
            continue
        r = by_asset_ratio.get(t.asset)
        lia = liab_by_asset.get(t.asset) or {}
        networks = tuple(Place(network=n.network, coins=tuple(agg.coins_in(n.asset, n.network)), figures=n.figures(),
                               blocks=tuple(Block.from_json(b) for b in n.blocks))
                         for n in totals if n.asset == t.asset and n.network != "*")
        # wallets a third party holds for the exchange (address lists name it), within the totals
        custodians = tuple(Custodian(custodian=name, rows=h["rows"], rows_read=h["rows_read"], published=h["published"],
                                     onchain=h["onchain"] if h["rows_read"] else None)
                           for name, h in sorted(agg.custodians.get(t.asset, {}).items()))
        assets.append(AssetReport(
            asset=t.asset, figures=t.figures(), liabilities=lia.get("amount"),
            # the figure's provenance even when it is not in coin units (no ratio): what stands behind it
            liabilities_provenance=lia.get("provenance") if lia.get("provenance") not in (None, "none") else None,
            liabilities_source=lia.get("source"), liabilities_verified=bool(lia.get("verified")),
            ratio_note=lia.get("note") or ("" if lia else "no liability figure for this asset"),
            proven_ratio=r.proven_ratio if r else None, with_unproven_ratio=r.with_unproven_ratio if r else None,
            networks=networks, custodians=custodians, asset_class=ctx.book.asset_class(t.asset, run.exchange)))
    listed = {a.asset for a in assets}
    for r in ratios:  # liabilities of assets the reserve file does not list: reserves are zero, say so
        if r.asset not in listed and r.liabilities is not None:
            lia = liab_by_asset.get(r.asset, {})
            assets.append(AssetReport(
                asset=r.asset, figures=NO_FIGURES, liabilities=r.liabilities, liabilities_provenance=r.provenance,
                liabilities_source=lia.get("source"), liabilities_verified=bool(lia.get("verified")),
                ratio_note="the reserve file lists no wallet for this asset", proven_ratio=r.proven_ratio,
                with_unproven_ratio=r.with_unproven_ratio, asset_class=ctx.book.asset_class(r.asset, run.exchange)))
    liab = ctx.liabilities
    inputs = [InputFile(role="reserves", path=ctx.opts.given, sha256=ctx.input_sha256, rows=sum(agg.by_status.values()),
                        layout=ctx.head.layout.name, bytes=ctx.head.size)]
    if liab is not None:
        for path, digest in (liab.inputs or ((ctx.opts.liabilities, liab.file_sha256),)):
            inputs.append(InputFile(role="liabilities", path=str(path), sha256=digest, format=liab.format))
    not_at_snapshot = sorted({(n.network, b.number) for a in assets for n in a.networks for b in n.blocks
                              if not b.at_snapshot})
    for network, number in not_at_snapshot:
        notes.append(f"{network}: balances read at block {number}, not at the snapshot height (the chain or "
                     "endpoint cannot answer for a past height)")
    return ScanReport(
        tool_version=__version__,
        run=RunHeader(id=run.id, exchange=run.exchange, status=run.status, started_at=run.started_at,
                      snapshot_date=run.snapshot_date),
        inputs=tuple(inputs), rows=sum(agg.by_status.values()), by_status=dict(sorted(agg.by_status.items())),
        balance_status=dict(sorted(balance_status.items())), assets=tuple(assets),
        liabilities=None if liab is None else LiabilitiesInfo(
            format=liab.format, file=str(ctx.opts.liabilities), sha256=liab.file_sha256, totals=dict(liab.totals),
            warnings=tuple(liab.warnings), proofs=tuple(liab.proofs)),
        summary_block=SummaryBlock(checked=bool(summary_checks), rows=tuple(summary_checks),
                                   mismatches=tuple(c.coin for c in summary_checks if c.status == "mismatch")),
        notes=tuple(notes))


def below(report: ScanReport, min_ratio: Decimal) -> list[str]:
    """Assets whose proven ratio is below ``min_ratio`` (assets with liabilities only): the exact
    figure, not the display rounding."""
    return [a.asset for a in report.assets if a.proven_ratio is not None and a.proven_ratio < min_ratio]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a scan's figures say in one line, and the exit code that goes with it (exitcodes.py)."""

    code: int
    line: str
    below: tuple[str, ...] = ()  # assets whose proven ratio is below the threshold asked for
    incomplete: frozenset[str] = frozenset()  # assets not every row of which was read


def verdict(report: ScanReport, min_ratio: Decimal | None = None, require_signatures: bool = False) -> Verdict:
    """Failed (1) when a check failed on what was read: a row failed or is unreadable, a balance
    mismatched, a fully read asset's proven ratio is below ``min_ratio`` (or, with
    ``require_signatures``, a row publishes none); else incomplete (3) when not every balance was
    read (an outage is not insolvency: a ratio from part of the rows decides nothing); else 0."""
    from ..exitcodes import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK

    incomplete = {a.asset for a in report.assets if not a.complete}
    low = below(report, min_ratio) if min_ratio is not None else []
    v, b = report.by_status, report.balance_status
    failed = [f"{v[k]:,} {what}" for k, what in (("failed", "rows failed ownership"), ("invalid_row", "rows unreadable"))
              if v.get(k)]
    if require_signatures and v.get("unsigned"):
        failed.append(f"{v['unsigned']:,} rows publish no signature")
    if b.get("mismatch"):
        failed.append(f"{b['mismatch']:,} balances differ from the published amount")
    if set(low) - incomplete:
        failed.append(f"proven ratio below {min_ratio} for {', '.join(sorted(set(low) - incomplete))}")
    bad_proofs = report.liabilities.failed_proofs if report.liabilities is not None else ()
    if bad_proofs:
        failed.append(f"{len(bad_proofs)} liabilities proof(s) failed ({bad_proofs[0].file}: {bad_proofs[0].reason[:120]})")
    read, expected = report.rows_read, report.rows_expected
    if failed:
        code, line = EXIT_FAILED, "checks failed: " + "; ".join(failed)
    elif incomplete or b.get("unread") or low:
        code, line = EXIT_INCOMPLETE, (f"incomplete: {read:,} of {expected:,} balances read "
                                       f"({', '.join(sorted(incomplete)) or 'some'} not in full); nothing failed on "
                                       "what was read, and nothing is concluded on what was not")
    else:
        code, line = EXIT_OK, f"all checks held: {read:,} of {expected:,} balances read, every read one as published"
    return Verdict(code, line, below=tuple(low), incomplete=frozenset(incomplete))


CSV_COLUMNS = ("asset", "network", "coins", "published", "onchain", "proven", "owner_only", "key_only", "unverified",
               "unread_published", "difference", "rows", "rows_read", "coverage", "liabilities", "liabilities_provenance",
               "proven_ratio", "with_unproven_ratio", "blocks", "complete")


# added when any asset has a staking split; an asset without one is all liquid (liquid = onchain)
CSV_SPLIT_COLUMNS = ("liquid", "staked", "unbonding", "split_unknown", "split_unknown_rows")


def csv_rows(report: ScanReport) -> list[list[str]]:
    """Per asset and network, the figures of the report as CSV rows (header first): the JSON form's
    texts, so the CSV and the JSON never disagree on a digit."""
    split = any(a.figures.has_split for a in report.assets)
    out = [list(CSV_COLUMNS) + (list(CSV_SPLIT_COLUMNS) if split else [])]
    for a in report.assets:
        asset = a.to_json()
        items = [("*", asset, [])] + [(n["network"], n, n["blocks"]) for n in asset["networks"]]
        for network, d, blocks in items:
            whole = network == "*"
            out.append([a.asset, network, " ".join(d.get("coins", [])),
                        *(str(d.get(k) if d.get(k) is not None else "") for k in CSV_COLUMNS[3:14]),
                        *(str(asset[k] or "") if whole else "" for k in CSV_COLUMNS[14:18]),
                        " ".join(f"{b['number']}{'' if b['at_snapshot'] else '(latest)'}" for b in blocks),
                        "yes" if d.get("complete") else "no: not every row read"]
                       + (_split_cells(d) if split else []))
    return out


def _split_cells(d: Mapping[str, Any]) -> list[str]:
    """CSV_SPLIT_COLUMNS of one JSON place: as the report gives them; without a split, all of onchain liquid."""
    onchain = d.get("onchain")
    if onchain is None:
        return [""] * len(CSV_SPLIT_COLUMNS)
    if "liquid" not in d:
        return [str(onchain), "0", "0", "0", "0"]
    return [str(d.get(k) if d.get(k) is not None else 0) for k in CSV_SPLIT_COLUMNS]

# --------------------------------------------------------------------------------------- dry run

@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """What a run would read on one network."""

    network: str
    kind: str
    rows: int
    coins: Mapping[str, int]  # coin -> rows
    heights: tuple[int | str, ...]  # snapshot heights, then "latest" when some rows have none
    endpoints: tuple[str, ...]  # labels, never URLs
    requests: int | None  # estimated for EVM (reader batches + block and probe calls); None elsewhere
    reads: str = ""  # "at snapshot" or "latest": what the adapter can honour (adapters.reads_at)
    left_out: tuple[str, ...] = ()  # endpoints the config names but cannot be used, and why
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "kind": self.kind, "rows": self.rows, "coins": dict(self.coins),
                "heights": list(self.heights), "endpoints": list(self.endpoints), "requests": self.requests, "reads": self.reads,
                "left_out": list(self.left_out), "warnings": list(self.warnings)}


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What ``--distributed`` queues for ``porscan worker`` processes: a verification job per chunk of
    the file, then, once every row is verified, one balance job per network, which reads and
    checkpoints its slices."""

    verify: int  # verification jobs
    chunk_bytes: int
    slices: Mapping[str, int]  # network -> slices its balance job reads
    slice_rows: int

    def to_json(self) -> dict[str, Any]:
        return {"verify": self.verify, "chunk_bytes": self.chunk_bytes, "slice_rows": self.slice_rows,
                "balances": [{"network": n, "slices": k} for n, k in self.slices.items()]}


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """What ``porscan scan`` would do (``--dry``): computed by the planner the run itself uses."""

    file: str
    sha256: str
    layout: str
    rows: int
    invalid_rows: int
    networks: tuple[NetworkPlan, ...]
    unsupported: tuple[tuple[str, int, str], ...]  # (coin, rows, reason): rows no adapter can read
    liabilities: tuple[str, int] | None  # (format, asset figures)
    db: str  # as shown: password redacted
    jobs: JobPlan | None = None  # with --distributed

    def to_json(self) -> dict[str, Any]:
        return {"schema": "porscan.plan/1", "file": self.file, "sha256": self.sha256, "layout": self.layout,
                "rows": self.rows, "invalid_rows": self.invalid_rows, "networks": [n.to_json() for n in self.networks],
                "unsupported": [{"coin": c, "rows": n, "reason": why} for c, n, why in self.unsupported],
                "liabilities": None if self.liabilities is None else {
                    "format": self.liabilities[0], "assets": self.liabilities[1]},
                "db": self.db, "jobs": None if self.jobs is None else self.jobs.to_json()}


def plan_scan(opts: ScanOptions) -> ScanPlan:
    """What ``porscan scan`` would do, reading nothing on chain and writing nothing: rows per network,
    the adapter and endpoints of each, and the requests a first run would send (EVM: estimated from
    the reader batch sizes; other kinds: per adapter)."""
    from .adapters import reads_at
    from .ingest import RowError, iter_rows

    if opts.distributed:  # refused as the run refuses it, before the file is read
        check_distributed(opts)
    ctx = _load_context(opts, prove=False)
    planner = BalancePlanner(ctx, keep_rows=False)  # the plan's counts are what --dry shows
    invalid = 0
    filters = Filters(opts.coins, opts.networks)
    rows = 0
    for row in iter_rows(opts.file, ctx.head):
        rows += 1
        if isinstance(row, RowError):
            invalid += 1
            continue
        if filters.reason(row.coin, row.network) or status_column_skip(row.status_column):
            continue  # skipped, as verification skips them: never read
        # the planner takes rows as the run stores them; a dry run verifies nothing and needs no amounts
        planner.add(RowRecord(line=row.line, coin=row.coin, network=row.network, address=row.address,
                              snapshot_height=row.snapshot_height, amount_text=row.amount_text,
                              amount_base_units=None, status="planned", scheme="", reason=""))
    plan = planner.finish()
    groups = Counter({key: len(jobs) for key, jobs in plan.groups.items()})
    # a record names a row keyed by its network column by that key already (CoinTargets.read_as)
    unsupported = Counter((r.coin if "@" in r.coin else ctx.key(r.coin, r.network), r.reason) for r in plan.unsupported)
    per: dict[str, dict[str, Any]] = {}
    reader = {"native": int(opts.adapter_options.get("reader_batch", 10000)),
              "token": int(opts.adapter_options.get("token_batch", 5000))}
    for (coin, height), n in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        target = ctx.coins[coin]
        net = ctx.networks[target.network]
        entry = per.setdefault(net.id, {"rows": 0, "coins": {}, "requests": 0, "heights": set()})
        entry["rows"] += n
        entry["coins"][coin] = entry["coins"].get(coin, 0) + n
        entry["heights"].add(height)
        if net.kind == "evm":
            size = reader["token" if target.contract else "native"]
            entry["requests"] += -(-n // size) + 2  # reads + block and probe calls
        else:
            entry["requests"] = None
    networks = []
    for nid in sorted(per):
        e, net = per[nid], ctx.networks[nid]
        snapshot = sorted(h for h in e["heights"] if h is not None)
        networks.append(NetworkPlan(network=nid, kind=net.kind, rows=e["rows"], coins=e["coins"],
                                    heights=tuple(snapshot) + (("latest",) if None in e["heights"] else ()),
                                    endpoints=tuple(ep.label for ep in net.endpoints), requests=e["requests"],
                                    reads=reads_at(net),
                                    left_out=tuple(net.skipped_endpoints),
                                    warnings=tuple(endpoint_warnings(net, snapshot))))
    jobs = None
    if opts.distributed:  # the coordinator's own counts: its chunks, and each network's slice keys
        from .ingest import iter_chunks

        jobs = JobPlan(verify=sum(1 for _ in iter_chunks(ctx.head, opts.chunk_bytes)), chunk_bytes=opts.chunk_bytes,
                       slices={n: len(k) for n, k in sorted(network_slices(plan.groups, ctx.coins, opts.slice_rows).items())},
                       slice_rows=opts.slice_rows)
    liab = ctx.liabilities
    return ScanPlan(file=opts.given, sha256=ctx.input_sha256, layout=ctx.head.layout.name, rows=rows,
                    invalid_rows=invalid, networks=tuple(networks),
                    unsupported=tuple((c, n, why) for (c, why), n in sorted(unsupported.items())),
                    liabilities=None if liab is None else (liab.format, len(liab.liabilities)),
                    db=redact_url(opts.db or default_db()), jobs=jobs)


def endpoint_warnings(net, snapshot_heights: list[int]) -> list[str]:
    """What the configured endpoints cannot do for this read, said before anything is read."""
    if not net.endpoints:
        return [f"{net.id}: no endpoint left (see left out): nothing will be read"]
    if net.kind == "evm" and snapshot_heights and not any(e.archive for e in net.endpoints):
        return [f"{net.id}: no endpoint is marked archive = true; reading at block {snapshot_heights[0]:,} needs "
                "historical state, which full nodes prune: expect these rows unread"]
    return []

