"""``porscan backfill``: past rounds from a list, each scanned as a stored run unless already stored."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exitcodes import EXIT_USAGE
from .args import bounded_int
from .common import add_network_options, run_async
from .scan import add_shared_limits

BACKFILL_HELP = """\
Scan past proof-of-reserves rounds from a list, each as a stored run (as `porscan scan` stores it),
skipping every round the store already holds a finished run of: same exchange, same input file and
liabilities (by SHA-256), same options and config. Run it again after adding rounds: only the new ones
are scanned.

The list is TOML or CSV. Fields: exchange, round (the snapshot date, YYYY-MM-DD), file (the reserve
file: a path relative to the list, or an https:// URL, downloaded once into --cache with TLS verified;
${VAR} in it is read from the environment and never shown), liabilities (optional, same forms) and
options (optional: coin, network, liabilities_format, usd_scale, usd_total, prices).

  # rounds.toml                          # rounds.csv
  [[round]]                              exchange,round,file,liabilities,options
  exchange = "OKX"                       OKX,2024-06-01,okx_2024-06.csv,sums.json,coin=BTC;usd_scale=2
  round = 2024-06-01
  file = "okx_2024-06.csv"
  liabilities = "sums.json"
  options = { coin = ["BTC"], usd_scale = 2 }

Every bad entry is named (file, line or round[i], field) before anything runs. A round that fails
does not stop the others; the last line sums them up.

examples:
  porscan backfill rounds.toml --db postgresql://porscan@localhost/porscan
  porscan backfill rounds.csv --db postgresql://porscan@db/porscan --distributed   # `porscan worker`s scan

exit codes: 0 = every round done or already stored, every check held; 1 = a check failed in a round;
  2 = a bad list, or a round that could not be scanned (its input, the database); 3 = a round's reads
  are incomplete (and nothing worse)
"""


def add_command(sub, fmt) -> None:
    b = sub.add_parser("backfill", help="scan past rounds from a list, skipping those already stored",
                       description=BACKFILL_HELP, formatter_class=fmt)
    b.add_argument("list", metavar="LIST", help="the rounds: a .toml or .csv file")
    b.add_argument("--db", metavar="URL", help="where runs are stored (default: $PORSCAN_DB or "
                   "~/.local/share/porscan/porscan.db)")
    b.add_argument("--distributed", action="store_true", help="send each round to the job queue that "
                   "`porscan worker` processes serve (PostgreSQL --db; input paths the same on every machine)")
    add_shared_limits(b)
    b.add_argument("--cache", metavar="DIR", help="folder for downloaded inputs (default: ~/.cache/porscan/backfill)")
    b.add_argument("--workers", type=bounded_int(1, 4096), metavar="N", help="verification processes (default: all cores)")
    add_network_options(b, " per round")
    b.add_argument("--quiet", action="store_true", help="only the summary line")
    b.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    from ..pipeline.backfill import BackfillListError, Settings, backfill, check_distributed, load_list
    from ..pipeline.scan import ScanOptions, default_db
    from ..pipeline.fleet_limits import run_limited
    from .scan import shared_limits_db

    try:
        rounds = load_list(args.list)
    except BackfillListError as exc:  # one line per bad entry, nothing run
        for problem in exc.problems:
            print(f"porscan backfill: {problem}", file=sys.stderr)
        return EXIT_USAGE
    db = args.db or default_db()
    if args.distributed:
        check_distributed(db)
    limits_db = shared_limits_db(args)
    options = {"force_strategy": args.strategy, "cross_check": args.cross_check}
    base = ScanOptions(file="", networks_path=args.config, coins_path=args.coins, rpc=tuple(args.rpc),
                       workers=args.workers, adapter_options={k: v for k, v in options.items() if v})
    cache = Path(args.cache) if args.cache else Path.home() / ".cache" / "porscan" / "backfill"
    settings = Settings(db=db, cache=cache, base=base, distributed=args.distributed)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    summary = run_async(run_limited(backfill(rounds, settings, say), limits_db))
    n = summary.counts()
    print(f"backfill: {len(rounds)} rounds: {n['done']} scanned, {n['skipped']} already stored, {n['failed']} failed",
          flush=True)
    return summary.exit_code
