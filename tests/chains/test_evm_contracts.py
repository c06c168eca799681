"""The committed contract artifacts are what the committed sources compile to."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from support.common import ROOT

NODE_MODULES = ROOT / ".cache" / "npm" / "node_modules"


@pytest.mark.parametrize("artifact,source", [
    ("chains/data/balance_reader.json", "contracts/BalanceReader.sol"),
    ("chains/data/test_contracts.json", "contracts/TestToken.sol"),
    ("chains/data/stakehub_reader.json", "contracts/StakeHubReader.sol"),
    ("tests/data/test_stakehub.json", "tests/support/contracts/TestStakeHub.sol"),
])
def test_artifacts_match_sources(tmp_path, artifact, source):
    if not shutil.which("node") or not (NODE_MODULES / "solc").exists():
        pytest.skip("solc-js not installed (scripts/node-tools.sh)")
    out = tmp_path / "a.json"
    subprocess.run(["node", str(ROOT / "contracts" / "compile.js"), str(NODE_MODULES), str(out), str(ROOT / source)],
                   check=True, capture_output=True, cwd=ROOT)
    fresh = json.loads(out.read_text())["contracts"]
    committed = json.loads((ROOT / artifact).read_text())["contracts"]
    assert {k: v["runtime"] for k, v in fresh.items()} == {k: v["runtime"] for k, v in committed.items()}
