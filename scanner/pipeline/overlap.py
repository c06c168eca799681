"""Addresses claimed by more than one entity, and the amounts counted twice.

Two exchanges (or an exchange and a stablecoin issuer's reserve list) that both count one address
count its balance twice across the industry. This module indexes addresses, in their network normal
form (:func:`canonical_address`: EVM hex and bech32 lower-case), across stored runs and imported
lists, and finds the ones claimed by two entities whose snapshots are close enough to be the same
coins (``within_days``).

The core (:func:`claims_from_balances`, :func:`find_overlaps`) is pure, over records; the shell
(:func:`load_claims`, :func:`overlap_notes`) reads the store through its public API only.

What "counted twice" means, per address, pair of sources and asset: the on-chain amount both
counted; when the two runs read different amounts (other blocks, other heights), both are said and
the smaller is what was counted twice. An imported list claims the whole address (it has no
reading of its own): against a run, the run's amount is what both claim. An unread balance is
never a zero: its amount is unknown and the pair says how many addresses it could not put a figure on.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..amounts import fmt, from_base_units
from ..errors import InputError
from ..records import BalanceRecord
from .aggregate import canonical_address

LIST_HEADER = ("entity", "network", "address")  # then an optional "asset" column
DEFAULT_WITHIN_DAYS = 7


@dataclass(frozen=True, slots=True)
class Source:
    """Where claims come from: a stored run of an exchange, or an imported list."""

    entity: str
    label: str  # "run 12" or the list's file name
    run_id: int | None = None  # None: an imported list
    snapshot_date: str | None = None  # YYYY-MM-DD; None on a list: it matches a run of any date

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "label": self.label, "run_id": self.run_id, "snapshot_date": self.snapshot_date}


@dataclass(frozen=True, slots=True)
class Claim:
    """One source's claim on one address and asset: the on-chain amount it counted there."""

    source: Source
    network: str  # network id, lower case
    address: str  # canonical_address
    asset: str | None  # None: a list row naming no asset (the whole address)
    amount: int | None  # base units counted (summed over the source's lines); None = never read / a list
    decimals: int | None
    lines: tuple[int, ...] = ()

    def coins(self) -> Decimal | None:
        if self.amount is None or self.decimals is None:
            return None
        return from_base_units(self.amount, self.decimals)


@dataclass(frozen=True, slots=True)
class AddressPair:
    """One address claimed by two sources of different entities, for one asset."""

    network: str
    address: str
    asset: str | None
    a: Claim
    b: Claim

    @property
    def twice(self) -> Decimal | None:
        """Coin units counted by both: the smaller reading; a list takes the run's; unknown if a run did not read."""
        known = [c.coins() for c in (self.a, self.b) if c.source.run_id is not None]
        if not known or any(k is None for k in known):
            return None
        return min(k for k in known if k is not None)


@dataclass(frozen=True, slots=True)
class PairTotal:
    """Per pair of sources and asset: how many addresses both claim and the amount counted twice."""

    a: Source
    b: Source
    asset: str | None
    addresses: int
    counted_twice: Decimal  # coin units, exact; over the addresses with a known amount
    a_counted: Decimal  # what each side counted at those addresses (a list: nothing)
    b_counted: Decimal
    differing: int  # addresses where the two runs read different amounts
    unknown: int  # addresses where a run has no reading (unread balance): not in counted_twice

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a.to_json(), "b": self.b.to_json(), "asset": self.asset, "addresses": self.addresses,
                "counted_twice": fmt(self.counted_twice), "a_counted": fmt(self.a_counted),
                "b_counted": fmt(self.b_counted), "differing_amounts": self.differing, "unknown_amounts": self.unknown}


