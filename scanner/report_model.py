"""The scan report (``"schema": "porscan.scan/1"``) as typed records: what ``porscan scan`` produces and
stores, and what the terminal, the HTML page, the feed, the scheduler's alerts and the dashboard read.

One JSON form per record, next to it (``to_json``/``from_json``): amounts are exact decimal strings
(``amounts.fmt``), ratios and coverage are written twice, as shown (``amounts.shown_fraction``: rounded
down, the one rule) and exact (``*_exact``: what thresholds compare). Reading is tolerant of older
stored reports (keys added since are optional) and strict on types: a document that is not a scan
report raises ``ReportError`` naming the field, never a ``KeyError`` deep inside a renderer.

Why one file: the report is one document with one version (``porscan.scan/1``); its records are
written and read together, and a field added to one is added to its reader in the same place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any, Iterable, Mapping

from .amounts import fmt, shown_fraction
from .errors import InputError
from .records import NO_FIGURES, Failure, Figures, ProofCheck, SummaryCheck, provenance_name, read_difference  # noqa: F401 (NO_FIGURES: part of the model)
from .window_model import WindowReport

SCAN_SCHEMA = "porscan.scan/1"

# The mark of a ratio computed from incomplete reads, and what it means: the words of every output
# (terminal, HTML, dashboard, `porscan runs` and `porscan diff`; the JSON's ratio_note).
PARTIAL_MARK = "*"
PARTIAL_NOTE = ("* from incomplete reads: the rows not read (coverage) are not in the reserves; their published "
                "amounts are in the unread column")


class ReportError(InputError):
    """A JSON document that is not a readable porscan.scan/1 report."""


# ------------------------------------------------------------------------------------ field readers

def _dec(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ReportError(f"{name}: expected a decimal string, got {type(value).__name__}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ReportError(f"{name}: not a decimal number: {str(value)[:40]!r}") from None
    if not d.is_finite():
        raise ReportError(f"{name}: not a finite number: {value!r}")
    return d


def _need_dec(value: Any, name: str) -> Decimal:
    d = _dec(value, name)
    if d is None:
        raise ReportError(f"{name}: missing")
    return d


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"{name}: expected an integer, got {type(value).__name__}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ReportError(f"{name}: expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    return None if value is None else _str(value, name)


def _obj(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReportError(f"{name}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{name}: expected a list, got {type(value).__name__}")
    return value


def _counts(value: Any, name: str) -> dict[str, int]:
    return {str(k): _int(v, f"{name}.{k}") for k, v in _obj(value or {}, name).items()}


def _d(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _record(cls: Any, d: Any, name: str) -> Any:
    """A record's own ``from_json``, with the field path on what it cannot read."""
    try:
        obj = _obj(d, name)
        return cls.from_json(obj, name) if cls.__module__ == __name__ else cls.from_json(obj)
    except ReportError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{name}: {type(exc).__name__}: {exc}") from exc


def _figures(d: Mapping[str, Any], name: str) -> Figures:
    rows = _int(d.get("rows"), f"{name}.rows", 0)
    published = _dec(d.get("published"), f"{name}.published") or Decimal(0)
    onchain = _dec(d.get("onchain"), f"{name}.onchain")
    unread = _dec(d.get("unread_published"), f"{name}.unread_published") or Decimal(0)
    _dec(d.get("difference"), f"{name}.difference")  # checked, not kept: derived from the figures
    return Figures(published=published, onchain=onchain, proven=_dec(d.get("proven"), f"{name}.proven"),
                   owner_only=_dec(d.get("owner_only"), f"{name}.owner_only"),
                   key_only=_dec(d.get("key_only"), f"{name}.key_only"),
                   unverified=_dec(d.get("unverified"), f"{name}.unverified"),
                   unread_published=unread,
                   # recomputed: reports stored before it was over the rows read counted the rows not
                   # read as a shortfall
                   difference=read_difference(onchain, published, unread), rows=rows,
                   rows_expected=_int(d.get("rows_expected"), f"{name}.rows_expected", rows),
                   rows_read=_int(d.get("rows_read"), f"{name}.rows_read", 0),
                   coverage=_dec(d.get("coverage"), f"{name}.coverage"),
                   # absent in reports stored before the staking split (and where there is none): 0;
                   # "liquid" is derived from these, not read
                   staked=_dec(d.get("staked"), f"{name}.staked") or Decimal(0),
                   unbonding=_dec(d.get("unbonding"), f"{name}.unbonding") or Decimal(0),
                   split_unknown=_dec(d.get("split_unknown"), f"{name}.split_unknown") or Decimal(0),
                   split_unknown_rows=_int(d.get("split_unknown_rows"), f"{name}.split_unknown_rows", 0))


