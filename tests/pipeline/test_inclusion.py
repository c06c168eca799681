"""OKX inclusion proofs (v1 Keccak, v2 Poseidon) and the v2 global proof's digest pinning.

v1: the 60 generated proofs of ``okx/zk_STARK/ca9f1b4`` (with that set's coin list and sum-proof roots)
and the stand-alone proofs of ``10c2099``, ``9c9b54f`` and ``ca9f1b4/user_11``; every mutation of a field
the leaf or path binds must fail with a reason naming the file and the field.

v2: OKX publishes no v2 proof files, so two sources stand in: the inclusion proof OKX's own unit test
asserts (``crates/zk-por-core/src/merkle_proof.rs``, copied as data into
``plonky2/poseidon_goldilocks.json``), and proofs built here from ``proof-of-reserves-v2/test-data/
batch0.json`` (prover input) with a tree builder written from the prover's rules: positive values are
equity, negative ones debt; batches of ``batch_size`` leaves padded with empty accounts (id 0×64, zero
values); binary batch trees; recursive levels of ``branchout`` children padded with the empty subtree
of their level; at least one recursive level. Tests skip when ../shared/vectors is absent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import stat

import pytest

from scanner.errors import ConfigError, UsageError
from scanner.pipeline.liabilities import poseidon
from scanner.pipeline.liabilities.inclusion import (V1_KIND, V2_KIND, v1_roots, verify_v1_inclusion,
                                                    verify_v2_inclusion, v2_sum_proof_root)
from scanner.pipeline.liabilities.okx_v2_global import (KIND as GLOBAL_KIND, PinnedDigest, check_v2_global,
                                                        embedded_circuit_digest, load_zk_digests)
from support.common import shared_path

P = poseidon.P

# ------------------------------------------------------------------------------------------------ v1

V1_FIXED = {"batch_mtree_root", "user_id", "total_value", "random_number", "user_index", "batch_index", "uts",
            "merkle_path", "trunk_mtree_root", "batch_id"}


@pytest.fixture(scope="module")
def v1_set():
    base = shared_path("okx", "zk_STARK", "ca9f1b4")
    files = sorted((base / "inclusion_proof_data").glob("*/*_inclusion_proof.json"))
    return base, base / "sum_proof_data" / "config.derived.json", v1_roots(base / "sum_proof_data"), files


def test_v1_generated_set_verifies_and_is_bound_to_its_sum_proofs(v1_set):
    _, config, roots, files = v1_set
    assert len(files) == 60 and sorted(roots.batch_roots) == ["a0", "a1", "a2", "b0"]
    results = [verify_v1_inclusion(f, config, roots.trunk_root, roots.batch_roots) for f in files]
    assert [r.status for r in results] == ["verified"] * 60, [r.reason for r in results if r.failed][:3]
    assert all(r.kind == V1_KIND and r.detail["bound_to_sum_proof"] for r in results)
    assert all("trunk sum proof" in r.reason and "batch sum proof" in r.reason for r in results)
    # 15 users in each of 4 batches, each proof at its own position, each batch at its own root
    assert len({(r.detail["batch_index"], r.detail["user_index"]) for r in results}) == 60
    assert {r.detail["batch_root"] for r in results} == set(roots.batch_roots.values())
    assert {r.detail["trunk_root"] for r in results} == {roots.trunk_root}


def test_v1_stand_alone_proofs_verify_with_their_coin_lists(v1_set):
    _, config, _, _ = v1_set
    other = shared_path("okx", "zk_STARK")
    cases = [(other / "10c2099" / "user_3_inclusion_proof.json", config),
             (other / "9c9b54f" / "user_14_inclusion_proof.json", None),  # string values, embedded config
             (other / "ca9f1b4" / "user_11_inclusion_proof.json", config)]
    for path, cfg in cases:
        check = verify_v1_inclusion(path, cfg)
        assert check.status == "verified", check.reason
        assert not check.detail["bound_to_sum_proof"] and "not compared with any sum proof" in check.reason
    assert verify_v1_inclusion(cases[1][0]).detail["coins"] == 156
    # the 156-coin proof read with the 151-coin list: 5 values shown would not be committed
    wrong = verify_v1_inclusion(cases[1][0], config)
    assert wrong.failed and "not in the coin list" in wrong.reason and str(cases[1][0]) in wrong.reason


def test_v1_proof_of_another_run_fails_against_this_sum_proof_set(v1_set):
    base, config, roots, _ = v1_set
    path = base / "user_11_inclusion_proof.json"  # self-consistent, but its roots are another run's
    check = verify_v1_inclusion(path, config, roots.trunk_root, roots.batch_roots)
    assert check.failed and "trunk_mtree_root" in check.reason and roots.trunk_root in check.reason
    only_batches = verify_v1_inclusion(path, config, batch_roots=roots.batch_roots)
    assert only_batches.failed and "batch_mtree_root" in only_batches.reason


def _first_coin(level):
    return next(k for k in level if k not in V1_FIXED)


def _bump(level, key, by=1):
    level[key] = type(level[key])(int(level[key]) + by)


def _coin_and_total(level):
    _bump(level, _first_coin(level))
    _bump(level, "total_value")


def _swap_two_coins(level):
    a, b = [k for k in level if k not in V1_FIXED][:2]
    assert level[a] != level[b]
    level[a], level[b] = level[b], level[a]


def _flip_hex(level, key, i=None):
    value = level[key] if i is None else level[key][i]
    flipped = ("1" if value[0] == "0" else "0") + value[1:]
    if i is None:
        level[key] = flipped
    else:
        level[key][i] = flipped


V1_MUTATIONS = {
    "coin value, total unchanged": (lambda d: _bump(d["batch_inclusion_proof"], _first_coin(d["batch_inclusion_proof"])),
                                    "total_value"),
    "coin value and total": (lambda d: _coin_and_total(d["batch_inclusion_proof"]), "merkle_path[0]"),
    "two coin values swapped": (lambda d: _swap_two_coins(d["batch_inclusion_proof"]), "merkle_path[0]"),
    "user id": (lambda d: _flip_hex(d["batch_inclusion_proof"], "user_id"), "merkle_path[0]"),
    "random number": (lambda d: _flip_hex(d["batch_inclusion_proof"], "random_number"), "merkle_path[0]"),
    "leaf entry of the path": (lambda d: _flip_hex(d["batch_inclusion_proof"], "merkle_path", 0), "merkle_path[0]"),
    "batch sibling": (lambda d: _flip_hex(d["batch_inclusion_proof"], "merkle_path", 3), "folds to"),
    "last batch sibling": (lambda d: _flip_hex(d["batch_inclusion_proof"], "merkle_path", -1), "folds to"),
    "user index": (lambda d: _bump(d["batch_inclusion_proof"], "user_index", -1), "folds to"),
    "user index out of the tree": (lambda d: _bump(d["batch_inclusion_proof"], "user_index", 10**6), "does not fit"),
    "uts": (lambda d: d["batch_inclusion_proof"].update(uts=2 * d["batch_inclusion_proof"]["uts"]),
            "batch_inclusion_proof"),
    "path shortened": (lambda d: d["batch_inclusion_proof"]["merkle_path"].pop(), "batch_inclusion_proof"),
    "batch root": (lambda d: _flip_hex(d["batch_inclusion_proof"], "batch_mtree_root"), "folds to"),
    "batch index": (lambda d: _bump(d["batch_inclusion_proof"], "batch_index"), "trunk_inclusion_proof"),
    "batch id": (lambda d: _flip_hex(d["trunk_inclusion_proof"], "batch_id"), "batch_id"),
    "trunk coin value and total": (lambda d: _coin_and_total(d["trunk_inclusion_proof"]), "merkle_path[0]"),
    "trunk random number": (lambda d: _flip_hex(d["trunk_inclusion_proof"], "random_number"), "merkle_path[0]"),
    "trunk sibling": (lambda d: _flip_hex(d["trunk_inclusion_proof"], "merkle_path", 2), "folds to"),
    "trunk root": (lambda d: _flip_hex(d["trunk_inclusion_proof"], "trunk_mtree_root"), "folds to"),
    "coin missing": (lambda d: d["batch_inclusion_proof"].pop(_first_coin(d["batch_inclusion_proof"])), "missing"),
    "coin added": (lambda d: d["batch_inclusion_proof"].update(NEWCOIN=0), "not in the coin list"),
    "coin value not a number": (lambda d: d["batch_inclusion_proof"].update(BTC="1e3"), "BTC"),
    "user id not hex": (lambda d: d["batch_inclusion_proof"].update(user_id="zz" * 32), "user_id"),
    "no trunk proof": (lambda d: d.pop("trunk_inclusion_proof"), "trunk_inclusion_proof"),
}


@pytest.mark.parametrize("source", ["ca9f1b4/inclusion_proof_data/a2/user_9_inclusion_proof.json",
                                    "9c9b54f/user_14_inclusion_proof.json"])
@pytest.mark.parametrize("name", sorted(V1_MUTATIONS))
def test_v1_mutations_fail_with_a_reason(v1_set, tmp_path, source, name):
    _, config, _, _ = v1_set
    original = shared_path("okx", "zk_STARK", *source.split("/"))
    cfg = None if source.startswith("9c9b54f") else config
    assert verify_v1_inclusion(original, cfg).status == "verified"
    data = json.loads(original.read_text())
    mutate, fragment = V1_MUTATIONS[name]
    mutate(data)
    path = tmp_path / "mutated_inclusion_proof.json"
    path.write_text(json.dumps(data))
    check = verify_v1_inclusion(path, cfg)
    assert check.failed, name
    assert str(path) in check.reason and fragment in check.reason, check.reason


def test_v1_given_roots_and_unreadable_files(v1_set, tmp_path):
    _, config, roots, files = v1_set
    proof = files[0]
    other_trunk = verify_v1_inclusion(proof, config, trunk_root="ab" * 32)
    assert other_trunk.failed and "trunk sum proof's mtree_root" in other_trunk.reason
    others = {k: v for k, v in roots.batch_roots.items() if v != verify_v1_inclusion(proof, config).detail["batch_root"]}
    not_listed = verify_v1_inclusion(proof, config, roots.trunk_root, others)
    assert not_listed.failed and "any of the 3 batch sum proofs" in not_listed.reason
    missing = verify_v1_inclusion(tmp_path / "nope.json", config)
    assert missing.failed and "no such file" in missing.reason and "nope.json" in missing.reason
    broken = tmp_path / "broken.json"
    broken.write_text("{\"batch_inclusion_proof\": ")
    assert "invalid JSON" in verify_v1_inclusion(broken, config).reason


# ------------------------------------------------------------------------------------------------ v2

EMPTY_ID = "0" * 64


def _leaf(user_id, equity, debt):
    """OKX's Account::get_hash, written from the rule: 5 id limbs (56,56,56,56,32 bits), Σequity, Σdebt."""
    limbs = [int(user_id[i:i + 14], 16) for i in range(0, 56, 14)] + [int(user_id[56:], 16)]
    return poseidon.hash_no_pad(limbs + [sum(map(int, equity)) % P, sum(map(int, debt)) % P])


