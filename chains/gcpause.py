"""Python's cyclic garbage collector in bulk work: porscan's thresholds for a whole process
(:func:`bulk_thresholds`), and a pause while an adapter builds hundreds of thousands of result tuples.

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

# What a porscan process collects by: young objects after 10,000 net allocations (CPython's default
# is 700) and the whole heap after 50 collections of the middle generation (default 10). A scan's
# process holds a plan of 600k rows and makes millions of short-lived records, which reference
# counting frees; with the defaults, full collections walked every live row again and again
# (bench/scan's process: 27 full collections, 5.9 s in all the collector, against 1.5 s and none).
BULK_THRESHOLDS = (10_000, 20, 50)


def bulk_thresholds() -> None:
    """Set :data:`BULK_THRESHOLDS` for this process (and the workers it forks): once, at the entry."""
    gc.set_threshold(*BULK_THRESHOLDS)


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
