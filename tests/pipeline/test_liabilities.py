"""Liabilities ingest (scanner/pipeline/liabilities) and reserve ratios (scanner/pipeline/ratios).

Own fixtures are built here from the spec's rules (tree builder, zk folders, Binance configs, simple
files), so most tests run without ../shared; the shared samples are checked against figures computed
here or stated in shared/vectors/README.md and binance/README.md, and skip when ../shared is absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import string
import tempfile
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.pipeline.liabilities import (BINANCE, FORMATS, MERKLE, OKX_V2, OKX_ZK_V1, SIMPLE, LiabilitiesError,
                                 LiabilitySet, detect_format, load_liabilities)
from scanner.pipeline.liabilities.binance import TWO_DIGIT_ASSETS
from scanner.pipeline.liabilities.okx_zk import GOLDILOCKS_P, STARK_P
from scanner.pipeline.ratios import RATIO_CONTEXT, Ratio, ratio, reserve_ratios

from support.common import shared_path

KEYS = ("BTC", "ETH", "USDT")


# ------------------------------------------------------------------ an independent Merkle-sum builder

def _text(d: Decimal) -> str:
    if d == 0:
        return "0"
    t = format(d, "f")
    return t.rstrip("0").rstrip(".") if "." in t else t


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build_levels(leaves: list[dict[str, str]], leaf_hashes: list[str]) -> list[list[tuple[str, dict[str, str], str]]]:
    """Levels bottom-up, left-to-right, of (hash, balance texts, kind); odd levels padded by a zero copy."""
    level = [(h, b, "node") for h, b in zip(leaf_hashes, leaves)]
    levels = []
    height = 1
    while True:
        if len(level) > 1 and len(level) % 2:
            level = level + [(level[-1][0], dict.fromkeys(KEYS, "0"), "pad")]
        levels.append(level)
        if len(level) == 1:
            return levels
        height += 1
        parents = []
        for left, right in zip(level[::2], level[1::2]):
            sums = {k: _text((Decimal(left[1][k]) + Decimal(right[1][k])).quantize(Decimal("1e-8"), ROUND_DOWN))
                    for k in KEYS}
            parents.append((_sha(left[0] + right[0] + "".join(sums[k] for k in KEYS) + str(height)), sums, "node"))
        level = parents


def tree_file_text(levels) -> str:
    lines = []
    for height in range(len(levels), 0, -1):
        for h, bal, _ in reversed(levels[height - 1]):  # right-to-left: the padding node comes first
            lines.append(f"{h},{height}," + json.dumps(bal, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def random_leaves(n: int, seed: int = 7) -> tuple[list[dict[str, str]], list[str]]:
    import random

    rnd = random.Random(seed)
    leaves = [{k: _text(Decimal(rnd.randrange(0, 10**9)).scaleb(-rnd.choice((0, 4, 8)))) for k in KEYS}
              for _ in range(n)]
    return leaves, [_sha(f"leaf{i}") for i in range(n)]


def v1_proof(leaves, user: int, nonce: str = "ab" * 32) -> dict:
    leaf_json = "{" + ",".join(f'"{k}":"{leaves[user][k]}"' for k in KEYS) + "}"
    hashes = [_sha(f"leaf{i}") for i in range(len(leaves))]
    hashes[user] = _sha(nonce + leaf_json)
    levels = build_levels(leaves, hashes)
    me = {"auditId": "1", "balances": leaves[user], "type": 1 if user % 2 == 0 else 2, "nonce": nonce,
          "hash": hashes[user], "height": 1}
    path, idx = [], user
    for height, level in enumerate(levels[:-1], 1):
        sib = idx ^ 1
        h, bal, kind = level[sib]
        path.append({"auditId": "1", "balances": bal, "type": 4 if kind == "pad" else (1 if sib < idx else 2),
                     "hash": h, "height": height})
        idx //= 2
    root_h, root_bal, _ = levels[-1][0]
    path.append({"auditId": "1", "balances": root_bal, "type": 3, "hash": root_h, "height": len(levels)})
    return {"path": path, "self": me}


def leaf_sums(leaves) -> dict[str, Decimal]:
    return {k: sum((Decimal(l[k]) for l in leaves), Decimal(0)) for k in KEYS}


def git_blob(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def manifest_blob(rel: str) -> str:
    manifest = json.loads(shared_path("MANIFEST.json").read_text())
    return next(f["git_blob"] for f in manifest["files"] if f["file"] == rel)


def raises_at(path, fragment: str, *, fmt=None) -> LiabilitiesError:
    with pytest.raises(LiabilitiesError) as info:
        load_liabilities(path, fmt)
    err = info.value
    assert str(err).startswith(str(path)), str(err)
    assert fragment in str(err), str(err)
    return err


# ================================================================= Merkle v2 full tree

@pytest.mark.parametrize("n", [1, 2, 3, 5, 11, 22, 64])
def test_own_v2_tree_rebuilds_and_gives_root_sums(tmp_path, n):
    leaves, hashes = random_leaves(n, seed=n)
    levels = build_levels(leaves, hashes)
    path = tmp_path / "tree.txt"
    path.write_text(tree_file_text(levels))
    assert detect_format(path) == MERKLE
    s = load_liabilities(path)
    assert s.format == MERKLE
    root_h, root_bal, _ = levels[-1][0]
    assert s.meta["root_hash"] == root_h
    assert {l.asset: l.amount for l in s.liabilities} == {k: Decimal(root_bal[k]) for k in KEYS}
    assert all(l.provenance == "merkle-sum" and l.verified and l.source == "okx-merkle-v2-tree"
               for l in s.liabilities)
    # leaves have <= 8 decimals: truncation never bites, the root is the exact leaf sum
    assert {l.asset: l.amount for l in s.liabilities} == leaf_sums(leaves)
    assert int(s.meta["parents_checked"]) == sum(1 for lv in levels[1:] for node in lv if node[2] == "node")
    assert int(s.meta["leaves"]) == n + (n % 2 if n > 1 else 0)  # with the padding leaf
    assert s.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not [w for w in s.warnings if "not confirmed" in w]


def _tamper(text: str, line_no: int, fn) -> str:
    lines = text.splitlines()
    lines[line_no - 1] = fn(lines[line_no - 1])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("what", ["leaf balance", "leaf hash", "inner hash", "root balance", "negative leaf",
                                  "dropped line"])
def test_own_v2_tree_tampered_is_self_reported(tmp_path, what):
    leaves, hashes = random_leaves(9)
    text = tree_file_text(build_levels(leaves, hashes))
    nlines = len(text.splitlines())
    if what == "leaf balance":
        text = _tamper(text, nlines, lambda ln: ln.replace('"BTC":"', '"BTC":"1'))
    elif what == "leaf hash":
        text = _tamper(text, nlines, lambda ln: ("0" if ln[0] != "0" else "1") + ln[1:])
    elif what == "inner hash":
        text = _tamper(text, 3, lambda ln: ("0" if ln[0] != "0" else "1") + ln[1:])
    elif what == "root balance":
        text = _tamper(text, 1, lambda ln: ln.replace('"ETH":"', '"ETH":"9'))
    elif what == "negative leaf":
        # a negative leaf balanced by a larger one keeps every sum right: only the sign check catches it
        leaves[0]["USDT"], leaves[1]["USDT"] = "-5", _text(Decimal(leaves[1]["USDT"]) + 5)
        text = tree_file_text(build_levels(leaves, hashes))
    else:
        text = "\n".join(text.splitlines()[:-1]) + "\n"
    path = tmp_path / "tree.txt"
    path.write_text(text)
    s = load_liabilities(path)
    assert all(l.provenance == "self-reported" and not l.verified for l in s.liabilities)
    assert any("not confirmed" in w for w in s.warnings)
    if what == "negative leaf":
        assert any("negative" in w for w in s.warnings)


def test_own_v2_tree_bad_lines_name_line_and_field(tmp_path):
    leaves, hashes = random_leaves(4)
    text = tree_file_text(build_levels(leaves, hashes))
    cases = {
        "bad hash": (_tamper(text, 4, lambda ln: "zz" + ln[2:]), ":4: field hash:"),
        "non-numeric balance": (_tamper(text, 5, lambda ln: ln.replace('"BTC":"', '"BTC":"x')), ":5: field BTC:"),
        "bad height": (_tamper(text, 2, lambda ln: ln.replace(",2,", ",two,", 1)), ":2: field height:"),
        "truncated json": (_tamper(text, 6, lambda ln: ln[:-3]), ":6: field balances:"),
        "missing asset": (_tamper(text, 3, lambda ln: ln.split(',"USDT"')[0] + "}"), ":3: field balances:"),
        "negative root": (_tamper(text, 1, lambda ln: ln.replace('"BTC":"', '"BTC":"-')), ":1: field BTC:"),
    }
    for name, (bad, fragment) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.txt"
        path.write_text(bad)
        raises_at(path, fragment)


def test_shared_v2_tree_matches_readme(tmp_path):
    path = shared_path("okx", "full-liabilities-merkle-tree.txt")
    assert git_blob(path) == manifest_blob("okx/full-liabilities-merkle-tree.txt")
    s = load_liabilities(path)
    # README: "root 9e98ebde..., BTC 0.00005 / ETH 0.1 / USDT 1.42045977"; "all 23 parents recomputed";
    # padding at levels 2 and 4
    assert s.meta["root_hash"].startswith("9e98ebde")
    assert {l.asset: l.amount for l in s.liabilities} == {
        "BTC": Decimal("0.00005"), "ETH": Decimal("0.1"), "USDT": Decimal("1.42045977")}
    assert s.meta["parents_checked"] == "23" and s.meta["padding_nodes"] == "2"
    assert all(l.provenance == "merkle-sum" and l.verified for l in s.liabilities)
    # independently: the height-1 lines add up to the root line
    rows = [ln.split(",", 2) for ln in path.read_text().splitlines() if ln]
    leaf_total = {k: sum(Decimal(json.loads(r[2])[k]) for r in rows if r[1] == "1") for k in KEYS}
    assert leaf_total == {l.asset: l.amount for l in s.liabilities}
    # one changed leaf digit: still parsed, no longer merkle-sum
    bad = tmp_path / "tree.txt"
    bad.write_text(path.read_text().replace('"USDT":"0.00047828"}', '"USDT":"0.00047829"}', 1))
    assert {l.provenance for l in load_liabilities(bad).liabilities} == {"self-reported"}


# ================================================================= Merkle v1 proof file

@pytest.mark.parametrize("n,user", [(2, 0), (2, 1), (5, 4), (5, 2), (13, 12), (32, 17)])
def test_own_v1_proof_recomputes_root(tmp_path, n, user):
    leaves, _ = random_leaves(n, seed=100 + n)
    proof = v1_proof(leaves, user)
    path = tmp_path / "merkle_proof_file.json"
    path.write_text(json.dumps(proof))
    s = load_liabilities(path)
    assert s.format == MERKLE
    assert {l.asset: l.amount for l in s.liabilities} == leaf_sums(leaves)
    assert all(l.provenance == "merkle-sum" and l.verified and l.source == "okx-merkle-v1-proof"
               for l in s.liabilities)
    assert s.meta["root_hash"] == proof["path"][-1]["hash"]


@pytest.mark.parametrize("what", ["sibling balance", "root hash", "nonce", "root height", "sibling side"])
def test_own_v1_proof_tampered_is_self_reported(tmp_path, what):
    leaves, _ = random_leaves(8, seed=3)
    proof = v1_proof(leaves, 5)
    if what == "sibling balance":
        proof["path"][1]["balances"]["ETH"] = "12345"
    elif what == "root hash":
        proof["path"][-1]["hash"] = "0" * 64
    elif what == "nonce":
        proof["self"]["nonce"] = "cd" * 32
    elif what == "root height":
        proof["path"][-1]["height"] += 1
    else:
        proof["path"][0]["type"] = 3 - proof["path"][0]["type"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(proof))
    s = load_liabilities(path)
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert any("not confirmed" in w for w in s.warnings)


def test_own_v1_proof_bad_fields(tmp_path):
    leaves, _ = random_leaves(4, seed=4)
    cases = [
        (lambda p: p["path"][2].update(type=9), "$.path[2]: field type:"),
        (lambda p: p["path"][1]["balances"].update(BTC="1,5"), "$.path[1].balances: field BTC: '1,5' is not a decimal"),
        (lambda p: p["self"].update(hash="xyz"), "$.self: field hash:"),
        (lambda p: p["path"][-1].update(type=1), "$.path[2]: field type:"),
        (lambda p: p["path"][-1]["balances"].update(USDT="-1"), "$.path[2].balances: field USDT: root balance -1 is negative"),
        (lambda p: p.update(path=[]), "$.path: missing or empty"),
    ]
    for i, (mutate, fragment) in enumerate(cases):
        proof = v1_proof(leaves, 1)
        mutate(proof)
        path = tmp_path / f"p{i}.json"
        path.write_text(json.dumps(proof))
        raises_at(path, fragment)


def test_shared_v1_proof_matches_readme(tmp_path):
    path = shared_path("okx", "merkle_proof_file.json")
    assert git_blob(path) == manifest_blob("okx/merkle_proof_file.json")
    s = load_liabilities(path)
    # README: root balances BTC 95088.55505656 / ETH 939953.49090361 / USDT 3137909428.88369702, height 24
    assert {l.asset: l.amount for l in s.liabilities} == {
        "BTC": Decimal("95088.55505656"), "ETH": Decimal("939953.49090361"), "USDT": Decimal("3137909428.88369702")}
    assert s.meta["root_height"] == "24" and s.meta["path_length"] == "24"
    assert all(l.provenance == "merkle-sum" and l.verified for l in s.liabilities)
    assert any("one user's path" in w for w in s.warnings)
    data = json.loads(path.read_text())
    data["path"][10]["balances"]["BTC"] = "1"
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps(data))
    assert {l.provenance for l in load_liabilities(bad).liabilities} == {"self-reported"}


# ================================================================= OKX zk-STARK v1

def write_zk_v1(root: Path, batches: list[dict[str, int]], coins: list[str], main: int,
                trunk_total_delta: int = 0) -> Path:
    spd = root / "sum_proof_data"
    (spd / "trunk").mkdir(parents=True)
    (spd / "config.json").write_text(json.dumps({"main_coins_num": main, "coins": coins}))
    for i, b in enumerate(batches):
        (spd / "batches" / f"a{i}").mkdir(parents=True)
        (spd / "batches" / f"a{i}" / "sum_values.json").write_text(
            json.dumps({**b, "total_value": sum(b.values())}))
    trunk = {c: sum(b[c] for b in batches) for c in coins}
    (spd / "trunk" / "sum_values.json").write_text(
        json.dumps({**trunk, "total_value": sum(trunk.values()) + trunk_total_delta}))
    return spd


def test_own_zk_v1_folder(tmp_path):
    coins = ["BTC", "ETH", "USDT", "AKITA"]
    batches = [{"BTC": 5, "ETH": 7, "USDT": 11, "AKITA": 1}, {"BTC": 10**30, "ETH": 0, "USDT": 3, "AKITA": 2}]
    spd = write_zk_v1(tmp_path, batches, coins, main=2)
    s = load_liabilities(spd)
    assert s.format == OKX_ZK_V1 and detect_format(spd) == OKX_ZK_V1
    got = {l.asset: l for l in s.liabilities}
    assert got["BTC"].amount == Decimal(10**30 + 5) and got["USDT"].amount == 14
    assert [l.provenance for l in s.liabilities] == ["zk-published", "zk-published", "self-reported", "self-reported"]
    assert {l.unit for l in s.liabilities} == {"usd-scaled"} and not any(l.verified for l in s.liabilities)
    assert s.totals == {"total_value": Decimal(10**30 + 5 + 7 + 11 + 1 + 3 + 2)}
    assert s.meta["batches_checked"] == "2" and s.meta["main_coins_num"] == "2"
    assert any("does not verify the STARK" in w for w in s.warnings)
    assert len(s.inputs) == 4  # trunk, config, two batches
    # the trunk file alone finds its folder's config and batches
    alone = load_liabilities(spd / "trunk" / "sum_values.json")
    assert alone.liabilities == s.liabilities


def test_own_zk_v1_inconsistent_sums_are_self_reported(tmp_path):
    coins = ["BTC", "ETH"]
    spd = write_zk_v1(tmp_path / "a", [{"BTC": 1, "ETH": 2}], coins, 2, trunk_total_delta=1)
    s = load_liabilities(spd)
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert any("not the sum of the coin values" in w for w in s.warnings)
    spd = write_zk_v1(tmp_path / "b", [{"BTC": 1, "ETH": 2}, {"BTC": 3, "ETH": 4}], coins, 2)
    vals = json.loads((spd / "batches" / "a1" / "sum_values.json").read_text())
    vals["BTC"] += 1
    vals["total_value"] += 1
    (spd / "batches" / "a1" / "sum_values.json").write_text(json.dumps(vals))
    s = load_liabilities(spd)
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert any("do not add up to the trunk" in w for w in s.warnings)


def test_own_zk_v1_bad_values(tmp_path):
    spd = write_zk_v1(tmp_path, [{"BTC": 1, "ETH": 2}], ["BTC", "ETH"], 2)
    trunk = spd / "trunk" / "sum_values.json"
    for text, fragment in [
        ('{"BTC": 1, "ETH": 1.5, "total_value": 3}', "field ETH: 1.5 is not an integer"),
        ('{"BTC": 1, "ETH": -2, "total_value": 3}', "field ETH: -2 is negative"),
        (json.dumps({"BTC": STARK_P - 2, "ETH": 2, "total_value": 0}), "field BTC:"),
        ('{"BTC": 1, "ETH": 2}', "field total_value: missing"),
        ('{"BTC": 1, "ETH": 2, "DOGE": 0, "total_value": 3}', "$: field DOGE: not in the coin list of"),
        ('{"BTC": 1, "total_value": 1}', "$: field ETH: missing (listed in"),
        ('{"BTC": 1, "ETH": 2, "total_value": 3', "invalid JSON"),
    ]:
        trunk.write_text(text)
        raises_at(spd, fragment, fmt=OKX_ZK_V1)
    negative = json.dumps({"BTC": STARK_P - 2, "ETH": 2, "total_value": 0})
    trunk.write_text(negative)
    assert "is negative (p - 2)" in str(raises_at(spd, "field BTC"))
    trunk.write_text('{"ETH": 2, "BTC": 1, "total_value": 3}')  # same coins, another order
    s = load_liabilities(spd)
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert any("coin order" in w for w in s.warnings)


def test_shared_zk_v1_complete_set():
    spd = shared_path("okx", "zk_STARK", "ca9f1b4", "sum_proof_data")
    s = load_liabilities(spd)
    # README: trunk totals BTC 54042131, ETH 55049682, USDT 54293821, total_value 8057737401; 151 coins;
    # main_coins_num 21 in config.derived.json
    got = {l.asset: l.amount for l in s.liabilities}
    assert (got["BTC"], got["ETH"], got["USDT"]) == (54042131, 55049682, 54293821)
    assert s.totals["total_value"] == 8057737401 and len(s.liabilities) == 151
    # independently: the batches add up to these figures
    batch_sums: dict[str, int] = {}
    for bf in sorted((spd / "batches").glob("*/sum_values.json")):
        for k, v in json.loads(bf.read_text()).items():
            batch_sums[k] = batch_sums.get(k, 0) + v
    assert {k: Decimal(v) for k, v in batch_sums.items() if k != "total_value"} == got
    assert [l.provenance for l in s.liabilities].count("zk-published") == 21
    assert s.meta["batches_checked"] == "4" and s.meta["mtree_root"]
    assert s.meta["config"].endswith("config.derived.json")


@pytest.mark.parametrize("rel", ["fa0e43b/sum_proof_data/batches/a0/sum_values.json",
                                 "fa0e43b/sum_proof_data/batches/b0/sum_values.json",
                                 "ca9f1b4/sum_proof_data/batches/a2/sum_values.json"])
def test_shared_zk_v1_batches(rel):
    path = shared_path("okx", "zk_STARK", *rel.split("/"))
    raw = json.loads(path.read_text())
    s = load_liabilities(path)
    assert {l.asset: l.amount for l in s.liabilities} == {k: Decimal(v) for k, v in raw.items() if k != "total_value"}
    assert any("not a trunk" in w for w in s.warnings)
    assert s.meta["main_coins_num"] == "21"  # config.derived.json of the set


def test_shared_zk_v1_folder_of_batches_only_is_refused():
    spd = shared_path("okx", "zk_STARK", "fa0e43b", "sum_proof_data")
    raises_at(spd, "no trunk/sum_values.json")


# ================================================================= OKX v2 sum_proof_data.json

def v2_proof(equity: int, debt: int, **general) -> dict:
    return {"general": {"round_num": 7, "recursion_branchout_num": 64, "batch_size": 1024, "token_num": 220,
                        **general},
            "root_vd_digest": {"elements": [1, 2, 3, 4]},
            "circuits_info": {"batch_circuit_config": {}, "recursive_circuit_configs": [], "root_verifier_data_hex": ""},
            "proof": {"proof": {"wires_cap": []}, "public_inputs": [equity, debt, 11, 12, 13, 14]}}


def test_own_v2_sum_proof(tmp_path):
    path = tmp_path / "sum_proof_data.json"
    path.write_text(json.dumps(v2_proof(2**63 + 5, 2**40)))
    s = load_liabilities(path)
    assert s.format == OKX_V2 and s.liabilities == ()
    assert s.totals == {"total_equity": Decimal(2**63 + 5), "total_debt": Decimal(2**40),
                        "net_liabilities": Decimal(2**63 + 5 - 2**40)}
    assert s.meta["root_hash"] == b"".join(i.to_bytes(8, "little") for i in (11, 12, 13, 14)).hex()
    assert s.meta["round_num"] == "7" and s.meta["totals_provenance"] == "zk-published"
    assert any("no per-asset totals" in w for w in s.warnings)
    # elements are reduced mod the Goldilocks prime
    path.write_text(json.dumps(v2_proof(GOLDILOCKS_P + 9, 4)))
    assert load_liabilities(path).totals["total_equity"] == 9


def test_own_v2_sum_proof_bad(tmp_path):
    path = tmp_path / "sum_proof_data.json"
    path.write_text(json.dumps(v2_proof(5, 6)))
    raises_at(path, "$.proof.public_inputs[1]: field total debt: 6 exceeds total equity 5")
    bad = v2_proof(5, 1)
    bad["proof"]["public_inputs"] = [5, 1]
    path.write_text(json.dumps(bad))
    raises_at(path, "at least 6 public inputs")
    bad["proof"]["public_inputs"] = [5, "x", 1, 1, 1, 1]
    path.write_text(json.dumps(bad))
    raises_at(path, "$.proof.public_inputs[1]: field public_inputs: 'x' is not an integer")
    path.write_text(json.dumps(v2_proof(5, 1, recursion_branchout_num=32)))
    assert any("requires 64" in w for w in load_liabilities(path).warnings)


# ================================================================= Binance CexAssetsInfo

def binance_config(entries) -> str:
    return json.dumps({"ProofTable": "config/proof.csv", "ZkKeyName": ["config/zkpor10"], "AssetsCountTiers": [10],
                       "CexAssetsInfo": entries})


def _entry(sym, eq, debt, price, idx, **extra):
    return {"TotalEquity": eq, "TotalDebt": debt, "BasePrice": price, "Symbol": sym, "Index": idx, **extra}


def test_own_binance_scales(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(binance_config([_entry("BTC", 5475341087, 71436240, 2312848000000, 0),
                                    _entry("shib", 10**18, 10**17, 1797000000 * 10**6, 1, LoanCollateral=5)]))
    s = load_liabilities(path)
    assert s.format == BINANCE and detect_format(path) == BINANCE
    got = {l.asset: l for l in s.liabilities}
    assert Fraction(got["BTC"].amount) == Fraction(5475341087 - 71436240, 10**8)
    assert Fraction(got["SHIB"].amount) == Fraction(10**18 - 10**17, 10**2)  # two-digit asset
    assert {l.provenance for l in s.liabilities} == {"zk-published"} and not got["BTC"].verified
    # value = balance x price at 10^16 for both scales
    eq_usd = Fraction(5475341087 * 2312848000000 + 10**18 * 1797000000 * 10**6, 10**16)
    assert Fraction(s.totals["total_equity_usd"]) == eq_usd
    # a bare list works too
    path.write_text(json.dumps([_entry("ETH", 10, 3, 1, 0)]))
    assert load_liabilities(path).liabilities[0].amount == Decimal("7E-8")


@pytest.mark.parametrize("entry,fragment", [
    (_entry("BTC", "54.75341087", 0, 1, 0), "field TotalEquity: '54.75341087' is not an integer"),
    (None, "field TotalEquity: 54.75341087 is not an integer (fixed-point integer expected: wrong scale?)"),
    (_entry("BTC", 2**64, 0, 1, 0), "field TotalEquity: 18446744073709551616 exceeds 2^64-1"),
    (_entry("BTC", -1, 0, 1, 0), "field TotalEquity: -1 is negative"),
    (_entry("BTC", 1, 2, 1, 0), "field TotalDebt: 2 exceeds TotalEquity 1"),
    (_entry("B TC", 1, 0, 1, 0), "field Symbol: 'B TC' is not an asset symbol"),
    ({"TotalEquity": 1, "TotalDebt": 0, "Symbol": "BTC", "Index": 0}, "field BasePrice: missing"),
])
def test_own_binance_bad(tmp_path, entry, fragment):
    path = tmp_path / "config.json"
    if entry is None:
        path.write_text(binance_config([]).replace("[]", '[{"TotalEquity": 54.75341087, "TotalDebt": 0, '
                                                         '"BasePrice": 1, "Symbol": "BTC", "Index": 0}]'))
    else:
        path.write_text(binance_config([entry]))
    err = raises_at(path, fragment)
    assert err.json_path == "$.CexAssetsInfo[0]"


def test_own_binance_duplicates(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(binance_config([_entry("BTC", 1, 0, 1, 0), _entry("btc", 1, 0, 1, 1)]))
    raises_at(path, "$.CexAssetsInfo[1]: field Symbol: BTC already listed at $.CexAssetsInfo[0]")
    path.write_text(binance_config([_entry("BTC", 1, 0, 1, 0), _entry("ETH", 1, 0, 1, 0)]))
    raises_at(path, "field Index: 0 already used")


@pytest.mark.parametrize("rel", ["verifier/config.json", "v1_2022/verifier/config.json"])
def test_shared_binance_configs(rel):
    path = shared_path("binance", *rel.split("/"))
    assert git_blob(path) == manifest_blob(f"binance/{rel}")
    raw = json.loads(path.read_text())["CexAssetsInfo"]
    s = load_liabilities(path)
    # README: "BTC TotalEquity 5475341087 = 54.75341087 BTC"; liability = (equity - debt) / 10^8
    assert Fraction(raw[0]["TotalEquity"], 10**8) == Fraction("54.75341087")
    expected = {e["Symbol"]: Fraction(e["TotalEquity"] - e["TotalDebt"], 10**8) for e in raw}
    assert {l.asset: Fraction(l.amount) for l in s.liabilities} == expected
    assert [l.asset for l in s.liabilities] == ["BTC", "ETH"]


def test_shared_binance_derived_totals_shib_negative(tmp_path):
    """binance/README.md's totals derived from the sample users: SHIB equity < debt is refused."""
    shared_path("binance", "README.md")
    table = {"btc": (9166360333994, 28934772351, 6510022000000), "eth": (8710692215161, 520267595578, 362056000000),
             "bnb": (8421495613419, 3086803411539, 61023000000), "shib": (8185492, 104822484464285, 1797000000)}
    entries = [_entry(sym, eq, debt, price, i) for i, (sym, (eq, debt, price)) in enumerate(table.items())]
    path = tmp_path / "config.json"
    path.write_text(binance_config(entries))
    raises_at(path, "$.CexAssetsInfo[3]: field TotalDebt: 104822484464285 exceeds TotalEquity 8185492")
    path.write_text(binance_config(entries[:3]))
    got = {l.asset: l.amount for l in load_liabilities(path).liabilities}
    assert got["BTC"] == Decimal(9166360333994 - 28934772351).scaleb(-8)
    assert "SHIB" in TWO_DIGIT_ASSETS and "BTC" not in TWO_DIGIT_ASSETS


