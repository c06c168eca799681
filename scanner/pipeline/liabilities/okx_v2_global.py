"""OKX zk-STARK v2 global proof (``sum_proof_data.json``): what porscan can check without plonky2.

porscan does not verify plonky2 proofs. It checks what binds the proof to a known circuit:

1. ``general.recursion_branchout_num`` is 64 (zk-por-cli refuses anything else);
2. when the file carries ``circuits_info.root_verifier_data_hex``, the circuit digest inside those
   bytes (plonky2 serialization: cap height as u64, the cap's 2^height hashes, then the digest, each
   hash 4 little-endian u64) equals ``root_vd_digest``; without ``circuits_info`` zk-por-cli knows the
   circuit only for round 508787475 and rejects any other round;
3. ``root_vd_digest`` equals the digest pinned in ``scanner/config/zk_digests.toml`` for the
   configuration of the proof's round, when one is pinned.

A failed check gives ``failed``. Otherwise, with ``zk_verifier`` (a ``zk-por-cli`` binary) porscan
runs ``<zk_verifier> verify-global --proof-path <file>`` and records the binary's SHA-256, the exit code
and the output's tail: exit 0 with ``Execution result: Ok`` gives ``verified``; a non-zero exit or
``Execution result: Err`` gives ``failed`` (zk-por-cli exits 0 on a failed proof and says so only in
that line); exit 0 without the line is ``not_verified`` (every zk-por-cli with verify-global prints it,
so a program that does not said nothing about the proof). Without a verifier the result is
``not_verified``, saying which digest checks held and that the proof itself was not checked.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Sequence

from ...config.files import read_toml
from ...errors import ConfigError, UsageError
from . import poseidon
from .model import LiabilitiesError, parse_json, show
from .proofs import FAILED, NOT_VERIFIED, VERIFIED, ProofCheck

KIND = "okx-v2-global"
P = poseidon.P
BRANCHOUT = 64
HARDCODED_ROUND = 508787475  # the one round zk-por-cli verifies without circuits_info
DEFAULT_TIMEOUT = 3600.0  # verify-global rebuilds the circuit: minutes, 8-32 GB of RAM
OUTPUT_TAIL = 2000
_RESULT_LINE = re.compile(r"Execution result: (Ok|Err)\b")


@dataclass(frozen=True, slots=True)
class PinnedDigest:
    """One circuit configuration's root digest and the rounds known to use it."""

    configuration: str
    rounds: tuple[int, ...]
    digest: tuple[int, int, int, int]
    source: str


def _digests_path() -> Path:
    return Path(str(files("scanner.config"))) / "zk_digests.toml"


