"""Packaging: the wheel works alone (installed outside the repository, porscan finds its config, package
data, and runs `verify` and `scan --dry` from any directory); `pip install <checkout>` into a fresh venv
resolves the declared dependencies and does the same; those dependencies are exactly what the package
imports, and requirements.lock pins every one of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


# --- the declared dependencies are what the package imports, and the lock pins every one of them ---

def _declared() -> dict[str, set[str]]:
    """pyproject.toml's requirement names per group ("runtime" and each extra), normalised, porscan itself left out."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: {_norm(Requirement(r).name) for r in reqs} - {"porscan"} for group, reqs in groups.items()}


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_distributions(paths) -> dict[str, set[str]]:
    """Distribution -> files, for every absolute import (at module level or inside a function) of a module
    that does not belong to the standard library or to porscan's own packages."""
    import ast
    import importlib.metadata

    by_module = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in ("scanner", "chains", "signatures"):
                    continue
                assert top in by_module, f"{path}: imports {top}, which no installed distribution provides"
                for dist in by_module[top]:
                    found.setdefault(_norm(dist), set()).add(str(path.relative_to(ROOT)))
    return found


def test_runtime_dependencies_are_exactly_what_the_package_imports():
    sources = [p for pkg in ("scanner", "chains", "signatures") for p in (ROOT / pkg).rglob("*.py")]
    devnet = ROOT / "scanner" / "devnet"
    runtime = _imported_distributions(p for p in sources if devnet not in p.parents)
    demo_only = {d: f for d, f in _imported_distributions(p for p in sources if devnet in p.parents).items()
                 if d not in runtime}
    declared = _declared()
    assert declared["runtime"] == set(runtime), (
        f"imported but not declared: { {d: sorted(runtime[d]) for d in set(runtime) - declared['runtime']} }; "
        f"declared but never imported: {sorted(declared['runtime'] - set(runtime))}")
    # scanner/devnet/ (porscan sample, porscan demo) may use more: the `demo` extra, no more and no less
    assert declared["demo"] == set(demo_only), (set(demo_only), declared["demo"])


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if line[:1].isalnum():
            package, _, version = line.split()[0].partition("==")
            assert version, f"{name}: {line!r} is not an exact pin"
            pins[_norm(package)] = version
    return pins


@pytest.mark.parametrize("lock, groups", [("requirements.lock", None), ("requirements-runtime.lock", ("runtime",))])
def test_the_locks_pin_every_declared_dependency_at_a_version_it_allows(lock, groups):
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    reqs = [Requirement(r) for group, rs in declared.items() if groups is None or group in groups for r in rs]
    pins = _pins(lock)
    stale = [f"{r} (lock: {pins.get(_norm(r.name), 'missing')})" for r in reqs
             if r.name != "porscan" and not (_norm(r.name) in pins and r.specifier.contains(pins[_norm(r.name)],
                                                                                           prereleases=True))]
    assert not stale, f"{lock} is out of date with pyproject.toml, regenerate it (DEVELOPERS.md): {stale}"


def test_the_image_installs_the_versions_ci_tests():
    full, runtime = _pins("requirements.lock"), _pins("requirements-runtime.lock")
    assert {p: (v, full.get(p)) for p, v in runtime.items() if full.get(p) != v} == {}


