"""Evidence bundles: one zip that keeps a stored run's conclusion checkable after the exchange has
deleted its files, and its offline re-check.

A bundle (``"schema": "porscan.bundle/1"``) holds:

  manifest.json   tool version, run, exchange, snapshot date, the inputs' names and SHA-256 (as the
                  run stored them), and the SHA-256 of every other member
  report.json     the stored report (``porscan.scan/1``)
  rows.jsonl      every row's ownership verdict, in line order
  balances.jsonl  every balance check, with its block number and hash, in (line, asset) order
  inputs/...      with ``with_inputs``: the reserve and liabilities files, when they still exist and
                  still have the SHA-256 the run stored (else the manifest says why they are missing)

:func:`verify_bundle` needs no node and no database: member hashes against the manifest, the report's
counts and per-asset / per-network figures recomputed from the rows and balances it carries with the
scan's own aggregation (:class:`~scanner.pipeline.aggregate.Aggregation`), and, when the reserve file
is inside, every signature verified again and each row's status compared with its bundled verdict.

Why one file: writing and verifying are the two sides of one format (member names, the JSON form of
each record written and read back, the manifest); split, a change to one side could miss the other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..errors import UsageError
from ..amounts import EXACT, exact_sum
from ..records import AssetTotal, BalanceRecord, RowRecord
from ..report_model import ReportError, ScanReport
from .aggregate import UNCONFIGURED, Aggregation, CoinPlace

SCHEMA = "porscan.bundle/1"
MANIFEST, REPORT, ROWS, BALANCES = "manifest.json", "report.json", "rows.jsonl", "balances.jsonl"
INPUTS_DIR = "inputs/"
_HASH_BLOCK = 1 << 20
# the figures verify recomputes (coverage and difference follow from them by the one rounding rule)
FIGURE_FIELDS = ("rows", "rows_expected", "rows_read", "published", "onchain", "proven", "owner_only", "key_only",
                 "unverified", "unread_published", "difference", "coverage", "staked", "unbonding", "split_unknown",
                 "split_unknown_rows")


class BundleError(UsageError):
    """The bundle cannot be written, or cannot be read as a bundle at all (exit 2)."""


# ------------------------------------------------------------------------------------------ write

def _row_json(r: RowRecord) -> dict[str, Any]:
    return {"line": r.line, "coin": r.coin, "network": r.network, "address": r.address,
            "snapshot_height": r.snapshot_height, "amount": r.amount_text,
            "amount_base_units": None if r.amount_base_units is None else str(r.amount_base_units),
            "status": r.status, "scheme": r.scheme, "reason": r.reason, "custodian": r.custodian}


def _units(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.lstrip("-").isdigit():
        raise ValueError(f"{what}: not a base-unit integer string: {value!r}")
    return int(value)


def _row_record(d: dict[str, Any]) -> RowRecord:
    return RowRecord(line=_int(d["line"], "line"), coin=d["coin"], network=d["network"], address=d["address"],
                     snapshot_height=d.get("snapshot_height"), amount_text=d["amount"],
                     amount_base_units=_units(d.get("amount_base_units"), "amount_base_units"), status=d["status"],
                     scheme=d["scheme"], reason=d["reason"], custodian=d.get("custodian") or "")


def _balance_record(d: dict[str, Any]) -> BalanceRecord:
    return BalanceRecord(line=_int(d["line"], "line"), coin=d["coin"], network=d["network"], asset=d["asset"],
                         address=d["address"], snapshot_height=d.get("snapshot_height"),
                         published_base_units=_units(d.get("published_base_units"), "published_base_units"),
                         onchain_base_units=_units(d.get("onchain_base_units"), "onchain_base_units"),
                         decimals=d.get("decimals"), block_number=d.get("block_number"), block_hash=d.get("block_hash"),
                         at_snapshot=d.get("at_snapshot"), status=d["status"], reason=d["reason"],
                         endpoint=d.get("endpoint") or "",
                         # bundles written before the staking split have no such keys: no split, as their report
                         **{k: _units(d[f"{k}_base_units"], f"{k}_base_units") if f"{k}_base_units" in d else 0
                            for k in ("staked", "unbonding")})


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: not an integer: {value!r}")
    return value


def sha256_path(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


class _HashingWriter:
    """Writes text lines into a zip member and hashes the bytes as they go."""

    def __init__(self, fh: IO[bytes]):
        self.fh, self.hash, self.lines = fh, hashlib.sha256(), 0

    def line(self, obj: Any) -> None:
        data = (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        self.hash.update(data)
        self.fh.write(data)
        self.lines += 1


def _layout_base_units(input_path: str | None, layout: str | None) -> bool:
    """Does the reserve file publish amounts in base units (the aggregation needs to know)?"""
    if input_path and os.path.isfile(input_path):
        from .ingest import IngestError, read_head

        try:
            return bool(read_head(input_path).layout.amount_in_base_units)
        except (IngestError, OSError):
            pass
    return layout == "okx-7"  # the 7-column era, the one layout publishing integer wei/sat/sun


def _input_entry(role: str, path: str | None, sha256: str | None, with_inputs: bool) -> dict[str, Any] | None:
    if not path:
        return None
    name = Path(path).name
    entry: dict[str, Any] = {"role": role, "name": name, "path": path, "sha256": sha256, "member": None, "note": ""}
    if not with_inputs:
        entry["note"] = "not included (bundled without --with-inputs)"
    elif not os.path.exists(path):
        entry["note"] = "not included: the file no longer exists"
    elif not os.path.isfile(path):
        entry["note"] = "not included: a folder, not a file (its proofs are summarised in report.json)"
    elif sha256 and sha256_path(path) != sha256:
        entry["note"] = "not included: the file changed since the scan (its SHA-256 differs from the stored one)"
    else:
        entry["member"] = f"{INPUTS_DIR}{role}/{name}"
    return entry


async def write_bundle(store, run_id: int, out: str | os.PathLike, with_inputs: bool = False) -> dict[str, Any]:
    """Write the bundle of a done run to ``out``; returns its manifest."""
    run = await store.get_run(run_id)
    if run.damaged:
        raise BundleError(run.damaged)
    if run.status != "done" or not run.summary:
        raise BundleError(f"run {run.id} is {run.status}: only a finished run can be bundled")
    try:
        report = ScanReport.from_json(run.summary)
    except ReportError as exc:
        raise BundleError(f"run {run.id}: the stored report cannot be read: {exc}") from exc
    reserves = next((i for i in report.inputs if i.role == "reserves"), None)
    inputs = [e for e in (_input_entry("reserves", run.input_path, run.input_sha256, with_inputs),
                          _input_entry("liabilities", run.liabilities_path, run.liabilities_sha256, with_inputs)) if e]
    members: dict[str, str] = {}
    out = Path(out)
    if out.exists() and not out.is_file():  # renaming the finished zip over a device would replace it
        raise BundleError(f"{out} is not a regular file: give a path for the zip")
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            data = (json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n").encode()
            zf.writestr(REPORT, data)
            members[REPORT] = hashlib.sha256(data).hexdigest()
            with zf.open(ROWS, "w", force_zip64=True) as fh:
                w = _HashingWriter(fh)
                async for rows in store.iter_rows(run.id):
                    for r in rows:
                        w.line(_row_json(r))
            members[ROWS], row_count = w.hash.hexdigest(), w.lines
            with zf.open(BALANCES, "w", force_zip64=True) as fh:
                w = _HashingWriter(fh)
                async for balances in store.iter_balances(run.id):
                    for b in balances:
                        w.line(b.to_json())
            members[BALANCES], balance_count = w.hash.hexdigest(), w.lines
            for entry in inputs:
                if entry["member"]:
                    zf.write(entry["path"], entry["member"])
                    members[entry["member"]] = sha256_path(entry["path"])
            manifest = {
                "schema": SCHEMA, "tool": {"name": "porscan", "version": __version__},
                "run": {"id": run.id, "exchange": run.exchange, "status": run.status, "started_at": run.started_at,
                        "finished_at": run.finished_at, "snapshot_date": run.snapshot_date,
                        "tool_version": run.tool_version, "params": run.params},
                "exchange": run.exchange, "snapshot_date": run.snapshot_date,
                "amount_in_base_units": _layout_base_units(run.input_path, reserves.layout if reserves else None),
                "inputs": inputs, "rows": row_count, "balances": balance_count,
                "members": dict(sorted(members.items())),
            }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return manifest


# ------------------------------------------------------------------------------------------ verify

@dataclass(slots=True)
class BundleCheck:
    """What :func:`verify_bundle` found: one line per mismatch, naming the member and the field."""

    manifest: dict[str, Any]
    mismatches: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was re-checked, for the user
    hashes: dict[str, str] = field(default_factory=dict)  # member -> its SHA-256 as read

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _read_manifest(zf: zipfile.ZipFile, path: str) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise BundleError(f"{path}: no {MANIFEST}: not a porscan bundle") from None
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path}: {MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        got = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"{path}: {MANIFEST}: schema {got!r}, expected {SCHEMA!r}")
    if not isinstance(manifest.get("members"), dict):
        raise BundleError(f"{path}: {MANIFEST}: no members table")
    return manifest


def _member_sha256(zf: zipfile.ZipFile, name: str) -> str | None:
    """The member's SHA-256; None when its compressed data is damaged (a CRC or deflate error)."""
    h = hashlib.sha256()
    try:
        with zf.open(name) as fh:
            while block := fh.read(_HASH_BLOCK):
                h.update(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return None
    return h.hexdigest()


def _jsonl(zf: zipfile.ZipFile, name: str, parse, check: BundleCheck) -> Iterator[Any]:
    """The records of one JSON-lines member; a line that does not parse is a mismatch (and skipped)."""
    with zf.open(name) as raw:
        for n, line in enumerate(raw, 1):
            try:
                yield parse(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                check.mismatches.append(f"{name}: line {n}: unreadable record: {exc}")


def verify_bundle(path: str | os.PathLike, workers: int | None = None) -> BundleCheck:
    """Re-check a bundle offline. Raises :class:`BundleError` when it is not a readable bundle."""
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path}: not a readable zip: {getattr(exc, 'strerror', None) or exc}") from exc
    with zf:
        check = BundleCheck(_read_manifest(zf, path))
        intact = _check_members(zf, check)
        report = _read_report(zf, check) if REPORT in intact else None
        if report is not None:
            _check_header(report, check)
            _check_rubric(report, check)
            if ROWS in intact and BALANCES in intact:
                _check_totals(zf, report, check)
        _check_inputs(zf, intact, check, workers, report)
    return check


def _check_members(zf: zipfile.ZipFile, check: BundleCheck) -> set[str]:
    """Every member against its manifest hash; returns the members present (hash checked or not)."""
    listed: dict[str, Any] = check.manifest["members"]
    present = {n for n in zf.namelist() if not n.endswith("/")}
    damaged = set()
    for name, digest in sorted(listed.items()):
        if name not in present:
            check.mismatches.append(f"{name}: missing from the bundle (the manifest lists it)")
            continue
        got = _member_sha256(zf, name)
        if got is None:
            damaged.add(name)
            check.mismatches.append(f"{name}: damaged zip data (CRC or deflate error)")
        elif got != digest:
            check.mismatches.append(f"{name}: sha256 differs from manifest.json members[{name!r}]")
        if got is not None:
            check.hashes[name] = got
    for name in sorted(present - set(listed) - {MANIFEST}):
        check.mismatches.append(f"{name}: not listed in manifest.json members")
    for name in (REPORT, ROWS, BALANCES):
        if name not in listed and name not in present:
            check.mismatches.append(f"{name}: missing from the bundle and from manifest.json members")
    check.checked.append(f"{len(listed)} member hashes")
    return (present & set(listed)) - damaged


def _read_report(zf: zipfile.ZipFile, check: BundleCheck) -> ScanReport | None:
    try:
        doc = json.loads(zf.read(REPORT))
        report = ScanReport.from_json(doc)
    except (ValueError, ReportError) as exc:
        check.mismatches.append(f"{REPORT}: unreadable report: {exc}")
        return None
    # the bundle holds the report exactly as the model writes it: a shown figure (a rounded ratio,
    # ``complete``) or an extra key edited apart from the exact figures it derives from is caught here
    for where, theirs, ours in _differences(doc, _as_older_versions_wrote(doc, report.to_json()), "")[:20]:
        check.mismatches.append(f"{REPORT}: {where or 'the document'} {_brief(theirs)} is not what the report's "
                                f"own figures give ({_brief(ours)})")
    return report


def _as_older_versions_wrote(doc: Any, ours: dict[str, Any]) -> dict[str, Any]:
    """``ours`` with the derived figures whose rule has changed since as ``doc`` has them, where ``doc``
    follows the older rule: a bundle written before verifies as it did. A difference was on chain
    less every row's published amount (read or not); a ratio from incomplete reads had no note."""
    theirs_assets = doc.get("assets") if isinstance(doc, dict) else None
    if not isinstance(theirs_assets, list) or len(theirs_assets) != len(ours.get("assets") or []):
        return ours
    for a_theirs, a_ours in zip(theirs_assets, ours["assets"]):
        if not isinstance(a_theirs, dict):
            continue
        if a_theirs.get("ratio_note") == "" and str(a_ours.get("ratio_note")).startswith("from incomplete reads:"):
            a_ours["ratio_note"] = ""
        nets = a_theirs.get("networks")
        pairs = [(a_theirs, a_ours)] + (list(zip(nets, a_ours.get("networks") or []))
                                        if isinstance(nets, list) and len(nets) == len(a_ours.get("networks") or []) else [])
        for theirs, mine in pairs:
            if isinstance(theirs, dict) and mine.get("onchain") is not None and theirs.get("difference") is not None:
                try:
                    older = EXACT.subtract(Decimal(mine["onchain"]), Decimal(mine["published"]))
                    if Decimal(str(theirs["difference"])) == older:
                        mine["difference"] = theirs["difference"]
                except (ArithmeticError, ValueError, TypeError, KeyError):
                    pass  # not a number: the comparison names it
    return ours


def _label(item: Any, i: int) -> str:
    if isinstance(item, dict):
        for key in ("asset", "network", "role", "custodian", "coin"):
            if isinstance(item.get(key), str):
                return item[key]
    return str(i)


def _differences(theirs: Any, ours: Any, where: str) -> list[tuple[str, Any, Any]]:
    """The paths at which two JSON documents differ, with both values."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for key in list(ours) + [k for k in theirs if k not in ours]:
            out += _differences(theirs.get(key), ours.get(key), f"{where}.{key}" if where else key)
        return out
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        out = []
        for i, (a, b) in enumerate(zip(theirs, ours)):
            out += _differences(a, b, f"{where}[{_label(b, i)}]")
        return out
    return [] if theirs == ours and type(theirs) is type(ours) else [(where, theirs, ours)]


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_rubric(report: ScanReport, check: BundleCheck) -> None:
    """The grades against the rubric computed again from the report's figures (which the rows and
    balances check): a rubric edited to all A, over a run whose checks failed, passed. Grades, not
    their text: the wording of a value may change between versions, its grade by the rule may not.
    A criterion a version did not have is left out of the comparison, and then the overall grade."""
    if report.rubric is None:
        return
    from .rubric import rubric

    again = rubric(dataclasses.replace(report, rubric=None))
    theirs = {c.name: c.grade for c in report.rubric.criteria}
    ours = {c.name: c.grade for c in again.criteria}
    for name in sorted(theirs.keys() & ours.keys()):
        if theirs[name] != ours[name]:
            check.mismatches.append(f"{REPORT}: rubric criterion {name!r} grade {theirs[name]!r} is not what the "
                                    f"report's figures give ({ours[name]!r})")
    if theirs.keys() == ours.keys() and report.rubric.grade != again.grade:
        check.mismatches.append(f"{REPORT}: rubric grade {report.rubric.grade!r} is not what the report's figures "
                                f"give ({again.grade!r})")
    for name in sorted(theirs.keys() - ours.keys()):
        check.mismatches.append(f"{REPORT}: rubric criterion {name!r} is not one porscan computes")


def _check_header(report: ScanReport, check: BundleCheck) -> None:
    m = check.manifest
    run: dict[str, Any] = m["run"] if isinstance(m.get("run"), dict) else {}
    for what, ours, theirs in (("run.id", run.get("id"), report.run.id),
                               ("run.exchange", run.get("exchange"), report.run.exchange),
                               ("run.snapshot_date", run.get("snapshot_date"), report.run.snapshot_date)):
        if ours != theirs:
            check.mismatches.append(f"{REPORT}: {what} {theirs!r} differs from manifest.json {what} {ours!r}")
    by_role = {i.role: i for i in report.inputs}
    for entry in m.get("inputs") or []:
        shown = by_role.get(entry.get("role"))
        if shown is not None and entry.get("role") == "reserves" and shown.sha256 != entry.get("sha256"):
            check.mismatches.append(f"{REPORT}: inputs[reserves].sha256 differs from manifest.json inputs[reserves].sha256")


def _merged(rows: Iterator[RowRecord], balances: Iterator[BalanceRecord]) -> Iterator[tuple[RowRecord, BalanceRecord | None]]:
    """Each row with its first balance check, as the scan's aggregate stage pairs them (both in line order)."""
    pending = next(balances, None)
    for r in rows:
        while pending is not None and pending.line < r.line:
            pending = next(balances, None)
        yield r, (pending if pending is not None and pending.line == r.line else None)


