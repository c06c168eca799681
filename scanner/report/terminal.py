"""Terminal rendering of ``porscan scan`` reports, plans and run lists (rich).

Money is never cut: amounts are shown with every decimal they have. When the per-asset or
per-network table is wider than the terminal, the same figures are printed stacked, one amount per
line, instead of a table whose cells rich would crop; piped output gets the tables at their natural
width (the CLI gives a non-terminal console no width limit)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rich.markup import escape

from ..amounts import fmt, shown_percent
from ..records import PROVENANCE_NOTES, Figures
from ..report_model import PARTIAL_MARK, PARTIAL_NOTE, AssetReport, Place, Rubric, ScanReport, UsdComparison
from .charts import MISSING, below_card

if TYPE_CHECKING:
    from ..pipeline.scan import ScanPlan


def _ratio(value: Decimal | None) -> str:
    if value is None:
        return "-"
    shown = shown_percent(value)
    return f"[red]{shown}" if value < 1 else f"[green]{shown}"


def _num(value: Decimal | None) -> str:
    """An exact amount with thousands separators and every decimal it has (-0.5 keeps its sign)."""
    if value is None:
        return "-"
    text = fmt(value)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, frac = digits.partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()):
        return text
    return f"{sign}{int(whole):,}{dot}{frac}"


def _fits(table, console) -> bool:
    """Whether ``table`` at its natural width (as if the terminal were unlimited) fits the terminal."""
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    return bool(natural <= console.width)


_AMOUNTS = (("published", "published"), ("on chain", "onchain"), ("proven", "proven"), ("owner-only", "owner_only"),
            ("key-only", "key_only"), ("unverified", "unverified"), ("unread (published)", "unread_published"))


def _amounts(a: AssetReport) -> list[str]:
    return [_num(getattr(a.figures, key)) for _, key in _AMOUNTS]


def _closed(markup: str) -> str:
    return markup + "[/]" if markup.startswith("[") else markup


def _partial(a: AssetReport) -> str:
    """The mark of a ratio computed from incomplete reads."""
    return a.mark


def _liabilities(a: AssetReport) -> str:
    prov = a.liabilities_provenance
    if prov in PROVENANCE_NOTES:
        prov += f", {PROVENANCE_NOTES[prov]}"
    return (_num(a.liabilities) + (f" ({prov})" if prov else "")) if a.liabilities else "-"


def _blocks(n: Place) -> str:
    text = ", ".join(f"{b.number}" + ("" if b.at_snapshot else " (latest, not the snapshot)")
                     for b in n.blocks[:3]) + (" ..." if len(n.blocks) > 3 else "")
    return text or "-"


def _read(f) -> str:
    return f"{f.rows_read}/{f.rows_expected}"


def _stacked_assets(report: ScanReport, console) -> None:
    """The per-asset figures for a narrow terminal: a heading line per asset, then one amount per line."""
    console.print("Reserves per asset", markup=False)
    for a in report.assets:
        partial = _partial(a)
        console.print(f"[bold]{escape(a.asset)}[/bold]  proven ratio {_closed(_ratio(a.proven_ratio))}{partial}  "
                      f"with unproven {_closed(_ratio(a.with_unproven_ratio))}{partial}  coverage {_read(a.figures)}")
        for (label, _), amount in zip(_AMOUNTS, _amounts(a)):
            console.print(f"  {label:<19} {amount}", markup=False, overflow="fold")
        console.print(f"  {'liabilities':<19} {_liabilities(a)}", markup=False, overflow="fold")


def _stacked_networks(report: ScanReport, console) -> None:
    console.print("Per network", markup=False)
    for a in report.assets:
        for n in a.networks:
            console.print(f"{a.asset} on {n.network} ({' '.join(n.coins)}): rows read {_read(n.figures)}, "
                          f"blocks {_blocks(n)}", markup=False, overflow="fold")
            console.print(f"  {'on chain':<19} {_num(n.figures.onchain)}", markup=False, overflow="fold")
            console.print(f"  {'proven':<19} {_num(n.figures.proven)}", markup=False, overflow="fold")


def _split_unknown(f: Figures) -> str:
    return f"{_num(f.split_unknown)} ({f.split_unknown_rows} row(s))" if f.split_unknown_rows else "-"


def split_lines(report: ScanReport) -> list[tuple[str, str, Figures]]:
    """(asset, where, figures) of every asset, and network of it, whose on-chain amount is not all liquid."""
    out: list[tuple[str, str, Figures]] = []
    for a in report.assets:
        if a.figures.has_split:
            out.append((a.asset, "all networks", a.figures))
            out += [(a.asset, n.network, n.figures) for n in a.networks if n.figures.has_split]
    return out


def _render_split(report: ScanReport, console) -> None:
    """Liquid / staked / unbonding of the on-chain amounts, where any of them is staked or locked."""
    from rich.table import Table

    lines = split_lines(report)
    if not lines:
        return
    table = Table(title="Staked and locked (parts of on chain)", title_justify="left")
    for col in ("asset", "network", "on chain", "liquid", "staked", "unbonding", "split unknown"):
        table.add_column(col, justify="left" if col in ("asset", "network") else "right")
    for asset, where, f in lines:
        table.add_row(asset, where, _num(f.onchain), _num(f.liquid), _num(f.staked), _num(f.unbonding),
                      _split_unknown(f))
    if _fits(table, console):
        console.print(table)
    else:
        console.print("Staked and locked (parts of on chain)", markup=False)
        for asset, where, f in lines:
            console.print(f"{asset} on {where}", markup=False)
            for label, value in (("liquid", _num(f.liquid)), ("staked", _num(f.staked)),
                                 ("unbonding", _num(f.unbonding)), ("split unknown", _split_unknown(f))):
                console.print(f"  {label:<19} {value}", markup=False, overflow="fold")
    if any(f.split_unknown_rows for _, _, f in lines):
        console.print("  split unknown: rows whose split could not be read, not counted as liquid", markup=False)


def render_scan(report: ScanReport, console) -> None:
    from rich.table import Table

    from ..pipeline.scan import verdict

    run = report.run
    console.print(f"porscan scan: run {run.id} ({run.exchange}), {report.rows:,} rows"
                  + (" (resumed)" if run.resumed else "")
                  + (f", snapshot {run.snapshot_date}" if run.snapshot_date else ""), markup=False)
    console.print(f"verdict: {verdict(report).line}", markup=False, overflow="fold")
    table = Table(title="Reserves per asset", title_justify="left")
    for col in ("asset", "published", "on chain", "proven", "owner-only", "key-only", "unverified", "unread (published)",
                "liabilities", "proven ratio", "with unproven", "coverage"):
        table.add_column(col, justify="left" if col == "asset" else "right")
    incomplete = False
    for a in report.assets:
        partial = _partial(a)
        incomplete |= bool(partial)
        table.add_row(a.asset, *_amounts(a), _liabilities(a), _ratio(a.proven_ratio) + partial,
                      _ratio(a.with_unproven_ratio) + partial, _read(a.figures))
    if _fits(table, console):
        console.print(table)
    else:
        _stacked_assets(report, console)
    if incomplete:
        console.print(f"  {PARTIAL_NOTE}", markup=False)
    net = Table(title="Per network", title_justify="left")
    for col in ("asset", "network", "coins", "on chain", "proven", "rows read", "blocks"):
        net.add_column(col)
    for a in report.assets:
        for n in a.networks:
            net.add_row(a.asset, n.network, " ".join(n.coins), _num(n.figures.onchain), _num(n.figures.proven),
                        _read(n.figures), _blocks(n))
    if _fits(net, console):
        console.print(net)
    else:
        _stacked_networks(report, console)
    _render_split(report, console)
    for a in report.assets:
        for c in a.custodians:
            console.print(f"  {a.asset} held by {c.custodian} (within the totals): {c.rows} row(s), "
                          f"published {_num(c.published)}, on chain {_num(c.onchain)} "
                          f"({c.rows_read}/{c.rows} read)", markup=False)
    if report.usd is not None:
        render_usd(report.usd, console)
    if report.window is not None:
        from .window import render_window

        render_window(report.window, console)
    if report.rubric is not None:
        render_rubric(report.rubric, console)
    console.print("ownership: " + ", ".join(f"{k} {n:,}" for k, n in report.by_status.items()), markup=False)
    if report.balance_status:
        console.print("balances: " + ", ".join(f"{k} {n:,}" for k, n in report.balance_status.items()), markup=False)
    if report.summary_block.mismatches:
        console.print(f"[red]summary block disagrees with the detail rows for {escape(', '.join(report.summary_block.mismatches))}")
    for note in report.notes[:30]:
        console.print(f"  note: {note}", markup=False)
    if report.liabilities is not None:
        for w in report.liabilities.warnings[:10]:
            console.print(f"  liabilities: {w}", markup=False)
        proofs = report.liabilities.proofs
        if proofs:
            count = {s: sum(proof.status == s for proof in proofs) for s in ("verified", "failed", "not_verified")}
            console.print(f"liabilities proofs checked by porscan: {count['verified']} verified, {count['failed']} failed, "
                          f"{count['not_verified']} not verified", markup=False)
            for proof in [proof for proof in proofs if proof.status != "verified"][:10]:
                console.print(f"  {proof.status}: {proof.file}: {proof.reason}", markup=False, overflow="fold")


def render_rubric(rubric: Rubric, console) -> None:
    """The quality grade with every criterion's fact, grade and rule (the worst measured grade wins)."""
    limiting = [c.name for c in rubric.criteria if c.grade == rubric.grade]
    console.print(f"quality grade {rubric.grade} (the worst criterion: {', '.join(limiting) or '-'}); "
                  "each from a verified fact:", markup=False)
    for c in rubric.criteria:
        console.print(f"  {c.grade}  {c.name}: {c.value}  [{c.rule}]", markup=False, overflow="fold")