@dataclass(frozen=True, slots=True)
class Overlap:
    within_days: int
    sources: tuple[Source, ...]
    pairs: tuple[AddressPair, ...]  # ordered by network, address, asset, sources
    totals: tuple[PairTotal, ...]

    def addresses(self) -> list[tuple[str, str]]:
        return sorted({(p.network, p.address) for p in self.pairs})

    def to_json(self) -> dict[str, Any]:
        by_address: dict[tuple[str, str], list[AddressPair]] = defaultdict(list)
        for p in self.pairs:
            by_address[(p.network, p.address)].append(p)
        addresses = []
        for (network, address), pairs in sorted(by_address.items()):
            claims = {id(c): c for p in pairs for c in (p.a, p.b)}.values()
            addresses.append({
                "network": network, "address": address,
                "entities": sorted({c.source.entity for c in claims}),
                "claims": [_claim_json(c) for c in sorted(claims, key=_claim_order)],
                "pairs": [{"a": p.a.source.label, "b": p.b.source.label, "asset": p.asset,
                           "a_counted": _opt(p.a.coins()), "b_counted": _opt(p.b.coins()),
                           "counted_twice": _opt(p.twice)} for p in pairs]})
        return {"schema": "porscan.overlap/1", "within_days": self.within_days,
                "sources": [s.to_json() for s in self.sources], "addresses": addresses,
                "totals": [t.to_json() for t in self.totals]}


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _claim_json(c: Claim) -> dict[str, Any]:
    return {"entity": c.source.entity, "source": c.source.label, "run_id": c.source.run_id,
            "snapshot_date": c.source.snapshot_date, "asset": c.asset, "lines": list(c.lines),
            "onchain_base_units": None if c.amount is None else str(c.amount), "decimals": c.decimals,
            "onchain": _opt(c.coins())}


def _claim_order(c: Claim) -> tuple:
    return (c.source.entity, c.source.label, c.asset or "")


def _source_order(s: Source) -> tuple:
    return (s.entity, s.run_id is None, s.run_id or 0, s.label)


# ------------------------------------------------------------------------------------------- core

def claims_from_balances(source: Source, balances: Iterable[BalanceRecord],
                         keep: frozenset[tuple[str, str]] | set[tuple[str, str]] | None = None) -> list[Claim]:
    """A run's claims, one per (network, address, asset): the read amounts of its lines summed (a
    file listing one address twice counted it twice); None when no line of it was read. ``keep``:
    only these (network, address) keys."""
    acc: dict[tuple[str, str, str], list] = {}
    for b in balances:
        key = (b.network.strip().lower(), canonical_address(b.address))
        if keep is not None and key not in keep:
            continue
        slot = acc.setdefault((*key, b.asset), [None, b.decimals, []])
        if b.onchain_base_units is not None:
            slot[0] = (slot[0] or 0) + b.onchain_base_units
        if slot[1] is None:
            slot[1] = b.decimals
        slot[2].append(b.line)
    return [Claim(source=source, network=n, address=a, asset=asset, amount=v[0], decimals=v[1], lines=tuple(v[2]))
            for (n, a, asset), v in acc.items()]


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text[:10])


def close_enough(a: Source, b: Source, within_days: int) -> bool:
    """Snapshots at most ``within_days`` apart; a list (or a run of unknown date) matches any."""
    da, db = _day(a.snapshot_date), _day(b.snapshot_date)
    return da is None or db is None or abs((da - db).days) <= within_days


def _assets_match(a: Claim, b: Claim) -> tuple[bool, str | None]:
    """Whether the two claims share an asset, and which (None: neither names one)."""
    if a.asset is None or b.asset is None or a.asset == b.asset:
        return True, a.asset if a.asset is not None else b.asset
    return False, None


def find_overlaps(claims: Iterable[Claim], within_days: int = DEFAULT_WITHIN_DAYS) -> Overlap:
    """Every address claimed by sources of two different entities at snapshots ``within_days`` apart,
    and per pair of sources and asset the amount counted twice (exact, coin units)."""
    by_key: dict[tuple[str, str], list[Claim]] = defaultdict(list)
    sources: dict[Source, None] = {}
    for c in claims:
        by_key[(c.network, c.address)].append(c)
        sources[c.source] = None
    pairs: list[AddressPair] = []
    for (network, address), group in sorted(by_key.items()):
        if len({c.source.entity for c in group}) < 2:
            continue
        group.sort(key=lambda c: (_source_order(c.source), c.asset or ""))
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if a.source.entity == b.source.entity or not close_enough(a.source, b.source, within_days):
                    continue
                if a.source.run_id is None and b.source.run_id is None:
                    continue  # two lists: nobody counted anything there
                same, asset = _assets_match(a, b)
                if same:
                    pairs.append(AddressPair(network=network, address=address, asset=asset, a=a, b=b))
    return Overlap(within_days=within_days, sources=tuple(sorted(sources, key=_source_order)), pairs=tuple(pairs),
                   totals=tuple(_totals(pairs)))