@pytest.mark.parametrize("rel,fragment", [
    ("binance/sampledata/cex_assets_info.csv", "price/collateral-tier list"),
    ("binance/utils/cex_assets_info.csv", "price/collateral-tier list"),
    ("binance/sampledata/sample_users0.csv", "user balance list"),
    ("binance/v1_2022/sampledata/sample_users0.csv", "user balance list"),
    ("binance/verifier/user_config.json", "Binance user inclusion proof"),
    ("okx/user_info_file.json", "Merkle v2 user file"),
    ("okx/proof-of-reserves-v2/test-data/batch0.json", "v2 prover input"),
    ("okx/zk_STARK/ca9f1b4/user_data/batch0.json", "v1 prover input"),
    ("okx/zk_STARK/9c9b54f/user_14_inclusion_proof.json", "user inclusion proof"),
    ("okx/zk_STARK/ca9f1b4/user_11_inclusion_proof.json", "user inclusion proof"),
    ("okx/zk_STARK/2962a89/sum_proof_data/config.json", "config.json"),
    ("okx/okx_por_example.csv", "unrecognised liabilities file"),
])
def test_shared_files_that_are_not_liabilities(rel, fragment):
    path = shared_path(*rel.split("/"))
    raises_at(path, fragment)


# ================================================================= simple format

