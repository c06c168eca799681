"""`porscan liabilities verify` and `scan --liabilities` on OKX's real proof vectors: every proof
porscan can check is checked by porscan itself, a figure is zk-verified only when its proof verified,
and a broken proof fails the command and the scan."""

from __future__ import annotations

import json
import shutil

import pytest

from scanner.cli.main import main
from support.common import need_anvil, shared_path


@pytest.fixture(scope="module")
def zk(tmp_path_factory):
    """A copy of the zk-STARK v1 vectors (the complete set, lone batches, inclusion proofs)."""
    src = shared_path("okx", "zk_STARK")
    dst = tmp_path_factory.mktemp("zk") / "zk_STARK"
    shutil.copytree(src, dst)
    return dst


def _verify(path, tmp_path, capsys, *extra):
    out = tmp_path / "proofs.json"
    code = main(["liabilities", "verify", str(path), "--json", str(out), *extra])
    text = capsys.readouterr()
    return code, json.loads(out.read_text()) if out.exists() else None, text


def test_every_proof_of_the_vectors_is_checked(zk, tmp_path, capsys):
    """Every sum proof and the set verify, and so do the 60 inclusion proofs bound to the set. The
    vectors' three other inclusion proofs hold only to their own roots: user_11, of another run,
    lies beside the set and fails; the two lone ones are bound to no sum proof (not verified)."""
    code, doc, text = _verify(zk, tmp_path, capsys)
    assert code == 1, text.out
    assert doc["schema"] == "porscan.liabilities-verify/1"
    kinds = {}
    for p in doc["proofs"]:
        kinds.setdefault(p["kind"], []).append(p["status"])
        assert not p["file"].startswith("/")  # named relative to the path given, never the machine's folders
    assert kinds["okx-zk-stark-v1-sum"] == ["verified"] * 9  # the set's 5 and the 4 lone batches
    assert kinds["okx-zk-stark-v1-sum-set"] == ["verified"]
    unbound = {p["file"].split("/", 1)[1]: p["status"] for p in doc["proofs"]
               if p["kind"] == "okx-zk-stark-v1-inclusion" and p["status"] != "verified"}
    assert unbound == {"ca9f1b4/user_11_inclusion_proof.json": "failed",
                       "10c2099/user_3_inclusion_proof.json": "not_verified",
                       "9c9b54f/user_14_inclusion_proof.json": "not_verified"}
    lone = next(p for p in doc["proofs"] if p["file"].endswith("10c2099/user_3_inclusion_proof.json"))
    assert "none of the 1 zk-STARK v1 sum proof set(s) given has that trunk root" in lone["reason"]  # not "none given"
    assert doc["counts"] == {"verified": 70, "failed": 1, "not_verified": 2}
    assert "70 verified, 1 failed" in text.out


def test_an_inclusion_proof_of_another_round_beside_a_set_fails(zk, tmp_path, capsys):
    """user_11_inclusion_proof.json holds to its own roots, which are not the set's: it was
    reported verified ("roots not compared with any sum proof (none given)") beside the set."""
    folder = tmp_path / "round"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder / "sum_proof_data")
    shutil.copy(zk / "ca9f1b4" / "user_11_inclusion_proof.json", folder)
    code, doc, text = _verify(folder, tmp_path, capsys)
    assert code == 1, text.out
    (proof,) = [p for p in doc["proofs"] if p["kind"] == "okx-zk-stark-v1-inclusion"]
    assert proof["status"] == "failed" and "not the trunk root of the sum proof set" in proof["reason"]
    alone = _verify(folder / "user_11_inclusion_proof.json", tmp_path, capsys)[1]
    assert [p["status"] for p in alone["proofs"]] == ["not_verified"]  # bound to nothing: not verified either


def test_a_changed_sum_fails_with_its_file_named(zk, tmp_path, capsys):
    bad = tmp_path / "zk"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", bad / "sum_proof_data")
    values = bad / "sum_proof_data" / "batches" / "a1" / "sum_values.json"
    data = json.loads(values.read_text())
    data["BTC"] += 1
    data["total_value"] += 1
    values.write_text(json.dumps(data))
    code, doc, text = _verify(bad, tmp_path, capsys)
    assert code == 1
    failed = [p for p in doc["proofs"] if p["status"] == "failed"]
    assert any("a1" in p["file"] for p in failed), failed
    assert all(p["reason"] for p in failed)
    assert "failed: " in text.out


