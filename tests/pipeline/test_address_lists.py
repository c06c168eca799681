"""Address lists without signatures (Binance's layout), and .gz / .zip / stdin inputs."""

from __future__ import annotations

import csv
import gzip
import hashlib
import inspect
import io
import json
import os
import sys
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from scanner.cli.main import main
from scanner.pipeline.ingest import IngestError, ReserveRow, RowError, iter_rows, read_head
from scanner.pipeline.inputs import open_input
from scanner.pipeline.verify import run_verify

EVM = "0x0cdcdb19a857c2ac24818ca4fdfe38cce071483e"
TRX = "TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW"
BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
BINANCE = "Coin,Network,Address,Balance,Height"
LIST = (f"{BINANCE},Custodian\n"
        f"USDT,TRX,{TRX},1200.5,66000000,\n"
        f"USDT,ETH,{EVM},0.000001,21000000,Ceffu\n"
        f"BTC,BTC,{BTC},0.12345678,870000,Copper\n"
        f"BNB,BSC,{EVM},3,45000000,Ceffu\n"
        f"USDT,TRX,{TRX},7,66000000,\n")
SIGNATURE_FIELDS = ("message", "signature1", "signature2", "script_or_pubkey", "eoa1", "eoa2")


def gen_list(path, rows: int) -> None:
    """A Binance-layout list of ``rows`` rows, ~65 bytes each, 5 % with a custodian."""
    nets = (("USDT", "TRX", 66000000), ("ETH", "ETH", 21000000), ("BTC", "BTC", 870000), ("BNB", "BSC", 45000000))
    with open(path, "w") as fh:
        fh.write(f"{BINANCE},Custodian\n")
        for i in range(rows):
            coin, net, height = nets[i % 4]
            custodian = "Ceffu" if i % 20 == 0 else ""
            fh.write(f"{coin},{net},0x{i * 2654435761 % 2**160:040x},{i % 1000}.{i % 97:02d},{height},{custodian}\n")


# ------------------------------------------------------------------------------- layout and rows

@pytest.mark.parametrize("header,layout,custodian", [
    (BINANCE, "binance", False),
    ("coin,network,address,balance,Height", "binance", False),
    (f"{BINANCE},Custodian", "binance", True),
    (" COIN , NETWORK ,ADDRESS, Balance ,HEIGHT,Third-Party  Custodian", "binance", True),
    ("Coin,Network,Address,Balance,Height,custody", "binance", True),
    ("coin,network,address,balance,height,Custodian Name", "binance", True),
    ("Address,Coin,Network", "address-list", False),  # no balance, no height, reordered
    ("coin,network,address,balance,custodian", "address-list", True),
    ("coin,network,address,balance,assignee", "address-list", False),  # a word with "sig" inside is no signature
])
def test_address_list_headers(write_csv, header, layout, custodian):
    head = read_head(write_csv(header + "\nBTC,BTC,1x,1,1,\n"))  # a header alone is no file: one row under it
    assert head.layout.name == layout
    assert ("custodian" in head.layout.columns) is custodian
    assert head.layout.keyed_by_network  # without a signature only the network names the chain
    assert not head.layout.amount_in_base_units