def load_zk_digests(path: str | Path | None = None) -> tuple[PinnedDigest, ...]:
    """The ``[[okx_v2]]`` entries of ``zk_digests.toml`` (porscan's own unless ``path`` is given)."""
    path = Path(path) if path is not None else _digests_path()
    data = read_toml(path)
    entries = data.get("okx_v2", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: okx_v2 must be an array of tables ([[okx_v2]])")
    out = []
    seen: dict[int, str] = {}
    for i, entry in enumerate(entries):
        key = f"{path}: okx_v2[{i}]"
        name = entry.get("configuration") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{key}: configuration must be a non-empty string")
        rounds = entry.get("rounds")
        if not isinstance(rounds, list) or not rounds or not all(type(r) is int and r >= 0 for r in rounds):
            raise ConfigError(f"{key} ({name}): rounds must be a non-empty list of round numbers")
        for r in rounds:
            if r in seen:
                raise ConfigError(f"{key} ({name}): round {r} is already pinned by {seen[r]}")
            seen[r] = name
        raw = entry.get("root_vd_digest")
        if not isinstance(raw, list) or len(raw) != 4 or not all(isinstance(e, str) and e.isdigit() for e in raw) \
                or not all(int(e) < 2**64 for e in raw):
            raise ConfigError(f"{key} ({name}): root_vd_digest must be 4 decimal u64 strings")
        d = [int(e) % P for e in raw]
        out.append(PinnedDigest(configuration=name, rounds=tuple(rounds), digest=(d[0], d[1], d[2], d[3]),
                                source=str(entry.get("source", ""))))
    return tuple(out)


def embedded_circuit_digest(verifier_data_hex: str) -> tuple[int, int, int, int]:
    """The circuit digest inside plonky2 ``VerifierCircuitData`` bytes (``root_verifier_data_hex``)."""
    try:
        raw = bytes.fromhex(verifier_data_hex)
    except ValueError as exc:
        raise ValueError(f"not hex: {exc}") from exc
    if len(raw) < 8:
        raise ValueError("too short for plonky2 verifier data")
    height = int.from_bytes(raw[:8], "little")
    if height > 16:
        raise ValueError(f"cap height {height} is not plausible for plonky2 verifier data")
    start = 8 + 32 * 2**height
    if len(raw) < start + 32:
        raise ValueError(f"{len(raw)} bytes end before the circuit digest (cap height {height})")
    return poseidon.hash_from_bytes(raw[start:start + 32])


def _u64s(value: Any, where: str, count: int | None) -> list[int]:
    if not isinstance(value, list) or (count is not None and len(value) != count) or not all(
            type(v) is int and 0 <= v < 2**64 for v in value):
        want = f"{count} " if count is not None else ""
        raise ValueError(f"{where}: {show(value)} is not a list of {want}u64 values")
    return value


def _show_digest(d: Sequence[int]) -> list[str]:
    return [str(e) for e in d]


def _run_verifier(zk_verifier: Path, proof: Path, timeout: float) -> tuple[str | None, dict[str, Any]]:
    """Run ``verify-global``; ``(status or None for no answer, the record of the run)``."""
    if not zk_verifier.is_file() or not os.access(zk_verifier, os.X_OK):
        raise UsageError(f"zk verifier {zk_verifier}: not an executable file")
    record: dict[str, Any] = {"path": str(zk_verifier),
                              "sha256": hashlib.sha256(zk_verifier.read_bytes()).hexdigest(),
                              "command": [str(zk_verifier), "verify-global", "--proof-path", str(proof)]}
    start = time.monotonic()
    try:
        # its own session, so a timeout ends every process it started
        proc = subprocess.Popen(record["command"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        raise UsageError(f"zk verifier {zk_verifier}: cannot run: {exc.strerror or exc}") from exc
    try:
        # zk-por-cli waits for Enter after printing its result: the newline lets it exit
        out, _ = proc.communicate(input=b"\n", timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        record.update(seconds=round(time.monotonic() - start, 1), exit_code=None,
                      output_tail=out.decode("utf-8", "replace")[-OUTPUT_TAIL:])
        return None, record
    output = out.decode("utf-8", "replace")
    record.update(seconds=round(time.monotonic() - start, 1), exit_code=proc.returncode,
                  output_tail=output[-OUTPUT_TAIL:])
    said = _RESULT_LINE.findall(output)
    if proc.returncode != 0 or "Err" in said:
        return FAILED, record
    # zk-por-cli prints the line whatever the outcome: exit 0 alone (a wrong binary, /bin/true) is no answer
    return (VERIFIED if "Ok" in said else NOT_VERIFIED), record


def check_v2_global(sum_proof_path: str | Path, zk_verifier: str | Path | None = None, *,
                    digests: Sequence[PinnedDigest] | None = None, timeout: float = DEFAULT_TIMEOUT) -> ProofCheck:
    """Check an OKX v2 ``sum_proof_data.json`` against pinned circuit digests, optionally run a verifier.

    ``digests``: the pinned digests (default: ``load_zk_digests()``). ``zk_verifier``: a zk-por-cli
    binary; a path that is not an executable file is a ``UsageError``.
    """
    path = Path(sum_proof_path)
    file = str(path)
    pinned = load_zk_digests() if digests is None else tuple(digests)

    def failed(reason: str, detail: dict[str, Any] | None = None) -> ProofCheck:
        return ProofCheck(file=file, kind=KIND, status=FAILED, reason=f"{file}: {reason}", detail=detail or {})

    if not path.is_file():
        return failed("no such file")
    try:
        data = parse_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("proof"), dict):
            return failed("$.proof: missing (not an OKX v2 sum_proof_data.json)")
        inputs = _u64s(data["proof"].get("public_inputs"), "$.proof.public_inputs", None)
        if len(inputs) < 6:
            return failed(f"$.proof.public_inputs: {len(inputs)} values, expected at least 6 (equity, debt, root)")
        vd = data.get("root_vd_digest")
        digest = [e % P for e in _u64s(vd.get("elements") if isinstance(vd, dict) else None,
                                       "$.root_vd_digest.elements", 4)]
    except ValueError as exc:  # LiabilitiesError (unreadable JSON) included: it names the file itself
        reason = str(exc) if isinstance(exc, LiabilitiesError) else f"{file}: {exc}"
        return ProofCheck(file=file, kind=KIND, status=FAILED, reason=reason)
    raw_general = data.get("general")
    general: dict[str, Any] = raw_general if isinstance(raw_general, dict) else {}
    round_num = general.get("round_num")
    equity, debt = inputs[0] % P, inputs[1] % P
    root = [e % P for e in inputs[2:6]]
    detail: dict[str, Any] = {
        "round_num": round_num, "root_vd_digest": _show_digest(digest),
        "total_equity": str(equity), "total_debt": str(debt),
        "root_hash": poseidon.hash_to_bytes(root).hex(),
        **{k: general[k] for k in ("batch_num", "batch_size", "token_num") if type(general.get(k)) is int},
    }
    if general.get("recursion_branchout_num") != BRANCHOUT:
        return failed(f"$.general.recursion_branchout_num: {show(general.get('recursion_branchout_num'))}, "
                      f"zk-por-cli requires {BRANCHOUT}", detail)
    if equity < debt:
        return failed(f"$.proof.public_inputs[1]: total debt {debt} exceeds total equity {equity}", detail)

    checks = []
    info = data.get("circuits_info")
    if isinstance(info, dict) and "root_verifier_data_hex" in info:
        hex_data = info["root_verifier_data_hex"]
        try:
            embedded = embedded_circuit_digest(hex_data if isinstance(hex_data, str) else "")
        except ValueError as exc:
            return failed(f"$.circuits_info.root_verifier_data_hex: {exc}", detail)
        detail["embedded_digest"] = _show_digest(embedded)
        if list(embedded) != digest:
            return failed(f"$.root_vd_digest {_show_digest(digest)} is not the circuit digest in "
                          f"circuits_info.root_verifier_data_hex {_show_digest(embedded)}", detail)
        checks.append("root_vd_digest = the digest of the verifier data embedded in the file (self-referential)")
    elif round_num != HARDCODED_ROUND:
        return failed(f"no circuits_info and round {show(round_num)} is not {HARDCODED_ROUND}, the one round "
                      "zk-por-cli knows the circuit of: there is no circuit to verify this proof against", detail)

    match = next((p for p in pinned if type(round_num) is int and round_num in p.rounds), None)
    if match is not None:
        detail["pinned_configuration"] = match.configuration
        detail["pinned_digest"] = _show_digest(match.digest)
        if list(match.digest) != digest:
            return failed(f"$.root_vd_digest {_show_digest(digest)} is not the digest pinned for round "
                          f"{round_num} ({match.configuration}) {_show_digest(match.digest)}: a different circuit",
                          detail)
        checks.insert(0, f"root_vd_digest = the digest pinned for round {round_num} ({match.configuration})")
    else:
        checks.insert(0, f"no digest pinned for round {show(round_num)} in zk_digests.toml")
    summary = "; ".join(checks)

    if zk_verifier is None:
        return ProofCheck(file=file, kind=KIND, status=NOT_VERIFIED, detail=detail,
                          reason=f"porscan does not verify plonky2 proofs and no zk verifier was given "
                                 f"(zk-por-cli verify-global): the proof itself is unchecked; {summary}")
    status, record = _run_verifier(Path(zk_verifier), path, timeout)
    detail["verifier"] = record
    if status is None:
        return ProofCheck(file=file, kind=KIND, status=NOT_VERIFIED, detail=detail,
                          reason=f"{file}: zk verifier {zk_verifier} did not finish within {timeout:g} s; {summary}")
    if status == FAILED:
        return failed(f"zk verifier {zk_verifier} rejected the proof (exit code {record['exit_code']}); {summary}",
                      detail)
    if status == NOT_VERIFIED:
        return ProofCheck(file=file, kind=KIND, status=NOT_VERIFIED, detail=detail,
                          reason=f"{file}: zk verifier {zk_verifier} exited 0 without zk-por-cli's 'Execution result: Ok' "
                                 f"line: it said nothing about the proof; {summary}")
    return ProofCheck(file=file, kind=KIND, status=VERIFIED, detail=detail,
                      reason=f"zk verifier {zk_verifier} (sha256 {record['sha256'][:16]}…) accepted the proof; "
                             f"{summary}")