# ------------------------------------------------------------------------------------------ records

@dataclass(frozen=True, slots=True)
class Block:
    """A block balances were read at; ``at_snapshot`` False when it is the latest, not the snapshot."""

    number: int
    hash: str | None
    at_snapshot: bool

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "hash": self.hash, "at_snapshot": self.at_snapshot}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "block") -> Block:
        return cls(number=_int(d.get("number"), f"{name}.number"), hash=_opt_str(d.get("hash"), f"{name}.hash"),
                   at_snapshot=d.get("at_snapshot") is not False)


@dataclass(frozen=True, slots=True)
class Place:
    """An asset on one network: its figures, the coins (tickers) behind them, the blocks read."""

    network: str
    coins: tuple[str, ...]
    figures: Figures
    blocks: tuple[Block, ...]

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "coins": list(self.coins), **self.figures.to_json(),
                "blocks": [b.to_json() for b in self.blocks]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "network") -> Place:
        network = _str(d.get("network"), f"{name}.network")
        name = f"{name}[{network}]"
        return cls(network=network, coins=tuple(_str(c, f"{name}.coins") for c in _list(d.get("coins"), f"{name}.coins")),
                   figures=_figures(d, name),
                   blocks=tuple(Block.from_json(_obj(b, f"{name}.blocks"), f"{name}.blocks")
                                for b in _list(d.get("blocks"), f"{name}.blocks")))


@dataclass(frozen=True, slots=True)
class Custodian:
    """Wallets a third party holds for the exchange (an address list names it), within the totals."""

    custodian: str
    rows: int
    rows_read: int
    published: Decimal
    onchain: Decimal | None

    def to_json(self) -> dict[str, Any]:
        return {"custodian": self.custodian, "rows": self.rows, "rows_read": self.rows_read,
                "published": _d(self.published), "onchain": _d(self.onchain)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "custodian") -> Custodian:
        return cls(custodian=_str(d.get("custodian"), f"{name}.custodian"), rows=_int(d.get("rows"), f"{name}.rows", 0),
                   rows_read=_int(d.get("rows_read"), f"{name}.rows_read", 0),
                   published=_dec(d.get("published"), f"{name}.published") or Decimal(0),
                   onchain=_dec(d.get("onchain"), f"{name}.onchain"))


def _partial_note(f: Figures) -> str:
    return (f"from incomplete reads: {f.rows_read:,} of {f.rows_expected:,} rows read; the rows not read are not in "
            "the reserves")