@pytest.mark.parametrize("header,fragment", [
    ("coin,address,amount", "lacks column(s) network"),  # a signed file that lost its signature columns?
    ("coin,network,balance", "no detail header"),
    ("Coin,Network,Address,Balance,Sig", "'Sig' that look like one"),
    ("coin,network,address,signed msg", "look like one"),
    ("coin,network,address,Signature_1,Signature_2", "'Signature_1', 'Signature_2' that look like one"),
    ("coin,network,address,amount,message", "lacks column(s) signature1"),  # half a signed layout
])
def test_not_an_address_list(write_csv, header, fragment):
    with pytest.raises(IngestError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_head(write_csv(header + "\nBTC,BTC,x,1\n"))


def test_every_row_parsed_with_empty_signature_and_custodian_carried(write_csv):
    rows = list(iter_rows(write_csv(LIST)))
    assert all(type(r) is ReserveRow for r in rows)
    assert all(getattr(r, f) == "" for r in rows for f in SIGNATURE_FIELDS)
    assert [(r.line, r.coin, r.network, r.address, r.amount, r.snapshot_height, r.custodian) for r in rows] == [
        (2, "USDT", "TRX", TRX, Decimal("1200.5"), 66000000, ""),
        (3, "USDT", "ETH", EVM, Decimal("0.000001"), 21000000, "Ceffu"),
        (4, "BTC", "BTC", BTC, Decimal("0.12345678"), 870000, "Copper"),
        (5, "BNB", "BSC", EVM, Decimal(3), 45000000, "Ceffu"),
        (6, "USDT", "TRX", TRX, Decimal(7), 66000000, ""),
    ]
    assert rows[1].claim().signature1 == ""


def test_list_without_custodian_or_balance(write_csv):
    rows = list(iter_rows(write_csv(f"coin,network,address\nBTC,BTC,{BTC}\nETH,ETH,{EVM},\n")))
    assert [(r.coin, r.amount, r.amount_text, r.custodian, r.signature1) for r in rows] == [
        ("BTC", None, "", "", ""), ("ETH", None, "", "", "")]


def test_list_row_errors_name_line_and_field(write_csv):
    p = write_csv(f"{BINANCE}\nBTC,BTC,,1,870000\n,BTC,{BTC},1,870000\nBTC,BTC,{BTC},abc,870000\nBTC,BTC,{BTC},1,87x\n")
    errors = list(iter_rows(p))
    assert all(type(e) is RowError for e in errors)
    assert [(e.line, e.field) for e in errors] == [(2, "address"), (3, "coin"), (4, "amount"), (5, "snapshot_height")]


@pytest.mark.parametrize("workers,chunk_bytes", [(1, 1 << 20), (2, 1024)])
def test_rows_reach_verification_unsigned_and_custodians_tallied(tmp_path, workers, chunk_bytes):
    p = tmp_path / "list.csv"
    gen_list(p, 2000)
    outcome = run_verify(read_head(p), workers=workers, chunk_bytes=chunk_bytes)
    totals = outcome.status_totals()
    assert outcome.rows == 2000 and totals["unsigned"] == 2000  # every row: nothing to verify, nothing failed
    with open(p, newline="") as fh:
        rows = [{k.lower(): v for k, v in r.items()} for r in csv.DictReader(fh)]
    held = [Decimal(r["balance"]) for r in rows if r["custodian"] == "Ceffu"]
    assert {k: t.custodians for k, t in outcome.tallies.items()} == {
        ("USDT", "TRX"): {"Ceffu": [100, sum(held)]}, ("ETH", "ETH"): {}, ("BTC", "BTC"): {}, ("BNB", "BSC"): {}}


def test_no_custodian_column_no_custodian_counts(tmp_path, write_csv):
    outcome = run_verify(read_head(write_csv(f"{BINANCE}\nBTC,BTC,{BTC},1,870000\n")), workers=1)
    assert all(t.custodians == {} for t in outcome.tallies.values())


# ------------------------------------------------------------------------------------ inputs

def test_plain_file_passes_through(write_csv):
    p = write_csv(LIST)
    with open_input(p) as src:
        assert (src.path, src.original, src.source_sha256, src.compressed) == (str(p), str(p), None, None)
    assert p.exists()


@pytest.mark.parametrize("name", ["list.csv.gz", "list.csv"])  # by magic bytes whatever the name
def test_gzip_is_decompressed_to_a_temporary_file(tmp_path, name):
    data = gzip.compress(LIST.encode())
    p = tmp_path / name
    p.write_bytes(data)
    with open_input(p) as src:
        assert src.compressed == "gzip" and src.original == str(p)
        assert src.source_sha256 == hashlib.sha256(data).hexdigest()
        with open(src.path, "rb") as fh:
            assert fh.read() == LIST.encode()
        assert len(list(iter_rows(src.path))) == 5
        tmp = os.path.dirname(src.path)
    assert not os.path.exists(tmp)  # the temporary directory goes with the context


def test_multi_member_gzip(tmp_path):
    half = len(LIST) // 2
    p = tmp_path / "list.csv.gz"
    p.write_bytes(gzip.compress(LIST[:half].encode()) + gzip.compress(LIST[half:].encode()))
    with open_input(p) as src, open(src.path) as fh:
        assert fh.read() == LIST


@pytest.mark.parametrize("data,fragment", [
    (gzip.compress(LIST.encode())[:40], "not a readable gzip file"),  # truncated
    (gzip.compress(LIST.encode())[:-8] + b"\0" * 8, "not a readable gzip file"),  # CRC and size wrong
    (LIST.encode(), "named like a gzip file but starts with"),
    (b"", "named like a gzip file but is empty"),
])
def test_bad_gzip_is_one_ingest_error(tmp_path, data, fragment):
    p = tmp_path / "list.csv.gz"
    p.write_bytes(data)
    with pytest.raises(IngestError, match=fragment) as exc, open_input(p):
        pass
    assert str(exc.value).startswith(f"{p}: ") and "\n" not in str(exc.value)


def test_a_copy_stops_before_the_disk_is_full(tmp_path, monkeypatch):
    """Endless stdin (`verify /dev/zero`) was copied until the disk was full; the copy now stops with
    room to spare, one line, and the temporary folder is removed."""
    import shutil

    import scanner.pipeline.inputs as inputs

    monkeypatch.setattr(inputs, "_ROOM_EVERY", 1 << 20)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=inputs.DISK_RESERVE - 1))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read again
    endless = io.BytesIO(b"0" * (3 << 20))
    with pytest.raises(IngestError, match=r"^<stdin>: stopped copying it to .* after 1 MiB: less than 256 MiB left"), \
            open_input("-", stdin=endless):
        pass
    assert not list(tmp_path.glob("porscan-input-*"))