def test_an_inclusion_proof_names_a_root_the_sum_proofs_do_not_have(zk, tmp_path, capsys):
    folder = tmp_path / "set"
    shutil.copytree(zk / "ca9f1b4", folder)
    (folder / "user_11_inclusion_proof.json").unlink()  # of another run: it fails beside this set too
    proof = folder / "inclusion_proof_data" / "a0" / "user_0_inclusion_proof.json"
    data = json.loads(proof.read_text())
    data["batch_inclusion_proof"]["batch_mtree_root"] = "00" * 32
    proof.write_text(json.dumps(data))
    code, doc, _ = _verify(folder, tmp_path, capsys)
    assert code == 1
    (failed,) = [p for p in doc["proofs"] if p["status"] == "failed"]
    assert failed["file"].endswith("user_0_inclusion_proof.json") and "root" in failed["reason"]


def test_unverifiable_proofs_are_said_plainly_and_bad_paths_are_usage_errors(tmp_path, capsys):
    code, doc, _ = _verify(shared_path("binance"), tmp_path, capsys)
    assert code == 0 and doc["counts"]["not_verified"] >= 1 and doc["counts"]["verified"] == 0
    assert main(["liabilities", "verify", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "Traceback" not in err[0]


def test_scan_labels_figures_by_what_porscan_verified(zk, tmp_path, capsys):
    """The v1 set's first main_coins_num coins are zk-verified in the scan report; the same set with a
    broken batch makes them self-reported and the scan's verdict failed."""
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path / "world", seed=3, litecoin=False, tron_solana=False)
    try:
        def scan(liabilities, name):
            out = tmp_path / f"{name}.json"
            code = main(["scan", str(w.reserves), "--liabilities", str(liabilities), "--config", str(w.networks),
                         "--coins", str(w.coins), "--db", str(tmp_path / f"{name}.db"), "--no-progress", "--json", str(out)])
            return code, json.loads(out.read_text())

        good = zk / "ca9f1b4" / "sum_proof_data"
        code, report = scan(good, "good")
        proofs = report["liabilities"]["proofs"]
        assert proofs and all(p["status"] == "verified" for p in proofs)
        prov = {a["asset"]: a["liabilities_provenance"] for a in report["assets"]}
        assert prov.get("BTC") == "zk-verified" and prov.get("ETH") == "zk-verified", prov
        assert not any("does not verify the STARK" in x for x in report["liabilities"]["warnings"])

        broken = tmp_path / "broken" / "sum_proof_data"
        shutil.copytree(good, broken)
        proof = broken / "batches" / "a0" / "sum_proof.json"
        data = json.loads(proof.read_text())
        data["pow_nonce"] = "00" * 32
        proof.write_text(json.dumps(data))
        code, report = scan(broken, "broken")
        assert code == 1
        assert any(p["status"] == "failed" for p in report["liabilities"]["proofs"])
        prov = {a["asset"]: a["liabilities_provenance"] for a in report["assets"]}
        assert "zk-verified" not in prov.values() and prov.get("BTC") == "self-reported", prov
        assert "liabilities proof(s) failed" in capsys.readouterr().out
    finally:
        w.stop()


def _labels(folder):
    """Each figure's provenance after porscan's checks, as `scan --liabilities FOLDER` sets them."""
    from scanner.pipeline.liabilities import load_liabilities
    from scanner.pipeline.liabilities.check import apply_checks, check_proofs

    liab = apply_checks(load_liabilities(folder), check_proofs(folder))
    return {i.asset: i.provenance for i in liab.liabilities}, liab


def test_only_the_coins_the_verified_config_constrains_are_zk_verified(zk, tmp_path):
    """A config.json dropped into trunk/ claiming every coin is constrained: porscan verified the
    proofs with the set's own config (21 main coins), so LTC (not among them) is not zk-verified."""
    folder = tmp_path / "sum_proof_data"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder)
    config = json.loads((folder / "config.derived.json").read_text())
    (folder / "trunk" / "config.json").write_text(json.dumps({**config, "main_coins_num": len(config["coins"])}))
    labels, liab = _labels(folder)
    assert labels["BTC"] == "zk-verified" and labels["TRX"] == "zk-verified"
    assert labels["LTC"] == "self-reported", labels["LTC"]
    assert sum(p == "zk-verified" for p in labels.values()) == 21
    (verified_set,) = [p for p in liab.proofs if p.kind == "okx-zk-stark-v1-sum-set"]
    assert not verified_set.detail["config"].startswith("/")  # the report never names the machine's folders


def test_another_verified_set_in_the_folder_does_not_verify_these_figures(zk, tmp_path):
    """The figures come from a trunk whose own proof porscan did not check; a verified set elsewhere
    in the folder says nothing about them."""
    folder = tmp_path / "sum_proof_data"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder / "old" / "sum_proof_data")
    (folder / "trunk").mkdir(parents=True)
    shutil.copy(zk / "ca9f1b4" / "sum_proof_data" / "config.derived.json", folder)
    shutil.copy(zk / "ca9f1b4" / "sum_proof_data" / "trunk" / "sum_values.json", folder / "trunk")
    labels, _ = _labels(folder)
    assert "zk-verified" not in labels.values(), labels


