"""``porscan scan``, ``porscan runs`` and ``porscan report``: the whole job, its history and re-rendering."""

from __future__ import annotations

import argparse
import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..amounts import fmt, shown_fraction
from ..csvcells import row as csv_row
from ..errors import StoreError, UsageError
from ..report_model import ScanReport
from ..exitcodes import EXIT_OK, EXIT_USAGE
from .args import RUN_ID, bounded_int
from .window import window_arg
from .common import (add_db_option, add_display_options, add_network_options, chunk_bytes_arg, consoles, min_ratio_arg,
                     on_input, RichUI, run_async, split_multi, unfinished_run)

SCAN_HELP = """\
The whole job in one command: verify every row's ownership proof, read every balance at the
snapshot heights, sum per asset across chains and set the sums against the liabilities.

Stages: ingest -> verify (all cores) -> balances (every configured adapter, networks in parallel)
-> aggregate per asset and network -> liabilities and reserve ratios -> store -> report.

Every figure says where it comes from and how complete it is:
  proven       on-chain amount of rows whose ownership porscan verified
  owner_only   contract wallets whose owners signed (owner->wallet link not proven)
  key_only     a key signed, the address is not derived from it offline
  unverified   read on chain, ownership not proven (failed, unsigned, unsupported)
  unread       published amount of rows whose balance could not be read (never counted as 0)
  coverage     rows read / rows expected; blocks are named, and a read at the latest block
               instead of the snapshot is labelled so
Ratios are shown twice: proven reserves / liabilities, and with the unproven amounts added.
Liabilities carry their provenance (zk-verified: porscan verified the proof; zk-published: a proof
porscan did not verify; merkle-sum; self-reported).

Balances are read as `porscan balances --help` describes; a Bitcoin node is rolled back to the
snapshot only on an endpoint that sets allow_rollback = true (it empties that node's mempool).

Runs are stored (SQLite by default, PostgreSQL with --db postgresql://...), checkpointed per
chunk: if a scan is interrupted, the same command continues where it stopped (or --resume ID).

examples:
  porscan scan okx_por.csv --liabilities sum_proof_data.json --html report.html
  porscan scan okx_por.csv --dry                      # the plan: rows per network, endpoints, requests
  porscan scan okx_por.csv --db postgresql://porscan@localhost/porscan --min-ratio 1
  porscan scan okx_por.csv --rpc ethereum=http://127.0.0.1:8545 --coin ETH,USDT-ERC20

exit codes: 0 = all checks held on every row;
  1 = a check failed on what was read: a row failed or is unreadable, a balance mismatched, a fully
      read asset's proven ratio is below --min-ratio (or, with --require-signatures, a row publishes
      no signature);
  2 = usage error, unreadable input or database error;
  3 = nothing failed, but not every balance could be read (an endpoint down, a chain porscan cannot
      read yet): the verdict is incomplete, not negative
"""

RUNS_HELP = """\
List stored scans, newest first: id, exchange, status, when, input file and the headline figures.

examples:
  porscan runs
  porscan runs --exchange OKX --db postgresql://porscan@localhost/porscan --json
"""

REPORT_HELP = """\
Show a stored scan again, or write it as JSON, CSV or HTML. Nothing is read on chain.

examples:
  porscan report 12
  porscan report 12 --html report.html --json report.json --csv assets.csv
"""