def _zip(path, members: dict[str, str]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path.read_bytes()


def test_zip_single_csv_member(tmp_path):
    p = tmp_path / "por.zip"
    data = _zip(p, {"por/binance_por.csv": LIST, "README.txt": "not data", "__MACOSX/por/._binance_por.csv": "x"})
    with open_input(p) as src:
        assert (src.compressed, src.member, src.original) == ("zip", "por/binance_por.csv", str(p))
        assert src.source_sha256 == hashlib.sha256(data).hexdigest()
        assert src.label == f"{p}!por/binance_por.csv"
        assert len(list(iter_rows(src.path))) == 5


@pytest.mark.parametrize("members,fragment", [
    ({"a.csv": LIST, "b/B.CSV": LIST}, r"holds 2 CSV files \(a.csv, b/B.CSV\)"),
    ({"README.txt": "x"}, r"holds no CSV file \(members: README.txt\)"),
    ({}, r"holds no CSV file \(it is empty\)"),
])
def test_zip_with_several_or_no_csv_is_an_error(tmp_path, members, fragment):
    p = tmp_path / "por.zip"
    _zip(p, members)
    with pytest.raises(IngestError, match=fragment), open_input(p):
        pass


def test_not_a_zip(tmp_path):
    p = tmp_path / "por.zip"
    p.write_bytes(LIST.encode())
    with pytest.raises(IngestError, match="named like a zip file but starts with b'Coin'"), open_input(p):
        pass
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)  # zip magic, no archive
    with pytest.raises(IngestError, match="not a readable zip archive"), open_input(p):
        pass


