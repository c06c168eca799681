"""BNB Chain StakeHub delegations as staked/unbonding parts, at the snapshot block, on a real anvil node.

StakeHub's ABI doubles sit at the system address (tests/support/stakehub_world.py); delegations,
unbond requests, claims and a new validator happen by real transactions before and after the
snapshot. The expected figures are asked of the node per (delegator, credit contract) at the snapshot
block, independently of the adapter. Covers both read paths (StakeHubReader override, batched
eth_call), getValidators paging, a credit contract that reverts, faults at 20 % and tokens untouched.
"""

from __future__ import annotations

import pytest

import chains.evm as evm
from chains.evm import EvmAdapter
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from support.common import balances_then_close, run
from support.faultproxy import FaultProxy
from support.stakehub_world import STAKEHUB, StakeHubWorld, build_stakehub_world, view

BNB = Asset("local", "BNB", 18)


@pytest.fixture(scope="module")
def world(anvil) -> StakeHubWorld:
    return build_stakehub_world(anvil.url)


@pytest.fixture(scope="module")
def truth(world) -> dict[str, tuple[int, int]]:
    return world.truth()


async def read(url_or_endpoints, asset, addresses, height, stakehub=STAKEHUB, **kw):
    eps = url_or_endpoints if isinstance(url_or_endpoints, list) else [Endpoint("anvil", url_or_endpoints)]
    ad = FailoverAdapter("local", [EvmAdapter("local", e, stakehub=stakehub, **kw) for e in eps])
    return await balances_then_close(asset, ad, addresses, height), ad


def expected(world, truth, d) -> tuple[int, tuple]:
    staked, unbonding = truth[d]
    parts = tuple((k, v) for k, v in (("staked", staked), ("unbonding", unbonding)) if v)
    return world.native[d] + staked + unbonding, parts


def test_world_has_every_case(world, truth):
    assert any(s and u for s, u in truth.values()) and any(s and not u for s, u in truth.values())
    assert any(s == u == 0 for s, u in truth.values()) and max(s for s, _ in truth.values()) > 2**70
    from scanner.devnet.localnodes import rpc

    head = int(rpc(world.url, "eth_blockNumber"), 16)
    later = world.truth(head)
    assert all(later[d] != truth[d] for d in world.changed_after)  # changed after the snapshot (on old credits)
    assert view(world.url, world.late_credit, "getPooledBNB(address)", ["address"], [world.delegators[3]], head) > 0


@pytest.mark.parametrize("strategy", ["state-override-reader", "batched-calls", "multicall3"])
def test_delegations_at_snapshot_exact(world, truth, strategy):
    batch, _ = run(read(world.url, BNB, world.delegators, world.snapshot, force_strategy=strategy))
    assert batch.complete
    for r in batch.results:
        amount, parts = expected(world, truth, r.address)
        assert (r.amount_base_units, r.parts, r.parts_known) == (amount, parts, True), r.address
        assert r.block.number == world.snapshot and r.block.at_snapshot
    # the validator created after the snapshot is not in the snapshot's list; its delegation not counted
    assert any(f"over {len(world.credits)} validator(s)" in n for n in batch.notes)
    how = {"state-override-reader": "StakeHubReader override", "multicall3": "multicall3 aggregate3",
           "batched-calls": "batched eth_call"}
    assert [k for k, v in how.items() if v in " ".join(batch.notes)] == [strategy]


def test_latest_reads_the_later_state(world):
    from scanner.devnet.localnodes import rpc

    head = int(rpc(world.url, "eth_blockNumber"), 16)
    now = world.truth(head)
    late = view(world.url, world.late_credit, "getPooledBNB(address)", ["address"], [world.delegators[3]], head)
    batch, _ = run(read(world.url, BNB, world.delegators[:8], head))
    got = {r.address: r for r in batch.results}
    for d in world.changed_after:
        s, u = now[d]
        assert got[d].amount_base_units == world.native[d] + 10**16 + s + u
    assert dict(got[world.delegators[3]].parts)["staked"] == now[world.delegators[3]][0] + late


def test_validator_list_is_paged(world, truth, monkeypatch):
    monkeypatch.setattr(evm, "VALIDATORS_PAGE", 2)
    batch, _ = run(read(world.url, BNB, world.delegators, world.snapshot))
    assert batch.complete and all((r.amount_base_units, r.parts) == expected(world, truth, r.address)
                                  for r in batch.results)


