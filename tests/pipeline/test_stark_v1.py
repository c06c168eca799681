"""OKX zk-STARK v1 sum proofs (scanner/pipeline/liabilities/stark): the generated sets in
../shared/vectors verify in full, and every kind of tampering fails with a reason naming the file.

The full sets are verified once per module; mutations copy one small batch (a0: uts 16, steps 256)
to tmp_path and edit its JSON. The Merkle and interpolation pieces are also checked on trees and
polynomials built here, without the vectors.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from scanner.pipeline.liabilities.proofs import FAILED, NOT_VERIFIED, VERIFIED
from scanner.pipeline.liabilities.stark import (KIND, SET_KIND, load_config, verify_sum_proof, verify_sum_proof_set,
                                                verify_sum_proofs)
from scanner.pipeline.liabilities.stark import merkle
from scanner.pipeline.liabilities.stark.field import P, Interpolant
from scanner.pipeline.liabilities.stark.field import root_of_unity
from scanner.pipeline.liabilities.stark.fri import FriError, pseudorandom_indices, verify_low_degree
from signatures.hashing import keccak256

from support.common import SHARED_VECTORS, shared_path

SETS = ("ca9f1b4", "fa0e43b")


def _set_dir(name: str) -> Path:
    return shared_path("okx", "zk_STARK", name, "sum_proof_data")


@pytest.fixture(scope="module")
def full_results() -> dict[str, list]:
    if not (SHARED_VECTORS / "okx" / "zk_STARK").exists():
        pytest.skip("shared vectors not available")
    # two workers: the pool path (forked workers, results back in order) is what runs here
    return {name: verify_sum_proof_set(_set_dir(name), workers=2) for name in SETS}


def test_every_sum_proof_in_the_vectors_verifies(full_results):
    proofs = [c for checks in full_results.values() for c in checks if c.kind == KIND]
    assert len(proofs) == 9  # 4 + trunk, 4 (spec 4.3: "all 9 sum proofs verify")
    for check in proofs:
        assert check.status == VERIFIED, check.reason
        folder = Path(check.file)
        values = json.loads((folder / "sum_values.json").read_text())
        assert check.detail["total_value"] == values["total_value"]
        assert check.detail["uts"] == (16 if folder.name.startswith("a") else 32)


def test_complete_set_binds_batches_to_the_trunk_and_names_the_proven_coins(full_results):
    checks = full_results["ca9f1b4"]
    assert [Path(c.file).name for c in checks[:-1]] == ["a0", "a1", "a2", "b0", "trunk"]
    set_check = checks[-1]
    assert set_check.kind == SET_KIND and set_check.status == VERIFIED, set_check.reason
    coins = json.loads((_set_dir("ca9f1b4") / "config.derived.json").read_text())["coins"]
    assert set_check.detail["proven_coins"] == coins[:21]
    assert set_check.detail["total_only_coins"] == coins[21:]
    assert checks[-2].detail["proven_coins"] == coins[:21]  # the trunk's record says it too
    assert "BTC" in set_check.reason and "130 coins only through total_value" in set_check.reason


def test_batches_without_a_trunk_verify_but_the_set_is_not_verified(full_results):
    checks = full_results["fa0e43b"]
    assert [c.status for c in checks[:-1]] == [VERIFIED] * 4
    assert checks[-1].status == NOT_VERIFIED and "no trunk" in checks[-1].reason


def test_parallel_and_serial_agree():
    root = _set_dir("ca9f1b4")
    config = load_config(root)
    jobs = [(str(root / "batches" / b), config) for b in ("a0", "a1", "b0")]
    assert verify_sum_proofs(jobs, workers=2) == verify_sum_proofs(jobs, workers=1)


# --- mutations of one batch -------------------------------------------------------------------------

@pytest.fixture
def batch(tmp_path) -> Path:
    src = _set_dir("ca9f1b4")
    dst = tmp_path / "sum_proof_data" / "batches" / "a0"
    dst.mkdir(parents=True)
    for name in ("sum_proof.json", "sum_values.json"):
        shutil.copy(src / "batches" / "a0" / name, dst / name)
    shutil.copy(src / "config.derived.json", tmp_path / "sum_proof_data" / "config.derived.json")
    return dst


def _config(batch: Path):
    return load_config(batch.parents[1])


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _flip(hex_string: str, at: int = 10) -> str:
    return hex_string[:at] + format(int(hex_string[at], 16) ^ 1, "x") + hex_string[at + 1:]


def _failed(batch: Path, *expected: str) -> str:
    check = verify_sum_proof(batch, _config(batch))
    assert check.status == FAILED, "a tampered proof verified"
    for text in expected:
        assert text in check.reason, check.reason
    return check.reason


def test_untouched_copy_verifies(batch):
    check = verify_sum_proof(batch / "sum_proof.json", _config(batch))  # a file in the folder works too
    assert check.status == VERIFIED, check.reason


def test_a_coin_sum_changed_alone_breaks_total_value(batch):
    _edit(batch / "sum_values.json", lambda d: d.update(BTC=d["BTC"] + 1))
    _failed(batch, "sum_values.json", "total_value")


def test_a_proven_coin_sum_changed_with_total_value_fails_the_constraints(batch):
    _edit(batch / "sum_values.json", lambda d: d.update(ETH=d["ETH"] + 1, total_value=d["total_value"] + 1))
    _failed(batch, "sum_proof.json", "spot check 0", "total_value")


def test_total_value_changed(batch):
    _edit(batch / "sum_values.json", lambda d: d.update(total_value=d["total_value"] + 1))
    _failed(batch, "sum_values.json", "$.total_value")


def test_a_sum_outside_the_field_fails(batch):
    _edit(batch / "sum_values.json", lambda d: d.update(BTC=d["BTC"] + P, total_value=d["total_value"] + P))
    _failed(batch, "$.BTC", "[0, p)")


def test_a_sum_values_key_given_twice_fails(batch):
    """{"BTC": 1, ..., "BTC": <the proven sum>}: json keeps the last, so the proof verified while the
    file's first BTC figure (the one a reader sees first) was another number."""
    path = batch / "sum_values.json"
    path.write_text('{"BTC": 1, ' + path.read_text().lstrip()[1:])
    _failed(batch, "sum_values.json", "duplicate key 'BTC'")


