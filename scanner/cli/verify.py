"""``porscan verify``: ownership proofs of a reserve file, offline."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from ..exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .args import bounded_int
from .common import stdout_console, INPUT_HELP, add_display_options, chunk_bytes_arg, on_input, split_multi, time_columns

if TYPE_CHECKING:
    from ..pipeline.inputs import Input

VERIFY_HELP = """\
Verify the ownership signature of every row of a published reserve file, offline.

Reads OKX's formats (7, 9, 11 and 12 columns, with or without the summary block), HTX's file
(same shape), the auditor CSV (digitalAsset,network,address,signedMessage,...) and address lists
without signatures (Binance's coin,network,address,balance,height), streaming, on all cores.
Gzip and zip files and stdin (-) are unpacked to a temporary file first ($TMPDIR); the report
cites the SHA-256 of the bytes as given. Prints a table per coin and checks the file's own
summary block against the sums of its detail rows.

examples:
  porscan verify okx_por.csv
  curl -sL https://.../binance_por.csv.gz | porscan verify -
  porscan verify okx_por.csv --json report.json --failures-csv failures.csv
  porscan verify okx_por.csv --coin BTC --coin USDT-TRC20 --workers 2

exit codes: 0 = no row failed, 1 = a row failed or could not be read (or, with --require-signatures,
publishes no signature), 2 = usage error or unreadable file
"""



def add_command(sub, fmt) -> None:
    v = sub.add_parser("verify", help="verify ownership signatures of a reserve file (offline)",
                       description=VERIFY_HELP, formatter_class=fmt)
    v.add_argument("file", metavar="FILE", help=INPUT_HELP)
    v.add_argument("--json", metavar="PATH", help='write the full report as JSON ("schema": "porscan.verify/1")')
    v.add_argument("--failures-csv", metavar="PATH", help="write failed and unreadable rows as CSV")
    v.add_argument("--coin", action="append", metavar="COIN", help="only check these coin keys (repeat or comma-separate); other rows are 'skipped'")
    v.add_argument("--network", action="append", metavar="NET", help="only check rows of these networks")
    v.add_argument("--require-signatures", action="store_true",
                   help="count rows that publish no signature ('unsigned') as failures for the exit code")
    v.add_argument("--workers", type=bounded_int(1, 4096), default=None, metavar="N", help="worker processes (default: all cores)")
    v.add_argument("--chunk-bytes", type=chunk_bytes_arg, default=1 << 20, metavar="B",
                   help="bytes of input per work unit (default 1 MiB, at least 1024)")
    add_display_options(v)
    v.set_defaults(func=cmd_verify)



def cmd_verify(args: argparse.Namespace) -> int:
    return on_input("verify", args, _verify)


def _verify(args: argparse.Namespace, source: Input) -> int:
    import dataclasses

    from rich.console import Console

    from ..config.assets import default_book
    from ..pipeline.ingest import IngestError, read_head
    from ..report.checks import (VERIFY_SCHEMA, FailuresCsvWriter, JsonRowsWriter, Tee, input_info, render_verify,
                          tool_info, verify_summary)
    from ..pipeline.verify import Filters, run_verify

    console = stdout_console()
    err = Console(stderr=True, highlight=False)
    try:
        head = read_head(source.path)
    except IngestError as exc:
        err.print(f"porscan verify: {source.relabel(str(exc))}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    try:
        book = default_book()
    except (OSError, ValueError) as exc:
        err.print(f"porscan verify: cannot load asset config: {exc}", markup=False)
        return EXIT_USAGE
    filters = Filters(split_multi(args.coin), split_multi(args.network, "--network"))
    filters.require_a_match(head, source.label)  # before any output is written
    json_sink = failures_sink = None
    try:
        if args.json:
            json_sink = JsonRowsWriter(args.json, VERIFY_SCHEMA, {"tool": tool_info(), "command": "verify"})
        if args.failures_csv:
            failures_sink = FailuresCsvWriter(args.failures_csv)
    except OSError as exc:
        err.print(f"porscan verify: cannot write output: {exc}", markup=False)
        return EXIT_USAGE
    show_progress = not (args.no_progress or args.quiet) and err.is_terminal
    started = time.perf_counter()
    total_bytes = max(1, head.size - head.data_offset)
    try:
        if show_progress:
            from rich.progress import BarColumn, Progress, TextColumn

            # moves while chunks are verified (a chunk of slow rows takes seconds), with an ETA
            progress = Progress(TextColumn("verifying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                TextColumn("{task.fields[rows]:,} rows"), *time_columns(True), console=err)
            task = progress.add_task("verify", total=total_bytes, rows=0)
            counted = {"rows": 0}

            def on_progress(nbytes: int, nrows: int) -> None:
                counted["rows"] += nrows
                progress.update(task, advance=nbytes, rows=counted["rows"])

            with progress:
                outcome = run_verify(head, workers=args.workers, filters=filters, decimals=book.decimals_map(), sink=Tee(json_sink, failures_sink),
                                     want_rows=json_sink is not None, want_failures=failures_sink is not None,
                                     chunk_bytes=args.chunk_bytes, on_progress=on_progress)
        else:
            outcome = run_verify(head, workers=args.workers, filters=filters, decimals=book.decimals_map(), sink=Tee(json_sink, failures_sink),
                                 want_rows=json_sink is not None, want_failures=failures_sink is not None,
                                 chunk_bytes=args.chunk_bytes)
    except OSError as exc:
        if json_sink:
            json_sink.abort()
        err.print(f"porscan verify: {source.relabel(str(exc))}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    elapsed = time.perf_counter() - started
    if source.path != source.original:  # messages name the temporary copy; name what the user gave
        outcome.invalid_samples = [(n, source.relabel(m)) for n, m in outcome.invalid_samples]
        head.summary_errors = [dataclasses.replace(e, path=source.label) for e in head.summary_errors]
    summary = verify_summary(outcome, book)
    info = input_info(outcome, source)
    if json_sink:
        json_sink.close({"input": info, "summary": summary, "elapsed_seconds": round(elapsed, 3)})
    if failures_sink:
        failures_sink.close()
    if args.quiet:
        t = summary["by_status"]
        console.print(f"{outcome.rows} rows: " + ", ".join(f"{k} {v}" for k, v in t.items()), markup=False)
    else:
        render_verify(summary, info, console, elapsed)
    return EXIT_FAILED if outcome.failed(args.require_signatures) else EXIT_OK
