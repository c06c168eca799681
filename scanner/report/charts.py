"""Chart primitives for porscan's pages: exact number formatting and inline SVG bar charts.

Pure functions returning strings, no I/O and no JavaScript: a page that embeds their output shows its
figures with scripting off. Used by the standalone HTML report (``scanner.report.html``) and the
feed's dashboard, so both draw the same figures in the same colours.

Money stays exact: amounts arrive as decimal strings (or ``Decimal``/``int``) and are *formatted*,
never converted to float; floats appear only for geometry (a bar's length is a ratio of two amounts).
Every text a chart draws is HTML-escaped here, so callers pass plain (possibly hostile) strings.

Screens: each figure has a wide drawing and a narrow one for phones (labels above the bars, 340 units
wide, shown unscaled), paired by :func:`wide_or_narrow`; the page's stylesheet shows one of them.

Why one file: the palette, the exact number formats, the geometry and the layouts are shared by
every chart and by both pages; split apart, the report and the dashboard would drift.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Mapping, Sequence

from ..amounts import EXACT, count_percent, fmt, round_to, shown_fraction
from ..report_model import PARTIAL_MARK, PARTIAL_NOTE  # noqa: F401 (the partial mark's one home; read from here too)

MISSING = "\u2014"  # em dash: a figure that is absent (null), never shown as 0

# ---------------------------------------------------------------------------------------------
# Palette: one meaning per colour, shared by every porscan page.
# ---------------------------------------------------------------------------------------------
OK = "#1a9850"           # ratio >= 1 (proven) / complete coverage / verified
OK_LIGHT = "#91cf60"     # ratio >= 1 with unproven amounts added
BAD = "#d73027"          # ratio < 1 (proven) / failed
BAD_LIGHT = "#fc8d59"    # ratio < 1 with unproven amounts added
INCOMPLETE = "#e6a100"   # coverage below 100 %
REFERENCE = "#222222"    # the 100 % line
GRID = "#dddddd"
TEXT = "#222222"
MUTED = "#666666"


@dataclass(frozen=True)
class Segment:
    """One kind of amount in a stacked bar: its key in the row's values, legend label and colour."""

    key: str
    label: str
    colour: str


# How on-chain reserves split by what the row's signature proved, plus the published amount of rows
# that could not be read: the chart, the HTML report and the dashboard show one split, in the same
# order and colours, so a reader never compares two legends.
RESERVE_SEGMENTS: tuple[Segment, ...] = (
    Segment("proven", "proven (verified rows)", OK),
    Segment("owner_only", "owner-only", "#4575b4"),
    Segment("key_only", "key-only", "#74add1"),
    Segment("unverified", "unverified", "#fdae61"),
    Segment("unread_published", "unread (published amount)", "#8c8c8c"),
)

# Row statuses of the verification stage.
STATUS_SEGMENTS: tuple[Segment, ...] = (
    Segment("verified", "verified", OK),
    Segment("owner_only", "owner_only", "#4575b4"),
    Segment("key_only", "key_only", "#74add1"),
    Segment("unsupported", "unsupported", "#9e7cc1"),
    Segment("unsigned", "unsigned", "#fdd49e"),
    Segment("skipped", "skipped", "#bdbdbd"),
    Segment("failed", "failed", BAD),
    Segment("invalid_row", "invalid_row", "#7f0000"),
)


def ratio_colours(ratio: Decimal | None) -> tuple[str, str]:
    """(colour of the proven bar, colour of the with-unproven bar) for an asset's proven ratio."""
    if ratio is not None and ratio < 1:
        return BAD, BAD_LIGHT
    return OK, OK_LIGHT