def test_a_total_value_wrapped_past_p_fails(batch):
    """Two coins past main_coins_num moved so that their sum gains p (one set to p - 1, every value
    still in [0, p)): the constraints see total_value mod p only, so the proof held and porscan
    reported 'coin sums add up to total_value' for a total above p."""
    config = _config(batch)
    a, b = config.total_only_coins[:2]
    _edit(batch / "sum_values.json", lambda d: d.update({a: P - 1, b: d[b] + d[a] + 1, "total_value": d["total_value"] + P}))
    _failed(batch, "$.total_value", "[0, p)")


def test_coins_past_main_coins_num_are_bound_only_through_total_value(batch):
    """The documented limit of the construction: moving value between two coins past the first
    main_coins_num leaves every constraint true. porscan says so in the set record; here it shows."""
    config = _config(batch)
    a, b = config.total_only_coins[:2]
    _edit(batch / "sum_values.json", lambda d: d.update({a: d[a] + 5, b: d[b] - 5}))
    assert verify_sum_proof(batch, config).status == VERIFIED
    x, y = config.proven_coins[:2]  # the same move between proven coins is caught
    _edit(batch / "sum_values.json", lambda d: d.update({a: d[a] - 5, b: d[b] + 5, x: d[x] + 5, y: d[y] - 5}))
    _failed(batch, f"boundary of {x}")


def test_a_fri_branch_entry(batch):
    def change(d):
        branch = d["low_degree_proof"][0][2][0]
        k = next(i for i in range(1, len(branch)) if branch[i])
        branch[k] = _flip(branch[k])
    _edit(batch / "sum_proof.json", change)
    _failed(batch, "sum_proof.json", "low_degree_proof[0][2]")


def test_a_fri_column_value(batch):
    _edit(batch / "sum_proof.json", lambda d: d["low_degree_proof"][1][1][3].__setitem__(
        0, _flip(d["low_degree_proof"][1][1][3][0], 60)))
    _failed(batch, "sum_proof.json", "low_degree_proof[1]")


def test_the_last_fri_layer(batch):
    _edit(batch / "sum_proof.json", lambda d: d["low_degree_proof"][-1].__setitem__(5, _flip(d["low_degree_proof"][-1][5], 63)))
    _failed(batch, "sum_proof.json", "last column root")


def test_a_merkle_branch_entry(batch):
    def change(d):
        branch = d["mtree_branches"][7]
        k = next(i for i in range(1, len(branch)) if branch[i])
        branch[k] = _flip(branch[k])
    _edit(batch / "sum_proof.json", change)
    _failed(batch, "sum_proof.json", "mtree_branches")


def test_a_linear_combination_branch_leaf(batch):
    _edit(batch / "sum_proof.json", lambda d: d["l_mtree_branches"][2].__setitem__(0, _flip(d["l_mtree_branches"][2][0])))
    _failed(batch, "sum_proof.json", "l_mtree_branches")


