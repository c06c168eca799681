"""``porscan schedule`` and ``porscan serve``: the scheduled reserve-ratio job and the feed server."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..exitcodes import EXIT_ALERTS, EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE
from .args import bounded_int

if TYPE_CHECKING:
    import asyncio

SCHEDULE_HELP = """\
Run the scheduled reserve-ratio job described by a TOML config: for every exchange listed, fetch its
reserve and liabilities files (local paths or http(s) URLs: size limit, optional sha256, TLS
verified), skip it when both files are unchanged since its last finished run, else run the whole
scan (stored, tagged with the exchange and snapshot date), then check the alert rules. Alerts go to
the log and to the webhook, once per condition; a resolved condition is announced once too.

With --once: one pass, then exit (for cron or a systemd timer). Without: a pass every --interval.

examples:
  porscan schedule --once /etc/porscan/schedule.toml
  porscan schedule --once schedule.toml --exchange OKX --force
  porscan schedule --check schedule.toml

exit codes: 0 = every exchange scanned or skipped, no alert open; 1 = ran, but an alert is open;
2 = bad config or command line (nothing ran); 3 = an exchange's job failed (unreachable source, bad
checksum, scan error) or a webhook could not be delivered; the other exchanges still ran
"""

SERVE_HELP = """\
Serve the run store read-only: a REST JSON API under /api/v1 (OpenAPI document at
/api/v1/openapi.json), Prometheus metrics at /metrics and a dashboard at /. With --schedule, the
scheduled job runs in the same process every --interval.

Binds 127.0.0.1 by default. A non-loopback --host needs a bearer token: --token-env VAR names the
environment variable holding it (16+ characters); clients send "Authorization: Bearer TOKEN"
(browsers: HTTP Basic, user name porscan or none, the token as password).

examples:
  porscan serve --db postgresql://porscan@localhost/porscan
  porscan serve --schedule /etc/porscan/schedule.toml --interval 6h
  PORSCAN_FEED_TOKEN=... porscan serve --host 0.0.0.0 --port 8080 --token-env PORSCAN_FEED_TOKEN

exit codes: 0 = stopped cleanly (SIGTERM / Ctrl-C), 2 = bad options, config or database
"""


def add_commands(sub, fmt) -> None:
    s = sub.add_parser("schedule", help="the scheduled reserve-ratio job (cron / systemd timer)",
                       description=SCHEDULE_HELP, formatter_class=fmt)
    s.add_argument("config", metavar="CONFIG", help="schedule config (TOML)")
    s.add_argument("--once", action="store_true", help="one pass, then exit with a code for cron/systemd")
    s.add_argument("--check", action="store_true", help="only check the config and print what it lists")
    s.add_argument("--force", action="store_true", help="scan even when the inputs did not change")
    s.add_argument("--exchange", action="append", metavar="NAME", help="only these exchanges (repeat)")
    s.add_argument("--interval", metavar="DURATION", help="time between passes without --once (e.g. 6h; "
                   "default: the config's interval)")
    s.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    s.set_defaults(func=cmd_schedule)

    v = sub.add_parser("serve", help="feed server: REST JSON API, /metrics and a dashboard",
                       description=SERVE_HELP, formatter_class=fmt)
    v.add_argument("--db", metavar="URL", help="run store (default: the schedule config's db, else $PORSCAN_DB or "
                   "~/.local/share/porscan/porscan.db)")
    v.add_argument("--schedule", metavar="CONFIG", help="also run the scheduled job from this config")
    v.add_argument("--interval", metavar="DURATION", help="time between scheduled passes (default: the config's)")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    v.add_argument("--port", type=bounded_int(0, 65535, "a port number"), default=8080, help="port (default 8080; 0 = any free port)")
    v.add_argument("--token-env", metavar="VAR", help="environment variable holding the bearer token")
    v.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    v.set_defaults(func=cmd_serve)


def _logging(quiet: bool) -> None:
    from ..logs import setup

    setup(logging.WARNING if quiet else logging.INFO)


def cmd_schedule(args: argparse.Namespace) -> int:
    import asyncio

    from ..service.schedule.job import load_config, parse_duration, run_pass, schedule_loop, summarize

    _logging(args.quiet)
    cfg = load_config(args.config)
    interval = _interval(args.interval, parse_duration)
    only = set(args.exchange or [])
    unknown = only - {j.name for j in cfg.exchanges}
    if unknown:
        print(f"porscan schedule: --exchange {', '.join(sorted(unknown))}: not in {cfg.path}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"{cfg.path}: {len(cfg.exchanges)} exchange(s); database {_db_label(cfg)}; cache {cfg.cache_dir}; "
              f"webhook {cfg.webhook.display if cfg.webhook else 'none'}")
        for j in cfg.exchanges:
            print(f"  {j.name}: reserves {j.reserves.display}"
                  + (f"; liabilities {j.liabilities.display}" if j.liabilities else "; no liabilities")
                  + ("" if j.enabled else " (disabled)"))
        return EXIT_OK
    if not args.once:
        asyncio.run(_loop(cfg, interval, schedule_loop))
        return EXIT_OK
    result = asyncio.run(run_pass(cfg, force=args.force, only=only or None))
    print(summarize(result))
    return result.exit_code


def _interval(text: str | None, parse_duration) -> float | None:
    """--interval in seconds; zero fell back to the config's interval, silently (``0 or default``)."""
    if text is None:
        return None
    seconds = parse_duration(text, "--interval")
    if seconds <= 0:
        raise UsageError(f"--interval {text!r}: must be longer than 0 (leave it out for the config's interval)")
    return seconds