# ---------------------------------------------------------------------------------------------
# Numbers: exact formatting of decimal strings.
# ---------------------------------------------------------------------------------------------
def to_decimal(value: str | int | Decimal | None) -> Decimal | None:
    """A report figure as Decimal (``None`` stays ``None``). Floats are refused: money is exact."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"amounts must be decimal strings, ints or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value[:40]!r}") from None
    else:
        raise TypeError(f"not a number: {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def format_amount(value: str | int | Decimal | None, *, signed: bool = False) -> str:
    """Exact amount with thousands separators: ``"-1234567.000000000000000001"`` ->
    ``"-1,234,567.000000000000000001"``. Keeps every digit given (``"120.00"`` stays ``"120.00"``);
    exponent forms are written out in full; ``None`` -> an em dash; ``signed`` adds ``+`` to
    positive values (for differences)."""
    d = to_decimal(value)
    if d is None:
        return MISSING
    if d.is_zero():
        d = abs(d)  # no "-0"
    text = format(d, ",f")  # Decimal's own formatting: exact at any size and precision
    if signed and d > 0:
        text = "+" + text
    return text


def format_count(n: int | None) -> str:
    """A count of rows with thousands separators (``600000`` -> ``"600,000"``)."""
    if n is None:
        return MISSING
    return format(int(n), ",d")


def below_card(below: Sequence[str], no_ratio: Sequence[str], ratios: int) -> tuple[str, str]:
    """How many assets' proven ratio is below 100%, and which: the figure and its text (HTML report,
    dashboard, ``porscan runs``). ``ratios``: the assets with a ratio; ``no_ratio``: those with a
    liabilities figure but no ratio (nothing read). A count over no ratio at all is absent, not
    "0, none" (which read as every asset at or above 100%, a verdict from nothing); an asset left
    without its ratio is named, never counted as fine."""
    if not ratios:
        return MISSING, ("no ratio: " + ", ".join(no_ratio) + " not read" if no_ratio else "no ratio: no liabilities")
    text = ", ".join(below) or "none"
    if no_ratio:
        text += "; no ratio: " + ", ".join(no_ratio) + " not read"
    return format_count(len(below)), text


def format_ratio(ratio: str | Decimal | None, places: int = 2) -> str:
    """A reserve ratio as a percentage rounded *down* (``"0.99999"`` -> ``"99.99%"``, never a
    flattering ``"100.00%"``): the shown figure never exceeds the real one. The rounding is
    ``amounts.shown_fraction``'s, the one rule for every ratio and coverage a user sees."""
    d = to_decimal(ratio)
    if d is None:
        return MISSING
    pct = shown_fraction(d, places + 2).scaleb(2)
    return format(pct, ",f") + "%"


def format_fraction(numerator: int | None, denominator: int | None) -> str:
    """``9, 10`` -> ``"90%"``; ``4999, 5000`` -> ``"99.9%"`` (rounded down by the one rule, so an
    incomplete count never shows as 100 %); unknown or zero denominator -> an em dash."""
    if numerator is None or not denominator:
        return MISSING
    return count_percent(int(numerator), int(denominator))


_SCALES = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K"))