def test_a_set_whose_trunk_proof_was_left_out_fails(zk, tmp_path, capsys):
    """trunk/sum_values.json without trunk/sum_proof.json: the trunk sums are bound to no proof. The
    set was not recognised and its batches passed as lone proofs (exit 0, figures zk-published)."""
    folder = tmp_path / "sum_proof_data"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder)
    (folder / "trunk" / "sum_proof.json").unlink()
    code, doc, text = _verify(folder, tmp_path, capsys)
    assert code == 1, text.out
    failed = [p for p in doc["proofs"] if p["status"] == "failed"]
    assert any(p["kind"] == "okx-zk-stark-v1-sum" and p["file"].endswith("trunk") and "sum_proof.json: missing" in p["reason"]
               for p in failed), failed
    labels, liab = _labels(folder)
    assert set(labels.values()) == {"self-reported"}, labels
    # porscan did check the set (and it failed): the parser's "does not verify" caveat is not repeated
    assert any("failed porscan's check" in w for w in liab.warnings)
    assert not any("does not verify the STARK sum proof" in w for w in liab.warnings), liab.warnings


def test_merkle_reasons_say_what_was_recomputed_and_name_no_machine_folder(tmp_path, capsys):
    """A v1 Merkle proof file holds one user's path: its record said "every node hash recomputed".
    A broken Merkle file's reason carried the scanning machine's full path."""
    folder = tmp_path / "okx"
    folder.mkdir()
    shutil.copy(shared_path("okx", "merkle_proof_file.json"), folder)
    code, doc, _ = _verify(folder, tmp_path, capsys)
    (proof,) = doc["proofs"]
    assert code == 0 and proof["status"] == "verified"
    assert "every node hash" not in proof["reason"] and "path" in proof["reason"]
    data = json.loads((folder / "merkle_proof_file.json").read_text())
    data["self"] = "gone"
    (folder / "merkle_proof_file.json").write_text(json.dumps(data))
    code, doc, text = _verify(folder, tmp_path, capsys)
    (proof,) = doc["proofs"]
    assert code == 1 and proof["status"] == "failed" and "$.self" in proof["reason"]
    assert str(tmp_path) not in proof["reason"] and str(tmp_path) not in text.out