@dataclass(frozen=True, slots=True)
class AssetReport:
    """One asset: reserves against liabilities, the ratios (exact), per network and per custodian."""

    asset: str
    figures: Figures
    liabilities: Decimal | None = None
    liabilities_provenance: str | None = None  # records.PROVENANCES; None without a figure
    liabilities_source: str | None = None
    liabilities_verified: bool = False  # porscan checked the proof itself
    ratio_note: str = ""
    proven_ratio: Decimal | None = None  # exact; shown rounded down (``shown``)
    with_unproven_ratio: Decimal | None = None
    networks: tuple[Place, ...] = ()
    custodians: tuple[Custodian, ...] = ()
    asset_class: str = "native"  # native | wrapped | staked | receipt | own-issued (config/assets.toml)

    @property
    def complete(self) -> bool:
        return self.figures.complete

    @property
    def partial(self) -> bool:
        """A ratio computed from incomplete reads (the rows not read are not in the reserves)."""
        return not self.figures.complete and self.proven_ratio is not None

    @property
    def mark(self) -> str:
        """What follows a ratio shown as text: `` *`` when it is from incomplete reads."""
        return f" {PARTIAL_MARK}" if self.partial else ""

    @property
    def note(self) -> str:
        """Why the ratio is missing or what it stands on; for a ratio from incomplete reads, that."""
        if self.ratio_note or not self.partial:
            return self.ratio_note
        return _partial_note(self.figures)

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, **self.figures.to_json(),
                "liabilities": _d(self.liabilities), "liabilities_provenance": self.liabilities_provenance,
                "liabilities_source": self.liabilities_source, "liabilities_verified": self.liabilities_verified,
                "ratio_note": self.note,
                "proven_ratio": _d(shown_fraction(self.proven_ratio)),
                "with_unproven_ratio": _d(shown_fraction(self.with_unproven_ratio)),
                "proven_ratio_exact": _d(self.proven_ratio), "with_unproven_ratio_exact": _d(self.with_unproven_ratio),
                "networks": [n.to_json() for n in self.networks],
                "custodians": [c.to_json() for c in self.custodians], "class": self.asset_class}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "assets") -> AssetReport:
        asset = _str(d.get("asset"), f"{name}.asset")
        name = f"{name}[{asset}]"

        def ratio(key: str) -> Decimal | None:  # older reports have only the shown figure
            exact = d.get(f"{key}_exact")
            return _dec(exact if exact is not None else d.get(key), f"{name}.{key}")

        figures = _figures(d, name)
        note = str(d.get("ratio_note") or "")
        if note == _partial_note(figures):  # derived when written (``note``), not a note of its own
            note = ""
        return cls(asset=asset, figures=figures, liabilities=_dec(d.get("liabilities"), f"{name}.liabilities"),
                   liabilities_provenance=provenance_name(_opt_str(d.get("liabilities_provenance"),
                                                                   f"{name}.liabilities_provenance")),
                   liabilities_source=_opt_str(d.get("liabilities_source"), f"{name}.liabilities_source"),
                   liabilities_verified=bool(d.get("liabilities_verified")),
                   ratio_note=note, proven_ratio=ratio("proven_ratio"), with_unproven_ratio=ratio("with_unproven_ratio"),
                   networks=tuple(_record(Place, n, f"{name}.networks") for n in _list(d.get("networks"), f"{name}.networks")),
                   custodians=tuple(_record(Custodian, c, f"{name}.custodians")
                                    for c in _list(d.get("custodians"), f"{name}.custodians")),
                   asset_class=str(d.get("class") or "native"))


@dataclass(frozen=True, slots=True)
class RunHeader:
    id: int
    exchange: str
    status: str
    started_at: str
    finished_at: str | None = None
    resumed: bool = False
    snapshot_date: str | None = None
    stage_seconds: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "exchange": self.exchange, "status": self.status,
                               "started_at": self.started_at, "finished_at": self.finished_at, "resumed": self.resumed,
                               "snapshot_date": self.snapshot_date}
        if self.stage_seconds:
            out["stage_seconds"] = dict(self.stage_seconds)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "run") -> RunHeader:
        seconds = _obj(d.get("stage_seconds") or {}, f"{name}.stage_seconds")
        return cls(id=_int(d.get("id"), f"{name}.id"), exchange=_str(d.get("exchange"), f"{name}.exchange"),
                   status=str(d.get("status") or "done"), started_at=str(d.get("started_at") or ""),
                   finished_at=_opt_str(d.get("finished_at"), f"{name}.finished_at"), resumed=bool(d.get("resumed")),
                   snapshot_date=_opt_str(d.get("snapshot_date"), f"{name}.snapshot_date"),
                   stage_seconds={str(k): float(v) for k, v in seconds.items() if isinstance(v, (int, float))})


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file the scan read, by path (the scanning machine's; ``public`` keeps the name) and SHA-256."""

    role: str  # reserves | liabilities
    path: str
    sha256: str | None
    rows: int | None = None
    layout: str | None = None
    bytes: int | None = None
    format: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "path": self.path, "sha256": self.sha256}
        for key in ("rows", "layout", "bytes", "format"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "inputs") -> InputFile:
        return cls(role=str(d.get("role") or ""), path=str(d.get("path") or ""), sha256=_opt_str(d.get("sha256"), f"{name}.sha256"),
                   rows=None if d.get("rows") is None else _int(d.get("rows"), f"{name}.rows"),
                   layout=_opt_str(d.get("layout"), f"{name}.layout"),
                   bytes=None if d.get("bytes") is None else _int(d.get("bytes"), f"{name}.bytes"),
                   format=_opt_str(d.get("format"), f"{name}.format"))