def write(tmp_path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_simple_csv(tmp_path):
    path = write(tmp_path, "liab.csv", "# okx, 2024-10\nasset,amount,source,proven\n"
                 "BTC,21000.5,okx report,true\n\nusdt,1250000000,okx report,\nAKITA,0,,no\n")
    s = load_liabilities(path)
    assert s.format == SIMPLE and detect_format(path) == SIMPLE
    assert [(l.asset, l.amount) for l in s.liabilities] == [
        ("BTC", Decimal("21000.5")), ("USDT", Decimal(1250000000)), ("AKITA", Decimal(0))]
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert s.liabilities[0].detail == "source: okx report; claimed proven"
    assert any("claim a proof but reference no proof file" in w for w in s.warnings)
    assert any("AKITA" in w and "not in scanner/config/assets.toml" in w for w in s.warnings)


def test_simple_json(tmp_path):
    path = write(tmp_path, "liab.json", '{"format": "porscan.liabilities/1", "liabilities": ['
                 '{"asset": "BTC", "amount": 0.1, "source": "x"}, {"asset": "ETH", "amount": "2", "proven": false},'
                 '{"asset": "USDT", "amount": 12345678901234567890.123456}]}')
    s = load_liabilities(path)
    assert [l.amount for l in s.liabilities] == [Decimal("0.1"), Decimal(2), Decimal("12345678901234567890.123456")]
    bare = write(tmp_path, "bare.json", '[{"asset": "BTC", "amount": "1"}]')
    assert load_liabilities(bare).liabilities[0].amount == 1


@pytest.mark.parametrize("body,fragment", [
    ('asset,amount\nBTC,1\nETH,"1,2"\n', ":3: field amount: '1,2' is not a decimal number"),
    ("asset,amount\nBTC,-1\n", ":2: field amount: '-1' is negative"),
    ("asset,amount\nBTC,1e5\n", ":2: field amount: '1e5' is not a decimal number"),
    ("asset,amount\nBTC,abc\n", ":2: field amount: 'abc' is not a decimal number"),
    ("asset,amount\nBTC,\n", ":2: field amount: '' is not a decimal number"),
    ("asset,amount,price\nBTC,1,2\n", ":1: field 'price': unknown column"),
    ("asset,amount,asset\nBTC,1,BTC\n", ":1: field asset: column given twice"),
    ("asset,source\nBTC,x\n", ":1: field amount: column missing"),
    ("asset,amount\nBTC,1\nBTC,2\n", ":3: field asset: BTC already given at 2"),
    ("asset,amount\nUSDT-TRC20,1\n", ":2: field asset: USDT-TRC20 is a coin key of USDT"),
    ("asset,amount\nB T C,1\n", ":2: field asset: 'B T C' is not an asset symbol"),
    ("asset,amount\nBTC,1,2\n", ":2: 3 fields, the header has 2"),
    ("asset,amount,proven\nBTC,1,maybe\n", ":2: field proven: 'maybe' is not true/false"),
    ("asset,amount\n", "no liabilities rows"),
    ("\n\n", "empty file"),
])
def test_simple_csv_errors(tmp_path, body, fragment):
    raises_at(write(tmp_path, "liab.csv", body), fragment)


@pytest.mark.parametrize("body,fragment", [
    ('{"liabilities": [{"asset": "BTC", "amount": "1"}', ":1: invalid JSON"),
    ('{"liabilities": [{"asset": "BTC", "amount": -1}]}', "$.liabilities[0]: field amount: -1 is negative"),
    ('{"liabilities": [{"asset": "BTC", "amount": "1,2"}]}', "$.liabilities[0]: field amount: '1,2' is not a decimal"),
    ('{"liabilities": [{"asset": "BTC", "amount": true}]}', "field amount: True is not a decimal number"),
    ('{"liabilities": [{"asset": "BTC", "amount": NaN}]}', "invalid JSON: NaN is not a number"),
    ('{"liabilities": [{"asset": "BTC", "amount": 1, "price": 2}]}', "$.liabilities[0]: field 'price': unknown key"),
    ('{"liabilities": [{"asset": "BTC"}]}', "$.liabilities[0]: field amount: missing"),
    ('{"liabilities": [{"asset": "BTC", "amount": 1, "amount": 2}]}', "duplicate key 'amount'"),
    ('{"liabilities": {}}', "$.liabilities: expected a list"),
    ('{"format": "other/2", "liabilities": []}', "field format: 'other/2' is not porscan.liabilities/1"),
    ('{"liabilities": [{"asset": 5, "amount": 1}]}', "field asset: 5 is not an asset symbol"),
])
def test_simple_json_errors(tmp_path, body, fragment):
    raises_at(write(tmp_path, "liab.json", body), fragment)


def test_simple_bad_bytes(tmp_path):
    raises_at(write(tmp_path, "a.csv", b"asset,amount\nBTC,\xff\n"), "not UTF-8")
    raises_at(write(tmp_path, "b.csv", b"asset,amount\nBTC,1\x00\n"), ":2: field amount: '1\\x00' is not a decimal")
    raises_at(write(tmp_path, "c.json", b'{"liabilities": [\xff]}'), "not UTF-8")
    raises_at(write(tmp_path, "d.json", "[" * 100000 + "]" * 100000), "JSON")


def test_simple_rows_backed_by_a_proof(tmp_path):
    leaves, hashes = random_leaves(6, seed=9)
    write(tmp_path, "tree.txt", tree_file_text(build_levels(leaves, hashes)))
    sums = leaf_sums(leaves)
    path = write(tmp_path, "liab.csv", "asset,amount,proven,proof\n"
                 f"BTC,{sums['BTC']},true,tree.txt\nETH,{sums['ETH'] + 1},true,tree.txt\n"
                 f"USDT,{sums['USDT']},false,\nSOL,5,true,tree.txt\n")
    s = load_liabilities(path)
    got = {l.asset: l for l in s.liabilities}
    assert got["BTC"].provenance == "merkle-sum" and got["BTC"].verified and got["BTC"].source == "simple+okx-merkle-v2-tree"
    assert got["ETH"].provenance == got["USDT"].provenance == got["SOL"].provenance == "self-reported"
    assert any("ETH stays self-reported" in w for w in s.warnings)
    assert any("SOL stays self-reported" in w and "has no SOL figure" in w for w in s.warnings)
    tree = tmp_path / "tree.txt"
    assert s.inputs[1] == (str(tree), hashlib.sha256(tree.read_bytes()).hexdigest()) and len(s.inputs) == 2
    raises_at(write(tmp_path, "l2.csv", "asset,amount,proof\nBTC,1,missing.txt\n"), ":2: field proof:")
    write(tmp_path, "nested.csv", "asset,amount,proof\nBTC,1,tree.txt\n")
    raises_at(write(tmp_path, "l3.csv", "asset,amount,proof\nBTC,1,nested.csv\n"), "cannot itself reference proofs")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.text(alphabet=string.printable + "é\x00-,.\"", max_size=12), max_size=6), max_size=6),
       st.booleans())