def _places(report: ScanReport) -> dict[str, tuple[str, str]]:
    """Coin key -> (asset, network) as the report groups them (the scan's config is not in the bundle)."""
    return {coin: (a.asset, n.network) for a in report.assets for n in a.networks for coin in n.coins}


def _check_totals(zf: zipfile.ZipFile, report: ScanReport, check: BundleCheck) -> None:
    places = _places(report)
    decimals: dict[str, int] = {}
    # pass 1: each coin key's decimals, from the balance checks (they carry the configured decimals)
    for r, b in _merged(_jsonl(zf, ROWS, _row_record, check), _jsonl(zf, BALANCES, _balance_record, BundleCheck({}))):
        if b is not None and b.decimals is not None:
            decimals.setdefault(_key(places, r.coin, r.network), b.decimals)

    def place_of(coin: str) -> CoinPlace:
        asset, network = places.get(coin, (coin, "unconfigured"))
        # the token contract is not in the bundle: wallets are told apart by asset, network and address
        return CoinPlace(asset, network, decimals.get(coin))

    agg = Aggregation(place_of, bool(check.manifest.get("amount_in_base_units")),
                      key_of=lambda coin, network: _key(places, coin, network))
    balance_status: Counter[str] = Counter()
    unplaced: Counter[str] = Counter()
    last = None
    for r, b in _merged(_jsonl(zf, ROWS, _row_record, check), _jsonl(zf, BALANCES, _balance_record, check)):
        if last is not None and r.line <= last:
            check.mismatches.append(f"{ROWS}: line {r.line} is out of order or repeated")
        last = r.line
        if b is not None:
            balance_status[b.status] += 1
        key = _key(places, r.coin, r.network)
        if r.status not in ("invalid_row", "skipped") and key not in places:
            unplaced[key] += 1
        agg.add(r, b)
    for key, n in sorted(unplaced.items()):
        check.mismatches.append(f"{ROWS}: {n} row(s) of coin {key} are in no asset of report.json")
    rows = sum(agg.by_status.values())
    if rows != report.rows:
        check.mismatches.append(f"{REPORT}: verification.rows {report.rows} differs from {rows} in {ROWS}")
    _compare_counts(f"{REPORT}: verification.by_status", dict(report.by_status), dict(agg.by_status), ROWS, check)
    _compare_counts(f"{REPORT}: balances.by_status", dict(report.balance_status), dict(balance_status), BALANCES, check)
    totals = {(t.asset, t.network): t for t in agg.totals()}
    # rows of a known coin that could not be read count as expected since; a bundle written before
    # left them out, and verifies as it did
    unreadable: Counter[tuple[str, str]] = Counter()
    for key, n in agg.invalid_by_coin.items():
        p = place_of(key)
        if p.network != UNCONFIGURED:
            unreadable.update({(p.asset, p.network): n, (p.asset, "*"): n})
    shown = {(a.asset, "*"): a.figures for a in report.assets if a.networks or a.figures.rows}
    shown.update({(a.asset, n.network): n.figures for a in report.assets for n in a.networks})
    blocks = {(a.asset, n.network): sorted((b.number, b.hash or "", b.at_snapshot) for b in n.blocks)
              for a in report.assets for n in a.networks}
    for place in sorted(set(totals) | set(shown)):
        asset, network = place
        where = f"assets[{asset}]" + ("" if network == "*" else f".networks[{network}]")
        t, f = totals.get(place), shown.get(place)
        if t is None:
            check.mismatches.append(f"{REPORT}: {where}: no row of the bundle feeds it")
            continue
        if f is None:
            check.mismatches.append(f"{REPORT}: {where}: missing (the rows in {ROWS} give it {t.rows} row(s))")
            continue
        mine = t.figures()
        k = unreadable.get(place, 0)
        if k and any(getattr(f, n) != getattr(mine, n) for n in FIGURE_FIELDS):
            before = dataclasses.replace(t, rows=t.rows - k, rows_expected=t.rows_expected - k).figures()
            if all(getattr(f, n) == getattr(before, n) for n in FIGURE_FIELDS):
                mine = before
        for name in FIGURE_FIELDS:
            theirs, ours = getattr(f, name), getattr(mine, name)
            if theirs != ours:
                check.mismatches.append(f"{REPORT}: {where}.{name} {_show(theirs)} differs from {_show(ours)} "
                                        f"recomputed from {ROWS} and {BALANCES}")
        if network != "*":
            ours_blocks = sorted((b["number"], b["hash"] or "", bool(b["at_snapshot"])) for b in t.blocks)
            if blocks.get(place, []) != ours_blocks:
                check.mismatches.append(f"{REPORT}: {where}.blocks differ from the blocks in {BALANCES}")
    _check_ratios(report, totals, check)
    check.checked.append(f"{rows} rows: counts by status, balance statuses and per-asset / per-network figures "
                         f"recomputed ({len(totals)} totals)")


