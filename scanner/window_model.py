"""The snapshot window as records: each address's balance some blocks before the snapshot height H, at
H and after it, and per asset what was present at H but absent on both sides ("window-dressed").

Its own module so the scan report (report_model.py) can carry it as an optional field without the
pipeline that computes it (pipeline/window.py). Amounts are exact: integers in base units per
network, Decimal coin units per asset (summed across networks, whose decimals may differ).
JSON: base units as decimal strings, coin units as ``amounts.fmt`` strings. A reader raises
ValueError/KeyError/TypeError on a malformed document (report_model turns them into ReportError).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from .amounts import coverage, fmt

WINDOW_SCHEMA = "porscan.window/1"


def _opt_int(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise TypeError(f"expected an integer, got {type(v).__name__}")
    return int(v)


def _need_int(v: Any) -> int:
    out = _opt_int(v)
    if out is None:
        raise ValueError("missing integer")
    return out


def _dec(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise TypeError(f"expected a decimal string, got {type(v).__name__}")
    out = Decimal(str(v))
    if not out.is_finite():
        raise ValueError(f"not a finite number: {v!r}")
    return out


@dataclass(frozen=True, slots=True)
class WindowBlocks:
    """The three heights read on one network around one snapshot height, and how they were placed."""

    network: str
    snapshot: int  # H
    before: int | None  # H - w (None: could not be placed; ``note`` says why)
    after: int | None  # H + w (None: beyond the chain head, or not placed)
    how: str  # "blocks" | "block timestamps" | "approximation: ..." (a duration turned into heights)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "snapshot": self.snapshot, "before": self.before, "after": self.after,
                "how": self.how, "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowBlocks:
        return cls(network=str(d["network"]), snapshot=_need_int(d["snapshot"]), before=_opt_int(d.get("before")),
                   after=_opt_int(d.get("after")), how=str(d.get("how") or ""), note=str(d.get("note") or ""))


@dataclass(frozen=True, slots=True)
class WindowAddress:
    """One wallet read on both sides: its balances (base units) and what of b0 the window explains."""

    network: str
    address: str
    line: int  # the reserve file's line that lists it (the first, when listed again)
    decimals: int
    before: int  # b- at H - w
    at: int  # b0 at H (the run's stored balance)
    after: int  # b+ at H + w
    snapshot: int  # H

    @property
    def dressed(self) -> int:
        """Present at H, absent on both sides: b0 - max(b-, b+), never below zero."""
        return max(0, self.at - max(self.before, self.after))

    @property
    def arrived(self) -> int:
        """Arrived within w before H: b0 - b-, never below zero."""
        return max(0, self.at - self.before)

    @property
    def left(self) -> int:
        """Left within w after H: b0 - b+, never below zero."""
        return max(0, self.at - self.after)

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "address": self.address, "line": self.line, "decimals": self.decimals,
                "snapshot": self.snapshot, "before_base_units": str(self.before), "at_base_units": str(self.at),
                "after_base_units": str(self.after), "dressed_base_units": str(self.dressed),
                "arrived_base_units": str(self.arrived), "left_base_units": str(self.left)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowAddress:
        return cls(network=str(d["network"]), address=str(d["address"]), line=_need_int(d["line"]),
                   decimals=_need_int(d["decimals"]), before=_need_int(d["before_base_units"]),
                   at=_need_int(d["at_base_units"]), after=_need_int(d["after_base_units"]),
                   snapshot=_need_int(d["snapshot"]))


@dataclass(frozen=True, slots=True)
class WindowCount:
    """Addresses left out of the window's sums for one reason (a side unread, beyond the head, ...)."""

    reason: str
    addresses: int

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "addresses": self.addresses}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowCount:
        return cls(reason=str(d["reason"]), addresses=_need_int(d["addresses"]))


