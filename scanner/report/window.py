"""The snapshot window section of a report: terminal lines (from the record) and HTML (from the
report's JSON, as the HTML page reads it). Every string from the report is escaped in HTML: addresses
and reasons come from published files and endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from ..amounts import fmt, from_base_units
from ..window_model import WindowAddress, WindowReport
from .charts import MISSING, esc, format_amount


def _w(window: WindowReport) -> str:
    if window.blocks is not None:
        return f"{window.blocks} blocks"
    return f"{window.window} ({window.seconds:,} s)" if window.seconds is not None else window.window


def _units(units: int, decimals: int) -> str:
    return fmt(from_base_units(units, decimals))


def _wallet(a: WindowAddress) -> str:
    return (f"{a.address} on {a.network} (line {a.line}): {_units(a.dressed, a.decimals)} dressed; "
            f"{_units(a.before, a.decimals)} at {a.snapshot} - w, {_units(a.at, a.decimals)} at {a.snapshot}, "
            f"{_units(a.after, a.decimals)} at {a.snapshot} + w")


def render_window(window: WindowReport, console) -> None:
    """Per asset: window-dressed, arrived before, left after, wallets read on both sides; the blocks
    read per network; the top wallets; what was not read and why."""
    console.print(f"snapshot window, w = {_w(window)}: balances at H - w, H and H + w; window-dressed = present "
                  "at H, absent on both sides", markup=False)
    for h in window.heights:
        sides = " .. ".join(str(x) if x is not None else "not read" for x in (h.before, h.snapshot, h.after))
        console.print(f"  blocks read on {h.network}: {sides} ({h.how})" + (f"; {h.note}" if h.note else ""),
                      markup=False, overflow="fold")
    if not window.assets:
        console.print("  no wallet on a network readable at a past height", markup=False)
    for a in window.assets:
        partial = "" if a.complete else " (partial: only the wallets read on both sides)"
        console.print(f"  {a.asset}: window-dressed {fmt(a.dressed)}, arrived within w before H {fmt(a.arrived)}, "
                      f"left within w after H {fmt(a.left)}; {a.addresses_read:,} of {a.addresses:,} wallets read "
                      f"on both sides{partial}", markup=False, overflow="fold")
        for x in a.top:
            console.print(f"    {_wallet(x)}", markup=False, overflow="fold")
        for u in a.unread:
            console.print(f"    unread: {u.addresses:,} wallet(s): {u.reason}", markup=False, overflow="fold")
    for n in window.not_readable:
        console.print(f"  not in the window: {n.addresses:,} row(s): {n.reason}", markup=False, overflow="fold")
    for note in window.notes:
        console.print(f"  note: {note}", markup=False, overflow="fold")


def _amount(value: Any) -> str:
    try:
        return esc(format_amount(Decimal(str(value))))
    except ArithmeticError:
        return MISSING if value is None else esc(value)


def window_html(report: dict, stack_table: Callable[..., str]) -> str:
    """The window section of the HTML page, or "" when the report has none; ``stack_table`` is the page's
    table (html.stack_table: passed in, since html.py imports this module)."""
    w = report.get("window")
    if not isinstance(w, dict):
        return ""
    try:
        window = WindowReport.from_json(w)
    except (KeyError, TypeError, ValueError):
        return '<h2 id="window">Snapshot window</h2><p>unreadable window section</p>'
    heights = "".join(f"<li>{esc(h.network)}: {esc(h.before if h.before is not None else 'not read')} .. "
                      f"{esc(h.snapshot)} .. {esc(h.after if h.after is not None else 'not read')} ({esc(h.how)})"
                      + (f"; {esc(h.note)}" if h.note else "") + "</li>" for h in window.heights)
    rows = [[f"<td><b>{esc(a.asset)}</b></td>", f'<td class="num">{_amount(a.dressed)}</td>',
             f'<td class="num">{_amount(a.arrived)}</td>', f'<td class="num">{_amount(a.left)}</td>',
             f'<td class="num">{a.addresses_read:,} / {a.addresses:,}</td>'] for a in window.assets]
    table = stack_table("window", [("Asset", False), ("Window-dressed", True), ("Arrived within w before H", True),
                                   ("Left within w after H", True), ("Wallets read on both sides", True)],
                        rows, "no wallet on a network readable at a past height")
    wallets = [[f"<td>{esc(a.asset)}</td>", f"<td>{esc(x.network)}</td>", f"<td>{esc(x.address)}</td>",
                f'<td class="num">{_amount(_units(x.dressed, x.decimals))}</td>',
                f'<td class="num">{_amount(_units(x.before, x.decimals))}</td>',
                f'<td class="num">{_amount(_units(x.at, x.decimals))}</td>',
                f'<td class="num">{_amount(_units(x.after, x.decimals))}</td>'] for a in window.assets for x in a.top]
    top = stack_table("window-top", [("Asset", False), ("Network", False), ("Address", False), ("Dressed", True),
                                     ("At H - w", True), ("At H", True), ("At H + w", True)], wallets,
                      "no wallet window-dressed")
    left = [f"{a.asset}: {u.addresses:,} wallet(s): {u.reason}" for a in window.assets for u in a.unread]
    left += [f"{n.addresses:,} row(s): {n.reason}" for n in window.not_readable] + list(window.notes)
    return (f'<h2 id="window">Snapshot window (w = {esc(_w(window))})</h2><p class="sub">Balances at H - w, H and '
            "H + w; window-dressed: present at H, absent on both sides. A wallet not read on both sides is left out "
            f"and counted, never taken as 0.</p><ul class=\"notes\">{heights}</ul>{table}{top}"
            + ("<ul class=\"notes\">" + "".join(f"<li>{esc(x)}</li>" for x in left) + "</ul>" if left else ""))
