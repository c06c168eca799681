"""The one failover mechanism (chains/failover.py) on its own, over FAKE in-memory endpoints: what a
network of several endpoints does whatever their kind. The kinds' own failover cases run on real
nodes and the FAKE TRON/Solana servers in test_evm, test_adapter_hardening, test_bitcoin, test_tron
and test_solana; the pipeline's choice of adapter is checked here against the shipped config's kinds."""

from __future__ import annotations

import pytest

from support.common import balances_then_close, run
from chains.failover import FailoverAdapter, per_endpoint
from chains.jsonrpc import Endpoint
from chains.memory import MemoryAdapter
from chains.protocol import AdapterError, Asset

COIN = Asset("net", "COIN", 8)
H = 100


def mem(label: str, amounts: dict[str, int], block_hash: str = "0x" + "ab" * 32, **kw) -> MemoryAdapter:
    return MemoryAdapter("net", amounts, block_hash, label=label, **kw)


def test_what_the_first_could_not_read_goes_to_the_next():
    first = mem("FAKE-a", {"x": 1})
    second = mem("FAKE-b", {"x": 99, "y": 2})
    batch = run(balances_then_close(COIN, FailoverAdapter("net", [first, second]), ["x", "y", "z"], H))
    x, y, z = batch.results
    assert (x.amount_base_units, x.endpoint) == (1, "FAKE-a")  # the first endpoint's figure, not re-read
    assert (y.amount_base_units, y.endpoint) == (2, "FAKE-b")
    assert z.amount_base_units is None and z.error == "FAKE: no figure for this address"  # said once, not twice
    assert batch.read == 2 and batch.requests == 2 == first.requests + second.requests
    assert first.closed and second.closed


def test_an_endpoint_on_another_block_is_not_mixed_in():
    first = mem("FAKE-a", {"x": 1})
    forked = mem("FAKE-fork", {"y": 2}, block_hash="0x" + "cd" * 32)
    batch = run(balances_then_close(COIN, FailoverAdapter("net", [first, forked]), ["x", "y"], H))
    assert batch.results[0].amount_base_units == 1 and batch.results[1].amount_base_units is None
    assert any(n.startswith(f"FAKE-fork: read block {H} 0x" + "cd" * 32) and "not used" in n for n in batch.notes)


def test_an_endpoint_that_cannot_work_is_a_note_and_the_rows_say_why():
    dead = mem("FAKE-dead", {}, broken=AdapterError("FAKE-dead: connection refused"))
    alone = run(balances_then_close(COIN, FailoverAdapter("net", [dead]), ["x"], H))
    assert alone.results[0].amount_base_units is None and alone.results[0].error == "FAKE-dead: connection refused"
    assert alone.notes == ("FAKE-dead: connection refused",)
    dead = mem("FAKE-dead", {}, broken=AdapterError("FAKE-dead: connection refused"))
    batch = run(balances_then_close(COIN, FailoverAdapter("net", [dead, mem("FAKE-b", {"x": 5})]), ["x"], H))
    assert batch.complete and batch.results[0].endpoint == "FAKE-b" and "FAKE-dead: connection refused" in batch.notes


def test_a_preferred_endpoint_goes_first_for_the_reads_it_asks_for():
    class Archive(MemoryAdapter):
        def preference(self, asset: Asset, height: int | None) -> int:
            return -1 if height is not None else 0  # adapters without a preference rank 0

    plain = mem("FAKE-plain", {"x": 1})
    archive = Archive("net", {"x": 2}, label="FAKE-archive")
    fo = FailoverAdapter("net", [plain, archive])
    assert run(fo.balances(COIN, ["x"], H)).results[0].endpoint == "FAKE-archive"
    assert run(fo.balances(COIN, ["x"], None)).results[0].endpoint == "FAKE-plain"  # ties keep the order


