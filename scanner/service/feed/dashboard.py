"""The feed server's dashboard page (``GET /``): one exchange's reserve ratios over time, its latest
per-asset ratios and coverage, the per-network breakdown and recent alerts.

Server-rendered HTML with inline CSS and inline SVG drawn by ``scanner.report.charts`` (the same figures and
colours as the standalone report), plus a line chart of the ratio history drawn here. No script, no
external resource, no build step; the page's Content-Security-Policy (set by the server) allows
nothing else. Every string from the store is HTML-escaped (coin names, reasons and alert messages
come from published files).

Each asset whose figures come from incomplete reads carries the terminal report's mark ("*") and note;
alerts show their figures scaled for reading ("12.4M USDT", ratios in percent, rounded down by the one
rule) with the exact value on hover. The page reloads itself every ``refresh_seconds()`` (a meta
refresh: the body does not change between two identical states, so the reload is a 304 on its ETag).
On a phone the charts switch to their narrow drawings and the tables to cards (the report's
stylesheet).
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ... import __version__
from ...amounts import fmt, shown_fraction
from ...report import charts
from ...report.charts import (MISSING, PARTIAL_MARK, PARTIAL_NOTE, CoverageItem, RatioItem, esc, format_amount,
                              format_count, format_ratio, format_scaled, is_partial, rows_read_text, to_decimal)
from ...report.html import REPORT_CSS, breakable, networks_section, provenance_badge, stack_table

SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                  "#7f7f7f", "#393b79")
HISTORY_DAYS = 366
REFRESH_SECONDS = 60  # the feed's cache answers a reload with a 304 until a run or an alert changes
REFRESH_ENV = "PORSCAN_DASHBOARD_REFRESH"


def refresh_seconds() -> int:
    """Seconds between the page's reloads: ``$PORSCAN_DASHBOARD_REFRESH`` (0 turns reloading off),
    else ``REFRESH_SECONDS``; a value that is not a whole number of seconds is ignored."""
    text = os.environ.get(REFRESH_ENV, "").strip()
    return int(text) if text.isdigit() else REFRESH_SECONDS


def _coins_by_place(summary: Any) -> dict[tuple[str, str], list[str]]:
    """(asset, network) -> the coins of the reserve file seen there, from the run's stored report
    (the scan writes them per network; the totals table does not keep them)."""
    out: dict[tuple[str, str], list[str]] = {}
    assets = summary.get("assets") if isinstance(summary, dict) else None
    for a in assets if isinstance(assets, list) else []:
        if not isinstance(a, dict):
            continue
        nets = a.get("networks")
        for n in nets if isinstance(nets, list) else []:  # a stored report is read, not trusted to be well formed
            if isinstance(n, dict) and isinstance(n.get("coins"), list):
                out[(str(a.get("asset")), str(n.get("network")))] = [str(c) for c in n["coins"]]
    return out


async def gather(feed, exchange: str | None) -> dict[str, Any]:
    """What the page shows, read through the feed's store."""
    store = feed.store
    exchanges = await store.exchanges()
    names = [e.exchange for e in exchanges]
    if exchange is None:
        with_done = [e.exchange for e in exchanges if e.latest_done_run_id is not None]
        exchange = (with_done or names or [None])[0]
    data: dict[str, Any] = {"exchanges": [(e.exchange, e.latest_snapshot_date) for e in exchanges],
                            "exchange": exchange, "latest": None, "series": {}, "partial": {}, "alerts": [], "assets": [],
                            "known": exchange in names}
    if exchange is None:
        return data
    latest = await feed.latest_for(exchange)
    data["latest"] = latest
    data["alerts"] = await store.list_alerts(exchange, limit=15)
    data["open_alerts"] = len(await store.list_alerts(exchange, open_only=True, limit=10_000))
    if latest is None:
        return data
    run = latest["run"]
    since = None
    if run.get("snapshot_date"):
        since = (date.fromisoformat(run["snapshot_date"]) - timedelta(days=HISTORY_DAYS)).isoformat()
    for q in latest["ratios"]:
        points = await store.ratio_series(exchange, q["asset"], since=since)
        data["series"][q["asset"]] = [(p.snapshot_date, shown_fraction(p.ratio.proven_ratio)) for p in points]
        data["partial"][q["asset"]] = {p.snapshot_date for p in points if p.ratio.partial}
    coins = _coins_by_place((await store.get_run(run["id"])).summary)
    assets: dict[str, dict] = {}
    for t in await store.load_totals(run["id"]):
        entry = assets.setdefault(t.asset, {"asset": t.asset, "networks": []})
        if t.network == "*":
            entry.update(t.to_place_json())
        else:
            entry["networks"].append({**t.to_place_json(), "coins": coins.get((t.asset, t.network), [])})
    data["assets"] = list(assets.values())
    return data