def test_a_fifo_is_passed_over_and_a_file_that_cannot_be_read_fails(tmp_path):
    """A FIFO in the folder made `liabilities verify` hang on open(); a dangling link (or, for a user
    other than root, an unreadable file) was passed over silently: 'no liabilities proof found', exit 0."""
    import os
    import subprocess
    import sys

    from support.common import ROOT

    folder = tmp_path / "okx"
    folder.mkdir()
    shutil.copy(shared_path("okx", "merkle_proof_file.json"), folder)
    os.mkfifo(folder / "pipe")
    out = tmp_path / "proofs.json"

    def verify():
        proc = subprocess.run([sys.executable, "-m", "scanner", "liabilities", "verify", str(folder), "--json", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        return proc.returncode, json.loads(out.read_text())

    code, doc = verify()
    assert code == 0 and doc["counts"] == {"verified": 1, "failed": 0, "not_verified": 0}
    (folder / "sum_proof_data.json").symlink_to(tmp_path / "gone.json")
    code, doc = verify()
    failed = [p for p in doc["proofs"] if p["status"] == "failed"]
    assert code == 1 and [p["file"] for p in failed] == ["okx/sum_proof_data.json"] and "cannot read" in failed[0]["reason"]


def test_a_failed_set_is_not_also_said_to_be_unverified_by_porscan(zk, tmp_path):
    """A batch with a broken proof of work: the report said both that the proof failed porscan's
    check and "porscan does not verify the STARK sum proof itself"."""
    folder = tmp_path / "sum_proof_data"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder)
    proof = folder / "batches" / "a0" / "sum_proof.json"
    proof.write_text(json.dumps(json.loads(proof.read_text()) | {"pow_nonce": "00" * 32}))
    labels, liab = _labels(folder)
    assert set(labels.values()) == {"self-reported"}
    assert any("failed porscan's check" in w for w in liab.warnings)
    assert not any("does not verify the STARK sum proof" in w for w in liab.warnings), liab.warnings


def test_a_merkle_v2_user_file_is_checked_against_the_tree_beside_it(tmp_path, capsys):
    """user_info_file.json was passed over: alone it read "no liabilities proof found", and a user
    file with a changed balance went unremarked beside the tree."""
    folder = tmp_path / "okx"
    folder.mkdir()
    shutil.copy(shared_path("okx", "user_info_file.json"), folder)
    code, doc, _ = _verify(folder, tmp_path, capsys)
    assert code == 0 and [(p["kind"], p["status"]) for p in doc["proofs"]] == [("okx-merkle-v2-user", "not_verified")]
    shutil.copy(shared_path("okx", "full-liabilities-merkle-tree.txt"), folder)
    code, doc, _ = _verify(folder, tmp_path, capsys)
    assert code == 0 and doc["counts"] == {"verified": 2, "failed": 0, "not_verified": 0}
    (user,) = [p for p in doc["proofs"] if p["kind"] == "okx-merkle-v2-user"]
    assert user["detail"] == {"leaves": 2, "tree": "okx/full-liabilities-merkle-tree.txt"}
    for change in (lambda d: d["nodes"][0]["balances"].update(BTC="0.0000488"),  # a leaf's balance
                   lambda d: d.update(nonce="0" + d["nonce"][1:]),  # the nonce
                   lambda d: d["nodes"].pop()):  # a leaf left out: the totals no longer add up
        data = json.loads(shared_path("okx", "user_info_file.json").read_text())
        change(data)
        (folder / "user_info_file.json").write_text(json.dumps(data))
        code, doc, _ = _verify(folder, tmp_path, capsys)
        (user,) = [p for p in doc["proofs"] if p["kind"] == "okx-merkle-v2-user"]
        assert code == 1 and user["status"] == "failed", user
    # a well-formed user file whose leaves the tree does not hold (another user's tree)
    (folder / "user_info_file.json").write_text(shared_path("okx", "user_info_file.json").read_text())
    tree = folder / "full-liabilities-merkle-tree.txt"
    tree.write_text("".join(line for line in tree.read_text().splitlines(keepends=True) if not line.startswith("ea62bd")))
    code, doc, _ = _verify(folder, tmp_path, capsys)
    (user,) = [p for p in doc["proofs"] if p["kind"] == "okx-merkle-v2-user"]
    assert code == 1 and user["status"] == "failed" and "not all among the leaves" in user["reason"]


def test_a_proof_put_inside_a_set_folder_is_still_checked(zk, tmp_path, capsys):
    """Every file under trunk/ and batches/ was skipped as the set's own: an inclusion proof (here a
    tampered one) filed in a batch folder was neither verified nor failed, just not listed."""
    folder = tmp_path / "round"
    shutil.copytree(zk / "ca9f1b4" / "sum_proof_data", folder / "sum_proof_data")
    data = json.loads((zk / "ca9f1b4" / "inclusion_proof_data" / "a0" / "user_3_inclusion_proof.json").read_text())
    data["batch_inclusion_proof"]["total_value"] += 1
    (folder / "sum_proof_data" / "batches" / "a0" / "user_3_inclusion_proof.json").write_text(json.dumps(data))
    code, doc, _ = _verify(folder, tmp_path, capsys)
    (proof,) = [p for p in doc["proofs"] if p["kind"] == "okx-zk-stark-v1-inclusion"]
    assert code == 1 and proof["status"] == "failed" and proof["file"].endswith("batches/a0/user_3_inclusion_proof.json")


def test_a_folder_with_no_proof_is_not_a_pass(tmp_path, capsys):
    """An empty (or mistyped) folder read "no liabilities proof found" and exited 0, as if no proof failed."""
    empty = tmp_path / "download"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    assert main(["liabilities", "verify", str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no liabilities proof found" in err[0]


def test_an_inclusion_proof_to_the_roots_of_a_failed_set_fails(zk, tmp_path, capsys):
    """The round's own inclusion proofs beside a set whose batch proof is broken (proof of work):
    their paths still hold to the set's roots, and were listed 'verified' beside the set's 'failed',
    though the liabilities they place the user in are proven by nothing."""
    folder = tmp_path / "round"
    shutil.copytree(zk / "ca9f1b4", folder)
    (folder / "user_11_inclusion_proof.json").unlink()  # of another run: it fails beside any set
    code, doc, _ = _verify(folder, tmp_path, capsys)
    inclusion = [p for p in doc["proofs"] if p["kind"] == "okx-zk-stark-v1-inclusion"]
    assert code == 0 and inclusion and {p["status"] for p in inclusion} == {"verified"}
    proof = folder / "sum_proof_data" / "batches" / "a0" / "sum_proof.json"
    proof.write_text(json.dumps(json.loads(proof.read_text()) | {"pow_nonce": "00" * 32}))
    code, doc, _ = _verify(folder, tmp_path, capsys)
    assert code == 1
    (the_set,) = [p for p in doc["proofs"] if p["kind"] == "okx-zk-stark-v1-sum-set"]
    assert the_set["status"] == "failed"
    inclusion = [p for p in doc["proofs"] if p["kind"] == "okx-zk-stark-v1-inclusion"]
    assert len(inclusion) == 60 and {p["status"] for p in inclusion} == {"failed"}
    assert all("that sum proof failed porscan's check" in p["reason"] for p in inclusion)