def test_fuzz_simple_csv(rows, with_header):
    lines = ([["asset", "amount", "source", "proven"]] if with_header else []) + rows
    text = "\n".join(",".join(cells) for cells in lines)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "liab.csv"
        path.write_text(text, encoding="utf-8")
        try:
            s = load_liabilities(path, SIMPLE)
        except LiabilitiesError as exc:
            assert str(exc).startswith(str(path))
        else:
            assert isinstance(s, LiabilitySet) and all(isinstance(l.amount, Decimal) for l in s.liabilities)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                           | st.decimals(allow_nan=False, allow_infinity=False).map(str),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["asset", "amount", "source", "proven", "proof", "x"]),
                                json_values | st.sampled_from(["BTC", "1.5", "ETH", "0"]), max_size=5), max_size=5),
       st.binary(max_size=40))
def test_fuzz_simple_json_and_bytes(rows, junk):
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("a.json", json.dumps({"liabilities": rows}).encode()), ("b.csv", junk),
                           ("c.json", b"[" + junk)):
            path = Path(d) / name
            path.write_bytes(data)
            for fmt in (None, SIMPLE):
                try:
                    load_liabilities(path, fmt)
                except LiabilitiesError:
                    pass


def test_format_override_and_errors(tmp_path):
    path = write(tmp_path, "liab.csv", "asset,amount\nBTC,1\n")
    raises_at(path, "field format: 'csv' is not one of", fmt="csv")
    raises_at(path, "not JSON, as the binance-cex-assets-info format needs", fmt=BINANCE)
    raises_at(path, "invalid JSON", fmt=OKX_ZK_V1)
    j = write(tmp_path, "liab.json", '[{"asset": "BTC", "amount": "1"}]')
    raises_at(j, "field CexAssetsInfo: missing", fmt=BINANCE)
    raises_at(j, "field public_inputs: missing", fmt=OKX_V2)
    raises_at(j, "field path: missing", fmt=MERKLE)
    assert load_liabilities(j, SIMPLE).liabilities[0].amount == 1
    raises_at(tmp_path / "nope.csv", "no such file")
    raises_at(tmp_path, "not a zk-STARK v1 sum_proof_data")
    assert set(FORMATS) == {OKX_ZK_V1, OKX_V2, BINANCE, MERKLE, SIMPLE}