# ------------------------------------------------------------------------------------- line chart

def _nice_step(span: Decimal, count: int = 5) -> Decimal:
    raw = span / count
    for step in ("0.001", "0.002", "0.005", "0.01", "0.02", "0.025", "0.05", "0.1", "0.2", "0.25", "0.5", "1", "2",
                 "5", "10", "20", "50", "100"):
        if Decimal(step) >= raw:
            return Decimal(step)
    return Decimal(100)


def ratio_history_chart(series: dict[str, list[tuple[str, Decimal | None]]], *, width: int = 900,
                        height: int = 300, cap: Decimal = Decimal(3), end_labels: bool = True,
                        partial: dict[str, set[str]] | None = None) -> str:
    """Proven reserve ratio per asset over time: one line per asset (gaps where no ratio), the 100 %
    line dashed, the latest value labelled (``end_labels``; a phone's narrow drawing leaves them to the
    table below; an asset without a ratio on its latest date is labelled so, never with an older
    value). ``partial``: per asset the dates whose ratio is from incomplete reads, drawn as hollow
    points and marked as the reports mark them. Values above ``cap`` are drawn at the top edge."""
    partial = partial or {}
    left, right, top, bottom = (62, 150, 14, 30) if end_labels else (44, 8, 14, 30)
    pw, ph = width - left - right, height - top - bottom
    values = [v for pts in series.values() for _, v in pts if v is not None]
    days = sorted({d for pts in series.values() for d, _ in pts})
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart history-chart" role="img" '
             f'aria-label="Proven reserve ratio over time" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-size="12" font-family="system-ui, sans-serif">']
    if not values or not days:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{charts.MUTED}">'
                     "no ratio history (no liabilities figures yet)</text></svg>")
        return "".join(parts)
    lo = min(min(values), Decimal(1))
    hi = min(max(max(values), Decimal(1)), cap)
    pad = max((hi - lo) * Decimal("0.08"), Decimal("0.005"))
    step = _nice_step(hi - lo + 2 * pad)
    lo = max(Decimal(0), ((lo - pad) / step).to_integral_value(rounding="ROUND_FLOOR") * step)
    hi = ((hi + pad) / step).to_integral_value(rounding="ROUND_CEILING") * step
    d0, d1 = date.fromisoformat(days[0]).toordinal(), date.fromisoformat(days[-1]).toordinal()

    def x(day: str) -> float:
        if d1 == d0:
            return left + pw / 2
        return left + (date.fromisoformat(day).toordinal() - d0) / (d1 - d0) * pw

    def y(v: Decimal) -> float:
        v = min(max(v, lo), hi)
        return top + ph - float((v - lo) / (hi - lo)) * ph  # geometry only

    t = lo
    while t <= hi:
        yy = y(t)
        parts.append(f'<line class="grid" x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" '
                     f'stroke="{charts.GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="{charts.MUTED}">'
                     f'{esc(format_ratio(t, 1 if step < Decimal("0.01") else 0))}</text>')
        t += step
    for day in (days[0], days[len(days) // 2], days[-1]) if len(days) > 2 else tuple(days):
        # the first and last dates end inside the drawing, not half beyond its edges
        anchor = "start" if day == days[0] and len(days) > 1 else "end" if day == days[-1] and len(days) > 1 else "middle"
        parts.append(f'<text x="{x(day):.1f}" y="{height - 8}" text-anchor="{anchor}" fill="{charts.MUTED}">'
                     f"{esc(day)}</text>")
    if lo <= 1 <= hi:
        parts.append(f'<line class="reference" x1="{left}" y1="{y(Decimal(1)):.1f}" x2="{left + pw}" '
                     f'y2="{y(Decimal(1)):.1f}" stroke="{charts.REFERENCE}" stroke-width="1.5" stroke-dasharray="5 3"/>')
    labels: list[list[Any]] = []  # [y, colour, text]; y is moved to keep labels apart
    for i, (asset, pts) in enumerate(series.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        runs: list[list[str]] = [[]]
        for day, v in pts:
            if v is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{x(day):.1f},{y(v):.1f}")
        parts.append(f'<g class="series" data-asset="{esc(asset)}"><title>{esc(asset)} proven ratio</title>')
        for r in runs:
            if len(r) == 1:
                cx, cy = r[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
            elif r:
                parts.append(f'<polyline class="line" points="{" ".join(r)}" fill="none" stroke="{colour}" '
                             'stroke-width="2.5" stroke-linejoin="round"/>')
        marked = partial.get(asset, set())
        last = next(((d, v) for d, v in reversed(pts) if v is not None), None)
        for day, v in pts:  # a ratio from incomplete reads: hollow, with the reports' mark and words
            if v is not None and day in marked and (last is None or day != last[0]):  # the last one: below
                parts.append(f'<circle class="partial" cx="{x(day):.1f}" cy="{y(v):.1f}" r="4" fill="#fff" '
                             f'stroke="{colour}" stroke-width="2"><title>{esc(asset)} {esc(day)}: '
                             f'{esc(format_ratio(v))} {PARTIAL_MARK} (from incomplete reads)</title></circle>')
        latest_day = days[-1]  # the latest date drawn: an asset without a point on it has no ratio then
        if last is not None:
            hollow = last[0] in marked  # drawn once, hollow like the other partial points, not filled over one
            mark = f" {PARTIAL_MARK}" if hollow else ""
            lx, ly = x(last[0]), y(last[1])
            look = f'class="last partial" fill="#fff" stroke="{colour}" stroke-width="2"' if hollow \
                else f'class="last" fill="{colour}"'
            parts.append(f'<circle {look} cx="{lx:.1f}" cy="{ly:.1f}" r="4" '
                         f'data-value="{esc(last[1])}"><title>{esc(asset)} {esc(last[0])}: '
                         f'{esc(format_ratio(last[1]))}{mark}{" (from incomplete reads)" if hollow else ""}'
                         f'</title></circle>')
            if end_labels:
                # the latest date's figure: an older one beside the right edge would read as today's
                text = f"{format_ratio(last[1])}{mark}" if last[0] == latest_day else f"no ratio {latest_day}"
                labels.append([ly, colour, f"{asset} {text}"])
        parts.append("</g>")
    labels.sort()
    for j in range(1, len(labels)):  # keep end labels apart
        labels[j][0] = max(labels[j][0], labels[j - 1][0] + 14)
    for ly, colour, text in labels:
        parts.append(f'<text class="end-label" x="{left + pw + 8}" y="{ly + 4:.1f}" fill="{colour}" '
                     f'font-weight="600">{esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------- page

_EXTRA_CSS = """
nav.exchanges { margin: 6px 0 12px; display: flex; flex-wrap: wrap; gap: 6px; }
nav.exchanges a { padding: 3px 10px; border: 1px solid var(--line); border-radius: 14px; background: #fff;
                  color: #222; text-decoration: none; font-size: 13px; }
nav.exchanges a.on { background: #222; color: #fff; border-color: #222; }
.alerts li.resolved { background: #f2f2f2; border-left-color: #aaa; color: #555; }
.alerts .fig { border-bottom: 1px dotted currentColor; white-space: nowrap; }
.alerts .when { color: var(--muted); font-size: 12px; }
.api { font-size: 12px; color: var(--muted); }
"""


def _ratio_td(v: Any, partial: bool = False) -> str:
    """A ratio rounded down (as the feed and the report write it, on hover); ``partial``: from
    incomplete reads, marked as the terminal and HTML reports mark it."""
    d = to_decimal(v)
    if d is None:
        return f'<td class="num">{MISSING}</td>'
    mark = f'\u00a0<span class="incomplete partial-mark">{PARTIAL_MARK}</span>' if partial else ""
    why = " (from incomplete reads)" if partial else ""
    return (f'<td class="num {"below" if d < 1 else "above"}" title="ratio {esc(fmt(shown_fraction(d)))}{why}">'
            f"{esc(format_ratio(d))}{mark}</td>")


def _nav(data: dict) -> str:
    links = []
    for name, snap in data["exchanges"]:
        on = ' class="on"' if name == data["exchange"] else ""
        links.append(f'<a{on} href="/?exchange={esc(quote(name, safe=""))}" title="latest snapshot '
                     f'{esc(snap or MISSING)}">{esc(name)}</a>')
    return '<nav class="exchanges">' + "".join(links) + "</nav>" if links else ""


def _cards(data: dict) -> str:
    ratios = data["latest"]["ratios"]
    # what the card says: a liabilities figure (an unread asset has one and no ratio)
    with_liab = [q for q in ratios if q["liabilities"] is not None]
    below = [q["asset"] for q in ratios if q["proven_ratio"] is not None and Decimal(q["proven_ratio"]) < 1]
    no_ratio = [q["asset"] for q in with_liab if q["proven_ratio"] is None]
    below_figure, below_text = charts.below_card(below, no_ratio, sum(q["proven_ratio"] is not None for q in ratios))
    read = sum(a.get("rows_read") or 0 for a in data["assets"])
    expected = sum(a.get("rows_expected") or 0 for a in data["assets"])
    run = data["latest"]["run"]
    cards = [
        ("Snapshot", run.get("snapshot_date") or MISSING, f"run #{run['id']}"),
        ("Assets", format_count(len(ratios)), f"{len(with_liab)} with liabilities"),
        ("Proven ratio below 100%", below_figure, below_text),
        ("Balances read", charts.format_fraction(read, expected) if expected else MISSING,
         rows_read_text(read, expected) if expected else ""),
        ("Open alerts", format_count(data.get("open_alerts", 0)), "see below"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="small">{esc(t)}</div><div class="big">{esc(v)}</div>'
        f'<div class="small">{esc(s)}</div></div>' for t, v, s in cards) + "</div>"


def _history(data: dict) -> str:
    series = data["series"]
    legend = charts.legend([(a, SERIES_COLOURS[i % len(SERIES_COLOURS)]) for i, a in enumerate(series)]
                           + [("100% of liabilities (dashed)", charts.REFERENCE)])
    n = max((len(p) for p in series.values()), default=0)
    partial = data.get("partial") or {}
    return ('<h2 id="history">Proven reserve ratio over time</h2><div class="card">' + legend
            + charts.wide_or_narrow(ratio_history_chart(series, partial=partial),
                                    ratio_history_chart(series, width=charts.NARROW_WIDTH, height=220,
                                                        end_labels=False, partial=partial))
            + f'<p class="sub">One point per snapshot date (the newest finished run of that date), {n} date(s), '
              "last 12 months. Gaps: no ratio that day (no liabilities figure, or none of the asset's rows "
              "read on chain)."
            + (f" Hollow points ({PARTIAL_MARK}): from incomplete reads, the rows not read are not in the "
               "reserves." if any(partial.values()) else "")
            + "</p></div>")


def _partial(q: dict) -> bool:
    """Whether an asset's latest figures come from incomplete reads (some rows not read)."""
    return is_partial(q.get("rows_read"), q.get("rows_expected"))


def _latest(data: dict) -> str:
    ratios = data["latest"]["ratios"]
    items = [RatioItem(q["asset"], to_decimal(q["proven_ratio"]), to_decimal(q["with_unproven_ratio"]),
                       "no liabilities" if q["liabilities"] is None else "no ratio", _partial(q)) for q in ratios]
    cov = [CoverageItem(q["asset"], q["rows_read"], q["rows_expected"]) for q in ratios]
    columns = [("Asset", False), ("Proven ratio", True), ("With unproven", True), ("Liabilities", True),
               ("Provenance", False), ("Proven reserves", True), ("With unproven reserves", True), ("Coverage", True)]
    rows = []
    for q in ratios:
        partial = _partial(q)
        cells = [f"<td><b>{esc(q['asset'])}</b></td>", _ratio_td(q["proven_ratio"], partial),
                 _ratio_td(q["with_unproven_ratio"], partial),
                 f'<td class="num">{breakable(esc(format_amount(q["liabilities"])))}</td>',
                 f"<td>{provenance_badge(q['liabilities_provenance'], q['liabilities'] is not None)}</td>",
                 f'<td class="num">{breakable(esc(format_amount(q["proven_reserves"])))}</td>',
                 f'<td class="num">{breakable(esc(format_amount(q["with_unproven_reserves"])))}</td>',
                 f'<td class="num"><span class="{"incomplete" if partial else ""}">'
                 f'{esc(rows_read_text(q["rows_read"], q["rows_expected"]))}</span>'
                 + ("" if q["at_snapshot"] is not False else ' <span class="latest">read at latest block</span>')
                 + "</td>"]
        rows.append(cells)
    note = (f'<p class="partial-note">{esc(PARTIAL_NOTE)}</p>' if any(i.partial and i.proven_ratio is not None
                                                                      for i in items) else "")
    return ('<h2 id="latest">Latest reserve ratios</h2><div class="grid2">'
            '<div class="card"><h3>Reserve ratio per asset</h3>'
            + charts.legend([("proven \u2265 100%", charts.OK), ("with unproven", charts.OK_LIGHT),
                             ("proven < 100%", charts.BAD), ("with unproven", charts.BAD_LIGHT)])
            + charts.ratio_figure(items) + note
            + '</div><div class="card"><h3>Coverage: balances read</h3>'
            + charts.legend([("all rows read", charts.OK), ("rows missing", charts.INCOMPLETE)])
            + charts.coverage_figure(cov)
            + '</div></div><div style="margin-top:12px">'
            + stack_table("assets", columns, rows, "no assets") + note + "</div>")


# ------------------------------------------------------------------------------------- alerts

def _fig(shown: str, exact: Any) -> str:
    """A figure scaled for reading, its exact value on hover."""
    return f'<span class="fig" title="{esc(exact)}">{esc(shown)}</span>'


def _pct(value: Any) -> str:
    """A ratio or threshold in percent, rounded down by the one rule; whole percents without decimals."""
    d = to_decimal(value)
    if d is None:
        return esc(value) if value is not None else MISSING
    exponent = (d * 100).normalize().as_tuple().exponent  # a threshold of 0.999 reads 99.9%, of 1 reads 100%
    places = min(2, max(0, -exponent)) if isinstance(exponent, int) else 2
    return _fig(format_ratio(d, places), f"{d} ({format_ratio(d, 6)})")


def _amt(value: Any, unit: str, signed: bool = False) -> str:
    d = to_decimal(value)
    if d is None:
        return esc(value) if value is not None else MISSING
    shown = format_scaled(d, unit)
    return _fig(("+" + shown) if signed and d > 0 else shown, f"{format_amount(d, signed=signed)} {unit}".strip())


_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w.])")


def _scaled_message(message: str, unit: str) -> str:
    """An alert's own words with its large figures scaled (exact on hover); other figures as written."""
    out, pos = [], 0
    for m in _NUMBER.finditer(message):
        try:
            d = Decimal(m.group().replace(",", ""))
        except ArithmeticError:
            continue
        if abs(d) < 10_000:
            continue
        out.append(esc(message[pos:m.start()]) + _amt(d, unit))
        pos = m.end()
    return "".join(out) + esc(message[pos:])


def _safe_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def alert_html(key: str, message: str, detail: Any) -> str:
    """An alert in words with its figures scaled for reading and exact on hover. Alerts raised by
    ``porscan schedule`` carry their figures in ``detail`` (``rule``, ``value``, ``threshold``...);
    any other alert shows its message with large numbers scaled."""
    d = detail if isinstance(detail, dict) else {}
    rule = str(d.get("rule") or key.partition(":")[0])
    asset = str(d.get("asset") or key.partition(":")[2])
    if rule == "proven_ratio_below" and d.get("value") is not None and d.get("threshold") is not None:
        text = (f"{esc(asset)} proven reserve ratio {_pct(d['value'])} is below {_pct(d['threshold'])}"
                + (f" ({esc(d['provenance'])} liabilities)" if d.get("provenance") else ""))
    elif rule == "coverage_below" and d.get("threshold") is not None:
        read, expected = _safe_int(d.get("rows_read")), _safe_int(d.get("rows_expected"))
        text = (f"{esc(asset)} coverage {esc(rows_read_text(read, expected))} is below {_pct(d['threshold'])}")
    elif rule == "mismatch_above" and d.get("onchain") is not None and d.get("published") is not None:
        text = (f"{esc(asset)} on chain {_amt(d['onchain'], asset)} differs from the published "
                f"{_amt(d['published'], asset)} (rows read) by {_amt(d.get('difference'), asset, signed=True)} "
                f"({_pct(d.get('value'))}), above {_pct(d.get('threshold'))}")
    elif rule == "failed_signatures_above" and _safe_int(d.get("value")) is not None:
        text = (f"{esc(format_count(d['value']))} row(s) failed ownership verification, more than "
                f"{esc(format_count(_safe_int(d.get('threshold'))))}")
    else:
        return _scaled_message(message, asset)
    tag = ", ".join(p for p in (f"run {esc(d['run_id'])}" if d.get("run_id") is not None else "",
                                f"snapshot {esc(d['snapshot_date'])}" if d.get("snapshot_date") else "") if p)
    return text + (f' <span class="when">({tag})</span>' if tag else "")


def _alerts(data: dict) -> str:
    items = []
    for a in data["alerts"]:
        state = "open" if a.resolved_at is None else f"resolved {a.resolved_at}"
        cls = "bad" if a.resolved_at is None else "resolved"
        items.append(f'<li class="{cls}" title="{esc(a.message)}"><b>{esc(a.key)}</b> \u00b7 {esc(state)} \u00b7 '
                     f"opened {esc(a.opened_at)}<br>{alert_html(a.key, a.message, a.detail)}</li>")
    return ('<h2 id="alerts">Recent alerts</h2>'
            + ('<ul class="alerts">' + "".join(items) + "</ul>" if items else "<p>No alerts.</p>"))


def render_dashboard(data: dict, *, refresh: int | None = None) -> str:
    """The page for ``gather``'s data; it reloads itself every ``refresh`` seconds (default
    ``refresh_seconds()``; 0: never)."""
    exchange = data.get("exchange")
    title = f"porscan dashboard: {exchange}" if exchange else "porscan dashboard"
    body = [f"<h1>{esc(title)}</h1>", _nav(data)]
    if exchange is None:
        body.append("<p>No runs stored yet. Run <code>porscan scan</code> or <code>porscan schedule --once</code> "
                    "against this database.</p>")
    elif not data["known"]:
        body.append(f"<p>No runs of exchange {esc(exchange)}.</p>")
    elif data["latest"] is None:
        body.append(f"<p>No finished run of {esc(exchange)} yet.</p>")
        body.append(_alerts(data))
    else:
        run = data["latest"]["run"]
        body.append(f'<p class="meta">latest finished run #{esc(run["id"])} \u00b7 snapshot '
                    f'{esc(run.get("snapshot_date") or MISSING)} \u00b7 finished {esc(run.get("finished_at") or MISSING)}'
                    f' \u00b7 porscan {esc(run.get("tool_version") or "")}</p>')
        body += [_cards(data), _alerts(data), _history(data), _latest(data), networks_section(data["assets"])]
    seconds = refresh_seconds() if refresh is None else refresh
    reload_note = f" \u00b7 reloads every {seconds} s" if seconds > 0 else ""
    body.append(f'<footer>porscan {esc(__version__)} feed \u00b7 JSON: <a href="/api/v1/openapi.json">'
                '/api/v1/openapi.json</a> \u00b7 <a href="/metrics">/metrics</a> \u00b7 figures drawn without '
                f"scripts; amounts exact{reload_note}.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            + (f'<meta http-equiv="refresh" content="{seconds}">' if seconds > 0 else "")
            + f"<title>{esc(title)}</title><style>{REPORT_CSS}{_EXTRA_CSS}</style></head>\n<body><main>"
            + "\n".join(body) + "</main></body></html>\n")