def test_an_opened_trace_entry(batch):
    _edit(batch / "sum_proof.json", lambda d: d["mtree_entries_data"].__setitem__(4, _flip(d["mtree_entries_data"][4], 100)))
    _failed(batch, "sum_proof.json", "mtree_entries_data[4]", "does not hash")


def test_the_pow_nonce(batch):
    _edit(batch / "sum_proof.json", lambda d: d.update(pow_nonce=_flip(d["pow_nonce"], 63)))
    _failed(batch, "sum_proof.json", "pow_nonce", "proof of work")


@pytest.mark.parametrize("uts", [64, 32, 8])
def test_uts_other_than_okx_uses_is_rejected(batch, uts):
    _edit(batch / "sum_proof.json", lambda d: d.update(uts=uts))
    _failed(batch, "sum_proof.json", f"$.uts = {uts}", "uts 16")


def test_steps_not_a_power_of_two(batch):
    _edit(batch / "sum_proof.json", lambda d: d.update(steps=d["steps"] + 16))
    _failed(batch, "$.steps", "power of two")


def test_a_doubled_steps_names_the_fri_entries_it_lacks(batch):
    """The reason said "expected 4 layers and the final values ..., got 4": a count that matched."""
    _edit(batch / "sum_proof.json", lambda d: d.update(steps=d["steps"] * 2))
    _failed(batch, "expected 5 entries (4 layers and the final values", "got 4")


def test_the_later_five_quotient_layout_is_not_verified_rather_than_failed(batch):
    _edit(batch / "sum_proof.json", lambda d: d["mtree_entries_data"].__setitem__(0, d["mtree_entries_data"][0] + "00" * 32))
    check = verify_sum_proof(batch, _config(batch))
    assert check.status == NOT_VERIFIED and "5 trace-constraint quotients" in check.reason


@pytest.mark.parametrize("key,value", [("mtree_branches", 5), ("low_degree_proof", "x"), ("mtree_entries_data", [1] * 64),
                                       ("l_mtree_branches", [[]] * 16), ("steps", "256"), ("mtree_root", "zz")])
def test_malformed_fields_fail_with_a_reason(batch, key, value):
    _edit(batch / "sum_proof.json", lambda d: d.update({key: value}))
    _failed(batch, "sum_proof.json", key.split("_")[0])


def test_a_config_that_does_not_fit(batch):
    config = _config(batch)
    check = verify_sum_proof(batch, {"coins": list(config.coins), "main_coins_num": 22})
    assert check.status == FAILED and "main_coins_num" in check.reason


def test_a_batch_sum_that_does_not_add_up_to_the_trunk(tmp_path):
    src = _set_dir("ca9f1b4")
    root = tmp_path / "sum_proof_data"
    for folder in ("batches/a0", "batches/a1", "batches/a2", "batches/b0", "trunk"):
        (root / folder).mkdir(parents=True)
        for name in ("sum_proof.json", "sum_values.json"):
            shutil.copy(src / folder / name, root / folder / name)
    shutil.copy(src / "config.derived.json", root / "config.derived.json")
    config = load_config(root)
    a, b = config.total_only_coins[:2]  # a move the batch proof cannot see (see above): only the trunk catches it
    _edit(root / "batches" / "a1" / "sum_values.json", lambda d: d.update({a: d[a] + 7, b: d[b] - 7}))
    checks = verify_sum_proof_set(root, workers=1)
    assert [c.status for c in checks[:-1]] == [VERIFIED] * 5
    assert checks[-1].status == FAILED
    assert "trunk/sum_values.json" in checks[-1].reason and f"$.{a}" in checks[-1].reason


def test_a_failed_batch_fails_the_set(tmp_path):
    src = _set_dir("ca9f1b4")
    root = tmp_path / "sum_proof_data"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("mtree*.json"))
    _edit(root / "batches" / "a2" / "sum_proof.json", lambda d: d.update(uts=64))
    checks = verify_sum_proof_set(root, workers=1)
    assert checks[2].status == FAILED and "a2" in checks[2].reason
    assert checks[-1].status == FAILED and "a2" in checks[-1].reason


def test_a_set_without_config_fails_with_a_reason(tmp_path):
    (tmp_path / "trunk").mkdir()
    [check] = verify_sum_proof_set(tmp_path, workers=1)
    assert check.status == FAILED and "main_coins_num" in check.reason


# --- pieces, on data built here ---------------------------------------------------------------------

def _tree(values: list[bytes]) -> list[bytes]:
    """A full permute4 tree, node i at index i (1 = root), built the plain way."""
    n = len(values)
    nodes = [b""] * (2 * n)
    for i, v in enumerate(values):
        nodes[n + merkle.permute4_index(i, n)] = v
    for i in range(n - 1, 0, -1):
        nodes[i] = keccak256(nodes[2 * i] + nodes[2 * i + 1])
    return nodes


