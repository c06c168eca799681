"""``porscan overlap``: addresses claimed by more than one entity, and the amounts counted twice."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..amounts import fmt
from ..errors import UsageError
from ..exitcodes import EXIT_FAILED, EXIT_OK
from .args import RUN_ID, bounded_int
from .common import add_db_option, consoles, run_async

OVERLAP_HELP = """\
Addresses claimed by more than one entity at about the same time: the stored runs of different
exchanges (and imported lists) that count one address count its balance twice.

Addresses are compared in their network normal form (EVM and bech32 lower-case) on the same
network. Two runs overlap when their snapshot dates are at most --within days apart; an imported
list matches a run of any date. By default the latest done run of every exchange is compared.

Per address: the entities, runs, assets and the on-chain amount each run counted (its stored
balances). Per pair and asset: the amount counted twice, exact. When the two runs read different
amounts, both are given and the smaller is what was counted twice; a list claims the whole address,
so against a run the run's amount is counted twice. An unread balance is never a zero: it is
counted as unknown.

Lists (--list): a CSV with the header entity,network,address[,asset] (network as porscan names it:
ethereum, bitcoin, tron, ...), or an exchange's published reserve file (NAME=FILE, or the exchange
guessed from the file name).

examples:
  porscan overlap
  porscan overlap --list tether_reserves.csv --within 3 --json overlap.json
  porscan overlap --run 12 --run 15 --list Binance=binance_por.csv

exit codes: 0 = no address is claimed twice; 1 = some are; 2 = usage error or database error
"""


def add_command(sub, fmt_class) -> None:
    p = sub.add_parser("overlap", help="addresses claimed by more than one entity, and the amounts counted twice",
                       description=OVERLAP_HELP, formatter_class=fmt_class)
    add_db_option(p)
    p.add_argument("--run", type=RUN_ID, action="append", metavar="RUN_ID",
                   help="compare these runs (repeat) instead of the latest done run of every exchange")
    p.add_argument("--exchange", action="append", metavar="NAME",
                   help="only the latest done runs of these exchanges (repeat)")
    p.add_argument("--list", action="append", metavar="FILE", default=[],
                   help="an imported list: entity,network,address[,asset] CSV, or [NAME=]a published reserve file")
    p.add_argument("--within", type=bounded_int(0, 36_500), default=7, metavar="DAYS",
                   help="snapshot dates at most this many days apart count as the same time (default 7)")
    p.add_argument("--json", metavar="PATH", help='write the result as JSON ("schema": "porscan.overlap/1")')
    p.set_defaults(func=cmd_overlap)


def _list_arg(spec: str) -> tuple[str | None, str]:
    """``NAME=FILE`` or ``FILE`` (a file whose name holds '=' is taken as it is)."""
    name, sep, path = spec.partition("=")
    if sep and name and "/" not in name and not os.path.exists(spec):
        return name.strip(), path
    return None, spec


async def _runs(store, args) -> list:
    if args.run:
        if args.exchange:
            raise UsageError("give --run or --exchange, not both")
        return [await store.get_run(i) for i in dict.fromkeys(args.run)]
    names = args.exchange or [e.exchange for e in await store.exchanges()]
    runs = []
    for name in dict.fromkeys(names):
        run = await store.latest_run(name)
        if run is not None:
            runs.append(run)
        elif args.exchange:
            raise UsageError(f"no done run of {name!r} in {store.url}")
    return runs


def cmd_overlap(args: argparse.Namespace) -> int:
    from ..pipeline.overlap import find_overlaps, load_claims, read_list
    from .scan import _with_store

    out, err = consoles()
    lists = []
    for spec in args.list:
        entity, path = _list_arg(spec)
        lists.extend(read_list(path, entity))

    async def collect(store):
        runs = await _runs(store, args)
        return runs, await load_claims(store, runs, lists)

    runs, claims = run_async(_with_store(args.db, collect))
    overlap = find_overlaps(claims, args.within)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(overlap.to_json(), indent=1) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc}") from exc
    _render(overlap, runs, out)
    return EXIT_FAILED if overlap.pairs else EXIT_OK


def _render(overlap, runs, out) -> None:
    p = lambda text: out.print(text, markup=False, highlight=False)  # noqa: E731
    compared = ", ".join(f"{r.exchange} (run {r.id}, {r.snapshot_date or r.started_at[:10]})" for r in runs)
    p(f"compared: {compared or 'no stored run'}; snapshots within {overlap.within_days} days")
    if not overlap.pairs:
        p("no address is claimed by more than one entity")
        return
    data = overlap.to_json()
    p(f"{len(data['addresses'])} address(es) claimed by more than one entity:")
    for a in data["addresses"]:
        p(f"  {a['network']} {a['address']}: {', '.join(a['entities'])}")
        for c in a["claims"]:
            amount = c["onchain"] if c["onchain"] is not None else ("listed" if c["run_id"] is None else "unread")
            who = f"{c['entity']} ({c['source']})" if c["run_id"] is not None else c["source"]
            p(f"    {who:<32} {c['asset'] or '*':<8} {amount}  (line {', '.join(map(str, c['lines']))})")
    p("counted twice, per pair and asset:")
    for t in overlap.totals:
        line = (f"  {t.a.entity} ({t.a.label}) / {t.b.entity} ({t.b.label}) {t.asset or '*'}: "
                f"{fmt(t.counted_twice)} at {t.addresses} address(es)")
        if t.differing:
            line += f"; read {fmt(t.a_counted)} vs {fmt(t.b_counted)} ({t.differing} differ: the smaller counted)"
        if t.unknown:
            line += f"; {t.unknown} unread, not counted"
        p(line)