def test_error_carries_file_line_field(tmp_path):
    err = raises_at(write(tmp_path, "liab.csv", 'asset,amount\nBTC,1\nETH,"1,2"\n'), "")
    assert (err.file, err.line, err.field) == (str(tmp_path / "liab.csv"), 3, "amount")
    assert str(err) == f"{tmp_path / 'liab.csv'}:3: field amount: '1,2' is not a decimal number"
    assert isinstance(err, ValueError)


# ================================================================= ratios

def _set(*items) -> LiabilitySet:
    from scanner.pipeline.liabilities import Liability

    return LiabilitySet(tuple(Liability(a, Decimal(v), p, "simple", "f", unit=u) for a, v, p, u in items),
                        {}, (), "0" * 64, SIMPLE)


def test_ratios_exact_and_side_by_side():
    liab = _set(("BTC", "3", "merkle-sum", "coin"), ("ETH", "0", "zk-published", "coin"),
                ("USDT", "1000000.000001", "self-reported", "coin"), ("AKITA", "5", "zk-published", "usd-scaled"))
    out = reserve_ratios({"BTC": Decimal("1.5"), "USDT": Decimal("1000000.000001"), "SOL": Decimal("2")},
                         {"BTC": Decimal("1.5"), "ETH": Decimal("7")}, liab)
    by = {r.asset: r for r in out}
    assert [r.asset for r in out] == ["BTC", "ETH", "USDT", "AKITA", "SOL"]
    assert by["BTC"] == Ratio("BTC", Decimal(3), Decimal("1.5"), Decimal("3.0"), Decimal("0.5"), Decimal(1),
                              "merkle-sum", False, "")
    assert by["ETH"].proven_ratio is None and by["ETH"].with_unproven_ratio is None
    assert by["ETH"].note == "liabilities are zero" and by["ETH"].with_unproven_reserves == 7
    assert by["USDT"].proven_ratio == 1
    assert by["AKITA"].liabilities is None and "usd-scaled" in by["AKITA"].note
    assert by["SOL"].provenance == "none" and by["SOL"].proven_ratio is None
    one_third = reserve_ratios({"BTC": Decimal(1)}, {}, _set(("BTC", "3", "merkle-sum", "coin")))[0]
    assert one_third.proven_ratio == Decimal("0." + "3" * 34)
    assert one_third.proven_ratio == RATIO_CONTEXT.divide(Decimal(1), Decimal(3))
    assert not any(isinstance(v, float) for r in out for v in (r.proven_ratio, r.with_unproven_ratio))