def _check_ratios(report: ScanReport, totals: dict[tuple[str, str], AssetTotal], check: BundleCheck) -> None:
    """Each ratio against the recomputed reserves and the report's liability figure (the figure
    itself is checked against the bundled liabilities file by :func:`_check_liabilities`; its proofs
    by ``porscan liabilities verify``)."""
    from .ratios import ratio

    for a in report.assets:
        if a.liabilities is None:
            continue
        t = totals.get((a.asset, "*"))
        if t is not None and t.nothing_read:
            expected: tuple[Decimal | None, Decimal | None] = (None, None)  # unknown reserves: no ratio
        else:
            proven = t.proven if t is not None else Decimal(0)
            extra = exact_sum((t.owner_only, t.key_only, t.unverified)) if t is not None else Decimal(0)
            expected = (ratio(proven, a.liabilities), ratio(EXACT.add(proven, extra), a.liabilities))
        for name, theirs, ours in (("proven_ratio", a.proven_ratio, expected[0]),
                                   ("with_unproven_ratio", a.with_unproven_ratio, expected[1])):
            if theirs != ours:
                check.mismatches.append(f"{REPORT}: assets[{a.asset}].{name} {_show(theirs)} differs from "
                                        f"{_show(ours)} recomputed from {ROWS}, {BALANCES} and its liabilities")