def _totals(pairs: Sequence[AddressPair]) -> list[PairTotal]:
    groups: dict[tuple[Source, Source, str | None], list[AddressPair]] = defaultdict(list)
    for p in pairs:
        groups[(p.a.source, p.b.source, p.asset)].append(p)
    out = []
    for (a, b, asset), group in sorted(groups.items(), key=lambda kv: (_source_order(kv[0][0]),
                                                                       _source_order(kv[0][1]), kv[0][2] or "")):
        twice = a_sum = b_sum = Decimal(0)
        differing = unknown = 0
        for p in group:
            t = p.twice
            if t is None:
                unknown += 1
                continue
            twice += t
            a_sum += p.a.coins() or 0
            b_sum += p.b.coins() or 0
            if p.a.source.run_id is not None and p.b.source.run_id is not None and p.a.coins() != p.b.coins():
                differing += 1
        out.append(PairTotal(a=a, b=b, asset=asset, addresses=len(group), counted_twice=twice, a_counted=a_sum,
                             b_counted=b_sum, differing=differing, unknown=unknown))
    return out


# ---------------------------------------------------------------------------------- imported lists

def read_list(path: str, entity: str | None = None, text: str | None = None) -> list[Claim]:
    """An imported list: a CSV ``entity,network,address[,asset]`` (header line required), or, when
    its header is not that, an exchange's published reserve file read by porscan's own ingest
    (``entity`` then names it; default: guessed from the file name)."""
    if text is None:
        from .inputs import open_input

        with open_input(path) as source:
            with open(source.path, encoding="utf-8-sig", errors="replace") as fh:
                head = fh.readline()
            if _is_list_header(head):
                with open(source.path, encoding="utf-8-sig", newline="") as fh:
                    return _parse_list(fh, path, entity)
            return _reserve_file(source.path, path, entity)
    return _parse_list(io.StringIO(text), path, entity)


def _is_list_header(line: str) -> bool:
    cells = [c.strip().strip('"').lower() for c in line.strip().split(",")]
    return tuple(cells[:3]) == LIST_HEADER and (len(cells) == 3 or (len(cells) == 4 and cells[3] == "asset"))


def _parse_list(fh, path: str, entity: str | None) -> list[Claim]:
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None or not _is_list_header(",".join(header)):
        raise InputError(f"{path}:1: header: an address list starts with 'entity,network,address[,asset]'")
    sources: dict[str, Source] = {}
    claims: dict[tuple, Claim] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) not in (3, 4):
            raise InputError(f"{path}:{line}: row: {len(cells)} cells, 3 or 4 expected (entity,network,address[,asset])")
        name, network, address = (c.strip() for c in cells[:3])
        asset = cells[3].strip().upper() if len(cells) == 4 and cells[3].strip() else None
        for field, value in (("entity", name), ("network", network), ("address", address)):
            if not value:
                raise InputError(f"{path}:{line}: {field}: empty")
        name = entity or name
        src = sources.setdefault(name, Source(entity=name, label=f"{Path(path).name} ({name})"))
        key = (name, network.lower(), canonical_address(address), asset)
        old = claims.get(key)
        claims[key] = Claim(source=src, network=key[1], address=key[2], asset=asset, amount=None, decimals=None,
                            lines=(old.lines if old else ()) + (line,))
    return list(claims.values())


def _reserve_file(local: str, path: str, entity: str | None) -> list[Claim]:
    from ..config.networks import load_coins
    from .ingest import ReserveRow, iter_rows, read_head
    from .inputs import guess_exchange

    head = read_head(local)
    coins = load_coins()
    name = entity or guess_exchange(path)
    if name == "unknown":
        raise InputError(f"{path}: not an 'entity,network,address[,asset]' list, and no exchange name in the file "
                         "name: give it as NAME=FILE")
    src = Source(entity=name, label=f"{Path(path).name} ({name})")
    claims: dict[tuple, Claim] = {}
    for row in iter_rows(local, head):
        if not isinstance(row, ReserveRow) or not row.address:
            continue  # an unreadable row claims nothing we could name
        target = coins.get(coins.key_for(row.coin, row.network, head.layout.keyed_by_network))
        network = target.network if target is not None else row.network.strip().lower()
        asset = target.asset if target is not None else row.coin.strip().upper()
        key = (network, canonical_address(row.address), asset)
        old = claims.get(key)
        claims[key] = Claim(source=src, network=key[0], address=key[1], asset=asset, amount=None, decimals=None,
                            lines=(old.lines if old else ()) + (row.line,))
    return list(claims.values())


