"""Pieces shared by adapters that read address by address (TRON, Solana)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef

# per parsed address: (amount or None, error or None, endpoint label, block read or None)
Value = tuple[int | None, str | None, str, BlockRef | None]


def parse_inputs(network: str, asset: Asset, addresses: Sequence[str], parse: Callable[[str], Any],
                 contract_kind: str) -> tuple[list[Any], list[Any], Any]:
    """(key per address or None, unique keys to read, parsed token contract or None)."""
    keys = [parse(a) for a in addresses]
    todo = list(dict.fromkeys(k for k in keys if k is not None))
    contract = None
    if asset.contract:
        contract = parse(asset.contract)
        if contract is None:
            raise AdapterError(f"{asset.symbol} on {network}: bad {contract_kind} {asset.contract!r}")
    return keys, todo, contract


K = TypeVar("K", bound=Hashable)


def assemble(asset: Asset, height: int | None, addresses: Sequence[str], keys: Sequence[K | None],
             values: Mapping[K, Value], not_an_address: str, strategies: Sequence[str], requests: int,
             notes: Sequence[str]) -> BalanceBatch:
    """One result per input address, in input order (duplicates share their key's value)."""
    results = []
    for text, key in zip(addresses, keys):
        if key is None:
            results.append(BalanceResult(text, None, None, not_an_address))
            continue
        amount, err, label, block = values.get(key, (None, "no endpoint could read it", "", None))
        results.append(BalanceResult(text, amount, block, err, label))
    return BalanceBatch(asset, height, tuple(results), ",".join(strategies), requests, tuple(notes))


def none_read(values: dict[K, Value], keys: Iterable[K], why: str, label: str, notes: list[str]) -> None:
    """An endpoint that could read nothing at all (its head, its token contract...): every address gets
    the reason, never a zero, and the batch notes it once."""
    notes.append(why)
    values.update((k, (None, why, label, None)) for k in keys)