@dataclass(frozen=True, slots=True)
class WindowPlace:
    """One asset on one network, in its base units."""

    network: str
    decimals: int
    dressed: int
    arrived: int
    left: int
    at: int  # b0 summed over the addresses read on both sides (what the shares are of)
    addresses: int
    addresses_read: int  # read at H - w, H and H + w

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "decimals": self.decimals, "dressed_base_units": str(self.dressed),
                "arrived_base_units": str(self.arrived), "left_base_units": str(self.left),
                "at_base_units": str(self.at), "addresses": self.addresses, "addresses_read": self.addresses_read}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowPlace:
        return cls(network=str(d["network"]), decimals=_need_int(d["decimals"]),
                   dressed=_need_int(d["dressed_base_units"]), arrived=_need_int(d["arrived_base_units"]),
                   left=_need_int(d["left_base_units"]), at=_need_int(d["at_base_units"]),
                   addresses=_need_int(d["addresses"]), addresses_read=_need_int(d["addresses_read"]))


@dataclass(frozen=True, slots=True)
class WindowAsset:
    """An asset's window figures in coin units (exact), per network, and the top addresses by dressed amount."""

    asset: str
    dressed: Decimal
    arrived: Decimal
    left: Decimal
    at: Decimal
    addresses: int
    addresses_read: int
    networks: tuple[WindowPlace, ...] = ()
    top: tuple[WindowAddress, ...] = ()
    unread: tuple[WindowCount, ...] = ()

    @property
    def coverage(self) -> Decimal | None:
        return coverage(self.addresses_read, self.addresses)

    @property
    def complete(self) -> bool:
        return self.addresses_read >= self.addresses

    def to_json(self) -> dict[str, Any]:
        cov = self.coverage
        return {"asset": self.asset, "dressed": fmt(self.dressed), "arrived": fmt(self.arrived),
                "left": fmt(self.left), "at": fmt(self.at), "addresses": self.addresses,
                "addresses_read": self.addresses_read, "coverage": None if cov is None else fmt(cov),
                "complete": self.complete, "networks": [n.to_json() for n in self.networks],
                "top": [a.to_json() for a in self.top], "unread": [u.to_json() for u in self.unread]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowAsset:
        return cls(asset=str(d["asset"]), dressed=_dec(d["dressed"]), arrived=_dec(d["arrived"]),
                   left=_dec(d["left"]), at=_dec(d.get("at", "0")), addresses=_need_int(d["addresses"]),
                   addresses_read=_need_int(d["addresses_read"]),
                   networks=tuple(WindowPlace.from_json(n) for n in d.get("networks") or ()),
                   top=tuple(WindowAddress.from_json(a) for a in d.get("top") or ()),
                   unread=tuple(WindowCount.from_json(u) for u in d.get("unread") or ()))


@dataclass(frozen=True, slots=True)
class WindowReport:
    """The snapshot window of one run: w as asked, the heights read per network, per-asset figures,
    and the networks whose adapter cannot read at a past height (listed, not guessed)."""

    window: str  # as asked: "100" (blocks) or "3d", "6h", "90m", "600s"
    blocks: int | None  # w in blocks, when given so
    seconds: int | None  # w as a duration, when given so
    top_n: int
    heights: tuple[WindowBlocks, ...] = ()
    assets: tuple[WindowAsset, ...] = ()
    not_readable: tuple[WindowCount, ...] = ()  # reason names the network: "tron: not readable at a past height"
    notes: tuple[str, ...] = ()

    def asset(self, name: str) -> WindowAsset | None:
        return next((a for a in self.assets if a.asset == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"schema": WINDOW_SCHEMA, "window": self.window, "blocks": self.blocks, "seconds": self.seconds,
                "top_n": self.top_n, "heights": [h.to_json() for h in self.heights],
                "assets": [a.to_json() for a in self.assets],
                "not_readable": [n.to_json() for n in self.not_readable], "notes": list(self.notes)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowReport:
        if d.get("schema", WINDOW_SCHEMA) != WINDOW_SCHEMA:
            raise ValueError(f"schema: expected {WINDOW_SCHEMA!r}, got {str(d.get('schema'))[:40]!r}")
        return cls(window=str(d["window"]), blocks=_opt_int(d.get("blocks")), seconds=_opt_int(d.get("seconds")),
                   top_n=_need_int(d.get("top_n", 10)),
                   heights=tuple(WindowBlocks.from_json(h) for h in d.get("heights") or ()),
                   assets=tuple(WindowAsset.from_json(a) for a in d.get("assets") or ()),
                   not_readable=tuple(WindowCount.from_json(n) for n in d.get("not_readable") or ()),
                   notes=tuple(str(n) for n in d.get("notes") or ()))
