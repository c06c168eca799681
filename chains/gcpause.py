"""Pause Python's cyclic garbage collector while an adapter builds hundreds of thousands of
result tuples.

Reading 600k balances allocates millions of small acyclic objects (tuples, ints, strings); each
allocation burst triggers generation-0 collections that walk ever more live objects, which cost
more than the reads themselves (measured on bench/evm: ERC-20 reads 300k -> 430k addresses/s with
collections paused). Reference counting still frees everything; only cycle detection waits until
the last concurrent read finishes. The pause is counted, so overlapping reads (several networks
at once) re-enable the collector only when the last one ends, and only if it was on before.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from collections.abc import Iterator

_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    global _depth, _was_enabled
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()
