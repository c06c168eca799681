"""The ``porscan`` command line: the parser (one module per command) and the one error handler."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Sequence

from chains.gcpause import bulk_thresholds

from .. import __version__
from ..errors import PorscanError
from ..exitcodes import EXIT_INTERRUPTED, EXIT_USAGE
from .common import check_output_paths
from . import backfill, balances, bundle, demo, diff, liabilities, overlap, sample, scan, service, verify, window, worker

MAIN_HELP = """\
porscan checks an exchange's proof-of-reserves claims instead of trusting them.

An exchange publishes every reserve wallet it holds (a CSV of coin, network, snapshot height,
address, amount and a signed message per address). porscan reads that file and tells you, row
by row, what the signatures really prove, reads the balances on chain at the snapshot heights and
sets them against the exchange's liabilities.

Commands, in the order of the job:
  verify     ownership proofs only, offline
  balances   on-chain balances at the snapshot heights vs the published amounts
  liabilities verify   the exchange's liabilities proofs (zk-STARK, inclusion, Merkle), by porscan's own code
  scan       the whole job: verify + balances + per-asset totals + liabilities -> reserve ratios,
             stored and resumable; `porscan runs` lists stored scans, `porscan report ID` shows one
  backfill   past rounds from a list scanned as stored runs, rounds already stored skipped
  diff       churn between two stored rounds: addresses added and removed, reserves, liabilities, ratios
  overlap    addresses claimed by more than one exchange (or an imported list) and the amounts counted twice
  window     balances just before and after a stored run's snapshot: what was there at the snapshot only
  bundle     an evidence bundle of a stored run (`bundle RUN OUT.zip`), checked offline (`bundle verify`)
  schedule   the scheduled reserve-ratio job for several exchanges, with alerts (cron, systemd)
  serve      the read-only feed: REST API, /metrics and a dashboard over the stored runs
  worker     run the jobs of distributed scans (scan --distributed) taken from PostgreSQL
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

    for command in (verify, balances, sample, scan, liabilities, demo, diff, overlap, bundle, window, worker, backfill):
        command.add_command(sub, fmt)
    service.add_commands(sub, fmt)
    return parser


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
        check_output_paths(args)
        return args.func(args)
    except PorscanError as exc:  # the one handler: one line naming what was wrong, the code from the table
        print(f"porscan {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("porscan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the system refused a read or write (a full disk, a permission): one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"porscan {args.command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, `kill`, a CI timeout) unwinds like Ctrl-C: temporary copies are
    removed, the store keeps what it has for a resume, and the exit code is the table's 130."""
    if os.getpid() != _MAIN_PID:  # a forked pool worker: end as SIGTERM asks, the main process cleans up
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    # Whatever SIGINT does now: under asyncio.run, cancel the command's task, which unwinds (the run
    # stored as interrupted, the store closed) and then ends in KeyboardInterrupt; elsewhere, raise it.
    # A KeyboardInterrupt raised here instead landed in whichever event-loop task was running (a
    # balance read), stopped the loop there, and printed that task's traceback after "interrupted".
    signal.raise_signal(signal.SIGINT)


_MAIN_PID = 0


def entry() -> int:
    """The process's entry (the ``porscan`` script, ``python -m scanner``): the collector's thresholds
    for bulk work, SIGTERM read as an interrupt, then :func:`main`. Tests call ``main`` in their own
    process and keep theirs."""
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    bulk_thresholds()
    signal.signal(signal.SIGTERM, _terminated)
    return main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