def _show(v: Any) -> str:
    return "none" if v is None else str(v)


def _compare_counts(what: str, theirs: dict[str, int], ours: dict[str, int], member: str, check: BundleCheck) -> None:
    for status in sorted(set(theirs) | set(ours)):
        if theirs.get(status, 0) != ours.get(status, 0):
            check.mismatches.append(f"{what}.{status} {theirs.get(status, 0)} differs from "
                                    f"{ours.get(status, 0)} in {member}")


def _key(places: dict[str, tuple[str, str]], coin: str, network: str) -> str:
    """The key a row was summed under: the coin alone, or ``COIN@NETWORK`` where the report says so."""
    key = coin.strip().upper()
    if key in places or not network.strip():
        return key
    both = f"{key}@{network.strip().upper()}"
    return both if both in places else key


def _check_inputs(zf: zipfile.ZipFile, intact: set[str], check: BundleCheck, workers: int | None,
                  report: ScanReport | None) -> None:
    for entry in check.manifest.get("inputs") or []:
        member = entry.get("member") if isinstance(entry, dict) else None
        if not member:
            continue
        if member not in intact:
            if member not in check.manifest["members"] and member not in zf.namelist():
                check.mismatches.append(f"{member}: missing from the bundle (manifest.json inputs[{entry.get('role')}] "
                                        "names it)")
            continue  # else already a mismatch (missing, damaged or unlisted)
        if entry.get("sha256") and check.hashes.get(member) != entry["sha256"]:
            # and still verified again below: which verdicts the edit changes is worth naming
            check.mismatches.append(f"{member}: sha256 differs from the one the run stored "
                                    f"(manifest.json inputs[{entry.get('role')}].sha256)")
        if entry.get("role") == "reserves" and ROWS in intact:
            _reverify(zf, member, check, workers)
        elif entry.get("role") == "liabilities" and report is not None:
            _check_liabilities(zf, member, report, check)


