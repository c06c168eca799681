"""The scan report (``"schema": "porscan.scan/1"``) as one standalone HTML page.

No external scripts, fonts, styles or network: inline CSS and inline SVG charts drawn in Python
(``scanner.report.charts``), so every figure shows with scripting off; a few lines of inline JavaScript only
sort the asset table. A Content-Security-Policy in the page allows that one script (by its hash) and
nothing else, as a second line of defence behind escaping: every string taken from the report is
HTML-escaped, since coin names, paths, reasons and notes come from untrusted published files.

Amounts are decimal strings, formatted exactly (thousands separators, every digit kept). A block
read at the latest height instead of the snapshot is labelled "read at latest block N, not at the
snapshot" wherever it appears; incomplete coverage shows as "9 / 10 rows read (90%)", and a ratio
computed from incomplete reads carries the terminal report's mark ("*") and note.

Screens: every table fits a 1280 px window (long exact amounts may wrap at their decimal point, never
inside the integer part); on a phone (640 px or less) each table row becomes a card with every figure
beside its heading, and each chart has a narrow drawing (``charts.wide_or_narrow``) so its text is
never scaled below ~11 px.

    python -m scanner.report.html scan.json -o report.html

Why one file: one standalone page; its sections share the escaping and number helpers, and the
stylesheet is part of it."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Iterable, Sequence

from ..records import PROVENANCE_NOTES, SELF_REPORTED, ZK_PUBLISHED, ZK_VERIFIED, provenance_name
from . import charts
from .window import window_html
from .charts import (MISSING, PARTIAL_MARK, PARTIAL_NOTE, CoverageItem, Layout, RatioItem, StackRow, esc,
                     format_amount, format_count, format_ratio, is_partial, rows_read_text, to_decimal)

SCHEMA = "porscan.scan/1"

AMOUNT_COLUMNS = (  # (key in an asset / network, column heading)
    ("published", "Published"),
    ("onchain", "On chain"),
    ("proven", "Proven"),
    ("owner_only", "Owner-only"),
    ("key_only", "Key-only"),
    ("unverified", "Unverified"),
    ("unread_published", "Unread (published)"),
    ("difference", "Difference"),
)
# Eight exact amounts of up to 28 characters do not fit one row of a 1280 px window beside the
# ratios: each place gets two tables, the totals and then how the on-chain amount splits by proof.
TOTAL_COLUMNS = tuple(c for c in AMOUNT_COLUMNS if c[0] in ("published", "onchain", "difference"))
SPLIT_COLUMNS = tuple(c for c in AMOUNT_COLUMNS if c not in TOTAL_COLUMNS)

_SORT_JS = """
document.documentElement.setAttribute('data-sortable', 'ready');
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var rows = Array.prototype.slice.call(body.rows);
      function key(r) { var c = r.cells[col]; var v = c.getAttribute('data-v');
        return v === null ? c.textContent : (v === '' ? null : parseFloat(v)); }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null) return 1; if (y === null) return -1;
        var d = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
