"""``porscan window RUN_ID --window W``: the snapshot window of a stored run, shown and stored in its report."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from ..errors import UsageError
from ..exitcodes import EXIT_INCOMPLETE, EXIT_OK
from .args import RUN_ID, bounded_int
from .common import add_db_option, add_network_options, consoles, run_async, unfinished_run

WINDOW_HELP = """\
Is a reserve there only around the snapshot? For every wallet of a stored run read at its snapshot
height H, the balance at H - w and at H + w is read with the same adapters the scan used (b0 is the
run's stored balance at H). Per asset:
  window-dressed   present at H, absent on both sides: b0 - max(b-, b+)
  arrived before   arrived within w before H: b0 - b-
  left after       left within w after H: b0 - b+
with the blocks read per network and the wallets behind it (top N by dressed amount). A wallet whose
balance could not be read on a side (an endpoint error, H + w beyond the chain head) is counted as
unread with the reason, never as 0. Networks whose adapter cannot read at a past height (Solana,
TRON without balance history) are listed, not read.

W is blocks (100) or a duration (90s, 30m, 6h, 3d, 1w). A duration becomes heights per network: on
EVM and Bitcoin Core/Knots endpoints from block timestamps (binary search), on other Bitcoin-family
endpoints by the coin's block interval (said to be an approximation); other kinds need W in blocks.

The window is written into the run's stored report (`porscan report RUN_ID` shows it, the grade's
window criterion measures it) unless --no-store. Give the same --config/--coins/--rpc as the scan.
`porscan scan ... --window W` does the same at the end of a scan.

examples:
  porscan window 12 --window 3d
  porscan window 12 --window 100 --top 20 --json
  porscan window 12 --window 6h --config networks.toml --rpc ethereum=https://archive.example/${KEY}

exit codes: 0 = every wallet read on both sides; 2 = usage or database error; 3 = some wallets not read
on a side (or on networks not readable at a past height): the figures cover the wallets read
"""


def window_arg(text: str):
    from ..pipeline.window import parse_window

    try:
        return parse_window(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_command(sub, fmt) -> None:
    p = sub.add_parser("window", help="snapshot window of a stored run: reserves present only around the snapshot",
                       description=WINDOW_HELP, formatter_class=fmt)
    p.add_argument("run_id", type=RUN_ID, metavar="RUN_ID")
    p.add_argument("--window", type=window_arg, required=True, metavar="W",
                   help="blocks (100) or a duration (90s, 30m, 6h, 3d, 1w) on each side of the snapshot height")
    add_db_option(p)
    p.add_argument("--top", type=bounded_int(1, 10_000), default=10, metavar="N",
                   help="wallets named per asset, by window-dressed amount (default 10)")
    p.add_argument("--json", action="store_true", help="print the window as JSON (porscan.window/1) instead of text")
    p.add_argument("--no-store", action="store_true", help="do not write the window into the run's stored report")
    add_network_options(p, " per group")
    p.set_defaults(func=cmd_window)


async def _window(args: argparse.Namespace):
    from ..config.networks import NetConfigError, load_coins, load_networks, with_overrides
    from ..pipeline.scan import default_db
    from ..pipeline.window import window_of_run, with_window
    from ..report_model import ScanReport
    from ..storage import open_store

    try:
        networks = with_overrides(load_networks(Path(args.config) if args.config else None), list(args.rpc))
        coins = load_coins(Path(args.coins) if args.coins else None)
    except NetConfigError as exc:
        raise UsageError(str(exc)) from exc
    store = await open_store(args.db or default_db(), create=False)
    try:
        run = await store.get_run(args.run_id)
        if run.status != "done" or not run.summary:
            raise unfinished_run(run, " first")
        options = {k: v for k, v in (("force_strategy", args.strategy), ("cross_check", args.cross_check)) if v}
        window = await window_of_run(store, run.id, args.window, coins, networks, top_n=args.top,
                                     adapter_options=options)
        if not args.no_store:
            # the run's report with the window (and the grade it changes); the run keeps its finishing instant
            report = with_window(ScanReport.from_json(run.summary), window)
            finished = datetime.fromisoformat(run.finished_at) if run.finished_at else None
            await store.finish_run(run.id, "done", report.to_json(), finished)
        return window
    finally:
        await store.close()


def cmd_window(args: argparse.Namespace) -> int:
    out, _err = consoles()
    window = run_async(_window(args))
    if args.json:
        print(json.dumps(window.to_json(), indent=1))
    else:
        from ..report.window import render_window

        render_window(window, out)
    complete = all(a.complete for a in window.assets) and not window.not_readable
    return EXIT_OK if complete else EXIT_INCOMPLETE
