"""The ``porscan`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Sequence

from .. import __version__
from .args import COUNT, bounded_int

if TYPE_CHECKING:
    from ..pipeline.inputs import Input

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

MAIN_HELP = """\
porscan checks an exchange's proof-of-reserves claims instead of trusting them.

An exchange publishes every reserve wallet it holds (a CSV of coin, network, snapshot height,
address, amount and a signed message per address). porscan reads that file and tells you, row
by row, what the signatures really prove, reads the balances on chain at the snapshot heights and
sets them against the exchange's liabilities.

Commands, in the order of the job:
  verify     ownership proofs only, offline
  balances   on-chain balances at the snapshot heights vs the published amounts
  scan       the whole job: verify + balances + per-asset totals + liabilities -> reserve ratios,
             stored and resumable; `porscan runs` lists stored scans, `porscan report ID` shows one
  schedule   the scheduled reserve-ratio job for several exchanges, with alerts (cron, systemd)
  serve      the read-only feed: REST API, /metrics and a dashboard over the stored runs
  demo       the whole job on a sample exchange funded on local chains
  sample     write a signed sample reserve file (porscan's own keys)

Statuses every row can get:
  verified     the signature(s) prove control of the published address
  failed       a check was made and did not hold (the reason says which)
  unsigned     the row publishes no signature: nothing to check (a failure only with --require-signatures)
  key_only     the signature proves a key, but the address is not derived from it offline
  owner_only   owners of a contract wallet / validator signed; the owner->address link needs chain data
  unsupported  porscan has no rule for this scheme or address kind (the reason says which)
  skipped      not checked on purpose (filtered out)
  invalid_row  the row could not be read (file, line and field are named)
"""

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


BALANCES_HELP = """\
Read the balance of every row at its snapshot height and compare it with the published amount,
exactly, in base units (after the coin's decimals).

EVM chains are read through raw JSON-RPC batches: porscan's own reader contract injected with an
eth_call state override at the snapshot block (thousands of addresses per call), Multicall3, or
plain batched calls, chosen per endpoint by a probe. Endpoints, rate limits and API keys (as
${ENV_VAR} references) live in scanner/config/networks.toml; coin keys map to networks and token
contracts in scanner/config/coins.toml. A read that fails is reported as unread, never as zero, and
every figure names the block (number and hash) it was read at.

Bitcoin-family nodes keep only their tip's UTXO set. To read at an older snapshot, porscan asks
Bitcoin Knots for a UTXO dump at that height (dump_dir), or, only on an endpoint that sets
allow_rollback = true, rolls the node back (invalidateblock, scan, reconsiderblock). The rollback
takes the node off the network while it runs and EMPTIES THE NODE'S MEMPOOL: never set it on a node
that relays or mines. It is off unless set per endpoint (scanner/config/networks.toml, docs/bitcoin.md).

examples:
  porscan balances okx_por.csv --coin USDT-ERC20 --json balances.json
  ALCHEMY_API_KEY=... porscan balances okx_por.csv --network ethereum --cross-check 50
  porscan balances reserves.csv --rpc ethereum=http://127.0.0.1:8545

exit codes: 0 = every supported row read and matched, 1 = a mismatch or an unread row, 2 = usage error
"""


def split_multi(values: list[str] | None) -> frozenset[str]:
    """Repeated and comma-separated option values (``--coin A,B --coin C``), upper-case."""
    out: set[str] = set()
    for v in values or []:
        out.update(p.strip().upper() for p in v.split(",") if p.strip())
    return frozenset(out)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="porscan", description=MAIN_HELP, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"porscan {__version__}")
    parser.add_argument("--log-format", choices=["text", "json"], default=None,
                        help="log lines on stderr as text (default) or JSON objects, one per line "
                             "(also $PORSCAN_LOG_FORMAT)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning",
                        help="least severe log level shown (default warning)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser("verify", help="verify ownership signatures of a reserve file (offline)",
                       description=VERIFY_HELP, formatter_class=fmt)
    v.add_argument("file", metavar="FILE", help="published reserve file: CSV, .gz, .zip (one CSV member) or - for stdin")
    v.add_argument("--json", metavar="PATH", help='write the full report as JSON ("schema": "porscan.verify/1")')
    v.add_argument("--failures-csv", metavar="PATH", help="write failed and unreadable rows as CSV")
    v.add_argument("--coin", action="append", metavar="COIN", help="only check these coin keys (repeat or comma-separate); other rows are 'skipped'")
    v.add_argument("--network", action="append", metavar="NET", help="only check rows of these networks")
    v.add_argument("--require-signatures", action="store_true",
                   help="count rows that publish no signature ('unsigned') as failures for the exit code")
    v.add_argument("--workers", type=bounded_int(1, 4096), default=None, metavar="N", help="worker processes (default: all cores)")
    from .scan import chunk_bytes_arg

    v.add_argument("--chunk-bytes", type=chunk_bytes_arg, default=1 << 20, metavar="B",
                   help="bytes of input per work unit (default 1 MiB, at least 1024)")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    v.set_defaults(func=cmd_verify)

    b = sub.add_parser("balances", help="read balances at the snapshot heights and compare with the file",
                       description=BALANCES_HELP, formatter_class=fmt)
    b.add_argument("file", metavar="FILE", help="published reserve file: CSV, .gz, .zip (one CSV member) or - for stdin")
    b.add_argument("--json", metavar="PATH", help='write the full report as JSON ("schema": "porscan.balances/1")')
    b.add_argument("--coin", action="append", metavar="COIN", help="only these coin keys (repeat or comma-separate)")
    b.add_argument("--network", action="append", metavar="NET", help="only rows of these networks (network ids or file labels)")
    b.add_argument("--config", metavar="PATH", help="networks and endpoints (default scanner/config/networks.toml)")
    b.add_argument("--coins", metavar="PATH", help="coin-key map (default scanner/config/coins.toml)")
    b.add_argument("--rpc", action="append", default=[], metavar="NETWORK=URL",
                   help="use this endpoint for a network instead of the configured ones (URL may hold ${ENV_VAR})")
    b.add_argument("--strategy", choices=["state-override-reader", "multicall3", "batched-calls"],
                   help="force one EVM read strategy (default: probe each endpoint)")
    b.add_argument("--cross-check", type=COUNT, default=0, metavar="N",
                   help="re-read N random balances on a second EVM endpoint; an address the two disagree on is unread "
                        "(disputed, both values) unless a third endpoint agrees with one")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    b.set_defaults(func=cmd_balances)

    s = sub.add_parser("sample", help="write a signed sample reserve file (porscan's own keys)",
                       description="Write a realistic sample reserve file in OKX's 11-column layout, signed with "
                                   "porscan's own deterministic keys: EVM EOAs and a contract wallet, TRON, Bitcoin "
                                   "single-key and 2-of-3 multisig, Litecoin, Solana, plus a few bad rows.",
                       formatter_class=fmt)
    s.add_argument("out", metavar="OUT", help="where to write the CSV")
    s.add_argument("--seed", type=COUNT, default=7, help="key seed (default 7)")
    s.add_argument("--clean", action="store_true", help="leave out the deliberately bad rows")
    s.set_defaults(func=cmd_sample)

    from .scan import add_commands

    add_commands(sub, fmt)
    from .service import add_commands as add_feed_commands

    add_feed_commands(sub, fmt)
    return parser


def _on_input(command: str, args: argparse.Namespace, run) -> int:
    """``run(args, source)`` on the command's input as a local file (.gz/.zip/stdin unpacked first);
    an input that cannot be had is one line and exit 2."""
    from ..pipeline.ingest import IngestError
    from ..pipeline.inputs import open_input

    try:
        with open_input(args.file) as source:
            return run(args, source)
    except IngestError as exc:  # the input as given: unreadable, a bad archive, no room for its copy
        print(f"porscan {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_balances(args: argparse.Namespace) -> int:
    return _on_input("balances", args, _balances)


def _balances(args: argparse.Namespace, source: Input) -> int:
    import asyncio
    import json
    from pathlib import Path

    from rich.console import Console

    from ..pipeline.balances import check_balances
    from ..pipeline.ingest import IngestError, iter_rows, read_head
    from ..config.assets import default_book
    from ..config.networks import NetConfigError, check_coins, load_coins, load_networks, with_overrides
    from ..report.checks import render_balances, tool_info

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, highlight=False)
    try:
        head = read_head(source.path)
        networks = with_overrides(load_networks(Path(args.config) if args.config else None), args.rpc)
        coins = load_coins(Path(args.coins) if args.coins else None)
        check_coins(coins, networks, default_book(), Path(args.coins) if args.coins else None)
    except (IngestError, NetConfigError) as exc:
        err.print(f"porscan balances: {source.relabel(str(exc))}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    coin_filter, net_filter = split_multi(args.coin), split_multi(args.network)

    def wanted(row) -> bool:
        if coin_filter and row.coin.upper() not in coin_filter:
            return False
        if net_filter:
            target = coins.get(coins.key_for(row.coin, row.network, head.layout.keyed_by_network))
            names = {row.network.upper()} | ({target.network.upper()} if target else set())
            return bool(names & net_filter)
        return True

    rows = (r for r in iter_rows(source.path, head) if wanted(r))  # streamed: check_balances reads it once
    options = {"force_strategy": args.strategy, "cross_check": args.cross_check}
    show = not (args.no_progress or args.quiet) and err.is_terminal
    try:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            progress = Progress(TextColumn("reading balances"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=err)
            task = progress.add_task("balances", total=None)
            with progress:
                checks, summaries = asyncio.run(check_balances(
                    rows, coins, networks, adapter_options=options, file_heights=head.heights,
                    keyed_by_network=head.layout.keyed_by_network,
                    on_plan=lambda n: progress.update(task, total=n),
                    on_progress=lambda n: progress.update(task, advance=n)))
        else:
            checks, summaries = asyncio.run(check_balances(rows, coins, networks, adapter_options=options,
                                                           file_heights=head.heights,
                                                           keyed_by_network=head.layout.keyed_by_network))
    except NetConfigError as exc:
        err.print(f"porscan balances: {exc}", markup=False)
        return EXIT_USAGE
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    if args.json:
        report = {"schema": "porscan.balances/1", "tool": tool_info(),
                  "input": {"path": source.original, "bytes": head.size, "layout": head.layout.name if head.layout else None,
                            "compressed": source.compressed, "source_sha256": source.source_sha256},
                  "summary": {"rows": len(checks), "by_status": counts},
                  "networks": [summaries[k].as_json() for k in sorted(summaries)],
                  "rows": [c.as_json() for c in checks]}
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.quiet:
        console.print(f"{len(checks)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), markup=False)
    else:
        render_balances(summaries, counts, console)
    bad = counts.get("mismatch", 0) + counts.get("unread", 0) + counts.get("invalid_row", 0)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from ..devnet.sample_exchange import write_sample

    try:
        info = write_sample(args.out, seed=args.seed, with_bad_rows=not args.clean)
    except OSError as exc:
        print(f"porscan sample: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out}: {info['rows']} rows ({info['bad_rows']} deliberately bad)")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    return _on_input("verify", args, _verify)


def _verify(args: argparse.Namespace, source: Input) -> int:
    import dataclasses

    from rich.console import Console

    from ..config.assets import default_book
    from ..pipeline.ingest import IngestError, read_head
    from ..report.checks import (VERIFY_SCHEMA, FailuresCsvWriter, JsonRowsWriter, Tee, input_info, render_verify,
                          tool_info, verify_summary)
    from ..pipeline.verify import Filters, run_verify

    console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
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
    json_sink = failures_sink = None
    try:
        if args.json:
            json_sink = JsonRowsWriter(args.json, VERIFY_SCHEMA, {"tool": tool_info(), "command": "verify"})
        if args.failures_csv:
            failures_sink = FailuresCsvWriter(args.failures_csv)
    except OSError as exc:
        err.print(f"porscan verify: cannot write output: {exc}", markup=False)
        return EXIT_USAGE
    filters = Filters(split_multi(args.coin), split_multi(args.network))
    show_progress = not (args.no_progress or args.quiet) and err.is_terminal
    started = time.perf_counter()
    total_bytes = max(1, head.size - head.data_offset)
    try:
        if show_progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            progress = Progress(TextColumn("verifying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn(), console=err)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from ..logs import setup

    if args.log_format:
        os.environ["PORSCAN_LOG_FORMAT"] = args.log_format  # commands that set their own level keep the format
    setup(args.log_level.upper(), args.log_format)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("porscan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