def _extracted(zf: zipfile.ZipFile, member: str, tmp: str) -> Path:
    local = Path(tmp) / Path(member).name
    with zf.open(member) as src, open(local, "wb") as dst:
        while block := src.read(_HASH_BLOCK):
            dst.write(block)
    return local


def _check_liabilities(zf: zipfile.ZipFile, member: str, report: ScanReport, check: BundleCheck) -> None:
    """Each asset's liability figure and provenance in the report against the bundled liabilities
    file: the ratios are recomputed from the report's figure, so without this an edited figure (and
    its ratios, edited to match) passed. A figure porscan proved (zk-verified) cannot be proved again
    offline; its amount is checked, its proof by ``porscan liabilities verify``."""
    from .liabilities import COIN, SELF_REPORTED, ZK_PUBLISHED, ZK_VERIFIED, LiabilitiesError, load_liabilities

    with tempfile.TemporaryDirectory(prefix="porscan-bundle-") as tmp:
        try:
            liab = load_liabilities(_extracted(zf, member, tmp))
        except LiabilitiesError as exc:  # e.g. a zk-STARK v1 sum_values.json without its folder, proofs it cites
            check.checked.append(f"liability figures not read again: {member} alone cannot be read ({exc})")
            return
    items = {i.asset: i for i in liab.liabilities if i.unit == COIN}
    reported = {a.asset: a for a in report.assets}
    for asset in sorted(set(items) | {a for a, r in reported.items() if r.liabilities is not None}):
        item, a = items.get(asset), reported.get(asset)
        theirs = a.liabilities if a is not None else None
        ours = item.amount if item is not None else None
        if theirs != ours:
            check.mismatches.append(f"{REPORT}: assets[{asset}].liabilities {_show(theirs)} is not the figure of "
                                    f"{member} ({_show(ours)})")
            continue
        if item is None or a is None:
            continue
        # porscan's own proof check moves a published zk figure to verified, or to self-reported when it fails
        allowed = {ZK_PUBLISHED, ZK_VERIFIED, SELF_REPORTED} if item.provenance == ZK_PUBLISHED else {item.provenance}
        if a.liabilities_provenance not in allowed:
            check.mismatches.append(f"{REPORT}: assets[{asset}].liabilities_provenance {a.liabilities_provenance!r} "
                                    f"cannot come from {member}, which gives {item.provenance!r}")
            continue
        moved = a.liabilities_provenance != item.provenance  # by porscan's proof check: verified, or failed
        verified = (a.liabilities_provenance == ZK_VERIFIED) if moved else item.verified
        for name, theirs_v, ours_v in (("liabilities_source", a.liabilities_source, item.source),
                                       ("liabilities_verified", a.liabilities_verified, verified)):
            if theirs_v != ours_v:
                check.mismatches.append(f"{REPORT}: assets[{asset}].{name} {theirs_v!r} is not what {member} "
                                        f"gives ({ours_v!r})")
    check.checked.append(f"{len(items)} liability figure(s) of {member} against the report")


