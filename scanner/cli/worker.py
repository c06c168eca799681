"""``porscan worker``: take the jobs of distributed scans (``porscan scan --distributed``) from the store."""

from __future__ import annotations

import argparse
import os

from ..exitcodes import EXIT_OK
from .args import bounded_int
from .common import run_async

WORKER_HELP = """\
Run the jobs of distributed scans: `porscan scan FILE --db postgresql://... --distributed` plans a
run and queues its jobs (verification chunks, each network's balance reads) in the PostgreSQL store; any number
of `porscan worker --db postgresql://...` processes, on any machines, take them until stopped
(SIGTERM or Ctrl-C). The scan aggregates once every job's rows are in the store.

Every machine needs the input file at the same path as the scan was given (a shared or copied
folder), the same --config/--coins files at the same paths and the same endpoints: a worker whose
file or config differs refuses the job, and the run fails naming why.

A worker that dies (even SIGKILL) loses nothing: its jobs are taken by another worker once their
heartbeat is older than --heartbeat-timeout (give every worker the same). A job done twice writes its
rows once; a network's job taken over goes on from its last saved slice.

examples:
  porscan worker --db postgresql://porscan@db.internal/porscan
  porscan worker --db postgresql://porscan@db.internal/porscan --processes 8 --jobs 12
"""


def add_command(sub, fmt) -> None:
    w = sub.add_parser("worker", help="run the jobs of distributed scans (scan --distributed) from PostgreSQL",
                       description=WORKER_HELP, formatter_class=fmt)
    w.add_argument("--db", metavar="URL", help="the PostgreSQL store the scans queue their jobs in "
                   "(default: $PORSCAN_DB)")
    w.add_argument("--processes", type=bounded_int(1, 4096), metavar="N",
                   help="verification processes (default: all cores)")
    w.add_argument("--jobs", type=bounded_int(1, 4096), metavar="N",
                   help="jobs held at once (default: processes + 1, at least 2); chunks are verified --processes at a "
                        "time, networks' balance reads run beside them")
    w.add_argument("--heartbeat-timeout", type=bounded_int(1, 3600, "a number of seconds"), default=30, metavar="S",
                   help="a job whose worker has not been heard of for S seconds is taken by another (default 30)")
    w.add_argument("--shared-limits", action="store_true", help="hold each endpoint's requests_per_second and "
                   "concurrency together with every other porscan process using the same --db (as scan --shared-limits)")
    w.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from ..pipeline.distributed import WorkerOptions
    from ..pipeline.distributed.jobs import run_worker
    from ..pipeline.fleet_limits import run_limited
    from ..pipeline.scan import ScanError, is_postgres

    db = args.db or os.environ.get("PORSCAN_DB") or ""
    if not is_postgres(db):
        raise ScanError("porscan worker needs the PostgreSQL store the scans use: --db postgresql://...")
    processes = args.processes or os.cpu_count() or 1
    options = WorkerOptions(jobs=args.jobs or max(2, processes + 1), heartbeat_seconds=float(args.heartbeat_timeout))
    run_async(run_limited(run_worker(db, processes, options), db if args.shared_limits else None))
    return EXIT_OK