def test_unreadable_input(tmp_path):
    with pytest.raises(IngestError, match="cannot read: No such file"), open_input(tmp_path / "absent.csv.gz"):
        pass


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_is_copied_and_hashed(compress):
    data = gzip.compress(LIST.encode()) if compress else LIST.encode()
    with open_input("-", stdin=io.BytesIO(data)) as src:
        assert src.original == "-" and src.label == "<stdin>"
        assert src.compressed == ("gzip" if compress else None)
        assert src.source_sha256 == hashlib.sha256(data).hexdigest()
        assert len(list(iter_rows(src.path))) == 5


def test_gunzip_streams_in_constant_memory(tmp_path):
    p = tmp_path / "big.csv"
    gen_list(p, 200_000)
    gz = tmp_path / "big.csv.gz"
    with open(p, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        dst.write(src.read())
    tracemalloc.start()
    with open_input(gz) as src:
        _, peak = tracemalloc.get_traced_memory()
        size = os.path.getsize(src.path)
    tracemalloc.stop()
    assert size == p.stat().st_size > 12_000_000
    assert peak < 6 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"  # measured ~2.2 MiB (1 MiB blocks)


# ------------------------------------------------------------------------------------ the CLI

def _verify_json(tmp_path, argv, capsys, name):
    out = tmp_path / f"{name}.json"
    code = main(["verify", *argv, "--json", str(out), "--no-progress", "-q", "--workers", "2",
                 "--chunk-bytes", "1024"])
    capsys.readouterr()
    report = json.loads(out.read_text())
    return code, report


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_cli_plain_gz_zip_and_stdin_agree(tmp_path, monkeypatch, capsys):
    plain = tmp_path / "list.csv"
    gen_list(plain, 3000)
    data = plain.read_bytes()
    gz = tmp_path / "list.csv.gz"
    gz.write_bytes(gzip.compress(data))
    zp = tmp_path / "list.zip"
    _zip(zp, {"list.csv": data.decode()})
    code, base = _verify_json(tmp_path, [str(plain)], capsys, "plain")
    statuses = [(r["line"], r["address"], r["status"]) for r in base["rows"]]
    assert len(statuses) == 3000 and base["input"]["compressed"] is None
    assert base["input"]["source_sha256"] == base["input"]["sha256"] == hashlib.sha256(data).hexdigest()
    runs = {"gz": [str(gz)], "zip": [str(zp)]}
    for name, argv in runs.items():
        c, rep = _verify_json(tmp_path, argv, capsys, name)
        assert c == code and [(r["line"], r["address"], r["status"]) for r in rep["rows"]] == statuses
        assert rep["summary"]["by_status"] == base["summary"]["by_status"]
        assert rep["input"]["path"] == argv[0] and rep["input"]["compressed"] == {"gz": "gzip", "zip": "zip"}[name]
        assert rep["input"]["source_sha256"] == hashlib.sha256(Path(argv[0]).read_bytes()).hexdigest()
        assert rep["input"]["sha256"] == base["input"]["sha256"]  # the CSV read is the same bytes
    for name, given in (("stdin", data), ("stdin-gz", gzip.compress(data))):
        _stdin(monkeypatch, given)
        c, rep = _verify_json(tmp_path, ["-"], capsys, name)
        assert c == code and [(r["line"], r["address"], r["status"]) for r in rep["rows"]] == statuses
        assert rep["input"]["path"] == "-"
        assert rep["input"]["source_sha256"] == hashlib.sha256(given).hexdigest()


@pytest.mark.parametrize("setup,fragment", [
    (lambda p: p.with_suffix(".zip").write_bytes(b"not a zip"), "named like a zip file"),
    (lambda p: p.with_suffix(".gz").write_bytes(gzip.compress(b"coin,address\nx,y\n")[:30]), "not a readable gzip"),
    (lambda p: p.with_suffix(".gz").write_bytes(gzip.compress(b"coin,address,amount\n")), "lacks column(s) network"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, setup, fragment):
    base = tmp_path / "in.csv"
    setup(base)
    target = next(p for p in tmp_path.iterdir())
    assert main(["verify", str(target), "-q", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"porscan verify: {target}") and fragment in err and "\n" not in err
    assert "porscan-input-" not in err  # the temporary copy is never named


def test_cli_stdin_terminal_refused(monkeypatch, capsys):
    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Tty(b"")))
    assert main(["verify", "-", "-q"]) == 2
    assert "is a terminal" in capsys.readouterr().err


# ------------------------------------------------------------------------------ streaming

def test_ingest_of_a_large_list_streams(tmp_path):
    """~200k rows (13 MB): iter_rows is a generator and its traced peak does not grow with the file."""
    p = tmp_path / "big.csv"
    gen_list(p, 200_000)
    assert p.stat().st_size > 12_000_000
    rows = iter_rows(p)
    assert inspect.isgenerator(rows)
    tracemalloc.start()
    n = custodians = 0
    for r in rows:
        n += 1
        custodians += r.custodian == "Ceffu"
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (n, custodians) == (200_000, 10_000)
    # measured ~6.9 MiB: one 1 MiB chunk as bytes, as text and as ~16k line strings. Holding the
    # 200k rows would take well over 60 MiB.
    assert peak < 12 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


def dry_plan(tmp_path, path) -> dict:
    """``porscan scan PATH --dry``'s plan as data: the planner a run uses, nothing read or stored."""
    out = tmp_path / "plan.json"
    assert main(["scan", str(path), "--dry", "--json", str(out), "--db", str(tmp_path / "p.db")]) == 0
    return json.loads(out.read_text())


def test_a_lists_rows_are_planned_on_the_chain_its_network_column_names(tmp_path):
    """The dry plan is the run's plan (the same planner): where each row of a list would be read. A
    coin that names a chain of its own (BTC, MATIC, ETC) listed on another network is a token there,
    or nothing porscan can read, never a read of the coin's own chain at the same address."""
    path = tmp_path / "list.csv"
    path.write_text(f"{BINANCE}\n"
                    f"ETH,Arbitrum One,{EVM},1,\n"
                    f"ETH,ZKSYNCERA,{EVM},1,\n"
                    f"BTC,BSC,{EVM},1,\n"
                    f"MATIC,ETH,{EVM},1,\n"
                    f"ETC,OKC,{EVM},1,\n"
                    f"BTC,BTC,{BTC},1,\n")
    plan = dry_plan(tmp_path, path)
    assert {n["network"]: n["coins"] for n in plan["networks"]} == {
        "arbitrum": {"ETH@ARBITRUM ONE": 1}, "zksync": {"ETH@ZKSYNCERA": 1}, "bitcoin": {"BTC@BTC": 1}}
    unread = {u["coin"]: u["reason"] for u in plan["unsupported"]}
    assert set(unread) == {"BTC@BSC", "MATIC@ETH", "ETC@OKC"}
    assert "no token contract for BTC on bsc" in unread["BTC@BSC"]
    assert "no token contract for MATIC on ethereum" in unread["MATIC@ETH"]


def test_rows_an_auditor_file_skips_by_its_status_column_are_not_in_the_plan(tmp_path):
    """Verification skips an auditor row whose status column is not 5, and a skipped row is never read:
    the dry plan must not count it among the balances to read."""
    path = tmp_path / "auditor.csv"
    path.write_text("digitalAsset,network,address,signedMessage,signedMessage2,message,publicKey,owner1,owner2,status\n"
                    f"USDT,ETH,{EVM},,null,m,,,,5\n"
                    f"USDT,ETH,0x{'11' * 20},,null,m,,,,3\n"
                    f"BTC,BTC,{BTC},,null,m,,,,5\n"
                    f"BTC,BTC,bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3h,,null,m,,,,4\n")
    plan = dry_plan(tmp_path, path)
    assert {n["network"]: n["rows"] for n in plan["networks"]} == {"ethereum": 1, "bitcoin": 1}
    report = tmp_path / "verify.json"
    main(["verify", str(path), "--json", str(report), "-q"])
    assert json.loads(report.read_text())["summary"]["by_status"]["skipped"] == 2