def render_usd(usd: UsdComparison, console) -> None:
    """Reserves against liabilities in USD: every price with its source and time, the total ratio
    and what it leaves out. Stacked lines: exact dollar figures are long."""
    console.print("In USD at the snapshot", markup=False)
    for a in usd.assets:
        if a.price is None:
            console.print(f"  {a.asset}: no price", markup=False)
            continue
        where = f"{a.price_source} {a.price_label or ''}".strip() + (f" at {a.price_at}" if a.price_at else "") + (
            f", block {a.price_block}" if a.price_block is not None else "")
        console.print(f"  {a.asset}: price {_num(a.price)} USD ({where}); proven {_num(a.proven)} USD"
                      + (f", liabilities {_num(a.liabilities)} USD" if a.liabilities is not None else "")
                      + (f" ({a.note})" if a.note else ""), markup=False, overflow="fold")
    console.print(f"  total proven reserves {_num(usd.proven)} USD, with unproven {_num(usd.with_unproven)} USD", markup=False,
                  overflow="fold")
    prov = f", {usd.liabilities_provenance}" if usd.liabilities_provenance else ""
    console.print(f"  net liabilities {_num(usd.liabilities)} USD ({usd.liabilities_source}{prov})", markup=False,
                  overflow="fold")
    mark = " *" if not usd.complete and usd.ratio is not None else ""
    console.print(f"  total reserve ratio in USD: proven {_closed(_ratio(usd.ratio))}{mark}, with unproven "
                  f"{_closed(_ratio(usd.with_unproven_ratio))}{mark}")
    if len(usd.by_class) > 1 or "native" not in usd.by_class:
        console.print("  proven reserves by kind: " + ", ".join(f"{k} {_num(v)} USD" for k, v in usd.by_class.items()),
                      markup=False, overflow="fold")
    if "own-issued" in usd.by_class:
        console.print(f"  clean ratio (without the exchange's own tokens): {_closed(_ratio(usd.clean_ratio))}{mark}")
    for why in usd.left_out[:20]:
        console.print(f"  left out: {why}", markup=False, overflow="fold")


