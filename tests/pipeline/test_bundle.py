"""Evidence bundles: a real scan of the sample exchange on local chains, bundled with its inputs,
verified with the chains stopped; then every kind of edit is caught and named."""

from __future__ import annotations

import hashlib
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from scanner.cli.main import main
from support.common import need_anvil


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A done run of the sample world, bundled with inputs while the nodes ran; the nodes then stopped."""
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    folder = tmp_path_factory.mktemp("bundle")
    w = build_local_exchange(folder / "world", seed=23, litecoin=False, tron_solana=False)
    try:
        db = str(folder / "runs.db")
        code = main(["scan", str(w.reserves), "--liabilities", str(w.liabilities), "--config", str(w.networks),
                     "--coins", str(w.coins), "--db", db, "--exchange", "Sample", "--no-progress", "--quiet",
                     "--json", str(folder / "scan.json")])
        assert code in (1, 3)  # the sample fails rows on purpose
        run_id = json.loads((folder / "scan.json").read_text())["run"]["id"]
        assert main(["bundle", str(run_id), str(folder / "b.zip"), "--db", db, "--with-inputs"]) == 0
        assert main(["bundle", str(run_id), str(folder / "bare.zip"), "--db", db]) == 0
    finally:
        w.stop()  # every check below runs with no node
    return folder, w, run_id, db


def _copy(scanned, tmp_path: Path, name: str = "b.zip") -> Path:
    out = tmp_path / name
    out.write_bytes((scanned[0] / name).read_bytes())
    return out


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(path: Path, name: str, data: bytes | None, rehash: bool = False) -> None:
    """Replace (None: remove) one member; ``rehash`` also updates its manifest hash, as a forger would."""
    members = _members(path)
    if data is None:
        members.pop(name)
    else:
        members[name] = data
    if rehash:
        manifest = json.loads(members["manifest.json"])
        if data is None:
            manifest["members"].pop(name)
        else:
            manifest["members"][name] = hashlib.sha256(data).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def _verify(path: Path, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["bundle", "verify", str(path), "--workers", "1"])
    lines = [ln[len("mismatch: "):] for ln in capsys.readouterr().out.splitlines() if ln.startswith("mismatch: ")]
    return code, lines


def test_bundle_contents(scanned):
    folder, w, run_id, _db = scanned
    m = _members(folder / "b.zip")
    manifest = json.loads(m["manifest.json"])
    assert manifest["schema"] == "porscan.bundle/1" and manifest["run"]["id"] == run_id
    assert manifest["exchange"] == "Sample"
    by_role = {e["role"]: e for e in manifest["inputs"]}
    assert by_role["reserves"]["sha256"] == hashlib.sha256(w.reserves.read_bytes()).hexdigest()
    assert m[by_role["reserves"]["member"]] == w.reserves.read_bytes()
    assert m[by_role["liabilities"]["member"]] == w.liabilities.read_bytes()
    for name, digest in manifest["members"].items():
        assert hashlib.sha256(m[name]).hexdigest() == digest
    assert set(manifest["members"]) == set(m) - {"manifest.json"}
    report = json.loads(m["report.json"])
    rows = [json.loads(x) for x in m["rows.jsonl"].decode().splitlines()]
    balances = [json.loads(x) for x in m["balances.jsonl"].decode().splitlines()]
    assert len(rows) == report["verification"]["rows"] == sum(report["verification"]["by_status"].values())
    assert {r["status"] for r in rows} >= {"verified", "failed"}
    read = [b for b in balances if b["onchain_base_units"] is not None]
    assert read and all(b["block_number"] is not None and b["block_hash"] for b in read)
    bare = json.loads(_members(folder / "bare.zip")["manifest.json"])
    assert not any(e["member"] for e in bare["inputs"]) and all(e["sha256"] for e in bare["inputs"])


def test_verifies_offline(scanned, tmp_path, capsys):
    for name in ("b.zip", "bare.zip"):
        code, lines = _verify(_copy(scanned, tmp_path, name), capsys)
        assert (code, lines) == (0, [])


def test_reserve_file_byte_edit(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    member = next(n for n in _members(path) if n.startswith("inputs/reserves/"))
    data = bytearray(_members(path)[member])
    verified = {r["line"] for r in map(json.loads, _members(path)["rows.jsonl"].splitlines()) if r["status"] == "verified"}
    at = data.index(b" address,0x")  # the signature of the first signed row
    line = data[:at].count(b"\n") + 1
    assert line in verified
    i = at + len(b" address,0x") + 20  # a hex digit inside its r value
    data[i] = ord("a") if data[i] != ord("a") else ord("b")
    _rewrite(path, member, bytes(data))
    code, lines = _verify(path, capsys)
    assert code == 1 and any(ln.startswith(f"{member}: sha256 differs from manifest.json") for ln in lines)
    # the same edit with the manifest's hash updated: still caught against the run's stored hash, and
    # the signature verified again no longer holds for that row
    _rewrite(path, member, bytes(data), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1 and lines[0].startswith(f"{member}: sha256 differs from the one the run stored")
    assert lines[1:] == [f"rows.jsonl: line {line}: status 'verified', but its signature verifies as 'failed' in {member}"]


def _edit_status(path: Path) -> tuple[bytes, int]:
    rows = _members(path)["rows.jsonl"].decode().splitlines()
    i = next(k for k, r in enumerate(rows) if json.loads(r)["status"] == "failed")
    row = json.loads(rows[i])
    row["status"] = "verified"
    rows[i] = json.dumps(row, separators=(",", ":"))
    return ("\n".join(rows) + "\n").encode(), row["line"]


def test_row_status_edit(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    data, line = _edit_status(path)
    _rewrite(path, "rows.jsonl", data)
    code, lines = _verify(path, capsys)
    assert code == 1 and "rows.jsonl: sha256 differs from manifest.json members['rows.jsonl']" in lines
    # re-hashed: the counts no longer add up to the report's, and the signature says otherwise
    _rewrite(path, "rows.jsonl", data, rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1
    assert "report.json: verification.by_status.failed" in "\n".join(lines)
    assert any(ln.startswith(f"rows.jsonl: line {line}: status 'verified'") for ln in lines)
    # without the inputs the recomputed totals alone catch it
    bare = _copy(scanned, tmp_path, "bare.zip")
    data, _ = _edit_status(bare)
    _rewrite(bare, "rows.jsonl", data, rehash=True)
    code, lines = _verify(bare, capsys)
    assert code == 1 and any(ln.startswith("report.json: verification.by_status.") for ln in lines)


def test_report_amount_edit(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    report = json.loads(_members(path)["report.json"])
    eth = next(a for a in report["assets"] if a["asset"] == "ETH")
    net = eth["networks"][0]
    net["onchain"] = str(Decimal(net["onchain"]) + 1)
    data = json.dumps(report, indent=1).encode()
    _rewrite(path, "report.json", data)
    code, lines = _verify(path, capsys)
    assert code == 1 and any(ln.startswith("report.json: sha256") for ln in lines)
    _rewrite(path, "report.json", data, rehash=True)
    code, lines = _verify(path, capsys)
    where = f"report.json: assets[ETH].networks[{net['network']}]"
    assert code == 1 and any(ln.startswith(f"{where}.onchain ") for ln in lines)
    assert all(ln.startswith(where) for ln in lines)  # the edit alone, named by member and field
    # a ratio is recomputed too: the recomputed reserves over the report's liabilities
    report = json.loads(_members(scanned[0] / "b.zip")["report.json"])
    usdt = next(a for a in report["assets"] if a["asset"] == "USDT")
    assert Decimal(usdt["proven_ratio"]) < 1
    usdt["proven_ratio_exact"] = "1.0001"
    _rewrite(path, "report.json", json.dumps(report).encode(), rehash=True)
    code, lines = _verify(path, capsys)
    # the shown (rounded) ratio no longer matches the exact one, and the exact one not the reserves
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith('report.json: assets[USDT].proven_ratio "0.')
    assert lines[1].startswith("report.json: assets[USDT].proven_ratio 1.0001 differs from 0.")
    del usdt["proven_ratio_exact"]
    usdt["proven_ratio"] = "1.0001"  # an older report's one figure, edited
    _rewrite(path, "report.json", json.dumps(report).encode(), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1 and any(ln.startswith("report.json: assets[USDT].proven_ratio 1.0001 differs") for ln in lines)


def _forged_liabilities(doc: dict, asset: str, figure: Decimal, provenance: str) -> bytes:
    """The report with one asset's liability figure and provenance changed and its ratios recomputed
    from that figure, as a forger would: every figure in report.json agrees with every other."""
    import dataclasses

    from scanner.amounts import exact_sum
    from scanner.pipeline.ratios import ratio
    from scanner.report_model import ScanReport

    report = ScanReport.from_json(doc)
    assets = []
    for a in report.assets:
        if a.asset == asset:
            f = a.figures
            unproven = exact_sum((f.proven, f.owner_only, f.key_only, f.unverified))
            a = dataclasses.replace(a, liabilities=figure, liabilities_provenance=provenance,
                                    proven_ratio=ratio(f.proven, figure), with_unproven_ratio=ratio(unproven, figure))
        assets.append(a)
    return json.dumps(dataclasses.replace(report, assets=tuple(assets)).to_json(), indent=1).encode()


def test_liability_figure_edit_is_caught_against_the_bundled_file(scanned, tmp_path, capsys):
    """A report whose USDT liabilities (and the ratios from them) were edited consistently passed:
    the ratios were recomputed from the report's own figure. The figure is now read again from the
    bundled liabilities file, and so is the provenance it can have."""
    path = _copy(scanned, tmp_path)
    doc = json.loads(_members(path)["report.json"])
    usdt = next(a for a in doc["assets"] if a["asset"] == "USDT")
    assert usdt["liabilities"] and usdt["liabilities_provenance"] == "self-reported"
    halved = Decimal(usdt["liabilities"]) / 2
    _rewrite(path, "report.json", _forged_liabilities(doc, "USDT", halved, "self-reported"), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1 and lines == [f"report.json: assets[USDT].liabilities {halved} is not the figure of "
                                   f"inputs/liabilities/{scanned[1].liabilities.name} ({usdt['liabilities']})"]
    figure = Decimal(usdt["liabilities"])
    _rewrite(path, "report.json", _forged_liabilities(doc, "USDT", figure, "zk-verified"), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(
        "report.json: assets[USDT].liabilities_provenance 'zk-verified' cannot come from inputs/liabilities/")
    for field, value in (("liabilities_verified", True), ("liabilities_source", "okx-zk-stark-v1")):
        edited = json.loads(json.dumps(doc))
        next(a for a in edited["assets"] if a["asset"] == "USDT")[field] = value
        _rewrite(path, "report.json", json.dumps(edited, indent=1).encode(), rehash=True)
        code, lines = _verify(path, capsys)
        assert code == 1 and len(lines) == 1 and lines[0].startswith(f"report.json: assets[USDT].{field} {value!r} is not"), lines


def test_rubric_edited_to_all_a_is_caught(scanned, tmp_path, capsys):
    """The grade is computed from the report's figures; an edited grade (all A, over a run whose
    checks failed) with a re-hashed manifest passed."""
    path = _copy(scanned, tmp_path)
    doc = json.loads(_members(path)["report.json"])
    real = doc["rubric"]["grade"]
    assert real == "F"  # the sample world fails rows on purpose
    doc["rubric"]["grade"] = "A"
    for c in doc["rubric"]["criteria"]:
        c["grade"] = "A" if c["grade"] != "-" else "-"
    _rewrite(path, "report.json", json.dumps(doc, indent=1).encode(), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1
    assert "report.json: rubric grade 'A' is not what the report's figures give ('F')" in lines
    assert "report.json: rubric criterion 'checks' grade 'A' is not what the report's figures give ('F')" in lines


def test_manifest_hash_edit(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    manifest = json.loads(_members(path)["manifest.json"])
    manifest["members"]["balances.jsonl"] = "0" * 64
    _rewrite(path, "manifest.json", json.dumps(manifest).encode())
    code, lines = _verify(path, capsys)
    assert (code, lines) == (1, ["balances.jsonl: sha256 differs from manifest.json members['balances.jsonl']"])


@pytest.mark.parametrize("member", ["balances.jsonl", "report.json", "inputs/"])
def test_removed_member(scanned, tmp_path, capsys, member):
    path = _copy(scanned, tmp_path)
    name = next(n for n in _members(path) if n.startswith(member))
    _rewrite(path, name, None)
    code, lines = _verify(path, capsys)
    assert code == 1 and f"{name}: missing from the bundle (the manifest lists it)" in lines


def test_removed_input_and_its_hash(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    name = next(n for n in _members(path) if n.startswith("inputs/reserves/"))
    _rewrite(path, name, None, rehash=True)
    code, lines = _verify(path, capsys)
    assert (code, lines) == (1, [f"{name}: missing from the bundle (manifest.json inputs[reserves] names it)"])


def test_damaged_zip_bytes(scanned, tmp_path, capsys):
    """A byte flipped in the zip file itself (not through zipfile): the member is named, exit 1."""
    path = _copy(scanned, tmp_path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("rows.jsonl")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    raw[at] ^= 0x55
    path.write_bytes(bytes(raw))
    code, lines = _verify(path, capsys)
    assert code == 1 and lines[0] == "rows.jsonl: damaged zip data (CRC or deflate error)"


def test_unreadable(tmp_path, capsys):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert main(["bundle", "verify", str(junk)]) == 2
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("report.json", "{}")
    assert main(["bundle", "verify", str(tmp_path / "empty.zip")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["bundle", "x", str(tmp_path / "o.zip")]) == 2


def test_unknown_or_unfinished_run(scanned, tmp_path, capsys):
    import asyncio

    from scanner.storage import open_store
    from scanner.storage.model import RunSpec

    _folder, _w, run_id, db = scanned
    assert main(["bundle", str(run_id + 99), str(tmp_path / "o.zip"), "--db", db]) == 2

    async def start() -> int:
        store = await open_store(db, create=False)
        try:
            run = await store.start_run(RunSpec(exchange="Other", input_path="x.csv", input_sha256="0" * 64,
                                                liabilities_path=None, liabilities_sha256=None, params={},
                                                tool_version="test"))
            return run.id
        finally:
            await store.close()

    running = asyncio.run(start())
    capsys.readouterr()
    assert main(["bundle", str(running), str(tmp_path / "o.zip"), "--db", db]) == 2
    assert f"run {running} is running" in capsys.readouterr().err
    typo = tmp_path / "no-such" / "typo.db"
    assert main(["bundle", str(run_id), str(tmp_path / "o.zip"), "--db", str(typo)]) == 2
    assert not (tmp_path / "o.zip").exists() and not typo.parent.exists()
    assert not list(tmp_path.glob("*.part"))


def _as_written_before(report: dict) -> dict:
    """The report as porscan wrote it before: differences over every row's published amount, no note
    on a ratio from incomplete reads, and an unreadable row of a known coin left out of the counts."""
    from scanner.amounts import coverage, fmt

    invalid: dict[str, int] = {}
    for f in report["failures"]["rows"]:
        if f["status"] == "invalid_row":
            invalid[f["coin"]] = invalid.get(f["coin"], 0) + 1
    assert invalid  # the sample has one ("12..5")
    for a in report["assets"]:
        if a["ratio_note"].startswith("from incomplete reads:"):
            a["ratio_note"] = ""
        left_out = 0
        for n in a["networks"]:
            k = sum(invalid.get(c, 0) for c in n["coins"])
            left_out += k
            n["rows"] -= k
            n["rows_expected"] -= k
            n["coverage"] = fmt(coverage(n["rows_read"], n["rows_expected"]))
        a["rows"] -= left_out
        a["rows_expected"] -= left_out
        a["coverage"] = fmt(coverage(a["rows_read"], a["rows_expected"]))
        a["complete"] = a["rows_read"] >= a["rows_expected"]
        for fig in [a, *a["networks"]]:
            if fig["onchain"] is not None:
                fig["difference"] = fmt(Decimal(fig["onchain"]) - Decimal(fig["published"]))
    return report


def test_a_bundle_written_before_the_figure_rules_changed_still_verifies(scanned, tmp_path, capsys):
    path = _copy(scanned, tmp_path)
    report = json.loads(_members(path)["report.json"])
    older = _as_written_before(json.loads(json.dumps(report)))
    assert older != report
    _rewrite(path, "report.json", json.dumps(older).encode(), rehash=True)
    assert _verify(path, capsys) == (0, [])
    # a difference of neither rule is still an edit
    usdt = next(a for a in older["assets"] if a["asset"] == "USDT")
    usdt["difference"] = "-1"
    _rewrite(path, "report.json", json.dumps(older).encode(), rehash=True)
    code, lines = _verify(path, capsys)
    assert code == 1 and any(ln.startswith("report.json: assets[USDT].difference") for ln in lines), lines