""".strip()

REPORT_CSS = """
:root { --ok: %(ok)s; --bad: %(bad)s; --warn: %(warn)s; --muted: #666; --line: #e3e3e3; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: #222; background: #f6f7f9; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 10px; }
.verdict { font-size: 1.15em; font-weight: 600; margin: 4px 0 8px; padding: 8px 12px; border-radius: 6px;
           border-left: 6px solid var(--muted); background: rgba(127, 127, 127, .08); overflow-wrap: anywhere; }
.verdict.ok { border-left-color: #1a7f37; } .verdict.failed { border-left-color: #cf222e; }
.verdict.incomplete { border-left-color: #bf8700; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.cards .card { flex: 1 1 150px; }
.cards .big { font-size: 20px; font-weight: 600; }
.cards .small { color: var(--muted); font-size: 12px; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 14px; }
.grid2 > * { min-width: 0; }
table + .grid2, .partial-note + .grid2, table + h3.split { margin-top: 14px; }
table.assets-split, table.networks-split { font-size: 13px; }
table.networks + table.networks-split { margin-top: 6px; }
@media (max-width: 1180px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; width: 100%%; }
th, td { padding: 4px 7px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
td.text, table.liabilities td { overflow-wrap: anywhere; }  /* free text: a long unbroken run wraps */
th { background: #eef0f3; font-weight: 600; }
h3.split { font-size: 13px; font-weight: 600; color: var(--muted); margin: 10px 0 4px; }
table.sortable th { cursor: pointer; }
table.assets, table.networks { font-size: 13px; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12px; word-break: break-all; }
.neg { color: var(--bad); }
.nowrap { white-space: nowrap; }
.below { color: var(--bad); font-weight: 600; }
.above { color: var(--ok); font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; font-weight: 600;
         border: 1px solid; white-space: nowrap; }
.badge.zk { color: #0b6b32; border-color: #0b6b32; background: #e8f6ee; }
.badge.self { color: #8a5a00; border-color: #c58a00; background: #fff5dc; }
.badge.none, .badge.other { color: #555; border-color: #aaa; background: #f2f2f2; }
.latest { color: #8a3b00; background: #fff1e0; border: 1px solid #f0b27a; border-radius: 4px; padding: 0 5px;
          font-weight: 600; -webkit-box-decoration-break: clone; box-decoration-break: clone; }
.incomplete { color: #8a5a00; font-weight: 600; }
.alerts { list-style: none; padding: 0; margin: 10px 0; }
.alerts li { background: #fff4e5; border-left: 4px solid var(--warn); padding: 6px 10px; margin: 4px 0; }
.alerts li.bad { background: #fdecea; border-left-color: var(--bad); }
ul.notes li { margin: 3px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 8px; font-size: 12px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
svg.chart { max-width: 100%%; height: auto; display: block; }
.chart-narrow { display: none; }
.partial-note { color: #8a5a00; font-size: 12px; margin: 4px 0 0; }
.sub { color: var(--muted); font-size: 12px; }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; }
/* below the widest chart drawing (900 px plus margins): the narrow drawings, never scaled down */
@media (max-width: 959px) {
  .chart-wide { display: none; }
  .chart-narrow { display: block; }
}
/* a phone: tables become one card per row, each figure beside its column's heading */
@media (max-width: 640px) {
  main { padding: 12px 10px 30px; }
  .card { padding: 10px 8px; }
  h1 { font-size: 20px; }
  table.stack, table.stack tbody, table.stack tr { display: block; width: 100%%; }
  table.stack { background: none; }
  table.stack thead { display: none; }
  table.stack tr { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 0 0 8px; }
  table.stack td { display: flow-root; text-align: right; border-bottom: 1px solid #f0f1f3; padding: 4px 8px;
                   overflow-wrap: anywhere; }
  table.stack td.num { overflow-wrap: normal; }  /* amounts wrap only where breakable() allows it */
  table.stack td:last-child { border-bottom: 0; }
  table.stack td[data-label]::before { content: attr(data-label); float: left; max-width: 48%%; padding-right: 8px;
                                       text-align: left; color: var(--muted); font: 600 13px/1.45 system-ui,
                                       -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; word-break: normal; }
  table.stack td:first-child { text-align: left; background: #eef0f3; font-size: 15px; border-radius: 6px 6px 0 0; }
  table.stack td:first-child::before { content: none; }
  table.stack.failures td:first-child::before { content: "line "; float: none; padding: 0; font: inherit;
                                                 color: inherit; }
  table.stack td[colspan] { text-align: left; }
}
""" % {"ok": charts.OK, "bad": charts.BAD, "warn": charts.INCOMPLETE}


# ---------------------------------------------------------------------------------------------
# Small helpers (tolerant of missing keys and nulls: a partial report still renders)
# ---------------------------------------------------------------------------------------------
def _d(value: Any) -> Decimal | None:
    """A report figure as Decimal, or None when absent or unreadable (shown as an em dash)."""
    try:
        return to_decimal(value) if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool) else None
    except (ValueError, TypeError):
        return None


def breakable(text: str) -> str:
    """An escaped exact amount that may wrap at its decimal point and after every six decimals when
    its column is narrow (inside a long integer part only after a thousands separator); the text is
    unchanged for copying and searching: ``<wbr>`` adds no character."""
    whole, dot, frac = text.partition(".")
    if len(whole) > 16:
        whole = whole.replace(",", ",<wbr>")
    if not dot:
        return whole
    return whole + "<wbr>." + "<wbr>".join(frac[i:i + 6] for i in range(0, len(frac), 6))


def _amount(value: Any, *, signed: bool = False) -> str:
    d = _d(value)
    if d is None:
        return MISSING if value is None else esc(value)  # unreadable: show it as given, escaped
    return breakable(esc(format_amount(d, signed=signed)))


def _row(cells: Sequence[str], labels: Sequence[str]) -> str:
    """A table row whose cells carry their column's heading (``data-label``): on a phone the
    stylesheet shows the row as a card with each figure beside its heading."""
    return "<tr>" + "".join(c.replace("<td", f'<td data-label="{esc(label)}"', 1) if label else c
                            for c, label in zip(cells, labels)) + "</tr>"


def _head(columns: Sequence[tuple[str, bool]]) -> str:
    """``<thead>`` of (heading, numeric) columns."""
    return "<thead><tr>" + "".join(f'<th class="num">{esc(h)}</th>' if num else f"<th>{esc(h)}</th>"
                                   for h, num in columns) + "</tr></thead>"


def stack_table(css_class: str, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]],
                 empty: str) -> str:
    """A table that fits a desktop window and turns into cards on a phone (``table.stack``)."""
    labels = [h for h, _ in columns]
    body = "".join(_row(r, labels) for r in rows) or f'<tr><td colspan="{len(columns)}">{esc(empty)}</td></tr>'
    return f'<table class="stack {css_class}">{_head(columns)}<tbody>{body}</tbody></table>'


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _num_cell(display: str, sort_value: Any, extra_class: str = "", title: str = "") -> str:
    d = _d(sort_value)
    cls = "num" + (" " + extra_class if extra_class else "")
    t = f' title="{esc(title)}"' if title else ""
    return f'<td class="{cls}" data-v="{esc(d) if d is not None else ""}"{t}>{display}</td>'


def _amount_cells(figures: dict, columns: Sequence[tuple[str, str]] = AMOUNT_COLUMNS) -> list[str]:
    """The ``columns`` amounts of an asset or network, exact; a negative difference in red."""
    cells = []
    for key, _ in columns:
        v, signed = figures.get(key), key == "difference"
        d = _d(v)
        cells.append(_num_cell(_amount(v, signed=signed), v, "neg" if signed and d is not None and d < 0 else ""))
    return cells


def provenance_badge(provenance: Any, has_liabilities: bool) -> str:
    """A liability figure's provenance as a badge, with what it does not prove said next to it (a
    zk-published figure: the proof was not verified by porscan). The dashboard uses it too."""
    if not has_liabilities:
        return '<span class="badge none">no liabilities</span>'
    p = provenance_name(str(provenance)) if provenance is not None else "unknown provenance"
    cls = {ZK_VERIFIED: "zk", ZK_PUBLISHED: "zk", SELF_REPORTED: "self"}.get(p or "", "other")
    note = PROVENANCE_NOTES.get(p or "")
    shown = f' <span class="sub" title="{esc(note)}">({esc(note)})</span>' if note else ""
    return f'<span class="badge {cls}">{esc(p)}</span>{shown}'


def _block_label(block: dict) -> str:
    """The block a figure was read at; a read at latest is labelled as such, in words."""
    number = block.get("number")
    n = esc(number if number is not None else "?")
    if block.get("at_snapshot") is False:
        return f'<span class="latest">read at latest block {n}, not at the snapshot</span>'
    return f'<span class="nowrap">block {n}</span>'


def _coverage_html(rows_read: Any, rows_expected: Any) -> str:
    read, expected = _int(rows_read), _int(rows_expected)
    text = esc(rows_read_text(read, expected))
    if read is None or expected is None or read < expected:
        return f'<span class="incomplete">{text}</span>'
    return text


def _ratio_cell(ratio: Any, reason_if_none: str, partial: bool = False) -> str:
    """A ratio rounded down, its exact value on hover; ``partial``: from incomplete reads, marked
    as the terminal report marks it."""
    d = _d(ratio)
    if d is None:
        return f'<td class="num" data-v="" title="{esc(reason_if_none)}">{MISSING}</td>'
    cls = "below" if d < 1 else "above"
    mark = f'\u00a0<span class="incomplete partial-mark">{PARTIAL_MARK}</span>' if partial else ""
    why = " (from incomplete reads)" if partial else ""
    return _num_cell(esc(format_ratio(d)) + mark, d, cls, title=f"exact ratio {d}{why}")


def _iter_blocks(assets: Iterable[dict]) -> list[tuple[str, dict]]:
    """(network, block) pairs across the report, each distinct block once, in report order."""
    seen, out = set(), []
    for a in assets:
        for n in _dicts(a.get("networks")):
            for b in _dicts(n.get("blocks")):
                key = (str(n.get("network")), b.get("number"), b.get("hash"), b.get("at_snapshot"))
                if key not in seen:
                    seen.add(key)
                    out.append((str(n.get("network")), b))
    return out


def _table(d: dict, key: str) -> dict[str, Any]:
    """``d[key]`` when it is a JSON object, else an empty one (the report may come from an older porscan)."""
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def _list(d: dict, key: str) -> list[Any]:
    value = d.get(key)
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _header(report: dict, assets: list[dict]) -> str:
    run = _table(report, "run")
    tool = _table(report, "tool")
    exchange = run.get("exchange") or "unknown exchange"
    parts = [f"<h1>{esc(exchange)} proof of reserves: scan #{esc(run.get('id', '?'))}</h1>"]
    if isinstance(report.get("assets"), list) and isinstance(report.get("verification"), dict):
        from ..pipeline.scan import Verdict, verdict
        from ..report_model import ReportError, ScanReport

        try:
            v = verdict(ScanReport.from_json(report))
        except ReportError as exc:  # the page still shows what it can read; it says what it could not
            v = Verdict(code=2, line=f"no verdict: the report cannot be read ({exc})")
        kind = {0: "ok", 1: "failed"}.get(v.code, "incomplete")
        snapshot = run.get("snapshot_date")
        parts.append(f'<p class="verdict {kind}">{esc(v.line)}'
                     + (f" · snapshot {esc(snapshot)}" if snapshot else "") + "</p>")
    bits = [f"run status <b>{esc(run.get('status', '?'))}</b>",
            f"started {esc(run.get('started_at') or MISSING)}",
            f"finished {esc(run.get('finished_at') or MISSING)}"]
    if run.get("resumed"):
        bits.append("resumed from a checkpoint")
    bits.append(f"{esc(tool.get('name', 'porscan'))} {esc(tool.get('version', '?'))}")
    bits.append(f"schema {esc(report.get('schema', '?'))}")
    parts.append('<p class="meta">' + " \u00b7 ".join(bits) + "</p>")
    return "".join(parts)


def _alerts(report: dict, assets: list[dict]) -> str:
    items: list[tuple[str, str]] = []  # (css class, html)
    run = _table(report, "run")
    if run.get("status") not in (None, "done"):
        items.append(("bad", f"The run is not finished (status {esc(run.get('status'))}): figures are partial."))
    if report.get("schema") != SCHEMA:
        items.append(("", f"Unexpected report schema {esc(report.get('schema'))} (this page reads {SCHEMA})."))
    for a in assets:
        d = _d(a.get("proven_ratio"))
        if d is not None and d < 1:
            items.append(("bad", f"{esc(a.get('asset'))}: proven reserves cover {esc(format_ratio(d))} of "
                                 f"liabilities (below 100%)."))
    for a in assets:
        read, expected = _int(a.get("rows_read")), _int(a.get("rows_expected"))
        if read is not None and expected is not None and read < expected:
            items.append(("", f"{esc(a.get('asset'))}: {esc(rows_read_text(read, expected))}; unread rows "
                              f"count as unread, never as zero."))
    for a in assets:
        for n in _dicts(a.get("networks")):
            for b in _dicts(n.get("blocks")):
                if b.get("at_snapshot") is False:
                    items.append(("", f"{esc(a.get('asset'))} on {esc(n.get('network'))}: {_block_label(b)}."))
    sb = _table(report, "summary_block")
    if sb.get("mismatches"):
        items.append(("", f"The file's summary block disagrees with its detail rows "
                          f"({len(sb['mismatches'])} mismatch(es), listed below)."))
    elif sb and sb.get("checked") is False:
        items.append(("", "The file's summary block was not checked."))
    if not items:
        return ""
    return '<ul class="alerts">' + "".join(f'<li class="{c}">{h}</li>' for c, h in items) + "</ul>"


def _cards(report: dict, assets: list[dict]) -> str:
    ratios = {str(a.get("asset")): _d(a.get("proven_ratio")) for a in assets}
    # what the card says: a liabilities figure (an unread asset has one and no ratio)
    with_liab = [a for a in assets if a.get("liabilities") is not None]
    below = [asset for asset, r in ratios.items() if r is not None and r < 1]
    no_ratio = [str(a.get("asset")) for a in with_liab if ratios.get(str(a.get("asset"))) is None]
    below_figure, below_text = charts.below_card(below, no_ratio, sum(r is not None for r in ratios.values()))
    ver = _table(report, "verification")
    by_status = _table(ver, "by_status")
    read = sum(_int(a.get("rows_read")) or 0 for a in assets)
    expected = sum(_int(a.get("rows_expected")) or 0 for a in assets)
    cards = [
        ("Assets", format_count(len(assets)), f"{len(with_liab)} with liabilities"),
        ("Proven ratio below 100%", below_figure, below_text),
        ("Rows verified", format_count(_int(by_status.get("verified"))), f"of {format_count(_int(ver.get('rows')))} rows"),
        ("Balances read", charts.format_fraction(read, expected) if expected else MISSING,
         rows_read_text(read, expected) if expected else ""),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="small">{esc(t)}</div><div class="big">{esc(v)}</div>'
        f'<div class="small">{esc(s)}</div></div>' for t, v, s in cards) + "</div>"


SHOWN_FAILURES = 50  # rows listed on the page; the JSON report lists up to pipeline.scan.FAILURES_LISTED


def _failures(report: dict, assets: list[dict]) -> str:
    """The rows an auditor has to look at: failed ownership, unreadable, mismatched, unread or disputed."""
    f = _table(report, "failures")
    rows = _dicts(f.get("rows"))
    total = _int(f.get("total")) or 0
    if not f:
        return ""
    head = (f'<h2 id="failures">Rows that failed or could not be read ({format_count(total)})</h2>'
            + (f'<p class="meta">the first {len(rows[:SHOWN_FAILURES])} by line; every one is in the JSON report '
               f'(up to {format_count(_int(f.get("listed")) or 0)}) and the store</p>' if total > SHOWN_FAILURES else ""))
    if not rows:
        return head + "<p>none: every row was verified or accounted for, and every balance read as published</p>"
    body = [[f"<td class=\"num\">{esc(r.get('line', ''))}</td>", f"<td>{esc(r.get('stage', ''))}</td>",
             f"<td>{esc(r.get('coin', ''))}</td>", f"<td>{esc(r.get('network', ''))}</td>",
             f"<td class=\"mono\">{esc(r.get('address', ''))}</td>", f"<td>{esc(r.get('status', ''))}</td>",
             f"<td class=\"text\">{esc(r.get('reason', ''))}</td>"] for r in rows[:SHOWN_FAILURES]]
    columns = [("Line", True), ("Stage", False), ("Coin", False), ("Network", False), ("Address", False),
               ("Status", False), ("Reason", False)]
    return head + stack_table("failures", columns, body, "")


def _inputs(report: dict, assets: list[dict]) -> str:
    rows = []
    for i in _dicts(report.get("inputs")):
        kind = i.get("layout") or i.get("format")
        # the file's name and its SHA-256 identify it; the folder it had on the scanning machine does not
        name = PurePath(str(i.get("path") or "")).name
        rows.append([f"<td>{esc(i.get('role', ''))}</td>", f"<td class=\"mono\">{esc(name)}</td>",
                     f"<td class=\"mono\">{esc(i.get('sha256') or MISSING)}</td>",
                     f"<td class=\"num\">{esc(format_count(_int(i.get('rows'))))}</td>",
                     f"<td>{esc(kind or MISSING)}</td>"])
    out = ['<h2 id="inputs">Inputs</h2>',
           stack_table("inputs", [("Role", False), ("File", False), ("SHA-256", False), ("Rows", True),
                                   ("Layout / format", False)], rows, "no inputs recorded")]
    blocks = []
    for network, b in _iter_blocks(assets):
        blocks.append([f"<td>{esc(network)}</td>", f"<td class=\"num\">{esc(b.get('number', MISSING))}</td>",
                       f"<td class=\"mono\">{esc(b.get('hash') or MISSING)}</td>",
                       f"<td>{_block_label(b) if b.get('at_snapshot') is False else 'at the snapshot'}</td>"])
    out.append('<h2 id="blocks">Blocks read</h2>')
    out.append(stack_table("blocks", [("Network", False), ("Block", True), ("Hash", False), ("Snapshot", False)],
                            blocks, "no blocks recorded"))
    return "".join(out)


def _asset_table(assets: list[dict]) -> str:
    """Key figures first (ratios, liabilities, coverage, totals), then how the on-chain amount splits
    by what the signatures proved: two tables, each fitting a desktop window."""
    columns = [("Asset", False), ("Proven ratio", True), ("With unproven", True), ("Liabilities", True),
               ("Provenance", False), ("Coverage", True)] + [(h, True) for _, h in TOTAL_COLUMNS]
    rows, split, partial_any = [], [], False
    for a in assets:
        liab = a.get("liabilities")
        has_liab = liab is not None
        src = a.get("liabilities_source")
        reason = "no liabilities for this asset" if not has_liab else "ratio not available"
        read, expected = _int(a.get("rows_read")), _int(a.get("rows_expected"))
        partial = is_partial(read, expected)
        partial_any |= partial and _d(a.get("proven_ratio")) is not None
        cov = Decimal(read) / Decimal(expected) if read is not None and expected else None
        name = f'<td data-v="{esc(a.get("asset", ""))}"><b>{esc(a.get("asset", "?"))}</b></td>'
        cells = [name,
                 _ratio_cell(a.get("proven_ratio"), reason, partial),
                 _ratio_cell(a.get("with_unproven_ratio"), reason, partial),
                 _num_cell(_amount(liab), liab),
                 f'<td data-v="{esc(a.get("liabilities_provenance") or "")}">'
                 f'{provenance_badge(a.get("liabilities_provenance"), has_liab)}'
                 + (f' <span class="sub">{esc(src)}</span>' if src else "") + "</td>",
                 _num_cell(_coverage_html(read, expected), cov)]
        rows.append(cells + _amount_cells(a, TOTAL_COLUMNS))
        split.append([name] + _amount_cells(a, SPLIT_COLUMNS))
    labels = [h for h, _ in columns]
    split_columns = [("Asset", False)] + [(h, True) for _, h in SPLIT_COLUMNS]
    split_labels = [h for h, _ in split_columns]
    return ('<h2 id="assets">Reserves per asset</h2>'
            '<p class="sub">Proven ratio = proven reserves / liabilities; with unproven = all on-chain reserves / '
            'liabilities. Amounts in coin units, exact. Only verified rows count as proven; owner-only, key-only and '
            'unverified amounts are on chain but not proven; unread is the published amount of rows whose balance '
            'could not be read. Difference = on chain \u2212 published. Click a heading to sort.</p>'
            f'<table class="sortable stack assets">{_head(columns)}<tbody>'
            + ("".join(_row(r, labels) for r in rows) or f'<tr><td colspan="{len(columns)}">no assets</td></tr>')
            + "</tbody></table>"
            + (f'<p class="partial-note">{esc(PARTIAL_NOTE)}</p>' if partial_any else "")
            + '<h3 class="split">On-chain reserves by what the signatures proved</h3>'
            f'<table class="sortable stack assets-split">{_head(split_columns)}<tbody>'
            + ("".join(_row(r, split_labels) for r in split)
               or f'<tr><td colspan="{len(split_columns)}">no assets</td></tr>')
            + "</tbody></table>")


STAKING_COLUMNS = (("onchain", "On chain"), ("liquid", "Liquid"), ("staked", "Staked"), ("unbonding", "Unbonding"),
                   ("split_unknown", "Split unknown"))


def _staking(assets: list[dict]) -> str:
    """Liquid / staked / unbonding of the on-chain amount, per asset and its networks, where any of it is
    staked or locked (the report carries ``liquid`` only there); nothing otherwise."""
    rows = []
    for a in assets:
        if "liquid" not in a:
            continue
        name = str(a.get("asset", "?"))
        for where, f in [("all networks", a)] + [(str(n.get("network", "?")), n) for n in _dicts(a.get("networks"))
                                                 if "liquid" in n]:
            unknown = _int(f.get("split_unknown_rows")) or 0
            cells = _amount_cells({**f, "split_unknown": f.get("split_unknown") or "0"}, STAKING_COLUMNS)
            if unknown:
                cells[-1] = cells[-1].replace("</td>", f' <span class="sub">({format_count(unknown)} rows)</span></td>')
            rows.append([f'<td><b>{esc(name)}</b></td>', f"<td>{esc(where)}</td>"] + cells)
    if not rows:
        return ""
    columns = [("Asset", False), ("Network", False)] + [(h, True) for _, h in STAKING_COLUMNS]
    return ('<h3 id="staking" class="split">Staked and locked reserves (parts of on chain)</h3>'
            '<p class="sub">Staked: bonded or validating; unbonding: leaving the stake, not yet spendable; liquid: the '
            'rest. Split unknown: rows whose split could not be read, counted in none of the three.</p>'
            + stack_table("staking", columns, rows, ""))


def _ratio_and_coverage_charts(assets: list[dict]) -> str:
    items = [RatioItem(str(a.get("asset", "?")), _d(a.get("proven_ratio")), _d(a.get("with_unproven_ratio")),
                       "no liabilities" if a.get("liabilities") is None else "no ratio",
                       is_partial(_int(a.get("rows_read")), _int(a.get("rows_expected")))) for a in assets]
    cov = [CoverageItem(str(a.get("asset", "?")), _int(a.get("rows_read")), _int(a.get("rows_expected")))
           for a in assets]
    return ('<div class="grid2">'
            '<div class="card"><h3 id="ratios">Reserve ratio per asset</h3>'
            + charts.legend([("proven \u2265 100%", charts.OK), ("with unproven", charts.OK_LIGHT),
                             ("proven < 100%", charts.BAD), ("with unproven", charts.BAD_LIGHT),
                             ("100% of liabilities (dashed)", charts.REFERENCE)])
            + charts.ratio_figure(items)
            + (f'<p class="partial-note">{esc(PARTIAL_NOTE)}</p>' if any(i.partial for i in items) else "")
            + '</div><div class="card"><h3 id="coverage">Coverage: balances read</h3>'
            + charts.legend([("all rows read", charts.OK), ("rows missing", charts.INCOMPLETE)])
            + charts.coverage_figure(cov)
            + "</div></div>")


def networks_section(assets: list[dict]) -> str:
    """Per asset: its networks as stacked bars (one scale per asset), then two tables (totals with
    coins, coverage and blocks; the on-chain amount by proof)."""
    out = ['<h2 id="networks">Per-network breakdown</h2>', charts.legend(charts.RESERVE_SEGMENTS),
           '<p class="sub">Bars of one asset share a scale; hover a segment for its exact amount.</p>']
    columns = ([("Network", False), ("Coins", False), ("Coverage", True), ("Read at", False)]
               + [(h, True) for _, h in TOTAL_COLUMNS])
    split_columns = [("Network", False)] + [(h, True) for _, h in SPLIT_COLUMNS]
    for a in assets:
        nets = _dicts(a.get("networks"))
        name = str(a.get("asset", "?"))
        rows = []
        for n in nets:
            latest = [b for b in _dicts(n.get("blocks")) if b.get("at_snapshot") is False]
            read, expected = _int(n.get("rows_read")), _int(n.get("rows_expected"))
            text = f"{format_count(read)}/{format_count(expected)} rows"
            if latest:
                text += " \u00b7 at latest block"
            rows.append(StackRow(str(n.get("network", "?")),
                                 {s.key: _d(n.get(s.key)) for s in charts.RESERVE_SEGMENTS}, text,
                                 f"{name} on {n.get('network')}: {rows_read_text(read, expected)}"))
        out.append(f'<div class="card asset-networks" style="margin:10px 0"><h3>{esc(name)}</h3>')
        if rows:
            label = f"{name} per network"
            out.append(charts.wide_or_narrow(
                charts.stacked_bar_chart(rows, charts.RESERVE_SEGMENTS, layout=charts.NETWORKS_WIDE, aria_label=label),
                charts.stacked_bar_chart(rows, charts.RESERVE_SEGMENTS, layout=charts.NETWORKS_NARROW,
                                         aria_label=label)))
        body, split = [], []
        for n in nets:
            coins = _list(n, "coins")
            blocks = _dicts(n.get("blocks"))
            network = f"<td><b>{esc(n.get('network', '?'))}</b></td>"
            coin_list = ", ".join(f'<span class="nowrap">{esc(c)}</span>' for c in coins)
            body.append([network, f"<td>{coin_list or MISSING}</td>",
                         f'<td class="num">{_coverage_html(n.get("rows_read"), n.get("rows_expected"))}</td>',
                         "<td>" + ("<br>".join(_block_label(b) for b in blocks) or MISSING) + "</td>"]
                        + _amount_cells(n, TOTAL_COLUMNS))
            split.append([network] + _amount_cells(n, SPLIT_COLUMNS))
        out.append(stack_table("networks", columns, body, "no networks"))
        if nets:
            out.append(stack_table("networks-split", split_columns, split, ""))
        out.append("</div>")
    return "".join(out)


def _verification(report: dict) -> str:
    ver = _table(report, "verification")
    by_status = _table(ver, "by_status")
    total = _int(ver.get("rows"))
    known = {s.key for s in charts.STATUS_SEGMENTS}
    segments = list(charts.STATUS_SEGMENTS) + [charts.Segment(str(k), str(k), "#555555")
                                               for k in by_status if k not in known]
    rows = []
    for s in segments:
        n = _int(by_status.get(s.key))
        share = charts.format_fraction(n, total) if n is not None and total else MISSING
        rows.append(f'<tr><td><span class="swatch" style="background:{esc(s.colour)}"></span> {esc(s.key)}</td>'
                    f'<td class="num">{esc(format_count(n))}</td><td class="num">{esc(share)}</td></tr>')
    bar = [StackRow("rows", {k: _int(v) for k, v in by_status.items()}, f"{format_count(total)} rows",
                    "rows by verification status")]

    def chart(layout: Layout) -> str:
        return charts.stacked_bar_chart(bar, segments, layout=layout, aria_label="Rows by verification status",
                                        value_format=lambda v: format_count(int(v)), show_axis=False)

    return ('<h2 id="verification">Ownership verification</h2><div class="grid2"><div>'
            '<table class="status"><thead><tr><th>Status</th><th class="num">Rows</th><th class="num">Share</th></tr>'
            "</thead><tbody>" + "".join(rows)
            + f'<tr><td><b>all rows</b></td><td class="num"><b>{esc(format_count(total))}</b></td><td></td></tr>'
            "</tbody></table></div><div>" + charts.legend(segments)
            + charts.wide_or_narrow(chart(Layout(width=540, label_width=50, text_width=110, bar_height=22)),
                                    chart(Layout(width=charts.NARROW_WIDTH, text_width=0, bar_height=22,
                                                 labels_above=True)))
            + "</div></div>")


def _plain(value: Any) -> str:
    """Any JSON value as escaped text (objects as compact JSON)."""
    if isinstance(value, str):
        return esc(value)
    return esc(json.dumps(value, ensure_ascii=False, sort_keys=True))


PROOFS_LISTED = 50


def _proofs(liab: dict) -> str:
    """The liabilities proofs porscan checked: counts per status, then those not verified (first ones)."""
    proofs = _dicts(liab.get("proofs"))
    if not proofs:
        return ""
    counts = {s: sum(p.get("status") == s for p in proofs) for s in ("verified", "failed", "not_verified")}
    head = (f'<p id="proofs"><b>Proofs checked by porscan:</b> {format_count(counts["verified"])} verified, '
            f'{format_count(counts["failed"])} failed, {format_count(counts["not_verified"])} not verified.</p>')
    shown = [p for p in proofs if p.get("status") != "verified"]
    if not shown:
        return head
    rows = [[f'<td>{esc(p.get("status"))}</td>', f'<td>{esc(p.get("kind"))}</td>',
             f'<td>{esc(p.get("file"))}</td>', f'<td>{esc(p.get("reason"))}</td>']
            for p in shown[:PROOFS_LISTED]]
    more = (f'<p class="sub">First {PROOFS_LISTED} of {format_count(len(shown))}; the JSON report lists all.</p>'
            if len(shown) > PROOFS_LISTED else "")
    return head + stack_table("proofs", [("Status", False), ("Kind", False), ("File", False), ("Reason", False)], rows,
                              "none") + more


def _liabilities_and_notes(report: dict) -> str:
    out = []
    liab = report.get("liabilities") if isinstance(report.get("liabilities"), dict) else None
    if liab:
        out.append('<h2 id="liabilities">Liabilities</h2><table class="liabilities"><tbody>')
        for key in ("format", "file", "sha256"):
            if liab.get(key) is not None:
                cls = ' class="mono"' if key == "sha256" else ""
                out.append(f"<tr><th>{esc(key)}</th><td{cls}>{_plain(liab[key])}</td></tr>")
        totals = _table(liab, "totals")
        for k, v in totals.items():
            shown = _amount(v) if _d(v) is not None else _plain(v)
            out.append(f'<tr><th>total: {esc(k)}</th><td class="num" style="text-align:left">{shown}</td></tr>')
        out.append("</tbody></table>")
        out.append(_proofs(liab))
    notes = [("note", n) for n in report.get("notes") or [] if n is not None] if isinstance(report.get("notes"), list) else []
    if liab and isinstance(liab.get("warnings"), list):
        notes += [("liabilities warning", w) for w in liab["warnings"]]
    sb = _table(report, "summary_block")
    if isinstance(sb.get("mismatches"), list):
        notes += [("summary block mismatch", m) for m in sb["mismatches"]]
    out.append('<h2 id="notes">Notes and warnings</h2>')
    if sb:
        out.append(f'<p class="sub">Summary block: {"checked against the detail rows" if sb.get("checked") else "not checked"}'
                   f"; {len(sb.get('mismatches') or [])} mismatch(es).</p>")
    if notes:
        out.append('<ul class="notes">' + "".join(f"<li><b>{esc(kind)}:</b> {_plain(text)}</li>" for kind, text in notes)
                   + "</ul>")
    else:
        out.append("<p>None.</p>")
    return "".join(out)


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SORT_JS.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def _rubric(report: dict) -> str:
    """The quality grade and every criterion with its fact and rule."""
    r = _table(report, "rubric")
    if not r:
        return ""
    rows = [[f"<td>{esc(c.get('grade'))}</td>", f"<td>{esc(c.get('name'))}</td>", f"<td>{esc(c.get('value'))}</td>",
             f"<td>{esc(c.get('rule'))}</td>"] for c in _dicts(r.get("criteria"))]
    return (f'<h2 id="rubric">Quality grade {esc(r.get("grade"))}</h2><p class="sub">The worst grade of the criteria '
            "below, each from a verified fact with its rule; criteria not measured (-) do not count.</p>"
            + stack_table("rubric", [("Grade", False), ("Criterion", False), ("Fact", False), ("Rule", False)], rows,
                          "none"))


def _usd(report: dict) -> str:
    """Reserves against liabilities in USD: each price with its source and time, the total ratio and
    what it leaves out."""
    usd = _table(report, "usd")
    if not usd:
        return ""
    rows = []
    for a in _dicts(usd.get("assets")):
        where = " ".join(str(x) for x in (a.get("price_source"), a.get("price_label")) if x)
        when = " ".join(str(x) for x in (a.get("price_at"), f"block {a['price_block']}" if a.get("price_block") is not None
                                         else None) if x)
        rows.append([f"<td>{esc(a.get('asset'))}</td>", f'<td class="num">{_amount(a.get("price"))}</td>',
                     f"<td>{esc(where) or MISSING}</td>", f"<td>{esc(when) or MISSING}</td>",
                     f'<td class="num">{_amount(a.get("proven"))}</td>', f'<td class="num">{_amount(a.get("liabilities"))}</td>',
                     f"<td>{esc(a.get('note') or '')}</td>"])
    table = stack_table("usd", [("Asset", False), ("Price (USD)", True), ("Price source", False), ("Price time", False),
                                ("Proven reserves (USD)", True), ("Liabilities (USD)", True), ("Note", False)],
                        rows, "no asset valued")
    partial = "" if usd.get("complete") else f' <span class="partial">{esc(PARTIAL_MARK.strip())}</span>'
    left = "".join(f"<li>{esc(x)}</li>" for x in usd.get("left_out") or [])
    return (f'<h2 id="usd">In USD at the snapshot</h2>{table}'
            f'<p><b>Total proven reserves</b> {_amount(usd.get("proven"))} USD; with unproven '
            f'{_amount(usd.get("with_unproven"))} USD.<br><b>Net liabilities</b> {_amount(usd.get("liabilities"))} USD '
            f'({esc(usd.get("liabilities_source"))}{", " + esc(usd.get("liabilities_provenance")) if usd.get("liabilities_provenance") else ""}).'
            f'<br><b>Total reserve ratio in USD</b>: proven {format_ratio(usd.get("ratio"))}{partial}, with unproven '
            f'{format_ratio(usd.get("with_unproven_ratio"))}{partial}.'
            + ('<br><b>Proven reserves by kind</b>: ' + ", ".join(f"{esc(k)} {_amount(v)} USD" for k, v in
                                                                   (usd.get("by_class") or {}).items())
               if isinstance(usd.get("by_class"), dict) and set(usd["by_class"]) - {"native"} else "")
            + (f'<br><b>Clean ratio</b> (without the exchange\'s own tokens): {format_ratio(usd.get("clean_ratio"))}{partial}'
               if isinstance(usd.get("by_class"), dict) and "own-issued" in usd["by_class"] else "")
            + '</p>'
            + (f'<p class="sub">Left out of the reserve totals:</p><ul class="notes">{left}</ul>' if left else ""))


def render_html(report: dict) -> str:
    """The scan report as one standalone HTML page (a complete document, UTF-8)."""
    if not isinstance(report, dict):
        raise TypeError("render_html expects the scan report as a dict (parsed porscan.scan/1 JSON)")
    assets = _dicts(report.get("assets"))
    run = _table(report, "run")
    title = f"porscan: {run.get('exchange') or 'scan'} #{run.get('id', '?')}"
    body = [
        _header(report, assets),
        _failures(report, assets),
        _inputs(report, assets),
        _alerts(report, assets),
        _cards(report, assets),
        _asset_table(assets),
        _staking(assets),
        _ratio_and_coverage_charts(assets),
        networks_section(assets),
        _verification(report),
        _usd(report),
        window_html(report, stack_table),
        _rubric(report),
        _liabilities_and_notes(report),
    ]
    tool = _table(report, "tool")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp())}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{REPORT_CSS}</style></head>\n<body><main>"
        + "\n".join(body)
        + f"<footer>Made by {esc(tool.get('name', 'porscan'))} {esc(tool.get('version', ''))} from a "
          f"{esc(report.get('schema', '?'))} report. Standalone page: no network access, figures drawn without "
          "scripts.</footer></main>\n"
        f"<script>{_SORT_JS}</script></body></html>\n"
    )


def write_html(report: dict, path: str) -> None:
    """Render ``report`` and write it to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_html(report))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scanner.report.html",
                                 description="Render a porscan.scan/1 JSON report as a standalone HTML page.")
    ap.add_argument("report", help="scan report JSON (porscan scan --json)")
    ap.add_argument("-o", "--output", required=True, help="HTML file to write")
    args = ap.parse_args(argv)
    try:
        with open(args.report, encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"porscan: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    write_html(report, args.output)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