def add_command(sub, fmt) -> None:
    s = sub.add_parser("scan", help="the whole job: ownership, balances, per-asset totals and reserve ratios",
                       description=SCAN_HELP, formatter_class=fmt)
    s.add_argument("file", metavar="FILE", help="published reserve file (CSV)")
    s.add_argument("--liabilities", metavar="FILE", help="liabilities file (OKX zk-STARK v1 sums, OKX v2 sum proof, "
                   "Binance CexAssetsInfo, Merkle-sum tree, or porscan's simple CSV/JSON)")
    s.add_argument("--liabilities-format", metavar="FMT", help="force the liabilities format instead of detecting it")
    s.add_argument("--zk-verifier", metavar="PATH", help="a zk-por-cli binary to verify OKX v2 sum proofs with (their "
                   "circuit digest is checked without it; the proof itself is then not_verified)")
    s.add_argument("--usd-scale", type=bounded_int(0, 30), metavar="N", help="OKX zk liabilities are USD integers at a "
                   "scale the proof does not state: they are USD x 10^N (see also --usd-total)")
    s.add_argument("--usd-total", type=usd_amount, metavar="USD", help="the exchange's published USD liabilities total: "
                   "the scale is the power of ten that turns the proof's total into it (within 1%%)")
    s.add_argument("--prices", type=price_sources, default=("published",), metavar="LIST",
                   help="USD price sources in order of preference: oracle (a Chainlink-style feed read at the "
                        "snapshot block; needs an archive endpoint), http-api (a historical price API), published "
                        "(the liabilities file's own prices); comma-separated (default: published; none = no USD)")
    s.add_argument("--price-config", metavar="PATH", help="price feeds and APIs (default: the config folder's "
                   "price_feeds.toml)")
    s.add_argument("--db", metavar="URL", help="where runs are stored: a SQLite path or sqlite:///path, or "
                   "postgresql://user@host/db (default: $PORSCAN_DB or ~/.local/share/porscan/porscan.db)")
    add_shared_limits(s)
    s.add_argument("--exchange", metavar="NAME", help="exchange label for the run (default: guessed from the file name)")
    s.add_argument("--snapshot-date", metavar="YYYY-MM-DD", help="snapshot date to tag the run with")
    s.add_argument("--resume", type=RUN_ID, metavar="RUN_ID", help="continue this interrupted run")
    s.add_argument("--fresh", action="store_true", help="start a new run even if an unfinished one has the same inputs")
    s.add_argument("--coin", action="append", metavar="COIN", help="only these coin keys (repeat or comma-separate)")
    s.add_argument("--network", action="append", metavar="NET", help="only rows of these networks (file labels)")
    s.add_argument("--workers", type=bounded_int(1, 4096), metavar="N", help="verification processes (default: all cores)")
    s.add_argument("--require-signatures", action="store_true",
                   help="count rows that publish no signature ('unsigned') as failures for the exit code")
    s.add_argument("--chunk-bytes", type=chunk_bytes_arg, default=1 << 20, metavar="B",
                   help="input bytes per checkpointed chunk (default 1 MiB, at least 1024)")
    s.add_argument("--slice-rows", type=bounded_int(1, 10**9), default=50_000, metavar="N", help="rows per checkpointed balance read")
    s.add_argument("--distributed", action="store_true", help="queue the run's jobs in the PostgreSQL store (--db) for "
                   "`porscan worker` processes on any machines, wait for them and aggregate (see porscan worker --help)")
    add_network_options(s, " per group")
    s.add_argument("--dry", action="store_true", help="print the plan (rows per network, adapters, endpoints, "
                   "requests expected) and stop; nothing is read on chain or stored")
    s.add_argument("--json", metavar="PATH", help='write the report as JSON ("schema": "porscan.scan/1"); with --dry, the plan '
                   '("porscan.plan/1")')
    s.add_argument("--csv", metavar="PATH", help="write per-asset and per-network figures as CSV")
    s.add_argument("--html", metavar="PATH", help="write a standalone HTML report with charts")
    s.add_argument("--min-ratio", metavar="X", help="exit 1 when an asset's proven ratio is below X (e.g. 1.0)")
    s.add_argument("--window", type=window_arg, metavar="W", help="after the figures, the snapshot window: each wallet's "
                   "balance W blocks (100) or W time (6h, 3d) before and after its snapshot height, and what was there "
                   "only around the snapshot (see `porscan window --help`)")
    s.add_argument("--window-top", type=bounded_int(1, 10_000), default=10, metavar="N",
                   help="wallets named per asset in the window (default 10)")
    add_display_options(s, "no progress bars")
    s.set_defaults(func=cmd_scan)

    r = sub.add_parser("runs", help="list stored scans", description=RUNS_HELP, formatter_class=fmt)
    add_db_option(r)
    r.add_argument("--exchange", metavar="NAME", help="only this exchange's runs")
    r.add_argument("--limit", type=bounded_int(1, 10**6), default=50, metavar="N")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="show or export a stored scan", description=REPORT_HELP, formatter_class=fmt)
    p.add_argument("run_id", type=RUN_ID, metavar="RUN_ID")
    add_db_option(p)
    p.add_argument("--json", metavar="PATH", help="write the stored report as JSON")
    p.add_argument("--csv", metavar="PATH", help="write per-asset and per-network figures as CSV")
    p.add_argument("--html", metavar="PATH", help="write the standalone HTML report")
    p.add_argument("--min-ratio", metavar="X", help="exit 1 when an asset's proven ratio is below X")
    p.set_defaults(func=cmd_report)