def _hex(h):
    return poseidon.hash_to_bytes(h).hex()


class V2Tree:
    """A global Merkle-sum tree as OKX's prover lays it out, and the user proofs it would write."""

    def __init__(self, accounts, batch_size, branchout):
        pair = functools.lru_cache(maxsize=None)(poseidon.two_to_one)  # padding subtrees repeat
        tokens = len(accounts[0]["equity"])
        empty_leaf = _leaf(EMPTY_ID, [0] * tokens, [0] * tokens)
        batches = -(-len(accounts) // batch_size)
        leaves = [_leaf(a["id"], a["equity"], a["debt"]) for a in accounts]
        leaves += [empty_leaf] * (batches * batch_size - len(leaves))
        self.accounts, self.batch_size = accounts, batch_size
        self.batch_levels = []
        for b in range(batches):
            level = leaves[b * batch_size:(b + 1) * batch_size]
            levels = [level]
            while len(level) > 1:
                level = [pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
                levels.append(level)
            self.batch_levels.append(levels)
        empty = self._empty_chain(empty_leaf, pair)[-1]  # the root of a batch of empty accounts
        self.rec_levels = [[levels[-1][0] for levels in self.batch_levels]]
        while True:  # at least one recursive level, as get_recursive_circuit_configs gives
            nodes = self.rec_levels[-1]
            nodes += [empty] * (-len(nodes) % branchout)
            parents = [poseidon.hash_no_pad([e for h in nodes[i:i + branchout] for e in h])
                       for i in range(0, len(nodes), branchout)]
            empty = poseidon.hash_no_pad([e for _ in range(branchout) for e in empty])
            self.rec_levels.append(parents)
            if len(parents) == 1:
                break
        self.branchout = branchout
        self.root = self.rec_levels[-1][0]

    def _empty_chain(self, leaf, pair):
        chain, h, size = [leaf], leaf, self.batch_size
        while size > 1:
            h, size = pair(h, h), size // 2
            chain.append(h)
        return chain

    def proof(self, index):
        batch, pos = divmod(index, self.batch_size)
        siblings = []
        for level in self.batch_levels[batch][:-1]:
            siblings.append(_hex(level[pos ^ 1]))
            pos //= 2
        recursive, node = [], batch
        for level in self.rec_levels[:-1]:
            start = node - node % self.branchout
            group = level[start:start + self.branchout]
            offset = node % self.branchout
            recursive.append({"left_hashes": [_hex(h) for h in group[:offset]],
                              "right_hashes": [_hex(h) for h in group[offset + 1:]]})
            node //= self.branchout
        return {"account": self.accounts[index], "index": index, "sum_tree_siblings": siblings,
                "recursive_tree_siblings": recursive}


def _batch0_accounts():
    rows = json.loads(shared_path("okx", "proof-of-reserves-v2", "test-data", "batch0.json").read_text())
    return [{"id": r["id"], "equity": [str(max(int(v), 0)) for v in r["assets"].values()],
             "debt": [str(max(-int(v), 0)) for v in r["assets"].values()]} for r in rows]


@pytest.fixture(scope="module", params=[(1024, 64), (2, 3)], ids=["okx-1024x64", "small-2x3"])
def v2_tree(request):
    batch_size, branchout = request.param
    return V2Tree(_batch0_accounts(), batch_size, branchout)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_v2_proofs_built_from_batch0_verify_against_their_root(v2_tree, tmp_path):
    assert len(v2_tree.accounts) == 8 and all(len(a["equity"]) == 220 for a in v2_tree.accounts)
    levels = len(v2_tree.rec_levels) - 1
    assert levels == (1 if v2_tree.batch_size == 1024 else 2)
    for i, account in enumerate(v2_tree.accounts):
        path = _write(tmp_path, f"{account['id']}_inclusion_proof.json", v2_tree.proof(i))
        check = verify_v2_inclusion(path, v2_tree.root)
        assert check.status == "verified" and check.kind == V2_KIND, check.reason
        assert check.detail["index"] == i and check.detail["batch_size"] == v2_tree.batch_size
        assert check.detail["recursive_levels"] == levels
        assert int(check.detail["equity"]) >= int(check.detail["debt"]) > 0  # batch0 has debts (-1 values)
    # another account's proof does not reach the root from this account's values
    swapped = v2_tree.proof(1) | {"account": v2_tree.accounts[2]}
    assert verify_v2_inclusion(_write(tmp_path, "swapped.json", swapped), v2_tree.root).failed


def _set(path_in_proof, value):
    def mutate(d):
        target = d
        for key in path_in_proof[:-1]:
            target = target[key]
        target[path_in_proof[-1]] = value(target[path_in_proof[-1]]) if callable(value) else value
    return mutate


def _flip(hex_hash):
    return ("1" if hex_hash[0] == "0" else "0") + hex_hash[1:]


def _equity_to_debt(account):
    k = next(i for i, v in enumerate(account["equity"]) if int(v) > 0)
    account["debt"][k] = str(int(account["debt"][k]) + int(account["equity"][k]))
    account["equity"][k] = "0"


def _move_left_to_right(d):
    level = next(lv for lv in d["recursive_tree_siblings"] if lv["right_hashes"])
    level["left_hashes"].append(level["right_hashes"].pop(0))


V2_MUTATIONS = {
    "equity value": (_set(("account", "equity", 0), lambda v: str(int(v) + 1)), "folds to root"),
    "debt value": (_set(("account", "debt", 5), lambda v: str(int(v) + 1)), "folds to root"),
    "equity moved to debt": (lambda d: _equity_to_debt(d["account"]), "folds to root"),
    "user id": (_set(("account", "id"), _flip), "folds to root"),
    "index within the batch": (_set(("index",), lambda i: i ^ 1), "folds to root"),
    "index of another batch": (None, "position"),  # + 2 batches: the recursive position no longer fits
    "first batch sibling": (_set(("sum_tree_siblings", 0), _flip), "folds to root"),
    "last batch sibling": (_set(("sum_tree_siblings", -1), _flip), "folds to root"),
    "batch sibling dropped": (lambda d: d["sum_tree_siblings"].pop(), ""),
    "recursive sibling": (lambda d: d["recursive_tree_siblings"][-1].update(
        right_hashes=[_flip(h) for h in d["recursive_tree_siblings"][-1]["right_hashes"]]), "folds to root"),
    "recursive sibling moved left": (_move_left_to_right, "left siblings"),
    "recursive level dropped": (lambda d: d["recursive_tree_siblings"].pop(), "folds to root"),
    "value not below p": (_set(("account", "equity", 0), str(P)), "Goldilocks"),
    "value negative": (_set(("account", "debt", 0), "-1"), "negative"),
    "sibling not canonical": (_set(("sum_tree_siblings", 0), "ff" * 32), "Goldilocks"),
    "sibling too short": (_set(("sum_tree_siblings", 0), "ab" * 31), "32 bytes"),
    "id too short": (_set(("account", "id"), "ab" * 31), "64 hex"),
}


@pytest.mark.parametrize("name", sorted(V2_MUTATIONS))
def test_v2_mutations_fail_with_a_reason(v2_tree, tmp_path, name):
    mutate, fragment = V2_MUTATIONS[name]
    data = json.loads(json.dumps(v2_tree.proof(5)))
    if mutate is None:
        data["index"] += 2 * v2_tree.batch_size
    else:
        mutate(data)
    path = _write(tmp_path, "mutated.json", data)
    check = verify_v2_inclusion(path, v2_tree.root)
    assert check.failed, name
    assert str(path) in check.reason and fragment in check.reason, check.reason


def test_v2_wrong_root_fails_and_per_token_values_are_not_committed(v2_tree, tmp_path):
    data = v2_tree.proof(3)
    path = _write(tmp_path, "p.json", data)
    other = list(v2_tree.root)
    other[3] = (other[3] + 1) % P
    assert verify_v2_inclusion(path, other).failed
    assert verify_v2_inclusion(path, [e + P for e in v2_tree.root]).status == "verified"  # reduced mod p
    # spec 4.4: the leaf holds Σequity and Σdebt only, so moving value between tokens still verifies
    equity = [int(v) for v in data["account"]["equity"]]
    k = next(i for i, v in enumerate(equity) if v > 0)
    equity[k], equity[k + 1 if k == 0 else 0] = equity[k] - 1, equity[k + 1 if k == 0 else 0] + 1
    moved = data | {"account": data["account"] | {"equity": [str(v) for v in equity]}}
    assert verify_v2_inclusion(_write(tmp_path, "moved.json", moved), v2_tree.root).status == "verified"


def test_v2_root_is_read_from_the_sum_proof_public_inputs(v2_tree, tmp_path):
    unreduced = [e + P for e in v2_tree.root]  # public inputs are read mod p, as OKX's verifier does
    sum_proof = _write(tmp_path, "sum_proof_data.json", {"proof": {"public_inputs": [900, 100, *unreduced, 7]}})
    assert v2_sum_proof_root(sum_proof) == v2_tree.root
    proof = _write(tmp_path, "u.json", v2_tree.proof(0))
    assert verify_v2_inclusion(proof, v2_sum_proof_root(sum_proof)).status == "verified"


def test_v2_inclusion_okx_unit_test_answer(tmp_path):
    """The proof OKX's test_verify_merkle_proof asserts verifies (3 tokens, batch 2, branch-out 4)."""
    data = json.loads(shared_path("plonky2", "poseidon_goldilocks.json").read_text())["okx_v2_inclusion_known_answer"]
    proof = {"account": data["account"], "index": data["index"],
             "sum_tree_siblings": [_hex([int(e) for e in h]) for h in data["sum_tree_siblings"]],
             "recursive_tree_siblings": [
                 {side: [_hex([int(e) for e in h]) for h in level[side]] for side in ("left_hashes", "right_hashes")}
                 for level in data["recursive_tree_siblings"]]}
    root = [int(e) for e in data["root"]]
    check = verify_v2_inclusion(_write(tmp_path, "okx.json", proof), root)
    assert check.status == "verified", check.reason
    assert check.detail["equity"] == "9" and check.detail["debt"] == "3"
    proof["account"] = proof["account"] | {"equity": ["3", "3", "4"]}
    assert verify_v2_inclusion(_write(tmp_path, "okx2.json", proof), root).failed


# ------------------------------------------------------------------------------------- v2 global proof

# okx/proof-of-reserves-v2 crates/zk-por-cli/src/verifier.rs ROOT_CIRCUIT_HEX_FOR_508787475, its first
# 112 bytes: cap height 1, the cap's 2 hashes, the circuit digest, then the common data (135 wires, ...)
OKX_508787475_VERIFIER_HEAD = (
    "0100000000000000e3370d1646daebec7fa045ddf1cc918706777cb88875ea173623eff57b773bc68f62cdf279612bd8"
    "c095eb7bad5feaf5209df02981e0b88ef5b178862e00694ba296ce1215562eabcac32a3b9a5aae1dcf6422a739a392ff"
    "c1b87f102bdf523d87000000000000005000000000000000")


def test_pinned_digest_is_the_one_in_okx_hard_coded_verifier_data():
    pinned = {p.configuration: p for p in load_zk_digests()}["round-508787475"]
    assert pinned.rounds == (508787475,)
    assert pinned.digest == embedded_circuit_digest(OKX_508787475_VERIFIER_HEAD)
    assert "verifier.rs" in pinned.source


def _global_proof(round_num, digest, verifier_hex=None, branchout=64):
    data = {"general": {"round_num": round_num, "batch_num": 3, "recursion_branchout_num": branchout,
                        "batch_size": 1024, "token_num": 220},
            "root_vd_digest": {"elements": list(digest)},
            "proof": {"proof": {}, "public_inputs": [1000, 400, 1, 2, 3, 4]}}
    if verifier_hex is not None:
        data["circuits_info"] = {"batch_circuit_config": {}, "recursive_circuit_configs": [],
                                 "root_verifier_data_hex": verifier_hex}
    return data


def _verifier_hex(digest, cap_height=1):
    cap = b"".join(poseidon.hash_to_bytes((i, i + 1, i + 2, i + 3)) for i in range(2**cap_height))
    return (cap_height.to_bytes(8, "little") + cap + poseidon.hash_to_bytes(digest) + b"\x87" + b"\0" * 7).hex()


def test_global_proof_with_the_pinned_digest_is_not_verified_said_plainly(tmp_path):
    pinned = load_zk_digests()[0]
    path = _write(tmp_path, "sum_proof_data.json", _global_proof(508787475, pinned.digest))
    check = check_v2_global(path)
    assert check.status == "not_verified" and check.kind == GLOBAL_KIND
    assert "does not verify plonky2" in check.reason and "pinned for round 508787475" in check.reason
    assert check.detail["total_equity"] == "1000" and check.detail["pinned_configuration"] == pinned.configuration


def test_global_proof_whose_digest_differs_from_the_pinned_one_fails(tmp_path):
    pinned = load_zk_digests()[0]
    other = (pinned.digest[0] ^ 1, *pinned.digest[1:])
    # self-consistent file (embedded verifier data agrees), but not the circuit pinned for its round
    path = _write(tmp_path, "sum_proof_data.json", _global_proof(508787475, other, _verifier_hex(other)))
    check = check_v2_global(path)
    assert check.failed and "pinned for round 508787475" in check.reason and str(path) in check.reason


def test_global_proof_checks_without_a_pinned_digest(tmp_path):
    digest = (11, 22, 33, 44)
    ok = check_v2_global(_write(tmp_path, "a.json", _global_proof(600000001, digest, _verifier_hex(digest))))
    assert ok.status == "not_verified" and "no digest pinned for round 600000001" in ok.reason
    assert "self-referential" in ok.reason
    bad = check_v2_global(_write(tmp_path, "b.json", _global_proof(600000001, digest, _verifier_hex((11, 22, 33, 45)))))
    assert bad.failed and "root_verifier_data_hex" in bad.reason
    bare = check_v2_global(_write(tmp_path, "c.json", _global_proof(600000001, digest)))
    assert bare.failed and "no circuits_info" in bare.reason
    wide = check_v2_global(_write(tmp_path, "d.json", _global_proof(600000001, digest, _verifier_hex(digest), 32)))
    assert wide.failed and "recursion_branchout_num" in wide.reason
    short = check_v2_global(_write(tmp_path, "e.json", _global_proof(600000001, digest, "01" + "00" * 20)))
    assert short.failed and "root_verifier_data_hex" in short.reason
    custom = [PinnedDigest(configuration="mine", rounds=(600000001,), digest=(11, 22, 33, 45), source="test")]
    pinned_other = check_v2_global(tmp_path / "a.json", digests=custom)
    assert pinned_other.failed and "(mine)" in pinned_other.reason


def _fake_verifier(tmp_path, body):
    """A stand-in for zk-por-cli (FAKE: the real one needs Rust and 8-32 GB): prints like it, exits."""
    script = tmp_path / "zk-por-cli"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_global_proof_with_a_verifier_binary(tmp_path):
    pinned = load_zk_digests()[0]
    path = _write(tmp_path, "sum_proof_data.json", _global_proof(508787475, pinned.digest))
    accept = _fake_verifier(tmp_path, 'test "$1 $2 $3" = "verify-global --proof-path ' + str(path) + '" || exit 9\n'
                                      'read enter; echo "successfully verify"; echo "Execution result: Ok(())"')
    ok = check_v2_global(path, accept)
    assert ok.status == "verified", ok.reason
    run = ok.detail["verifier"]
    assert run["exit_code"] == 0 and "Execution result: Ok" in run["output_tail"]
    assert run["sha256"] == hashlib.sha256(accept.read_bytes()).hexdigest()
    said_err = _fake_verifier(tmp_path, 'echo "Execution result: Err(InvalidProof)"; exit 0')
    rejected = check_v2_global(path, said_err)
    assert rejected.failed and "rejected" in rejected.reason and rejected.detail["verifier"]["exit_code"] == 0
    # exit 0 without zk-por-cli's result line (a wrong binary, /bin/true) was taken as verified
    silent = check_v2_global(path, _fake_verifier(tmp_path, "echo done; exit 0"))
    assert silent.status == "not_verified" and "Execution result: Ok" in silent.reason
    crashed = check_v2_global(path, _fake_verifier(tmp_path, "echo boom >&2; exit 101"))
    assert crashed.failed and "exit code 101" in crashed.reason
    slow = check_v2_global(path, _fake_verifier(tmp_path, "sleep 30 & sleep 30"), timeout=0.5)  # a child too
    assert slow.status == "not_verified" and "did not finish" in slow.reason
    with pytest.raises(UsageError, match="not an executable"):
        check_v2_global(path, tmp_path / "missing-verifier")
    # a digest mismatch fails before any verifier runs (verify-global takes minutes)
    other = _write(tmp_path, "other.json", _global_proof(508787475, (1, 2, 3, 4)))
    assert "verifier" not in check_v2_global(other, accept).detail


def test_zk_digest_file_errors_name_the_file_and_entry(tmp_path):
    bad = tmp_path / "zk.toml"
    bad.write_text('[[okx_v2]]\nconfiguration = "x"\nrounds = [1]\nroot_vd_digest = ["1", "2", "3"]\n')
    with pytest.raises(ConfigError, match=r"zk.toml: okx_v2\[0\] \(x\): root_vd_digest"):
        load_zk_digests(bad)
    bad.write_text('[[okx_v2]]\nconfiguration = "x"\nrounds = [1]\nroot_vd_digest = ["1", "2", "3", "4"]\n'
                   '[[okx_v2]]\nconfiguration = "y"\nrounds = [1]\nroot_vd_digest = ["1", "2", "3", "4"]\n')
    with pytest.raises(ConfigError, match="already pinned by x"):
        load_zk_digests(bad)


def test_v2_inclusion_names_the_round_whose_root_it_reaches(v2_tree, tmp_path):
    """With two rounds' sum proofs in the folder, a verified inclusion proof said only 'reach the
    global proof's root': not which round's."""
    from scanner.pipeline.liabilities.check import check_proofs

    folder = tmp_path / "okx"
    folder.mkdir()
    pinned = load_zk_digests()[0]
    one, two = _global_proof(508787475, pinned.digest), _global_proof(508787475, pinned.digest)
    two["proof"]["public_inputs"] = [900, 100, *v2_tree.root]
    _write(folder, "round-1-sum_proof_data.json", one)
    _write(folder, "round-2-sum_proof_data.json", two)
    _write(folder, "u_inclusion_proof.json", v2_tree.proof(0))
    (check,) = [c for c in check_proofs(folder) if c.kind == V2_KIND]
    assert check.status == "verified", check.reason
    assert check.detail["sum_proof"] == "okx/round-2-sum_proof_data.json" and "round-2" in check.reason


def test_v2_inclusion_to_the_root_of_a_failed_sum_proof_fails(v2_tree, tmp_path):
    """A sum proof whose circuit digest is none porscan pinned fails its own check; an inclusion
    proof whose path holds to its root was still 'verified' beside it."""
    from scanner.pipeline.liabilities.check import check_proofs

    folder = tmp_path / "okx"
    folder.mkdir()
    forged = _global_proof(508787475, (1, 2, 3, 4))
    forged["proof"]["public_inputs"] = [900, 100, *v2_tree.root]
    _write(folder, "sum_proof_data.json", forged)
    _write(folder, "u_inclusion_proof.json", v2_tree.proof(0))
    checks = check_proofs(folder)
    (global_check,) = [c for c in checks if c.kind == GLOBAL_KIND]
    (check,) = [c for c in checks if c.kind == V2_KIND]
    assert global_check.status == "failed"
    assert check.status == "failed" and "that sum proof failed porscan's check" in check.reason, check.reason


def test_a_verifier_run_record_names_the_proof_below_the_path_given(tmp_path):
    """The zk verifier's recorded command line carried the proof's absolute path into the report."""
    from scanner.pipeline.liabilities.check import check_proofs

    folder = tmp_path / "okx"
    folder.mkdir()
    path = _write(folder, "sum_proof_data.json", _global_proof(508787475, load_zk_digests()[0].digest))
    verifier = _fake_verifier(tmp_path, 'read enter; echo "Execution result: Ok(())"')
    (check,) = check_proofs(path, zk_verifier=verifier)
    assert check.status == "verified", check.reason
    assert check.detail["verifier"]["command"][1:] == ["verify-global", "--proof-path", "sum_proof_data.json"]
    assert str(folder) not in json.dumps(check.to_json())