@dataclass(frozen=True, slots=True)
class LiabilitiesInfo:
    format: str
    file: str
    sha256: str | None
    totals: Mapping[str, Decimal | None] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    proofs: tuple[ProofCheck, ...] = ()  # what porscan concluded about each proof behind the figures

    @property
    def failed_proofs(self) -> tuple[ProofCheck, ...]:
        return tuple(p for p in self.proofs if p.failed)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "file": self.file, "sha256": self.sha256,
                "totals": {k: _d(v) for k, v in self.totals.items()}, "warnings": list(self.warnings),
                "proofs": [p.to_json() for p in self.proofs]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "liabilities") -> LiabilitiesInfo:
        return cls(format=str(d.get("format") or ""), file=str(d.get("file") or ""),
                   sha256=_opt_str(d.get("sha256"), f"{name}.sha256"),
                   totals={str(k): _dec(v, f"{name}.totals.{k}") for k, v in _obj(d.get("totals") or {}, f"{name}.totals").items()},
                   warnings=tuple(str(w) for w in _list(d.get("warnings"), f"{name}.warnings")),
                   proofs=tuple(_record(ProofCheck, p, f"{name}.proofs") for p in _list(d.get("proofs"), f"{name}.proofs")))


@dataclass(frozen=True, slots=True)
class SummaryBlock:
    """The reserve file's own summary lines against the sums of its detail rows."""

    checked: bool = False
    rows: tuple[SummaryCheck, ...] = ()
    mismatches: tuple[str, ...] = ()  # coins

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "rows": [c.to_json() for c in self.rows], "mismatches": list(self.mismatches)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "summary_block") -> SummaryBlock:
        mism = [m if isinstance(m, str) else str(_obj(m, f"{name}.mismatches").get("coin", ""))  # older reports: objects
                for m in _list(d.get("mismatches"), f"{name}.mismatches")]
        return cls(checked=bool(d.get("checked")),
                   rows=tuple(_record(SummaryCheck, r, f"{name}.rows") for r in _list(d.get("rows"), f"{name}.rows")),
                   mismatches=tuple(mism))


@dataclass(frozen=True, slots=True)
class FailureList:
    """The rows to look at (failed or unreadable rows; mismatched, unread or disputed balances), by
    line: ``total`` of them, the first ones listed (the store keeps all; ``porscan report --json``
    writes all)."""

    by_stage: Mapping[str, int] = field(default_factory=dict)
    rows: tuple[Failure, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.by_stage.values())

    def to_json(self) -> dict[str, Any]:
        return {"by_stage": dict(self.by_stage), "total": self.total, "listed": len(self.rows),
                "rows": [f.to_json() for f in self.rows]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "failures") -> FailureList:
        return cls(by_stage=_counts(d.get("by_stage"), f"{name}.by_stage"),
                   rows=tuple(_record(Failure, f, f"{name}.rows") for f in _list(d.get("rows"), f"{name}.rows")))


@dataclass(frozen=True, slots=True)
class UsdAsset:
    """One asset valued in USD at the snapshot: the price with its source and time, the reserves
    (None when nothing was read: unread is not zero) and the liabilities, when the file gives them."""

    asset: str
    price: Decimal | None
    price_source: str | None = None  # published | oracle | http-api
    price_label: str | None = None  # the feed or endpoint label, never a URL
    price_at: str | None = None  # ISO time the price is from
    price_block: int | None = None
    proven: Decimal | None = None
    with_unproven: Decimal | None = None
    liabilities: Decimal | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "price": _d(self.price), "price_source": self.price_source,
                "price_label": self.price_label, "price_at": self.price_at, "price_block": self.price_block,
                "proven": _d(self.proven), "with_unproven": _d(self.with_unproven), "liabilities": _d(self.liabilities),
                "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "usd.assets") -> UsdAsset:
        return cls(asset=_str(d.get("asset"), f"{name}.asset"), price=_dec(d.get("price"), f"{name}.price"),
                   price_source=_opt_str(d.get("price_source"), f"{name}.price_source"),
                   price_label=_opt_str(d.get("price_label"), f"{name}.price_label"),
                   price_at=_opt_str(d.get("price_at"), f"{name}.price_at"),
                   price_block=None if d.get("price_block") is None else _int(d.get("price_block"), f"{name}.price_block"),
                   proven=_dec(d.get("proven"), f"{name}.proven"),
                   with_unproven=_dec(d.get("with_unproven"), f"{name}.with_unproven"),
                   liabilities=_dec(d.get("liabilities"), f"{name}.liabilities"), note=str(d.get("note") or ""))


