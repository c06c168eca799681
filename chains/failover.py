"""Endpoint failover for every network: the one place that moves from one endpoint to the next.

Each inner adapter reads from ONE endpoint (an EVM node, a TRON or Solana API, a Bitcoin node, ElectrumX,
Esplora), possibly with different protocols. :class:`FailoverAdapter` composes them:

* **Next endpoint.** The first one (in the order given; an adapter with a ``preference`` for this read
  may go first, e.g. a TRON node with balance history for TRX at a height) reads every address; the next
  ones read only what is still unread. An endpoint that cannot work at all (AdapterError) is a note.
* **Block agreement.** An endpoint's results are used only if every block it read agrees with the
  blocks already used: the same hash at the same number. At a snapshot height every read is at that
  number, so it must be the same block; reads at "latest" carry their own block and label. A
  disagreement is a note, never a silent mix of two chains' views.
* **Cross-check** (``cross_check`` > 0): a random sample of what the first endpoint read is read again
  on the next endpoint at the same block (hash compared). Where the two disagree neither figure counts:
  the address is unread ("disputed", both values and both endpoint labels) unless a third endpoint
  agrees with one of them; then the value two endpoints agree on is kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Protocol, TypeVar, runtime_checkable

from .jsonrpc import JsonRpcClient
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef, ChainAdapter
from .secrets import ConfigError

NOBODY = "no endpoint could read it"
_AMOUNT = itemgetter(1)  # BalanceResult.amount_base_units, at C speed over hundreds of thousands of results


class EndpointAdapter(ChainAdapter, Protocol):
    """A :class:`ChainAdapter` reading from one endpoint, known by its label."""

    @property
    def label(self) -> str: ...


@runtime_checkable
class Preferring(Protocol):
    """An endpoint adapter that may ask to go first for some reads (lower goes first; ties keep the order)."""

    def preference(self, asset: Asset, height: int | None) -> int: ...


E = TypeVar("E")
A = TypeVar("A", bound=EndpointAdapter)


def per_endpoint(endpoints: Iterable[E], label: Callable[[E], str], build: Callable[[E], A]
                 ) -> tuple[list[A], list[str]]:
    """One adapter per endpoint, and a note for each endpoint left out because a secret it needs (an
    API-key variable) is not set."""
    adapters: list[A] = []
    left_out: list[str] = []
    for ep in endpoints:
        try:
            adapters.append(build(ep))
        except ConfigError as exc:
            left_out.append(f"{label(ep)} left out: {exc}")
    return adapters, left_out


def _combine(prev: BalanceResult | None, r: BalanceResult) -> BalanceResult:
    """An address still unread after another endpoint's try: both reasons, the last endpoint's label."""
    if prev is None or prev.error == r.error or not prev.error:
        return r
    return BalanceResult(r.address, None, r.block, f"{prev.error}; {r.error}", r.endpoint)


def _blocks(results: Iterable[BalanceResult]) -> dict[int, str | None]:
    """Block number -> hash of every successful read."""
    out: dict[int, str | None] = {}
    for r in results:
        if r.block is not None and r.amount_base_units is not None:
            out.setdefault(r.block.number, r.block.hash)
    return out


class FailoverAdapter:
    """One network's endpoints, each read through its own adapter (see the module docstring)."""

    def __init__(self, network: str, adapters: Sequence[EndpointAdapter], *, cross_check: int = 0,
                 seed: int | None = None, notes: Sequence[str] = ()):
        if not adapters:
            raise AdapterError(f"network {network}: no usable endpoint" + (f" ({'; '.join(notes)})" if notes else ""))
        self.network = network
        self.adapters = list(adapters)
        self.cross_check = cross_check
        self.notes = tuple(notes)  # said with every read (endpoints left out)
        self._rng = random.Random(seed)

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self.adapters)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for a in self.adapters:
            out.update(a.provider_errors())
        return out

    async def close(self) -> None:
        for a in self.adapters:
            await a.close()

    def _order(self, asset: Asset, height: int | None) -> list[EndpointAdapter]:
        return sorted(self.adapters, key=lambda a: a.preference(asset, height) if isinstance(a, Preferring) else 0)

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        before = self.requests
        order = self._order(asset, height)
        notes = list(self.notes)
        strategies: list[str] = []
        failures: list[str] = []  # why an endpoint read nothing at all
        results: list[BalanceResult | None] = [None] * len(addresses)
        whole: tuple[BalanceResult, ...] | None = None  # every address read by the first endpoint
        todo = list(range(len(addresses)))
        seen: dict[int, str | None] = {}  # blocks of the results used so far: number -> hash
        primary: EndpointAdapter | None = None  # the first endpoint whose results count
        primary_read: list[int] = []
        for ad in order:
            if not todo:
                break
            asked = addresses if len(todo) == len(addresses) else [addresses[i] for i in todo]
            try:
                b = await ad.balances(asset, asked, height)
            except AdapterError as exc:
                failures.append(str(exc))
                if str(exc) not in notes:
                    notes.append(str(exc))
                continue
            notes.extend(n for n in b.notes if n not in notes)
            if seen:
                theirs = _blocks(b.results)
                clash = sorted(n for n, h in theirs.items() if n in seen and seen[n] != h)
                if clash:
                    n = clash[0]
                    notes.append(f"{ad.label}: read block {n} {theirs[n]}, not {n} {seen[n]} as the endpoint(s) "
                                 "before: its results are not used")
                    continue
            if b.read:
                strategies.append(b.strategy)
                if primary is None:
                    primary = ad
            if len(todo) == len(addresses) and None not in map(_AMOUNT, b.results):  # the common case
                whole = b.results
                primary_read = todo
                break
            still = []
            for i, r in zip(todo, b.results):
                if r.amount_base_units is not None:
                    results[i] = r
                    if primary is ad:
                        primary_read.append(i)
                    if r.block is not None:
                        seen.setdefault(r.block.number, r.block.hash)
                else:
                    results[i] = _combine(results[i], r)
                    still.append(i)
            todo = still
        cross = bool(self.cross_check and primary is not None and len(order) > 1 and primary_read)
        if whole is not None and not cross:
            return BalanceBatch(asset, height, whole, ",".join(strategies), self.requests - before, tuple(notes))
        why = "; ".join(failures) or NOBODY
        final = list(whole) if whole is not None else [
            r if r is not None else BalanceResult(a, None, None, why) for a, r in zip(addresses, results)]
        if cross and primary is not None:
            await self._cross_check(asset, addresses, final, primary_read, primary,
                                    [a for a in order if a is not primary], notes)
        return BalanceBatch(asset, height, tuple(final), ",".join(strategies), self.requests - before, tuple(notes))

    # ------------------------------------------------------------------ cross-check

    async def _values_at(self, ad: EndpointAdapter, asset: Asset, addresses: list[str], block: BlockRef
                         ) -> dict[str, int] | str:
        """What ``ad`` reads for ``addresses`` at exactly ``block`` (number and hash), or why it could not."""
        try:
            b = await ad.balances(asset, addresses, block.number)
        except AdapterError as exc:
            return str(exc)
        return {r.address: r.amount_base_units for r in b.results if r.amount_base_units is not None
                and r.block is not None and r.block.number == block.number and r.block.hash == block.hash}

    async def _cross_check(self, asset: Asset, addresses: Sequence[str],
                           results: list[BalanceResult], primary_read: list[int], primary: EndpointAdapter,
                           others: list[EndpointAdapter], notes: list[str]) -> None:
        """Re-read a sample of the first endpoint's reads on a second endpoint (see the module docstring)."""
        block = results[primary_read[0]].block
        if block is None:
            return
        at_block = {addresses[i]: results[i].amount_base_units for i in primary_read if results[i].block == block}
        values: dict[str, int] = {a: v for a, v in at_block.items() if v is not None}
        sample = self._rng.sample(list(values), min(self.cross_check, len(values)))
        second, thirds = others[0], others[1:]
        got = await self._values_at(second, asset, sample, block)
        if isinstance(got, str):
            notes.append(f"cross-check on {second.label} not possible: {got}")
            return
        bad = [a for a in sample if a in got and got[a] != values[a]]
        unread = [a for a in sample if a not in got]
        notes.append(f"cross-check: {len(sample) - len(bad) - len(unread)}/{len(sample)} sampled balances agree on "
                     f"{second.label}" + (f"; {len(unread)} unread there" if unread else ""))
        if not bad:
            return
        said = {a: [(primary.label, values[a]), (second.label, got[a])] for a in bad}
        kept: dict[str, tuple[int, str]] = {}  # settled against the first endpoint: value, label agreeing
        open_ = list(bad)
        for third in thirds:
            if not open_:
                break
            third_got = await self._values_at(third, asset, open_, block)
            if isinstance(third_got, str):
                notes.append(f"cross-check: third read on {third.label} not possible: {third_got}")
                continue
            for a in list(open_):
                if a not in third_got:
                    continue
                said[a].append((third.label, third_got[a]))
                agreeing = [label for label, v in said[a][:-1] if v == third_got[a]]
                if agreeing:
                    open_.remove(a)
                    if agreeing[0] != primary.label:  # the first endpoint was the odd one out
                        kept[a] = (third_got[a], agreeing[0])
                    notes.append(f"cross-check: {a} settled at {third_got[a]} "
                                 f"({' and '.join(agreeing + [third.label])} agree)")
        disputed = {a: "disputed: " + ", ".join(f"{label} says {v}" for label, v in said[a])
                    + "; not counted until a third read agrees with one" for a in open_}
        for i, r in enumerate(results):
            if r.address in kept:
                value, label = kept[r.address]
                # the split read with the outvoted value does not belong to this one: unknown, never all liquid
                results[i] = BalanceResult(r.address, value, r.block, None, label,
                                           parts_known=r.parts_known and not r.parts)
            elif r.address in disputed and r.block == block:
                results[i] = BalanceResult(r.address, None, r.block, disputed[r.address], primary.label)
        for a in open_[:20]:
            notes.append(f"cross-check DISAGREEMENT {a}: " + ", ".join(f"{label} says {v}" for label, v in said[a]))
        if len(open_) > 20:
            notes.append(f"cross-check: {len(open_) - 20} more disputed addresses (see their rows)")


class OneEndpoint:
    """Mixin for adapters reading through one client (``self.client``): label, counters, close."""

    client: JsonRpcClient

    @property
    def label(self) -> str:
        return self.client.label

    @property
    def requests(self) -> int:
        return self.client.requests

    def provider_errors(self) -> dict[str, dict[str, int]]:
        return {self.label: dict(self.client.errors)}

    async def close(self) -> None:
        await self.client.close()