def _store_key(db: str) -> str:
    """A store named two ways (a relative path, an absolute one, ``sqlite:///``) compares equal."""
    from pathlib import Path

    if db.lower().startswith("sqlite:///"):
        db = db[len("sqlite:///"):] or db
    elif "://" in db:
        return db
    return str(Path(db).expanduser().resolve())


def _db_label(cfg) -> str:
    from chains.secrets import display_url

    return display_url(cfg.db) if cfg.db else "default"


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM (systemd stop) or SIGINT: the service ends cleanly."""
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop


async def _loop(cfg, interval, schedule_loop) -> None:
    await schedule_loop(cfg, interval, stop=_stop_on_signals())


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from ..pipeline.scan import default_db
    from ..service.feed.server import resolve_token, serve
    from ..service.schedule.job import load_config, parse_duration

    _logging(args.quiet)
    cfg = None
    if args.schedule:
        cfg = load_config(args.schedule)
    interval = _interval(args.interval, parse_duration)
    if interval is not None and cfg is None:
        raise UsageError("--interval: serve runs no scheduled job without --schedule; give both or neither")
    token = resolve_token(args.host, args.token_env)
    if not (0 <= args.port <= 65535):
        print(f"porscan serve: --port {args.port} is not a port number", file=sys.stderr)
        return EXIT_USAGE
    db = args.db or (cfg.db_url() if cfg is not None and cfg.db else None) or default_db()
    if cfg is not None:
        # the job must write where the feed reads: with --db and a config naming no db, the job wrote
        # to the default store and the dashboard never showed its runs
        if cfg.db is None:
            cfg = dataclasses.replace(cfg, db=db)
        elif _store_key(cfg.db_url() or "") != _store_key(db):
            from chains.secrets import display_url

            raise UsageError(f"--db {display_url(db)}: the schedule config's db is {display_url(cfg.db)}: the feed "
                             "would not show the job's runs; give the same store (or leave one out)")

    async def run() -> None:
        await serve(db, args.host, args.port, token, schedule=cfg, interval=interval, stop=_stop_on_signals())

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"porscan serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


__all__ = ["add_commands", "EXIT_OK", "EXIT_ALERTS", "EXIT_USAGE", "EXIT_JOB_FAILED"]