def price_sources(text: str) -> tuple[str, ...]:
    from ..pipeline.prices import SOURCE_KINDS

    if text.strip().lower() == "none":
        return ()
    kinds = tuple(k.strip().lower() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in SOURCE_KINDS]
    if bad or not kinds or len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of distinct {', '.join(SOURCE_KINDS)} (or none)")
    return kinds


def usd_amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a USD amount") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive USD amount")
    return value


def cmd_scan(args: argparse.Namespace) -> int:
    out, err = consoles()
    ok, min_ratio = min_ratio_arg(args.min_ratio, err)
    if not ok:
        return EXIT_USAGE
    shared_limits_db(args)  # before anything is read
    return on_input("scan", args, lambda a, source: _scan(a, source, out, err, min_ratio))


def _scan(args: argparse.Namespace, source, out, err, min_ratio: Decimal | None) -> int:
    from ..pipeline.fleet_limits import run_limited
    from ..pipeline.scan import ScanOptions, plan_scan, run_scan

    options = {"force_strategy": args.strategy, "cross_check": args.cross_check}
    opts = ScanOptions(file=source.path, source=source.original, liabilities=args.liabilities, liabilities_format=args.liabilities_format,
                       zk_verifier=args.zk_verifier, usd_scale=args.usd_scale, usd_total=args.usd_total,
                       prices=args.prices, price_config=args.price_config,
                       db=args.db, exchange=args.exchange, snapshot_date=args.snapshot_date, resume=args.resume,
                       fresh=args.fresh, networks_path=args.config, coins_path=args.coins, rpc=tuple(args.rpc),
                       coins=split_multi(args.coin), networks=split_multi(args.network, "--network"), workers=args.workers,
                       chunk_bytes=args.chunk_bytes, slice_rows=max(1, args.slice_rows), adapter_options={k: v for k, v in options.items() if v},
                       distributed=args.distributed)
    if opts.distributed:  # the same run, its jobs done by `porscan worker` processes (pipeline/distributed/)
        from ..pipeline.distributed.coordinator import run_distributed as run_scan
    if args.window is not None:  # read after the aggregate stage (pipeline/window.py)
        from dataclasses import replace

        opts = replace(opts, window=args.window.text, window_top=args.window_top)
    if args.dry:
        plan = plan_scan(opts)
        from ..report.terminal import render_plan

        if args.json:  # the plan as data (schema porscan.plan/1): what a run of these options would read
            try:
                Path(args.json).write_text(json.dumps(plan.to_json(), indent=1) + "\n")
            except OSError as exc:
                err.print(f"porscan: cannot write output: {exc}", markup=False)
                return EXIT_USAGE
        render_plan(plan, out)
        return EXIT_OK
    ui = RichUI(err, not (args.no_progress or args.quiet) and err.is_terminal)
    outcome = run_async(run_limited(run_scan(opts, ui), shared_limits_db(args)))
    ui.end_stage()
    return emit(outcome.report, args, out, err, min_ratio, db=opts.db)


def add_shared_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shared-limits", action="store_true", help="hold each endpoint's requests_per_second and "
                   "concurrency together with every other porscan process using the same --db (PostgreSQL only)")


def shared_limits_db(args: argparse.Namespace) -> str | None:
    """With ``--shared-limits``: the PostgreSQL store the fleet's limits live in (a UsageError otherwise)."""
    if not getattr(args, "shared_limits", False):
        return None
    from ..pipeline.scan import default_db

    db = args.db or default_db()
    if not db.startswith(("postgres://", "postgresql://")):
        raise UsageError("--shared-limits needs a PostgreSQL --db (postgresql://...): the fleet's limits live there")
    return db