def render_plan(plan: ScanPlan, console) -> None:
    from rich.table import Table

    console.print(f"plan for {plan.file} ({plan.layout}, {plan.rows:,} rows, "
                  f"{plan.invalid_rows} unreadable; sha256 {plan.sha256[:16]}...)", markup=False)
    table = Table(title="Balances to read (nothing is read in a dry run)", title_justify="left")
    for col in ("network", "kind", "rows", "coins", "heights", "reads", "endpoints", "requests (est.)"):
        table.add_column(col)
    for n in plan.networks:
        table.add_row(n.network, n.kind, f"{n.rows:,}", ", ".join(f"{c} {k:,}" for c, k in n.coins.items()),
                      ", ".join(str(h) for h in n.heights[:4]) + (" ..." if len(n.heights) > 4 else ""), n.reads,
                      ", ".join(n.endpoints) + (f" (left out: {len(n.left_out)})" if n.left_out else ""),
                      "-" if n.requests is None else f"{n.requests:,}")
    console.print(table)
    for n in plan.networks:
        for why in n.left_out:
            console.print(f"  left out: {n.network} endpoint {why}", markup=False)
        for w in n.warnings:
            console.print(f"  warning: {w}", markup=False)
    for coin, rows, why in plan.unsupported:
        console.print(f"  not read: {coin} ({rows:,} rows): {why}", markup=False)
    if plan.liabilities is not None:
        console.print(f"liabilities: {plan.liabilities[0]}, {plan.liabilities[1]} asset figures", markup=False)
    if plan.jobs is not None:
        j = plan.jobs
        nets = ", ".join(f"{n} {k:,} slice{'s' if k != 1 else ''}" for n, k in j.slices.items()) or "none"
        console.print(f"jobs for `porscan worker`: {j.verify:,} verification (chunks of {j.chunk_bytes:,} bytes), "
                      f"then {len(j.slices)} balance ({nets}; up to {j.slice_rows:,} rows a slice)", markup=False)
    console.print(f"database: {plan.db}", markup=False)


