"""``porscan diff RUN_A RUN_B``: the churn between two stored rounds (addresses added and removed per
asset and network, reserves, liabilities and ratios of both). Nothing is read on chain."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..amounts import fmt, shown_percent
from ..errors import UsageError
from ..exitcodes import EXIT_OK
from ..report_model import PARTIAL_MARK, PARTIAL_NOTE
from .args import RUN_ID
from .common import add_db_option, consoles, run_async, unfinished_run

if TYPE_CHECKING:
    from ..pipeline.diff import Side

DIFF_HELP = """\
Compare two stored scans (two rounds of an exchange's reserve file): per asset and network, the
addresses only in RUN_B (added) and only in RUN_A (removed) with their published amounts, and per
asset the reserves (proven, on-chain), liabilities and proven ratio in both runs and the change.

An address is the same in both runs under its network's normal form: EVM hex in lower case, every
other encoding exactly as written. Both runs must be done.

examples:
  porscan diff 12 15
  porscan diff 12 15 --json churn.json --db postgresql://porscan@localhost/porscan
"""


def add_command(sub, fmt_) -> None:
    p = sub.add_parser("diff", help="addresses added/removed and ratio changes between two stored scans",
                       description=DIFF_HELP, formatter_class=fmt_)
    p.add_argument("run_a", type=RUN_ID, metavar="RUN_A")
    p.add_argument("run_b", type=RUN_ID, metavar="RUN_B")
    add_db_option(p)
    p.add_argument("--json", metavar="OUT", help='write the whole diff, every address, as JSON ("schema": "porscan.diff/1")')
    p.set_defaults(func=cmd_diff)


async def _book(store, run_id: int):
    """A run's wallets, rows and balances read batch by batch and joined by line (both come in line
    order; a dedicated SQL join would save the Python merge, not the reading)."""
    from ..pipeline.diff import AddressBook, join_by_line

    book = AddressBook()
    balances = store.iter_balances(run_id).__aiter__()
    pending: list = []
    exhausted = False
    async for rows in store.iter_rows(run_id):
        if not rows:
            continue
        last = rows[-1].line
        while not exhausted and (not pending or pending[-1].line <= last):
            try:
                pending.extend(await balances.__anext__())
            except StopAsyncIteration:
                exhausted = True
        cut = next((i for i, b in enumerate(pending) if b.line > last), len(pending))
        book.add_all(join_by_line(rows, pending[:cut]))
        pending = pending[cut:]
    return book


async def _load(db: str | None, id_a: int, id_b: int):
    from ..pipeline.diff import RunRef, diff_runs
    from ..report_model import ScanReport
    from .scan import _with_store

    async def work(store):
        runs = [await store.get_run(i) for i in (id_a, id_b)]
        for run in runs:
            if run.status != "done" or not run.summary:
                raise unfinished_run(run)
        reports = [ScanReport.from_json(r.summary) for r in runs]
        books = [await _book(store, r.id) for r in runs]
        refs = [RunRef(id=r.id, exchange=r.exchange, snapshot_date=r.snapshot_date, input_sha256=r.input_sha256)
                for r in runs]
        return diff_runs(refs[0], refs[1], books[0], books[1], reports[0], reports[1])

    return await _with_store(db, work)


def _arrow(a, b, shown=fmt) -> str:
    def one(v):
        return "-" if v is None else shown(v)

    return f"{one(a)} -> {one(b)}"


def _ratio(side: Side | None) -> str:
    """A side's proven ratio as the report shows it, marked when it is from incomplete reads."""
    if side is None or side.proven_ratio is None:
        return "-"
    return shown_percent(side.proven_ratio) + ("" if side.complete else f" {PARTIAL_MARK}")


def cmd_diff(args: argparse.Namespace) -> int:
    out, err = consoles()
    diff = run_async(_load(args.db, args.run_a, args.run_b))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(diff.to_json(), indent=1) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc}") from exc
    p = out.print
    p(f"diff run {diff.a.id} ({diff.a.exchange}, {diff.a.snapshot_date or 'no date'}) -> run {diff.b.id} "
      f"({diff.b.exchange}, {diff.b.snapshot_date or 'no date'})", markup=False)
    if not diff.same_exchange:
        p(f"note: the runs are of different exchanges ({diff.a.exchange} and {diff.b.exchange})", markup=False)
    partial = False
    for x in diff.assets:
        a, b = x.a, x.b
        p(f"{x.asset}: +{x.added} / -{x.removed} addresses, moved in {fmt(x.moved_in)}, out {fmt(x.moved_out)}",
          markup=False)
        p(f"  proven reserves {_arrow(a and a.proven, b and b.proven)}, on-chain {_arrow(a and a.onchain, b and b.onchain)}",
          markup=False)
        partial |= any(side is not None and side.proven_ratio is not None and not side.complete for side in (a, b))
        p(f"  liabilities {_arrow(a and a.liabilities, b and b.liabilities)}, proven ratio "
          f"{_ratio(a)} -> {_ratio(b)}", markup=False)
        for place in x.places:
            if place.added or place.removed:
                unknown = f" ({place.unknown_amounts} amounts unknown)" if place.unknown_amounts else ""
                p(f"  {place.network}: +{len(place.added)} / -{len(place.removed)} "
                  f"(in {fmt(place.moved_in)}, out {fmt(place.moved_out)}){unknown}", markup=False)
    if partial:
        p(PARTIAL_NOTE, markup=False)
    return EXIT_OK