@dataclass(frozen=True, slots=True)
class UsdComparison:
    """Reserves against net liabilities in USD, in total: the one figure OKX's v2 proofs prove.
    ``left_out`` names every asset not in the reserve total and why (no price, unread); the ratio
    is then from part of the reserves, and ``complete`` is False."""

    assets: tuple[UsdAsset, ...]
    proven: Decimal | None
    with_unproven: Decimal | None
    liabilities: Decimal | None
    liabilities_source: str  # what the total is and how it was scaled to USD (config or published total)
    liabilities_provenance: str | None
    ratio: Decimal | None  # exact; shown rounded down
    with_unproven_ratio: Decimal | None
    left_out: tuple[str, ...] = ()
    by_class: Mapping[str, Decimal] = field(default_factory=dict)  # proven reserves in USD per asset class
    clean_ratio: Decimal | None = None  # proven reserves without the exchange's own tokens / liabilities

    @property
    def complete(self) -> bool:
        return not self.left_out

    def to_json(self) -> dict[str, Any]:
        return {"assets": [a.to_json() for a in self.assets], "proven": _d(self.proven),
                "with_unproven": _d(self.with_unproven), "liabilities": _d(self.liabilities),
                "liabilities_source": self.liabilities_source, "liabilities_provenance": self.liabilities_provenance,
                "ratio": _d(shown_fraction(self.ratio)), "with_unproven_ratio": _d(shown_fraction(self.with_unproven_ratio)),
                "ratio_exact": _d(self.ratio), "with_unproven_ratio_exact": _d(self.with_unproven_ratio),
                "left_out": list(self.left_out), "complete": self.complete,
                "by_class": {k: _d(v) for k, v in self.by_class.items()},
                "clean_ratio": _d(shown_fraction(self.clean_ratio)), "clean_ratio_exact": _d(self.clean_ratio)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "usd") -> UsdComparison:
        def exact(key: str) -> Decimal | None:
            value = d.get(f"{key}_exact")
            return _dec(value if value is not None else d.get(key), f"{name}.{key}")

        return cls(assets=tuple(_record(UsdAsset, a, f"{name}.assets") for a in _list(d.get("assets"), f"{name}.assets")),
                   proven=_dec(d.get("proven"), f"{name}.proven"),
                   with_unproven=_dec(d.get("with_unproven"), f"{name}.with_unproven"),
                   liabilities=_dec(d.get("liabilities"), f"{name}.liabilities"),
                   liabilities_source=str(d.get("liabilities_source") or ""),
                   liabilities_provenance=provenance_name(_opt_str(d.get("liabilities_provenance"),
                                                                   f"{name}.liabilities_provenance")),
                   ratio=exact("ratio"), with_unproven_ratio=exact("with_unproven_ratio"),
                   left_out=tuple(str(x) for x in _list(d.get("left_out"), f"{name}.left_out")),
                   by_class={str(k): _need_dec(v, f"{name}.by_class.{k}") for k, v in
                             _obj(d.get("by_class") or {}, f"{name}.by_class").items()},
                   clean_ratio=exact("clean_ratio"))


@dataclass(frozen=True, slots=True)
class Criterion:
    """One line of the quality rubric: the fact measured, its value, the grade and the rule that gave it."""

    name: str
    value: str  # the measured fact, as shown
    grade: str  # A (best) .. D, or F (a check failed), or "-" (not measured)
    rule: str  # the thresholds, so the grade can be checked by hand

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "grade": self.grade, "rule": self.rule}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "rubric.criteria") -> Criterion:
        return cls(name=_str(d.get("name"), f"{name}.name"), value=str(d.get("value") or ""),
                   grade=_str(d.get("grade"), f"{name}.grade"), rule=str(d.get("rule") or ""))


