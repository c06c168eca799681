"""HTX's real published reserve files (../shared/vectors/htx): every row called right, every
mutation rejected, the summary block reconciled by family.

What is known of these files independently (their README): every row that publishes a signature
is valid, and a ``-`` or empty signature cell means the row publishes none. So the expectation of
each row is read off the file itself, not from porscan.
"""

from __future__ import annotations

import collections
import csv
import io
import json

import pytest
from support.common import (SHARED_VECTORS, bip137_headers_of_other_types, one_letter_in_other_case,
                            other_chain_coins, shared_path)

from scanner.cli.main import main
from scanner.pipeline.ingest import ReserveRow, iter_rows, read_head
from scanner.pipeline.verify import run_verify
from signatures.dispatch import verify_claim
from signatures.model import Status

HTX = SHARED_VECTORS / "htx"
FILES = sorted(HTX.glob("*.csv")) if HTX.is_dir() else []


def _published_signature(cell: str) -> bool:
    return cell.strip() not in ("", "-")


def _expected(path) -> dict[int, Status]:
    """Line -> expected status, from the raw CSV: signed -> verified, else unsigned."""
    text = path.read_bytes().decode("utf-8-sig")
    out: dict[int, Status] = {}
    in_detail = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("coin,address"):
            in_detail = True
            continue
        if in_detail and line.strip():
            (cells,) = csv.reader(io.StringIO(line))
            out[lineno] = Status.VERIFIED if _published_signature(cells[5]) else Status.UNSIGNED
    return out


def _rows(path) -> list[ReserveRow]:
    rows = list(iter_rows(path))
    assert all(isinstance(r, ReserveRow) for r in rows), [r for r in rows if not isinstance(r, ReserveRow)][:3]
    return rows


@pytest.fixture(scope="module")
def htx_files():
    shared_path("htx")
    assert len(FILES) == 19
    return FILES


def test_every_row_of_every_file_called_right(htx_files):
    """994 signed rows verified, 105 unsigned rows unsigned, row by row: every published row is pinned."""
    totals: collections.Counter[Status] = collections.Counter()
    for path in htx_files:
        expected = _expected(path)
        rows = _rows(path)
        assert [r.line for r in rows] == sorted(expected), path.name
        for row in rows:
            verdict = verify_claim(row)
            assert verdict.status is expected[row.line], (path.name, row.line, row.coin, verdict)
            totals[verdict.status] += 1
    assert totals == {Status.VERIFIED: 994, Status.UNSIGNED: 105}


def test_chunked_verify_equals_row_by_row(htx_files, tmp_path):
    """``porscan verify`` (chunks, worker processes, the JSON report) gives the same statuses."""
    for path in htx_files[::6]:
        out = tmp_path / f"{path.stem}.json"
        assert main(["verify", str(path), "--json", str(out), "-q", "--chunk-bytes", "1024", "--workers", "2"]) == 0
        report = json.loads(out.read_text())
        got = {r["line"]: r["status"] for r in report["rows"]}
        assert got == {line: s.value for line, s in _expected(path).items()}
        assert report["summary"]["by_status"]["unsigned"] == sum(1 for s in got.values() if s == "unsigned")


def test_require_signatures_turns_unsigned_into_a_failing_exit(htx_files, tmp_path):
    path = htx_files[0]  # its BTC, HT-ETH, ETH and TRX rows include unsigned ones
    assert main(["verify", str(path), "-q"]) == 0
    assert main(["verify", str(path), "-q", "--require-signatures"]) == 1


def test_each_construction_is_reported(htx_files):
    """The scheme that matched is recorded: every construction HTX used shows up."""
    schemes = collections.Counter()
    for path in htx_files:
        for row in _rows(path):
            verdict = verify_claim(row)
            if verdict.status is Status.VERIFIED:
                schemes[verdict.scheme] += 1
    assert {"bip137-btc-p2pkh", "evm-personal-sign", "evm-raw-keccak", "tron-v1", "tron-header-raw",
            "ed25519-raw-sol", "ed25519-raw-algo"} <= set(schemes), schemes


def _mutate_signature(sig: str) -> str:
    i = len(sig) // 3
    alphabet = "0123456789abcdef" if sig[:2] in ("0x", "0X") or all(c in "0123456789abcdefABCDEF" for c in sig) \
        else "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = next(c for c in alphabet if c != sig[i].lower() and c != sig[i])
    return sig[:i] + new + sig[i + 1:]