def _branch(nodes: list[bytes], i: int) -> list[str]:
    n = len(nodes) // 2
    node = n + merkle.permute4_index(i, n)
    out = [nodes[node].hex()]
    while node > 1:
        out.append(nodes[node ^ 1].hex())
        node //= 2
    return out


def test_merkle_multi_branch_on_a_tree_built_here():
    rng = random.Random(7)
    values = [rng.randbytes(32) for _ in range(64)]
    nodes = _tree(values)
    assert merkle.root_of(values) == nodes[1]
    indices = [3, 4, 19, 3, 60]
    raw = [_branch(nodes, i) for i in indices]
    raw[3] = [raw[3][0]] + [""] * 6  # a repeated index: every sibling elided, all computable from raw[0]
    branches = merkle.decode_branches(raw, len(indices), 6, "t")
    assert merkle.verify_multi_branch(nodes[1], indices, branches, 6, "t") == [values[i] for i in indices]
    bad = [list(b) for b in raw]
    bad[2][3] = _flip(bad[2][3])
    with pytest.raises(merkle.MerkleError):
        merkle.verify_multi_branch(nodes[1], indices, merkle.decode_branches(bad, len(indices), 6, "t"), 6, "t")
    missing = [list(b) for b in raw]
    missing[4][2] = ""  # not computable from the other branches
    with pytest.raises(merkle.MerkleError, match="neither sent nor computable"):
        merkle.verify_multi_branch(nodes[1], indices, merkle.decode_branches(missing, len(indices), 6, "t"), 6, "t")


def test_interpolant_matches_the_polynomial():
    rng = random.Random(11)
    coeffs = [rng.randrange(P) for _ in range(9)]

    def f(x):
        return sum(c * pow(x, k, P) for k, c in enumerate(coeffs)) % P

    xs = [rng.randrange(P) for _ in range(9)]
    poly = Interpolant(xs, [f(x) for x in xs])
    for x in [rng.randrange(P) for _ in range(5)] + xs[:2]:
        assert poly(x) == f(x)


def test_pseudorandom_indices_skip_multiples_of_16():
    picks = pseudorandom_indices(keccak256(b"seed"), 4096, 400, 16)
    assert all(0 < i < 4096 and i % 16 for i in picks)
    assert len(set(picks)) > 300


def _fri_proof(size: int, degree: int, cheat: bool) -> tuple[bytes, list]:
    """A one-layer FRI proof built here for a random polynomial of degree < ``degree`` on ``size``
    points; ``cheat`` commits a column folded at another x: low-degree and Merkle-consistent, but
    not the fold of the committed values, which only the per-row check sees."""
    rng = random.Random(5)
    coeffs = [rng.randrange(P) for _ in range(degree)]
    g = root_of_unity(size)
    xs = [pow(g, i, P) for i in range(size)]
    values = [sum(c * pow(x, k, P) for k, c in enumerate(coeffs)) % P for x in xs]
    leaves = [v.to_bytes(32, "big") for v in values]
    nodes = _tree(leaves)
    special_x = (int.from_bytes(nodes[1], "big") + (1 if cheat else 0)) % P
    quarter = size // 4
    column = [Interpolant([xs[y + quarter * j] for j in range(4)], [values[y + quarter * j] for j in range(4)])(special_x)
              for y in range(quarter)]
    column_leaves = [c.to_bytes(32, "big") for c in column]
    column_nodes = _tree(column_leaves)
    samples = pseudorandom_indices(column_nodes[1], quarter, 16, 16)
    layer = [column_nodes[1].hex(), [_branch(column_nodes, y) for y in samples],
             [_branch(nodes, y + quarter * j) for y in samples for j in range(4)]]
    return nodes[1], [layer, [c.hex() for c in column_leaves]]


def test_fri_row_check_catches_a_column_that_is_not_the_fold():
    root, proof = _fri_proof(256, 64, cheat=False)
    verify_low_degree(root, 256, proof, 64, 16)
    root, proof = _fri_proof(256, 64, cheat=True)
    with pytest.raises(FriError, match="not on the row's degree < 4 polynomial"):
        verify_low_degree(root, 256, proof, 64, 16)


def test_fri_final_layer_degree_is_checked():
    root, proof = _fri_proof(256, 128, cheat=False)  # degree 127 > the bound of 64
    with pytest.raises(FriError, match="not of degree"):
        verify_low_degree(root, 256, proof, 64, 16)