def test_small_reader_chunks_and_tokens_untouched(world, truth):
    batch, _ = run(read(world.url, BNB, world.delegators, world.snapshot, stake_pairs=7))
    assert batch.complete and all((r.amount_base_units, r.parts) == expected(world, truth, r.address)
                                  for r in batch.results)
    credit_as_token = Asset("local", "stX", 18, world.credits[0])  # any ERC-20-like read: no StakeHub parts
    tok, _ = run(read(world.url, credit_as_token, world.delegators[:3], world.snapshot))
    assert all(r.parts == () and r.parts_known for r in tok.results)
    assert not any("StakeHub" in n for n in tok.notes)


def test_reverting_credit_leaves_split_unknown_never_liquid(anvil):
    """A credit contract that reverts at the snapshot: nobody's delegations are known; own balance kept, said so."""
    from scanner.devnet.localnodes import rpc, send_transaction
    from support.stakehub_world import _data

    w = build_stakehub_world(anvil.url, n_validators=2, n_delegators=8)
    dev = rpc(anvil.url, "eth_accounts")[0]
    send_transaction(anvil.url, {"from": dev, "to": w.credits[1], "data": _data("setBroken(bool)", ["bool"], [True]),
                                 "gas": hex(100_000)})
    head = int(rpc(anvil.url, "eth_blockNumber"), 16)
    for strategy in ("state-override-reader", "multicall3", "batched-calls"):
        batch, _ = run(read(anvil.url, BNB, w.delegators, head, force_strategy=strategy))
        assert batch.complete
        for r in batch.results:
            assert r.amount_base_units == w.native[r.address] + 10**16 and not r.parts_known and r.parts == ()
        assert any("NOT read" in n and "own balance only" in n for n in batch.notes)
    # at the snapshot (before it broke) the same addresses read fine
    ok, _ = run(read(anvil.url, BNB, w.delegators, w.snapshot))
    assert all(r.parts_known for r in ok.results)


def test_no_stakehub_code_leaves_split_unknown(world):
    """A StakeHub address without code (a wrong config, a chain before the fusion) answers "0x": unknown."""
    batch, _ = run(read(world.url, BNB, world.delegators[:2], world.snapshot, stakehub="0x" + "20" * 20))
    assert all(r.ok and not r.parts_known and r.amount_base_units == world.native[r.address] for r in batch.results)
    assert any("getValidators" in n and "NOT read" in n for n in batch.notes)


@pytest.mark.parametrize("strategy", ["batched-calls", "multicall3", "state-override-reader"])
def test_faults_at_20_percent_no_silent_liquid_figure(world, truth, strategy):
    addrs = world.delegators * 3
    with FaultProxy(world.url, rate=0.2, seed=17, timeout_sleep=0.8) as px:
        ep = Endpoint("anvil-faulty", px.url, timeout=0.5, max_batch=20, concurrency=3)
        batch, ad = run(read([ep], BNB, addrs, world.snapshot, force_strategy=strategy, call_batch=6, stake_pairs=5,
                             attempts=12, backoff_min=0.005, backoff_max=0.03))
        injected = dict(px.injected)
    assert sum(injected.values()) >= 3 and len(injected) >= 2, injected
    known = 0
    for r in batch.results:
        if not r.ok:
            assert r.amount_base_units is None and r.error
        elif r.parts_known:
            assert (r.amount_base_units, r.parts) == expected(world, truth, r.address)
            known += 1
        else:
            assert r.amount_base_units == world.native[r.address] and r.parts == ()
    assert known >= len(addrs) // 2
    assert known == sum(1 for r in batch.results if r.ok) or any("NOT read" in n for n in batch.notes)


def test_plain_evm_results_carry_every_field(world):
    """Without StakeHub, the fast path's results still have parts (empty) and parts_known, like any result."""
    batch, _ = run(read(world.url, BNB, world.delegators, world.snapshot, stakehub=None))
    assert batch.complete and all(len(r) == len(r._fields) for r in batch.results)
    assert all(r.parts == () and r.parts_known and r.amount_base_units == world.native[r.address]
               for r in batch.results)


def test_network_option_from_config(tmp_path, world, truth):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    d = world.delegators[0]
    p = tmp_path / "n.toml"
    p.write_text(f'[networks.local]\nkind = "evm"\nchain_id = 31337\nnative_symbol = "BNB"\nnative_decimals = 18\n'
                 f'stakehub = "{STAKEHUB}"\n[[networks.local.endpoints]]\nlabel = "anvil"\nurl = "{world.url}"\n'
                 'archive = true\n')
    batch = run(balances_then_close(BNB, make_adapter(load_networks(p)["local"]), [d], world.snapshot))
    assert (batch.results[0].amount_base_units, batch.results[0].parts) == expected(world, truth, d)