def test_every_mutation_of_a_signed_row_is_rejected(htx_files):
    """Message changed, a signature character changed, or another signer's address: never verified."""
    signed = [r for path in htx_files for r in _rows(path) if r.signature1]
    by_family: dict[str, list[ReserveRow]] = collections.defaultdict(list)
    for r in signed:
        by_family[verify_claim(r).scheme.split("-")[0]].append(r)
    checked = 0
    for family, rows in by_family.items():
        addresses = sorted({r.address.lower() for r in rows})
        for r in rows:
            mutants = [r._replace(message=r.message + "!"), r._replace(signature1=_mutate_signature(r.signature1))]
            other = next((a for a in addresses if a != r.address.lower()), None)
            if other is not None:
                mutants.append(r._replace(address=next(x.address for x in rows if x.address.lower() == other)))
            for m in mutants:
                verdict = verify_claim(m)
                assert verdict.status is Status.FAILED, (family, r.line, r.coin, m, verdict)
                checked += 1
    assert checked >= 994 * 2


def test_a_signed_row_moved_to_another_chain_or_spelt_in_another_case_fails(htx_files):
    """A row relabelled to another chain's coin (TON, ADA, LTC, ... for a Tron or EVM key) claims
    reserves the signature says nothing about; an address with one letter in the other case is
    another address (base58 and bech32 are case-sensitive); a BIP-137 header of another address
    type (an uncompressed key's, a segwit address's) is a changed signature."""
    checked = 0
    for path in htx_files:
        for r in _rows(path):
            if not r.signature1:
                continue
            mutants = [r._replace(coin=coin) for coin in other_chain_coins(r.coin)]
            if (changed := one_letter_in_other_case(r.address)) is not None:
                mutants.append(r._replace(address=changed))
            if r.address[:1] == "1" and r.signature1[:2] != "0x":  # a P2PKH address: headers 31-34 (compressed key)
                mutants += [r._replace(signature1=s) for s in bip137_headers_of_other_types(r.signature1, range(31, 35))]
            for m in mutants:
                verdict = verify_claim(m)
                # failed, or unsupported where the other chain has no address rule (XRP): never proven
                assert verdict.status in (Status.FAILED, Status.UNSUPPORTED), (path.name, r.line, r.coin, m.coin,
                                                                               m.address, verdict)
                checked += 1
    assert checked >= 994 * 9


@pytest.mark.parametrize("spelling", ["{asset}-ERC20", "ERC20-{asset}", "{asset}_ETH", "{asset}-Ethereum",
                                      "{asset} (ERC20)"])
def test_other_spellings_of_the_same_chain_still_verify(htx_files, spelling):
    """Names an exchange may publish next month: the rule, not a list of today's names."""
    rows = [r for path in htx_files for r in _rows(path) if r.coin == "USDT-ETH" and r.signature1]
    assert rows
    for r in rows:
        verdict = verify_claim(r._replace(coin=spelling.format(asset="USDT")))
        assert verdict.status is Status.VERIFIED, (spelling, r.line, verdict)


def test_summary_block_reconciled_by_family(htx_files):
    """HTX's (ALL) rows group wrapped and staked coins (ETH(ALL) = ETH + stETH + BETH-Heco) and every
    figure is rounded to the published precision: they match within that rounding; a real
    disagreement (USDT figures with no detail rows) is still reported."""
    path = next(p for p in htx_files if p.name.startswith("2024-06-04"))
    from scanner.config.assets import default_book
    from scanner.report.checks import verify_summary

    summary = verify_summary(run_verify(read_head(path), workers=1), default_book())
    checks = {c["coin"]: c for c in summary["summary_block"]}
    for name in ("BTC(ALL)", "ETH(ALL)", "HTX(ALL)", "TRX(ALL)", "ETH", "TRX", "stETH", "BETH-Heco"):
        assert checks[name]["status"] == "match", checks[name]
    assert "stETH" in checks["ETH(ALL)"]["note"] and "BETH-Heco" in checks["ETH(ALL)"]["note"]
    assert checks["ETH"]["detail_sum"] == "3484.27"  # published 3484.26: within the rounding of 3 rows
    assert checks["jUSDT-TRC20"]["status"] == "mismatch" and "no detail rows" in checks["jUSDT-TRC20"]["note"]
    assert checks["USDT(ALL)"]["status"] == "mismatch"


def test_rounding_tolerance_is_no_wider_than_the_precision(htx_files, tmp_path):
    """The same file with one summary figure moved by one more unit than the rounding allows is a
    mismatch: the tolerance is derived from the published precision, not a blanket allowance."""
    path = next(p for p in htx_files if p.name.startswith("2024-06-04"))
    text = path.read_text(encoding="utf-8-sig")
    assert "\nETH,19990863,3484.26\n" in text
    moved = tmp_path / "moved.csv"
    # detail sum 3484.27 from 3 rows of 2 decimals: allowed 0.005 + 3 * 0.005 = 0.02; 3484.24 is 0.03 off
    moved.write_text(text.replace("\nETH,19990863,3484.26\n", "\nETH,19990863,3484.24\n"))
    from scanner.config.assets import default_book
    from scanner.report.checks import verify_summary

    summary = verify_summary(run_verify(read_head(moved), workers=1), default_book())
    eth = next(c for c in summary["summary_block"] if c["coin"] == "ETH")
    assert eth["status"] == "mismatch", eth