@dataclass(frozen=True, slots=True)
class Rubric:
    """A transparent grade computed from verified facts: the worst grade of the measured criteria,
    each shown with its value and rule; never a weighted score."""

    grade: str
    criteria: tuple[Criterion, ...]

    def to_json(self) -> dict[str, Any]:
        return {"grade": self.grade, "criteria": [c.to_json() for c in self.criteria]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], name: str = "rubric") -> Rubric:
        return cls(grade=_str(d.get("grade"), f"{name}.grade"),
                   criteria=tuple(_record(Criterion, c, f"{name}.criteria") for c in _list(d.get("criteria"),
                                                                                           f"{name}.criteria")))


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A finished scan: what was read, what it proves, how complete it is."""

    tool_version: str
    run: RunHeader
    inputs: tuple[InputFile, ...]
    rows: int  # rows in the reserve file (every status)
    by_status: Mapping[str, int]  # ownership verification, per row
    balance_status: Mapping[str, int]  # balance checks, per (row, asset)
    assets: tuple[AssetReport, ...]
    liabilities: LiabilitiesInfo | None = None
    summary_block: SummaryBlock = SummaryBlock()
    notes: tuple[str, ...] = ()
    failures: FailureList | None = None
    usd: UsdComparison | None = None  # reserves and liabilities in USD at the snapshot, when priced
    rubric: Rubric | None = None  # the quality rubric (pipeline/rubric.py)
    window: WindowReport | None = None  # the snapshot window (pipeline/window.py), when asked for

    def asset(self, name: str) -> AssetReport | None:
        return next((a for a in self.assets if a.asset == name), None)

    @property
    def rows_read(self) -> int:
        return sum(a.figures.rows_read for a in self.assets)

    @property
    def rows_expected(self) -> int:
        return sum(a.figures.rows_expected for a in self.assets)

    def public(self) -> ScanReport:
        """The report as it may leave the machine that scanned: input files by name and SHA-256,
        never by the absolute path they had there."""
        inputs = tuple(dataclasses.replace(i, path=PurePath(i.path).name) for i in self.inputs)
        # (proof files are named relative to the liabilities input already: see liabilities/check.py)
        liab = None if self.liabilities is None else dataclasses.replace(self.liabilities,
                                                                          file=PurePath(self.liabilities.file).name)
        return dataclasses.replace(self, inputs=inputs, liabilities=liab)

    def with_failures(self, failures: Iterable[Failure]) -> ScanReport:
        """The same report listing ``failures`` (e.g. every one, read from the store)."""
        by_stage = self.failures.by_stage if self.failures is not None else {}
        return dataclasses.replace(self, failures=FailureList(by_stage=by_stage, rows=tuple(failures)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCAN_SCHEMA, "tool": {"name": "porscan", "version": self.tool_version},
            "run": self.run.to_json(), "inputs": [i.to_json() for i in self.inputs],
            "verification": {"rows": self.rows, "by_status": dict(self.by_status)},
            "balances": {"by_status": dict(self.balance_status)},
            "assets": [a.to_json() for a in self.assets],
            "liabilities": None if self.liabilities is None else self.liabilities.to_json(),
            "summary_block": self.summary_block.to_json(), "notes": list(self.notes)}
        if self.failures is not None:
            out["failures"] = self.failures.to_json()
        if self.usd is not None:
            out["usd"] = self.usd.to_json()
        if self.rubric is not None:
            out["rubric"] = self.rubric.to_json()
        if self.window is not None:
            out["window"] = self.window.to_json()
        return out

    @classmethod
    def from_json(cls, d: Any) -> ScanReport:
        d = _obj(d, "report")
        if d.get("schema") != SCAN_SCHEMA:
            raise ReportError(f"schema: expected {SCAN_SCHEMA!r}, got {str(d.get('schema'))[:40]!r}")
        verification = _obj(d.get("verification") or {}, "verification")
        by_status = _counts(verification.get("by_status"), "verification.by_status")
        liab = d.get("liabilities")
        return cls(tool_version=str(_obj(d.get("tool") or {}, "tool").get("version") or "?"),
                   run=_record(RunHeader, d.get("run"), "run"),
                   inputs=tuple(_record(InputFile, i, "inputs") for i in _list(d.get("inputs"), "inputs")),
                   rows=_int(verification.get("rows"), "verification.rows", sum(by_status.values())),
                   by_status=by_status,
                   balance_status=_counts(_obj(d.get("balances") or {}, "balances").get("by_status"), "balances.by_status"),
                   assets=tuple(_record(AssetReport, a, "assets") for a in _list(d.get("assets"), "assets")),
                   liabilities=None if liab is None else _record(LiabilitiesInfo, liab, "liabilities"),
                   summary_block=_record(SummaryBlock, d.get("summary_block") or {}, "summary_block"),
                   notes=tuple(str(n) for n in _list(d.get("notes"), "notes") if n is not None),
                   failures=None if d.get("failures") is None else _record(FailureList, d["failures"], "failures"),
                   usd=None if d.get("usd") is None else _record(UsdComparison, d["usd"], "usd"),
                   rubric=None if d.get("rubric") is None else _record(Rubric, d["rubric"], "rubric"),
                   window=None if d.get("window") is None else _record(WindowReport, d["window"], "window"))
