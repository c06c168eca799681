"""Rendering of results: terminal tables, versioned JSON reports, CSV exports.

JSON reports are streamed: the ``rows`` array is written chunk by chunk as verification goes,
the ``summary`` object last, so a 600k-row report never sits in memory.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from signatures.model import STATUS_ORDER, Status

from .. import __version__
from ..amounts import EXACT, fmt, rounding_slack, to_base_units
from ..config.assets import AssetBook
from ..pipeline.reconcile import check_summary, detail_sums_in_coin_units
from ..pipeline.verify import FAILURE_COLUMNS, RowSink, VerifyOutcome

VERIFY_SCHEMA = "porscan.verify/1"


def verify_summary(outcome: VerifyOutcome, book: AssetBook) -> dict[str, Any]:
    head = outcome.head
    assert head.layout is not None
    base_units = head.layout.amount_in_base_units
    by_coin: dict[str, dict[str, Any]] = {}
    sums: dict[str, tuple[Decimal, int]] = {}
    places: dict[str, dict[int, int]] = defaultdict(dict)
    invalid_by_coin: dict[str, int] = defaultdict(int)
    for (coin, network), t in sorted(outcome.tallies.items()):
        key = coin.upper()
        entry = by_coin.setdefault(key, {"coin": key, "networks": [], "rows": 0,
                                         **{s.value: 0 for s in STATUS_ORDER},
                                         "snapshot_heights": set()})
        if network and network not in entry["networks"]:
            entry["networks"].append(network)
        entry["rows"] += t.rows
        for s, n in zip(STATUS_ORDER, t.counts):
            entry[s.value] += n
        entry["snapshot_heights"] |= t.heights
        for name, (n, amount) in t.custodians.items():
            held = entry.setdefault("custodians", {}).setdefault(name, [0, Decimal(0)])
            held[0] += n
            held[1] = EXACT.add(held[1], amount)
        total, rows = sums.get(key, (Decimal(0), 0))
        sums[key] = (EXACT.add(total, t.amount), rows + t.amount_rows)
        invalid_by_coin[key] += t.counts[STATUS_ORDER.index(Status.INVALID_ROW)]
        for p, n in t.places.items():
            places[key][p] = places[key].get(p, 0) + n
    coin_units = detail_sums_in_coin_units(sums, base_units, book)
    for key, entry in by_coin.items():
        value, rows = coin_units.get(key, (None, 0))
        raw, _ = sums.get(key, (Decimal(0), 0))
        entry["published_amount"] = fmt(value) if value is not None else None
        decimals = book.decimals(key)
        if base_units:
            entry["published_amount_base_units"] = str(int(raw))
        elif decimals is not None and value is not None:
            units = to_base_units(value, decimals)
            entry["published_amount_base_units"] = None if units is None else str(units)
        else:
            entry["published_amount_base_units"] = None
        entry["decimals"] = decimals
        entry["amount_rows"] = rows
        entry["asset"] = book.asset_of(key)
        entry["snapshot_heights"] = sorted(entry["snapshot_heights"])
        # wallets a third party holds for the exchange (address lists name it): one line each
        entry["custodians"] = [{"custodian": name, "rows": n, "published_amount": fmt(amount)}
                               for name, (n, amount) in sorted(entry.get("custodians", {}).items())]
    checks = check_summary(head.summary, coin_units, book, invalid_by_coin,
                           {k: rounding_slack(v) for k, v in places.items()})
    return {
        "rows": outcome.rows,
        "rows_expected": outcome.rows,
        "by_status": outcome.status_totals(),
        "coins": [by_coin[k] for k in sorted(by_coin)],
        "summary_block": [c.to_json() for c in checks],
        "summary_block_errors": [str(e) for e in head.summary_errors],
        "invalid_row_samples": [msg for _, msg in outcome.invalid_samples],
    }


def input_info(outcome: VerifyOutcome, source: Any = None) -> dict[str, Any]:
    """The report's ``input``. ``source`` (a ``scanner.pipeline.inputs.Input``) names the file as the user gave
    it: ``path``, ``bytes`` and ``sha256`` stay those of the CSV read, ``source_sha256`` is of the
    bytes as given (the .gz/.zip/stdin download; the same as ``sha256`` for a plain file)."""
    head = outcome.head
    assert head.layout is not None
    compressed = source.compressed if source is not None else None
    if source is not None and source.source_sha256 is not None:
        source_sha256 = source.source_sha256
    else:  # passed through: the verify pass hashed the very bytes given
        source_sha256 = outcome.sha256 or None
    return {
        "path": source.original if source is not None else head.path,
        "compressed": compressed,
        "source_sha256": source_sha256,
        **({"zip_member": source.member} if source is not None and source.member else {}),
        "bytes": head.size,
        "sha256": outcome.sha256,
        "layout": head.layout.name,
        "amount_unit": "base_units" if head.layout.amount_in_base_units else "coin_units",
        "keyed_by": "network" if head.layout.keyed_by_network else "coin",
        "header_line": head.header_line,
        "summary_rows": len(head.summary),
    }


class JsonRowsWriter(RowSink):
    """Streams ``{"schema":..., "rows":[...], "summary":{...}}`` to a file."""

    def __init__(self, path: str | os.PathLike, schema: str, meta: dict[str, Any]):
        self.path = Path(path)
        # A regular file is written beside and renamed over at the end, so a failed run leaves the
        # old report whole; a device or FIFO (/dev/stdout) is written in place: a rename would
        # replace the device itself with a file.
        self._in_place = self.path.exists() and not self.path.is_file()
        self._tmp = self.path if self._in_place else self.path.with_name(self.path.name + ".part")
        self._fh: IO[bytes] = open(self._tmp, "wb")  # rows arrive UTF-8 encoded from the workers
        head = {"schema": schema, **meta}
        self._fh.write((json.dumps(head, ensure_ascii=False)[:-1] + ',\n"rows":[\n').encode())
        self._first = True

    def rows(self, data: bytes) -> None:
        if not self._first:
            self._fh.write(b",\n")
        self._fh.write(data)
        self._first = False

    def failures(self, text: str) -> None:  # not this sink's business
        pass

    def close(self, tail: dict[str, Any]) -> None:
        self._fh.write(("\n]," + json.dumps(tail, ensure_ascii=False)[1:] + "\n").encode())
        self._fh.close()
        if not self._in_place:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        if not self._in_place:
            self._tmp.unlink(missing_ok=True)


class FailuresCsvWriter(RowSink):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8", newline="")
        self._fh.write(",".join(FAILURE_COLUMNS) + "\n")

    def rows(self, data: bytes) -> None:
        pass

    def failures(self, text: str) -> None:
        self._fh.write(text)

    def close(self) -> None:
        self._fh.close()


class Tee(RowSink):
    def __init__(self, *sinks: RowSink | None):
        self.sinks = [s for s in sinks if s is not None]

    def rows(self, data: bytes) -> None:
        for s in self.sinks:
            s.rows(data)

    def failures(self, text: str) -> None:
        for s in self.sinks:
            s.failures(text)


def render_verify(summary: dict[str, Any], info: dict[str, Any], console, elapsed: float | None = None) -> None:
    from rich.table import Table

    table = Table(title=f"Ownership verification: {info['path']} ({info['layout']}, {summary['rows']} rows)",
                  title_justify="left")
    cols = ["coin", "networks", "rows", "verified", "failed", "unsigned", "key_only", "owner_only", "unsupported",
            "skipped", "invalid_row", "published amount"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("coin", "networks") else "right")
    for e in summary["coins"]:
        amount = e["published_amount"]
        if amount is None:
            amount = f"{e['published_amount_base_units']} base units (decimals unknown)"
        table.add_row(e["coin"], ",".join(e["networks"])[:24], str(e["rows"]),
                      *(_cell(e[k], k) for k in cols[3:-1]), amount or "-")
        for c in e.get("custodians", []):
            table.add_row(f"  held by {c['custodian']}", "", str(c["rows"]), *([""] * (len(cols) - 4)),
                          c["published_amount"])
    totals = summary["by_status"]
    table.add_row("[b]total", "", f"[b]{summary['rows']}", *(_cell(totals[k], k) for k in cols[3:-1]), "")
    console.print(table)
    if summary["summary_block"]:
        st = Table(title="The file's summary block against its detail rows", title_justify="left")
        for c in ("line", "coin", "published", "detail sum", "rows", "check", "note"):
            st.add_column(c)
        for c in summary["summary_block"]:
            colour = {"match": "green", "mismatch": "red"}.get(c["status"], "yellow")
            st.add_row(str(c["line"]), c["coin"], c["published"], c["detail_sum"] or "?", str(c["detail_rows"]),
                       f"[{colour}]{c['status']}", c["note"])
        console.print(st)
    for err in summary["summary_block_errors"]:
        console.print(f"[yellow]summary block: {err}")
    if summary["invalid_row_samples"]:
        console.print("[red]Unreadable rows (first ones):")
        for msg in summary["invalid_row_samples"][:10]:
            console.print(f"  {msg}", markup=False)
    line = (f"{totals['verified']} verified, {totals['failed']} failed, {totals['unsigned']} unsigned, {totals['key_only']} key-only, "
            f"{totals['owner_only']} owner-only, {totals['unsupported']} unsupported, "
            f"{totals['skipped']} skipped, {totals['invalid_row']} invalid")
    if elapsed:
        line += f" in {elapsed:.1f} s ({summary['rows'] / elapsed:,.0f} rows/s)"
    console.print(line, markup=False)


def _cell(n: int, kind: str) -> str:
    if not n:
        return "0"
    colour = {"verified": "green", "failed": "red", "invalid_row": "red", "unsupported": "yellow", "unsigned": "yellow",
              "key_only": "cyan", "owner_only": "cyan"}.get(kind)
    return f"[{colour}]{n}" if colour else str(n)


def tool_info() -> dict[str, str]:
    return {"name": "porscan", "version": __version__}


def render_balances(summaries: dict, counts: dict[str, int], console) -> None:
    from rich.table import Table

    table = Table(title="Balances at the snapshot heights", title_justify="left")
    for c in ("network", "coin", "rows read / expected", "unread", "mismatched", "on-chain total", "published total",
              "blocks", "strategy"):
        table.add_column(c, justify="right" if c in ("unread", "mismatched") else "left")
    for nid in sorted(summaries):
        s = summaries[nid].as_json()
        blocks = ", ".join(f"{b['number']}" + ("" if b["at_snapshot"] else " (latest!)") for b in s["blocks"][:3])
        if not s["coins"]:
            table.add_row(nid, "-", f"{s['rows_read']} / {s['rows_expected']}", str(s["unread"]), str(s["mismatched"]),
                          "-", "-", blocks, "")
        for i, c in enumerate(s["coins"]):
            table.add_row(nid if i == 0 else "", c["coin"], f"{s['rows_read']} / {s['rows_expected']}" if i == 0 else "",
                          str(s["unread"]) if i == 0 else "", str(s["mismatched"]) if i == 0 else "",
                          c["onchain_total"] or c["onchain_total_base_units"] or "— (unread)",
                          c["published_total"] or c["published_total_base_units"],
                          blocks if i == 0 else "", ",".join(s["strategies"]) if i == 0 else "")
    console.print(table)
    for nid in sorted(summaries):
        for note in summaries[nid].notes[:10]:
            console.print(f"  {nid}: {note}", markup=False)
    console.print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no rows", markup=False)