def test_the_dockerfile_copies_files_that_exist_and_its_healthcheck_is_python():
    import json
    import re

    text = (ROOT / "Dockerfile").read_text()
    copied = [src for line in text.splitlines() if line.startswith("COPY ") for src in line.split()[1:-1]]
    assert "requirements-runtime.lock" in copied and {"scanner", "chains", "signatures", "pyproject.toml"} <= set(copied)
    assert [src for src in copied if not (ROOT / src).exists()] == []
    # the lock's layer comes before any source is copied, so a code change does not reinstall dependencies
    assert text.index("-r requirements-runtime.lock") < text.index("COPY scanner")
    health = json.loads(re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", text, re.M).group(1))
    assert health[:2] == ["python", "-c"]
    compile(health[2], "HEALTHCHECK", "exec")


# --- the acceptance check: `pip install <checkout>` into a new venv outside the repository ---

@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new venv outside the checkout with `pip install <checkout>` (dependencies resolved by pip, held to
    the lock's versions as constraints; pip's cache makes a repeated run fast); returns its bin folder."""
    import venv

    tmp = tmp_path_factory.mktemp("fresh")
    venv.create(tmp / "venv", with_pip=True)
    pins = tmp / "constraints.txt"  # the lock without its hashes: pip refuses hashes for a directory requirement
    pins.write_text("".join(line.split()[0] + "\n" for line in (ROOT / "requirements.lock").read_text().splitlines()
                            if line[:1].isalnum()))
    bin_dir = tmp / "venv" / "bin"
    installed = _pip(bin_dir, "install", "-c", str(pins), str(ROOT))
    assert installed.returncode == 0, installed.stderr[-2000:]
    return bin_dir, pins


def _clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PORSCAN_CONFIG_DIR", "VIRTUAL_ENV", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _pip(bin_dir, *args):
    return subprocess.run([str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          cwd=bin_dir.parent.parent, env=_clean_env(), capture_output=True, text=True, timeout=900)


def _run(bin_dir, cwd, *args):
    return subprocess.run([str(bin_dir / "porscan"), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=300)


def test_pip_install_of_the_checkout_in_a_fresh_venv_verifies_and_plans(fresh_venv, tmp_path):
    bin_dir, pins = fresh_venv
    # no demo extra: `porscan sample` names it in one line and exits 2
    sample = _run(bin_dir, tmp_path, "sample", "okx.csv")
    assert sample.returncode == 2, sample
    assert sample.stderr.count("\n") == 1 and "porscan[demo]" in sample.stderr and "Traceback" not in sample.stderr
    assert not (tmp_path / "okx.csv").exists()
    # a sample file made by the test's own environment, verified and planned by the fresh install alone
    from scanner.devnet.sample_exchange import write_sample

    write_sample(str(tmp_path / "okx.csv"), seed=3, with_bad_rows=False)
    verify = _run(bin_dir, tmp_path, "verify", "okx.csv", "--no-progress", "-q")
    assert verify.returncode == 0 and "verified" in verify.stdout, verify
    dry = _run(bin_dir, tmp_path, "scan", "okx.csv", "--dry", "--db", str(tmp_path / "p.db"))
    assert dry.returncode == 0 and "ethereum" in dry.stdout and "bitcoin" in dry.stdout, dry
    assert "Traceback" not in verify.stderr + dry.stderr and not (tmp_path / "p.db").exists()
    # with the demo extra the same venv writes its own sample
    extra = _pip(bin_dir, "install", "-c", str(pins), f"{ROOT}[demo]")
    assert extra.returncode == 0, extra.stderr[-2000:]
    sample = _run(bin_dir, tmp_path, "sample", "own.csv", "--clean")
    assert sample.returncode == 0 and (tmp_path / "own.csv").stat().st_size > 0, sample
    again = _run(bin_dir, tmp_path, "verify", "own.csv", "--no-progress", "-q")
    assert again.returncode == 0, again


# --- scripts/env.sh: which interpreter the project's virtualenv is made from ---

_FAKE_PYTHON = """#!/bin/sh
# a stand-in interpreter: logs how it is called; `-m venv --clear DIR` makes DIR/bin/python (itself);
# asked by env.sh which version it is (-c), answers as its name ends: lock, newer or old
echo "$(basename "$0") $*" >> "$FAKE_LOG"
if [ "$1" = "-c" ]; then echo "${0##*-}"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$4/bin" && cp "$0" "$4/bin/python"; fi
exit "${FAKE_EXIT:-0}"
"""


def _fake(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_text(_FAKE_PYTHON)
    path.chmod(0o755)
    return str(path)


def _source_env(tmp_path, python: str, **extra: str) -> subprocess.CompletedProcess:
    env = {**_clean_env(), "PORSCAN_CACHE": str(tmp_path / "cache"), "PORSCAN_PYTHON": python,
           "FAKE_LOG": str(tmp_path / "calls.log"), **extra}
    return subprocess.run(["bash", "-c", f'. "{ROOT}/scripts/env.sh" && echo "PY=$PORSCAN_PY"'], env=env,
                          capture_output=True, text=True, timeout=60)


def _calls(tmp_path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_env_makes_the_virtualenv_from_the_named_interpreter_and_again_when_it_changes(tmp_path):
    a, b = _fake(tmp_path, "py-a"), _fake(tmp_path, "py-b")
    venv = tmp_path / "cache" / "venv"
    first = _source_env(tmp_path, a)
    assert first.returncode == 0 and f"PY={venv}/bin/python" in first.stdout, first
    assert f"with {a}" in first.stderr
    calls = _calls(tmp_path)
    assert calls[0] == f"py-a -m venv --clear {venv}"
    assert any("--require-hashes" in c and "requirements.lock" in c for c in calls[1:])  # the lock, by the venv's pip
    # the same interpreter again: the stamp holds, nothing is installed
    again = _source_env(tmp_path, a)
    assert again.returncode == 0 and _calls(tmp_path) == calls and "setting up" not in again.stderr
    # another interpreter: a clean virtualenv from it
    other = _source_env(tmp_path, b)
    assert other.returncode == 0 and _calls(tmp_path)[len(calls)] == f"py-b -m venv --clear {venv}", other


@pytest.mark.parametrize("candidates, chosen", [
    (["py1-lock", "py2-lock"], "py1-lock"),  # the first at the lock's version (the distribution's comes first)
    (["py1-newer", "py2-lock"], "py2-lock"),  # the lock's version before a newer one listed earlier
    (["py1-old", "py2-newer", "py3-newer"], "py2-newer"),  # no 3.11: the first newer one
    (["py1-old"], "python3"),  # none fits: python3, which says why it cannot
])
def test_env_chooses_the_lock_version_first_then_a_newer_one(tmp_path, candidates, chosen):
    paths = [_fake(tmp_path, name) for name in candidates]
    (tmp_path / "bin").mkdir()
    _fake(tmp_path / "bin", "python3")  # the last resort on PATH: a stand-in too, so nothing real is installed
    result = _source_env(tmp_path, "", PORSCAN_PYTHON_CANDIDATES=" ".join(paths),
                         PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    named = chosen if chosen == "python3" else str(tmp_path / chosen)
    assert f"from requirements.lock with {named} ..." in result.stderr, result
    assert _calls(tmp_path)[-3].startswith(f"{Path(named).name} -m venv --clear ")  # venv, lock, porscan


def test_env_refuses_an_interpreter_it_cannot_use_in_one_line(tmp_path):
    missing = _source_env(tmp_path, str(tmp_path / "no-such-python"))
    assert missing.returncode != 0 and "PY=" not in missing.stdout
    assert missing.stderr.strip() == f"porscan: PORSCAN_PYTHON={tmp_path / 'no-such-python'} is not a program on this machine"
    assert not (tmp_path / "cache").exists()
    # one that cannot make the virtualenv: said, nothing stamped, so the next run tries again
    failed = _source_env(tmp_path, _fake(tmp_path, "py-bad"), FAKE_EXIT="1")
    assert failed.returncode != 0 and "installing the Python environment failed" in failed.stderr
    assert not (tmp_path / "cache" / "venv" / ".porscan-installed").exists()