def test_ratios_tiny_and_huge_stay_exact():
    liab = _set(("ETH", "0.000000000000000001", "merkle-sum", "coin"))
    r = reserve_ratios({"ETH": Decimal("123456789012345678901234567890")}, {}, liab)[0]
    assert r.proven_ratio == Decimal("123456789012345678901234567890E18")
    assert ratio(Decimal(0), Decimal(5)) == 0 and ratio(Decimal(1), None) is None


def test_ratios_reject_bad_reserves():
    liab = _set(("BTC", "1", "merkle-sum", "coin"))
    with pytest.raises(ValueError, match="negative"):
        reserve_ratios({"BTC": Decimal(-1)}, {}, liab)
    with pytest.raises(ValueError, match="not a finite Decimal"):
        reserve_ratios({"BTC": 1.5}, {}, liab)  # type: ignore[dict-item]


def test_ratios_from_shared_binance():
    s = load_liabilities(shared_path("binance", "verifier", "config.json"))
    r = {x.asset: x for x in reserve_ratios({"BTC": Decimal("54.03904847")}, {"BTC": Decimal("54.03904847")}, s)}
    assert r["BTC"].proven_ratio == 1 and r["BTC"].with_unproven_ratio == 2
    assert r["BTC"].provenance == "zk-published" and not r["BTC"].verified
    assert r["ETH"].proven_ratio == 0


def test_shared_zk_copy_with_bumped_total(tmp_path):
    """The v1 suite's negative sum case: total_value + 1 in a sum_values.json."""
    src = shared_path("okx", "zk_STARK", "ca9f1b4", "sum_proof_data")
    dst = tmp_path / "sum_proof_data"
    for rel in ["config.derived.json", "trunk/sum_values.json", *[f"batches/{b}/sum_values.json" for b in ("a0", "a1", "a2", "b0")]]:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst / rel)
    vals = json.loads((dst / "trunk" / "sum_values.json").read_text())
    vals["total_value"] += 1
    (dst / "trunk" / "sum_values.json").write_text(json.dumps(vals))
    s = load_liabilities(dst)
    assert {l.provenance for l in s.liabilities} == {"self-reported"}
    assert any("not the sum" in w for w in s.warnings)