def _reverify(zf: zipfile.ZipFile, member: str, check: BundleCheck, workers: int | None) -> None:
    """Every signature of the bundled reserve file verified again; each row's status against rows.jsonl."""
    from .ingest import IngestError, read_head
    from .verify import Filters, row_records, run_verify

    params = (check.manifest.get("run") or {}).get("params") or {}
    filters = Filters(frozenset(c.upper() for c in params.get("coins") or ()),
                      frozenset(n.upper() for n in params.get("networks") or ()))
    with tempfile.TemporaryDirectory(prefix="porscan-bundle-") as tmp:
        local = _extracted(zf, member, tmp)
        try:
            head = read_head(local)
        except (IngestError, OSError) as exc:
            check.mismatches.append(f"{member}: cannot be read as a reserve file: {exc}")
            return
        statuses: dict[int, tuple[str, str]] = {}

        def on_chunk(res) -> None:
            for r in row_records(res):
                statuses[r.line] = (r.status, r.scheme)

        run_verify(head, workers=workers, filters=filters, want_records=True, on_chunk=on_chunk, hash_input=False,
                   chunk_bytes=int(params.get("chunk_bytes") or 1 << 20))
    differ = 0
    seen: set[int] = set()
    for r in _jsonl(zf, ROWS, _row_record, BundleCheck({})):
        seen.add(r.line)
        again = statuses.get(r.line)
        if again is None:
            check.mismatches.append(f"{ROWS}: line {r.line}: not a row of {member}")
        elif again[0] != r.status:
            differ += 1
            if differ <= 20:
                check.mismatches.append(f"{ROWS}: line {r.line}: status {r.status!r}, but its signature verifies as "
                                        f"{again[0]!r} in {member}")
    if differ > 20:
        check.mismatches.append(f"{ROWS}: {differ - 20} more row(s) whose status differs from {member}")
    for line in sorted(set(statuses) - seen)[:20]:
        check.mismatches.append(f"{ROWS}: line {line} of {member} has no verdict")
    check.checked.append(f"{len(statuses)} rows of {member} verified again")
