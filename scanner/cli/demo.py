"""``porscan demo``: the main job on a sample exchange funded on local chains."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .args import COUNT
from .common import RichUI, consoles, require_extra, run_async
from .scan import emit

DEMO_HELP = """\
The main job on a sample exchange, end to end, on local chains: starts two anvil chains (standing
for Ethereum and Arbitrum), writes a reserve file signed with porscan's own keys whose snapshot
heights are the local snapshot blocks, funds every address at the snapshot, moves money after it,
writes a liabilities file, then runs `porscan scan` on it with SQLite storage and prints the report.
Bitcoin and Litecoin are read on regtest nodes at their snapshot heights; TRON and Solana rows are
served by FAKE stand-ins (labelled so) and read at the latest block. Rows of a chain whose node is
not installed show up as unread, with their published amounts.

examples:
  porscan demo
  porscan demo --dir /tmp/porscan-demo --html report.html
"""


def add_command(sub, fmt) -> None:
    d = sub.add_parser("demo", help="the main job on a sample exchange on local chains", description=DEMO_HELP,
                       formatter_class=fmt)
    d.add_argument("--dir", metavar="DIR", default=".cache/demo", help="where the sample files, database and reports go")
    d.add_argument("--seed", type=COUNT, default=7, help="key seed of the sample exchange")
    d.add_argument("--html", metavar="PATH", help="HTML report path (default DIR/report.html)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=cmd_demo)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a service manager, `kill`) unwinds like Ctrl-C: the nodes are stopped


def cmd_demo(args: argparse.Namespace) -> int:
    import signal

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _demo(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _demo(args: argparse.Namespace) -> int:
    require_extra("demo")
    from ..devnet.localworld import build_local_exchange
    from ..pipeline.scan import ScanOptions, run_scan

    out, err = consoles()
    folder = Path(args.dir)
    try:
        world = build_local_exchange(folder, seed=args.seed)
    except (RuntimeError, OSError) as exc:
        err.print(f"porscan demo: cannot start the local chains: {exc}", markup=False)
        return EXIT_USAGE
    db = folder / "porscan.db"
    try:
        err.print(f"porscan demo: sample exchange in {folder} (reserves.csv, liabilities.csv, networks.toml, coins.toml)",
                  markup=False)
        opts = ScanOptions(file=str(world.reserves), liabilities=str(world.liabilities), db=str(db),
                           exchange="Sample Exchange", networks_path=str(world.networks), coins_path=str(world.coins),
                           fresh=True)
        ui = RichUI(err, not args.no_progress and err.is_terminal)
        outcome = run_async(run_scan(opts, ui))
        ui.end_stage()
    finally:
        world.stop()
    args.json = str(folder / "report.json")
    args.csv = str(folder / "report.csv")
    args.html = args.html or str(folder / "report.html")
    code = emit(outcome.report, args, out, err, None, db=str(db))
    err.print(f"porscan demo: reports in {args.json}, {args.csv}, {args.html}; database {db} "
              f"(`porscan runs --db {db}`). Exit {code}: 1 = some checks did not hold, as the sample intends.",
              markup=False)
    return code if code != EXIT_FAILED else EXIT_OK