@pytest.mark.parametrize("liar_first", [True, False])
def test_cross_check_dispute_is_settled_by_a_third_endpoint_for_any_kind(liar_first):
    truth = {f"w{i}": 10 + i for i in range(6)}
    liar = mem("FAKE-liar", {**truth, "w1": 7})
    honest = mem("FAKE-honest", truth)
    eps = [liar, honest] if liar_first else [honest, liar]
    two = run(balances_then_close(COIN, FailoverAdapter("net", eps, cross_check=6, seed=1), list(truth), H))
    w1 = two.results[1]
    assert w1.amount_base_units is None and w1.error.startswith("disputed: ")
    assert "FAKE-liar says 7" in w1.error and "FAKE-honest says 11" in w1.error
    assert two.read == 5 and any(n.startswith("cross-check: 5/6") for n in two.notes)
    assert any(n.startswith("cross-check DISAGREEMENT w1: ") for n in two.notes)
    liar, honest = mem("FAKE-liar", {**truth, "w1": 7}), mem("FAKE-honest", truth)
    eps = ([liar, honest] if liar_first else [honest, liar]) + [mem("FAKE-third", truth)]
    three = run(balances_then_close(COIN, FailoverAdapter("net", eps, cross_check=6, seed=1), list(truth), H))
    assert three.complete and three.total_base_units == sum(truth.values())
    assert (three.results[1].amount_base_units, three.results[1].endpoint) == (11, "FAKE-honest")
    assert any("w1 settled at 11" in n and "FAKE-third" in n for n in three.notes)


def test_cross_check_compares_only_reads_of_the_same_block():
    truth = {"x": 1, "y": 2}
    other_chain = mem("FAKE-other", {"x": 5, "y": 6}, block_hash="0x" + "ee" * 32)
    batch = run(balances_then_close(COIN, FailoverAdapter("net", [mem("FAKE-a", truth), other_chain], cross_check=2),
                                    list(truth), H))
    assert batch.complete and batch.total_base_units == 3  # no dispute with a read of another block
    assert any(n == "cross-check: 0/2 sampled balances agree on FAKE-other; 2 unread there" for n in batch.notes)


def test_an_endpoint_whose_secret_is_unset_is_left_out_with_a_note(monkeypatch):
    from chains.tron import TronAdapter

    monkeypatch.delenv("PORSCAN_TEST_UNSET_KEY", raising=False)
    eps = [(Endpoint("FAKE-keyed", "http://127.0.0.1:9"), {"headers": {"X-Key": "${PORSCAN_TEST_UNSET_KEY}"}}),
           (Endpoint("FAKE-open", "http://127.0.0.1:9"), {})]
    adapters, left_out = per_endpoint(eps, lambda e: e[0].label, lambda e: TronAdapter("tron", *e))
    assert [a.label for a in adapters] == ["FAKE-open"]
    assert len(left_out) == 1 and left_out[0].startswith("FAKE-keyed left out: ") and "PORSCAN_TEST_UNSET_KEY" in left_out[0]
    with pytest.raises(AdapterError, match="no usable endpoint"):
        FailoverAdapter("tron", [], notes=left_out)
    run(adapters[0].close())


def test_every_kind_fails_over_through_the_one_mechanism():
    """Several endpoints: the pipeline composes one adapter per endpoint with FailoverAdapter, whatever
    the kind; one endpoint: the adapter itself."""
    import dataclasses

    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    ep = Endpoint("FAKE-1", "http://127.0.0.1:9")
    for nid in ("ethereum", "tron", "solana", "bitcoin"):
        net = load_networks()[nid]
        two = dataclasses.replace(net, endpoints=(ep, dataclasses.replace(ep, label="FAKE-2")),
                                  endpoint_options=({}, {}))
        ad = make_adapter(two)
        try:
            assert isinstance(ad, FailoverAdapter) and [a.label for a in ad.adapters] == ["FAKE-1", "FAKE-2"], nid
        finally:
            run(ad.close())
        one = make_adapter(dataclasses.replace(net, endpoints=(ep,), endpoint_options=({},)))
        try:
            assert not isinstance(one, FailoverAdapter) and one.label == "FAKE-1", nid
        finally:
            run(one.close())
