"""The wheel works alone: installed outside the repository, porscan finds its config (package data)
and runs `verify` and `scan --dry` from any directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.common import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed (without its dependencies, which the test venv
    has) into a folder of its own; returns that folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.fail(f"pip wheel failed: {built.stderr[-800:]}")
    (wheel,) = (tmp / "dist").glob("porscan-*.whl")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return site


def _porscan(site, cwd, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PORSCAN_CONFIG_DIR")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_wheel_runs_from_anywhere_with_its_own_config(installed, tmp_path):
    where = _porscan(installed, tmp_path, "--version")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([sys.executable, "-c", "import scanner.config.assets as a; print(a.config_dir())"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert probe.stdout.strip().startswith(str(installed)), probe  # the installed copy, not the checkout
    for name in ("networks.toml", "coins.toml", "assets.toml"):
        assert (installed / "scanner" / "config" / name).is_file()
    sample = _porscan(installed, tmp_path, "sample", "okx.csv", "--clean")
    assert sample.returncode == 0, sample.stderr
    verify = _porscan(installed, tmp_path, "verify", "okx.csv", "--no-progress", "-q")
    assert verify.returncode == 0 and "verified" in verify.stdout, verify.stderr
    dry = _porscan(installed, tmp_path, "scan", "okx.csv", "--dry", "--db", str(tmp_path / "p.db"))
    assert dry.returncode == 0 and "ethereum" in dry.stdout, dry.stderr
    assert "Traceback" not in verify.stderr + dry.stderr and not (tmp_path / "p.db").exists()