# ------------------------------------------------------------------------------------ store shell

def run_source(run) -> Source:
    """A stored run as a source: its snapshot date, else the UTC date it started (the store's rule)."""
    return Source(entity=run.exchange, label=f"run {run.id}", run_id=run.id,
                  snapshot_date=run.snapshot_date or run.started_at[:10])


async def _keys(store, run_id: int) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    async for batch in store.iter_balances(run_id):
        out.update((b.network.strip().lower(), canonical_address(b.address)) for b in batch)
    return out


async def load_claims(store, runs: Sequence, lists: Sequence[Claim] = ()) -> list[Claim]:
    """The claims of ``runs`` on the addresses that more than one entity names (two passes over each
    run's balances: first the address keys, then only the shared ones' records, so memory follows
    the overlap, not the files). A store query joining balances on address would do this in one."""
    entities: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in lists:
        entities[(c.network, c.address)].add(c.source.entity)
    for run in runs:
        for key in await _keys(store, run.id):
            entities[key].add(run.exchange)
    shared = {k for k, names in entities.items() if len(names) > 1}
    out = [c for c in lists if (c.network, c.address) in shared]
    for run in runs:
        source = run_source(run)
        records: list[BalanceRecord] = []
        async for batch in store.iter_balances(run.id):
            records.extend(b for b in batch if (b.network.strip().lower(), canonical_address(b.address)) in shared)
        out.extend(claims_from_balances(source, records))
    return out


async def done_runs(store, exchange: str, page: int = 1000) -> list:
    out: list = []
    while True:
        batch = await store.list_runs(exchange, limit=page, offset=len(out), status="done")
        out.extend(batch)
        if len(batch) < page:
            return out


async def nearest_runs(store, run, within_days: int = DEFAULT_WITHIN_DAYS) -> list:
    """For every other exchange, its done run nearest in snapshot date to ``run`` (newest id among
    equals), when within ``within_days``."""
    mine = run_source(run)
    day = _day(mine.snapshot_date)
    chosen = []
    for info in await store.exchanges():
        if info.exchange == run.exchange or not info.done_runs:
            continue
        best = None
        for other in await done_runs(store, info.exchange):
            src = run_source(other)
            if not close_enough(mine, src, within_days):
                continue
            gap = abs(((_day(src.snapshot_date) or day) - day).days) if day else 0
            if best is None or (gap, -other.id) < best[0]:
                best = ((gap, -other.id), other)
        if best is not None:
            chosen.append(best[1])
    return chosen


async def overlap_notes(store, run_id: int, within_days: int = DEFAULT_WITHIN_DAYS) -> list[str]:
    """One line per other exchange and asset whose run (the nearest done one, snapshots at most
    ``within_days`` apart) claims addresses this run counted, with the amount counted twice; empty
    when none does. For ``porscan scan`` to show under its report."""
    run = await store.get_run(run_id)
    others = await nearest_runs(store, run, within_days)
    if not others:
        return []
    overlap = find_overlaps(await load_claims(store, [run, *others]), within_days)
    notes = []
    for t in overlap.totals:
        other = t.b if t.a.run_id == run_id else t.a
        if run_id not in (t.a.run_id, t.b.run_id):
            continue
        mine = t.a_counted if t.a.run_id == run_id else t.b_counted
        theirs = t.b_counted if t.a.run_id == run_id else t.a_counted
        text = (f"overlap: {t.addresses} address(es) of {t.asset or 'any asset'} are also claimed by {other.entity} "
                f"({other.label}, snapshot {other.snapshot_date}): {fmt(t.counted_twice)} {t.asset or ''} counted twice"
                ).rstrip()
        if t.differing:
            text += f" (this run read {fmt(mine)}, {other.entity} {fmt(theirs)}; the smaller per address is counted)"
        if t.unknown:
            text += f"; {t.unknown} address(es) unread by one side, not in that figure"
        notes.append(text)
    return notes