async def _every_failure(store, run_id: int) -> list:
    """All of a run's failures, by line, read in pages (the stored report lists the first ones)."""
    out: list = []
    while True:
        page = await store.failures(run_id, limit=FAILURE_PAGE, offset=len(out))
        out.extend(page)
        if len(page) < FAILURE_PAGE:
            return out


FAILURE_PAGE = 20_000


def emit(report: ScanReport, args, out, err, min_ratio: Decimal | None, db: str | None = None) -> int:
    from ..pipeline.scan import csv_rows
    from ..report.terminal import render_scan

    try:
        if args.json:
            full = report
            if report.failures is not None and len(report.failures.rows) < report.failures.total:
                # the JSON file lists every row to look at, however many; the stored report the first ones
                full = report.with_failures(run_async(_with_store(db, lambda s: _every_failure(s, report.run.id))))
            Path(args.json).write_text(json.dumps(full.to_json(), indent=1) + "\n")
        if args.csv:
            with open(args.csv, "w", newline="") as fh:
                csv.writer(fh).writerows(csv_row(r) for r in csv_rows(report))
        if args.html:
            from ..report.html import render_html

            Path(args.html).write_text(render_html(report.to_json()))
    except OSError as exc:
        err.print(f"porscan: cannot write output: {exc}", markup=False)
        return EXIT_USAGE
    if getattr(args, "quiet", False):
        assets = ", ".join(f"{a.asset} {fmt(shown_fraction(a.proven_ratio)) if a.proven_ratio is not None else '-'}"
                           for a in report.assets)
        out.print(f"run {report.run.id}: proven ratios: {assets or 'none'}", markup=False)
    else:
        render_scan(report, out)
    return scan_exit_code(report, min_ratio, getattr(args, "require_signatures", False), err)


def scan_exit_code(report: ScanReport, min_ratio: Decimal | None, require_signatures: bool = False, err=None) -> int:
    """1 when a check failed on what was read (a row failed or is unreadable, a balance mismatched, a
    complete asset's proven ratio is below ``min_ratio``); else 3 when reads are incomplete (an
    outage is not insolvency: a ratio from part of the rows decides nothing); else 0."""
    from ..pipeline.scan import verdict

    v = verdict(report, min_ratio, require_signatures)
    if v.below and err is not None:
        err.print(f"porscan: proven ratio below {min_ratio} for {', '.join(v.below)}"
                  + (" (from incomplete reads)" if set(v.below) <= v.incomplete else ""), markup=False)
    return v.code


async def _with_store(db: str | None, fn):
    from ..pipeline.scan import default_db
    from ..storage import open_store

    store = await open_store(db or default_db(), create=False)  # runs/report only read
    try:
        return await fn(store)
    finally:
        await store.close()


def cmd_runs(args: argparse.Namespace) -> int:
    out, err = consoles()
    runs = run_async(_with_store(args.db, lambda s: s.list_runs(args.exchange, args.limit)))
    if args.json:
        print(json.dumps([_run_json(r) for r in runs], indent=1))
        return EXIT_OK
    from ..report.terminal import render_runs

    render_runs(runs, out)
    return EXIT_OK


def _run_json(r) -> dict:
    return {"id": r.id, "exchange": r.exchange, "status": r.status, "started_at": r.started_at,
            "finished_at": r.finished_at, "input_path": r.input_path, "input_sha256": r.input_sha256,
            "liabilities_path": r.liabilities_path, "snapshot_date": r.snapshot_date, "tool_version": r.tool_version}


def cmd_report(args: argparse.Namespace) -> int:
    out, err = consoles()
    ok, min_ratio = min_ratio_arg(args.min_ratio, err)
    if not ok:
        return EXIT_USAGE
    run = run_async(_with_store(args.db, lambda s: s.get_run(args.run_id)))
    if run.damaged:
        raise StoreError(run.damaged)
    if run.status != "done" or not run.summary:  # one line through the one handler (rich wrapped it at 80)
        raise unfinished_run(run)
    return emit(ScanReport.from_json(run.summary), args, out, err, min_ratio, db=args.db)