def format_scaled(value: str | int | Decimal | None, unit: str = "") -> str:
    """An amount scaled for reading at a glance: ``"12412345.6"`` -> ``"12.4M"`` (three significant
    digits, cut toward zero like every shown figure, so the short form never overstates); below
    1,000 the amount itself with at most three decimals cut. Not exact: pages that show it give
    the exact figure beside it or in a ``title``."""
    d = to_decimal(value)
    if d is None:
        return MISSING
    sign, a = ("-" if d < 0 else ""), abs(d)
    if a >= Decimal(10) ** 15:  # past trillions: a mantissa and a power of ten
        exp = a.adjusted()
        mantissa = format(round_to(a.scaleb(-exp), 2, truncate=True), "f").rstrip("0").rstrip(".")
        return f"{sign}{mantissa}e{exp}" + (f" {unit}" if unit else "")
    suffix = ""
    for factor, name in _SCALES:
        if a >= factor:
            a, suffix = a / factor, name
            break
    places = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 or suffix else max(3, 2 - a.adjusted())
    text = format(round_to(a, places, truncate=True), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "0":
        sign = ""
    return f"{sign}{text}{suffix}" + (f" {unit}" if unit else "")


def rows_read_text(rows_read: int | None, rows_expected: int | None) -> str:
    """``"9 / 10 rows read (90%)"``: coverage as every porscan page words it."""
    return f"{format_count(rows_read)} / {format_count(rows_expected)} rows read ({format_fraction(rows_read, rows_expected)})"


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------
def scale(value: Decimal | int | str | None, axis_max: Decimal | int | str, length: float) -> float:
    """Length in pixels of a bar for ``value`` on an axis 0..axis_max drawn ``length`` long,
    clamped to [0, length] (negative or unknown values draw nothing; over-range values are full)."""
    v, m = to_decimal(value), to_decimal(axis_max)
    if v is None or m is None or m <= 0 or v <= 0:
        return 0.0
    if v >= m:
        return float(length)
    return float(v / m) * length  # a float of a ratio: geometry only


def nice_axis_max(largest: Decimal, *, at_least: Decimal = Decimal(0), cap: Decimal | None = None) -> Decimal:
    """A round axis end above ``largest`` (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5 times a power of ten),
    at least ``at_least`` and at most ``cap`` (bars beyond the cap are drawn full and marked)."""
    target = max(largest, at_least)
    if cap is not None:
        target = min(target, cap)
    if target <= 0:
        return Decimal(1)
    exp = target.adjusted()
    for step in ("1", "1.25", "1.5", "2", "2.5", "3", "4", "5", "7.5", "10"):
        candidate = Decimal(step).scaleb(exp)
        if candidate >= target:
            return candidate
    return Decimal(10).scaleb(exp)  # pragma: no cover - the loop ends at 10


def ticks(axis_max: Decimal, count: int = 4) -> list[Decimal]:
    """Evenly spaced round tick values from 0 to ``axis_max`` (inclusive)."""
    raw = axis_max / count
    exp = raw.adjusted()
    step = next(c for c in (Decimal(m).scaleb(exp) for m in ("1", "2", "2.5", "5", "10")) if c >= raw)
    out, v = [], Decimal(0)
    while v <= axis_max:
        out.append(v.normalize() if v else Decimal(0))  # "1E+5" prints as "100,000": exact either way
        v += step
    return out


def _num(x: float) -> str:
    """A coordinate for SVG: at most two decimals, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def esc(text: object) -> str:
    """HTML/SVG-escape any value (quotes included, so it is safe in attributes too)."""
    return html.escape("" if text is None else str(text), quote=True)


_HALO = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'  # text stays legible over grid lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "\u2026"


def _fits(layout: Layout, width: float) -> int:
    """How many characters of chart text fit ``width`` user units (0.58 em each: DejaVu Sans averages less)."""
    return max(4, int(width / (layout.font_size * 0.58)))


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its value (``None``: no bar, only ``text``), colour, sub-label drawn at
    its left, text drawn after it and a tooltip."""

    value: Decimal | None
    colour: str
    label: str = ""
    text: str = ""
    title: str = ""


@dataclass(frozen=True)
class BarGroup:
    """Bars drawn together under one label (e.g. an asset's proven and with-unproven ratios)."""

    label: str
    bars: Sequence[Bar]
    title: str = ""


@dataclass(frozen=True)
class Layout:
    width: int = 760
    label_width: int = 110      # group labels (asset names)
    sublabel_width: int = 0     # per-bar labels ("proven"), 0 = none
    text_width: int = 190       # text after the bar
    bar_height: int = 16
    bar_gap: int = 3
    group_gap: int = 12
    top: int = 22               # room for tick labels
    font_size: int = 12
    # narrow screens: each group's label on a line of its own above its bars, so the bars get the
    # whole width; with text_width 0 a one-bar group's text goes on that line too, right-aligned
    labels_above: bool = False

    @property
    def plot_x(self) -> int:
        return self.sublabel_width if self.labels_above else self.label_width + self.sublabel_width

    @property
    def label_line(self) -> int:
        """Height of the line above a group that holds its label (narrow layout only)."""
        return self.font_size + 6 if self.labels_above else 0

    @property
    def plot_width(self) -> int:
        return self.width - self.plot_x - self.text_width


def _svg_open(layout: Layout, height: int, aria_label: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {esc(css_class)}" role="img" '
        f'aria-label="{esc(aria_label)}" viewBox="0 0 {layout.width} {height}" width="{layout.width}" '
        f'height="{height}" font-size="{layout.font_size}" font-family="system-ui, sans-serif">'
    )


def _axis(layout: Layout, height: int, axis_max: Decimal, tick_values: Sequence[Decimal],
          tick_label) -> list[str]:
    parts = []
    for t in tick_values:
        x = layout.plot_x + scale(t, axis_max, layout.plot_width)
        parts.append(f'<line class="grid" x1="{_num(x)}" y1="{layout.top - 4}" x2="{_num(x)}" '
                     f'y2="{height}" stroke="{GRID}" stroke-width="1"/>')
        anchor = "start" if x < 16 else "end" if x > layout.width - 16 else "middle"
        parts.append(f'<text x="{_num(x)}" y="{layout.top - 8}" text-anchor="{anchor}" fill="{MUTED}">'
                     f'{esc(tick_label(t))}</text>')
    return parts


def _label_line(layout: Layout, y: float, label: str, css_class: str, text: str = "") -> str:
    """The narrow layout's line above a group: its label, then ``text`` after a middle dot; a long
    label is shortened so that the line stays inside the drawing."""
    more = f'<tspan class="bar-text" font-weight="400"> \u00b7 {esc(text)}</tspan>' if text else ""
    room = _fits(layout, layout.width) - (len(text) + 3 if text else 0)
    return (f'<text class="{css_class}" x="0" y="{_num(y + layout.font_size)}" font-weight="600" fill="{TEXT}"'
            f'{_HALO}>{esc(_clip(label, max(6, room)))}{more}</text>')


def bar_chart(groups: Sequence[BarGroup], *, axis_max: Decimal, reference: Decimal | None = None,
              reference_label: str = "", tick_values: Sequence[Decimal] | None = None,
              tick_label=format_amount, layout: Layout = Layout(), aria_label: str = "",
              css_class: str = "bar-chart") -> str:
    """Horizontal grouped bar chart as an inline ``<svg>``.

    Each bar's length is ``scale(value, axis_max, plot_width)``; a value beyond ``axis_max`` is drawn
    full length with an open end marker (its ``text`` tells the real figure). ``reference`` draws a
    dark dashed vertical line (e.g. the 100 % reserve line). Bars carry ``class="bar"`` and
    ``data-value`` (the exact value) so tests and scripts can read the geometry back.
    """
    L = layout
    height = L.top
    for g in groups:
        height += L.label_line + max(1, len(g.bars)) * (L.bar_height + L.bar_gap) - L.bar_gap + L.group_gap
    height += 4
    text_on_label_line = L.labels_above and not L.text_width
    parts = [_svg_open(L, height, aria_label, css_class)]
    parts += _axis(L, height, axis_max, tick_values if tick_values is not None else ticks(axis_max), tick_label)
    y = L.top
    for g in groups:
        group_h = max(1, len(g.bars)) * (L.bar_height + L.bar_gap) - L.bar_gap
        parts.append('<g class="group">')
        if g.title:
            parts.append(f"<title>{esc(g.title)}</title>")
        if L.labels_above:
            line_text = g.bars[0].text if text_on_label_line and len(g.bars) == 1 else ""
            parts.append(_label_line(L, y, g.label, "group-label", line_text))
            y += L.label_line
        else:
            parts.append(f'<text class="group-label" x="{L.label_width - 8}" y="{_num(y + group_h / 2 + 4)}" '
                         f'text-anchor="end" font-weight="600" fill="{TEXT}">'
                         f'{esc(_clip(g.label, _fits(L, L.label_width - 8)))}</text>')
        for bar in g.bars:
            w = scale(bar.value, axis_max, L.plot_width)
            mid = y + L.bar_height / 2 + 4
            if L.sublabel_width and bar.label:
                parts.append(f'<text x="{L.plot_x - 6}" y="{_num(mid)}" text-anchor="end" fill="{MUTED}">'
                             f'{esc(_clip(bar.label, _fits(L, L.sublabel_width - 6)))}</text>')
            parts.append("<g>")
            if bar.title:
                parts.append(f"<title>{esc(bar.title)}</title>")
            if bar.value is not None:
                parts.append(f'<rect class="bar" data-value="{esc(bar.value)}" x="{L.plot_x}" y="{y}" '
                             f'width="{_num(w)}" height="{L.bar_height}" fill="{esc(bar.colour)}"/>')
                if bar.value > axis_max:  # over range: mark the open end
                    x_end = L.plot_x + w
                    parts.append(f'<path d="M{_num(x_end - 7)} {y} l7 {L.bar_height / 2} l-7 {L.bar_height / 2}" '
                                 f'fill="#ffffff" opacity="0.8"/>')
            if not (text_on_label_line and len(g.bars) == 1):
                parts.append(f'<text class="bar-text" x="{_num(L.plot_x + w + 6)}" y="{_num(mid)}" '
                             f'fill="{TEXT}"{_HALO}>{esc(bar.text)}</text>')
            parts.append("</g>")
            y += L.bar_height + L.bar_gap
        if not g.bars:
            y += L.bar_height + L.bar_gap
        y += L.group_gap - L.bar_gap
        parts.append("</g>")
    if reference is not None and reference <= axis_max:
        x = L.plot_x + scale(reference, axis_max, L.plot_width)
        parts.append(f'<line class="reference" x1="{_num(x)}" y1="{L.top - 4}" x2="{_num(x)}" y2="{height - 2}" '
                     f'stroke="{REFERENCE}" stroke-width="2" stroke-dasharray="5 3"/>')
        if reference_label:
            parts.append(f'<text x="{_num(x + 4)}" y="{height - 4}" fill="{REFERENCE}" font-weight="600">'
                         f'{esc(reference_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class StackRow:
    """One stacked bar: values per segment key (missing/``None`` = nothing drawn), label, text
    after the bar and a tooltip."""

    label: str
    values: Mapping[str, Decimal | str | int | None]
    text: str = ""
    title: str = ""


def stack_total(row: StackRow, segments: Sequence[Segment]) -> Decimal:
    """Sum of a row's non-negative segment values (exact)."""
    total = Decimal(0)
    for s in segments:
        v = to_decimal(row.values.get(s.key))
        if v is not None and v > 0:
            total = EXACT.add(total, v)  # the default context would round beyond 28 digits
    return total


def stacked_bar_chart(rows: Sequence[StackRow], segments: Sequence[Segment], *,
                      axis_max: Decimal | None = None, layout: Layout = Layout(),
                      aria_label: str = "", css_class: str = "stacked-chart",
                      value_format=format_amount, show_axis: bool = True, tick_format=None) -> str:
    """Horizontal stacked bars as an inline ``<svg>``: one bar per row, its segments in the order
    of ``segments``, all rows on one scale (``axis_max``, default the largest row total) so that
    rows compare. Each segment is a ``<rect class="seg" data-key=... data-value=...>`` with a
    tooltip giving the exact amount (``value_format``); zero segments are not drawn. Axis ticks are
    scaled for reading (``tick_format``, default :func:`format_scaled`): ``"100K"``, not six digits."""
    L = layout
    totals = [stack_total(r, segments) for r in rows]
    if axis_max is None:
        axis_max = max(totals, default=Decimal(0))
    if axis_max <= 0:
        axis_max = Decimal(1)
    top = L.top if show_axis else 4
    height = top + len(rows) * (L.label_line + L.bar_height + L.group_gap) + 2
    text_on_label_line = L.labels_above and not L.text_width
    parts = [_svg_open(L, height, aria_label, css_class)]
    if show_axis:
        parts += _axis(L, height, axis_max, ticks(axis_max, 3), tick_format or format_scaled)
    y = top
    for row, total in zip(rows, totals):
        mid = y + L.bar_height / 2 + 4
        parts.append('<g class="row">')
        if row.title:
            parts.append(f"<title>{esc(row.title)}</title>")
        if L.labels_above:
            parts.append(_label_line(L, y, row.label, "row-label", row.text if text_on_label_line else ""))
            y += L.label_line
            mid += L.label_line
        else:
            parts.append(f'<text class="row-label" x="{L.label_width - 8}" y="{_num(mid)}" text-anchor="end" '
                         f'fill="{TEXT}">{esc(_clip(row.label, _fits(L, L.label_width - 8)))}</text>')
        running = Decimal(0)
        x_prev = float(L.plot_x)
        for s in segments:
            v = to_decimal(row.values.get(s.key))
            if v is None or v <= 0:
                continue
            running += v
            # cumulative geometry: segment edges come from exact running sums, so widths add up
            x_next = L.plot_x + scale(running, axis_max, L.plot_width)
            parts.append(f'<rect class="seg" data-key="{esc(s.key)}" data-value="{esc(v)}" x="{_num(x_prev)}" '
                         f'y="{y}" width="{_num(x_next - x_prev)}" height="{L.bar_height}" fill="{esc(s.colour)}">'
                         f"<title>{esc(s.label)}: {esc(value_format(v))}</title></rect>")
            x_prev = x_next
        if not text_on_label_line:
            parts.append(f'<text class="bar-text" x="{_num(x_prev + 6)}" y="{_num(mid)}" fill="{TEXT}"{_HALO}>'
                         f'{esc(row.text)}</text>')
        parts.append("</g>")
        y += L.bar_height + L.group_gap
    parts.append("</svg>")
    return "".join(parts)


NARROW_WIDTH = 340  # a narrow chart's drawing width: shown unscaled on a 390 px phone (12 px text)


def wide_or_narrow(wide: str, narrow: str) -> str:
    """One chart drawn twice: the page's stylesheet shows the wide drawing on large screens and the
    narrow one (labels above bars, ``NARROW_WIDTH`` wide) on phones, so chart text is never scaled
    down to a few pixels. Without a stylesheet both show, which is still readable."""
    return f'<div class="chart-wide">{wide}</div><div class="chart-narrow">{narrow}</div>'


def is_partial(rows_read: int | None, rows_expected: int | None) -> bool:
    """Whether figures come from incomplete reads (some expected rows were not read)."""
    return rows_read is not None and rows_expected is not None and rows_read < rows_expected


def legend(segments: Sequence[Segment] | Sequence[tuple[str, str]]) -> str:
    """An HTML legend: a coloured swatch and label per segment (or ``(label, colour)`` pair)."""
    items = []
    for s in segments:
        label, colour = (s.label, s.colour) if isinstance(s, Segment) else s
        items.append(f'<span class="legend-item"><span class="swatch" style="background:{esc(colour)}"></span>'
                     f"{esc(label)}</span>")
    return '<div class="legend">' + "".join(items) + "</div>"


# ---------------------------------------------------------------------------------------------
# porscan's figures as charts (report and dashboard)
# ---------------------------------------------------------------------------------------------
def _shown(ratio: Decimal | None) -> str:
    """A ratio as the report's JSON and the feed write it (``shown_fraction``)."""
    return MISSING if ratio is None else fmt(shown_fraction(ratio))


@dataclass(frozen=True)
class RatioItem:
    asset: str
    proven_ratio: Decimal | None
    with_unproven_ratio: Decimal | None
    note: str = ""  # e.g. "no liabilities"
    partial: bool = False  # from incomplete reads: the ratios carry PARTIAL_MARK


RATIO_CAP = Decimal(3)  # the axis never runs past 300 %: larger ratios are drawn full and marked


def ratio_chart(items: Sequence[RatioItem], *, layout: Layout = Layout(sublabel_width=96),
                aria_label: str = "Reserve ratio per asset") -> str:
    """Per asset two bars: proven ratio and ratio with unproven amounts added, against the 100 %
    line; red when the proven ratio is below 1, green otherwise (lighter for with-unproven)."""
    largest = max((r for it in items for r in (it.proven_ratio, it.with_unproven_ratio) if r is not None),
                  default=Decimal(1))
    axis_max = nice_axis_max(largest * Decimal("1.05"), at_least=Decimal("1.25"), cap=RATIO_CAP)
    groups = []
    for it in items:
        strong, light = ratio_colours(it.proven_ratio)
        if it.proven_ratio is None and it.with_unproven_ratio is None:
            bars = [Bar(None, strong, "proven", it.note or "no ratio", title=f"{it.asset}: {it.note or 'no ratio'}")]
        else:
            mark = f" {PARTIAL_MARK}" if it.partial else ""
            why = ", from incomplete reads" if it.partial else ""
            bars = [
                Bar(it.proven_ratio, strong, "proven", format_ratio(it.proven_ratio) + mark,
                    title=f"{it.asset} proven ratio: {format_ratio(it.proven_ratio)} ({_shown(it.proven_ratio)}){why}"),
                Bar(it.with_unproven_ratio, light, "with unproven", format_ratio(it.with_unproven_ratio) + mark,
                    title=f"{it.asset} ratio with unproven amounts: {format_ratio(it.with_unproven_ratio)}"
                          f" ({_shown(it.with_unproven_ratio)}){why}"),
            ]
        groups.append(BarGroup(it.asset, bars))
    return bar_chart(groups, axis_max=axis_max, reference=Decimal(1), reference_label="100%",
                     tick_values=ticks(axis_max, 4), tick_label=lambda t: format_ratio(t, 0),
                     layout=layout, aria_label=aria_label, css_class="ratio-chart")


@dataclass(frozen=True)
class CoverageItem:
    label: str
    rows_read: int | None
    rows_expected: int | None


def coverage_chart(items: Sequence[CoverageItem], *, layout: Layout = Layout(text_width=230),
                   aria_label: str = "Rows read per asset") -> str:
    """Rows read / rows expected per item on a 0..100 % axis: green when complete, amber when not."""
    groups = []
    for it in items:
        if it.rows_read is None or not it.rows_expected:
            value = None
        else:
            value = Decimal(int(it.rows_read)) / Decimal(int(it.rows_expected))
        complete = value is not None and int(it.rows_read or 0) >= int(it.rows_expected or 0)
        text = rows_read_text(it.rows_read, it.rows_expected)
        groups.append(BarGroup(it.label, [Bar(value, OK if complete else INCOMPLETE, "", text, f"{it.label}: {text}")]))
    return bar_chart(groups, axis_max=Decimal(1), reference=Decimal(1),
                     tick_values=[Decimal(0), Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1)],
                     tick_label=lambda t: format_ratio(t, 0), layout=layout, aria_label=aria_label,
                     css_class="coverage-chart")


# The layouts every porscan page draws these figures with: wide for a desktop (never scaled down
# below ~98 % on a screen of 960 px or more), narrow for a phone (see wide_or_narrow).
RATIO_WIDE = Layout(width=540, label_width=64, sublabel_width=100, text_width=110)
RATIO_NARROW = Layout(width=NARROW_WIDTH, sublabel_width=100, text_width=80, labels_above=True)
COVERAGE_WIDE = Layout(width=540, label_width=64, text_width=220)
COVERAGE_NARROW = Layout(width=NARROW_WIDTH, text_width=0, labels_above=True)
NETWORKS_WIDE = Layout(width=900, label_width=110, text_width=230, bar_height=18, group_gap=8)
NETWORKS_NARROW = Layout(width=NARROW_WIDTH, text_width=0, bar_height=16, group_gap=8, labels_above=True)


def ratio_figure(items: Sequence[RatioItem]) -> str:
    """:func:`ratio_chart` for every screen (:func:`wide_or_narrow`)."""
    return wide_or_narrow(ratio_chart(items, layout=RATIO_WIDE), ratio_chart(items, layout=RATIO_NARROW))


def coverage_figure(items: Sequence[CoverageItem]) -> str:
    """:func:`coverage_chart` for every screen (:func:`wide_or_narrow`)."""
    return wide_or_narrow(coverage_chart(items, layout=COVERAGE_WIDE), coverage_chart(items, layout=COVERAGE_NARROW))
