"""A plan's groups held on disk past a memory budget (scanner/pipeline/spool.py) read back exactly as
held in memory: same rows, same order, same slices (so the same checkpoint keys), merged in line order
when rows without a height join their network's height."""

from __future__ import annotations

import random

from scanner.config.networks import CoinTarget, CoinTargets
from scanner.pipeline import spool
from scanner.pipeline.plan import fill_heights
from scanner.pipeline.spool import Job, JobSpool, SpoolBudget, slices


def _job(line: int) -> Job:
    return Job(line, "ETH", f"0x{line:040x}", None if line % 7 == 0 else line * 10**18, "" if line % 7 else "no amount")


def test_spilled_rows_read_back_in_order_and_in_the_same_slices(monkeypatch):
    monkeypatch.setattr(spool, "BATCH", 7)  # several batches on disk per spill
    budget = SpoolBudget(limit=50)
    a, b = JobSpool(budget), JobSpool(budget)
    most = 0
    for line in range(1, 1001):
        (a if line % 3 else b).append(_job(line))
        most = max(most, budget.held)
    assert most <= 51 and a.on_disk > 0 and b.on_disk > 0  # memory stayed within the budget
    want_a = [_job(n) for n in range(1, 1001) if n % 3]
    assert len(a) == len(want_a) and list(a) == want_a
    assert list(slices(a, 64)) == list(slices(want_a, 64))
    assert [len(p) for p in slices(a, 300)] == [300, 300, len(want_a) - 600]
    # two readers of one spool (a balance job read again) do not disturb each other
    r1, r2 = iter(a), iter(a)
    pairs = [(next(r1), next(r2)) for _ in range(100)]
    assert all(x == y for x, y in pairs) and next(r1) == want_a[100]


def test_a_small_plan_never_touches_the_disk():
    s = JobSpool()
    s.extend(_job(n) for n in range(1, 10_001))
    assert s.on_disk == 0 and len(s) == 10_000 and list(s)[-1] == _job(10_000)


def test_rows_without_height_merge_into_their_networks_group_in_line_order():
    coins = CoinTargets({"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18)})
    rnd = random.Random(3)
    lines = sorted(rnd.sample(range(1, 100_000), 3000))
    heighted = {n for n in lines if rnd.random() < 0.7}  # the others publish no height
    budget = SpoolBudget(limit=100)
    groups: dict = {("ETH", 100): JobSpool(budget), ("ETH", None): JobSpool(budget)}
    for n in lines:
        groups[("ETH", 100) if n in heighted else ("ETH", None)].append(_job(n))
    as_lists, _ = fill_heights({k: list(v) for k, v in groups.items()}, coins)
    out, notes = fill_heights(groups, coins)
    assert not len(groups[("ETH", None)]) and budget.held <= 101  # merged away: its rows are not held twice
    assert set(out) == {("ETH", 100)} and "read at 100" in notes["ethereum"]
    assert isinstance(out[("ETH", 100)], JobSpool) and list(out[("ETH", 100)]) == as_lists[("ETH", 100)]
    assert [j.line for j in as_lists[("ETH", 100)]] == lines


def test_rows_given_out_of_order_are_still_read_in_line_order():
    coins = CoinTargets({"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18)})
    a, b = JobSpool(), JobSpool()
    for n in (5, 3, 9):
        a.append(_job(n))
    b.append(_job(4))
    out, _ = fill_heights({("ETH", 1): a, ("ETH", None): b}, coins)
    assert [j.line for j in out[("ETH", 1)]] == [3, 4, 5, 9]


def test_a_plan_made_for_its_counts_counts_the_same_and_keeps_no_row():
    coins = CoinTargets({"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18)})
    budget = SpoolBudget(limit=10)
    kept = {("ETH", 100): JobSpool(SpoolBudget(limit=10)), ("ETH", None): JobSpool(SpoolBudget(limit=10))}
    counted = {("ETH", 100): JobSpool(budget, keep=False), ("ETH", None): JobSpool(budget, keep=False)}
    for n in range(1, 500):
        for groups in (kept, counted):
            groups[("ETH", 100) if n % 4 else ("ETH", None)].append(_job(n))
    assert budget.held == 0 and all(s.on_disk == 0 and not list(s) for s in counted.values())
    out_kept, notes_kept = fill_heights(kept, coins)
    out_counted, notes_counted = fill_heights(counted, coins)
    assert {k: len(v) for k, v in out_counted.items()} == {k: len(v) for k, v in out_kept.items()} == {("ETH", 100): 499}
    assert notes_counted == notes_kept