def render_runs(runs, console) -> None:
    from rich.table import Table

    from ..pipeline.scan import below
    from ..report_model import ReportError

    table = Table(title="Stored runs", title_justify="left")
    for col in ("id", "exchange", "status", "started", "snapshot", "input", "assets below 100%"):
        table.add_column(col)
    partial = False
    for r in runs:
        low = "? (damaged row: `porscan report` says why)" if r.damaged else ""
        if r.status == "done" and r.summary:
            try:
                report = ScanReport.from_json(r.summary)
                marked = [name + (a.mark if (a := report.asset(name)) is not None else "")
                          for name in below(report, Decimal(1))]
                partial |= any(m.endswith(PARTIAL_MARK) for m in marked)
                no_ratio = [a.asset for a in report.assets if a.liabilities is not None and a.proven_ratio is None]
                figure, low = below_card(marked, no_ratio, sum(a.proven_ratio is not None for a in report.assets))
                if figure == MISSING:  # the column lists names: "-" as the other absent columns
                    low = f"- ({low})"
            except ReportError:  # a report this version cannot read is named, not fatal to the list
                low = "? (unreadable report)"
        table.add_row(str(r.id), r.exchange, r.status, r.started_at, r.snapshot_date or "-", r.input_path, low)
    console.print(table)
    if partial:
        console.print(f"  {PARTIAL_NOTE}", markup=False)
