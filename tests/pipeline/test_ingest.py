"""Streaming ingest: layouts by header names, OKX's quirks, errors naming file/line/field."""

from __future__ import annotations

import tracemalloc
from decimal import Decimal

import pytest

from support.common import shared_path
from scanner.pipeline.ingest import (IngestError, ReserveRow, RowError, iter_chunks, iter_rows, read_head,
                            split_cells)
from scanner.devnet import samplegen as g

SIG = "0x07f19879aa28d51c97cddfdfecffe7ed96525545d041aee4f4386b0bf4c1a26924b637fb02ccbb97305c13daa51a0f50b8896fb25ecbaf60020cde920d227a221b"
ADDR = "0x0cdcdb19a857c2ac24818ca4fdfe38cce071483e"
H11 = "coin,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/ public key, eoa1, eoa2"
H12 = "coin,Type,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/public key,EOA1,EOA2"
H9 = "coin,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/ public key"
H7 = "coin,address,amount,message,signature1,signature2,redeem script/ public key"
HA = "digitalAsset,network,address,signedMessage,signedMessage2,message,publicKey,owner1,owner2"


def rows_of(path):
    return list(iter_rows(path))


@pytest.mark.parametrize("header,line,layout", [
    (H11, f"ETH,ETH,100,{ADDR},1.5,I am an OKX address,{SIG},,", "okx-11"),
    (H12, f"ETH,Non Staking,ETH,100,{ADDR},1.5,I am an OKX address,{SIG},,,,", "okx-12"),
    (H9, f"ETH,ETH,100,{ADDR},1.5,I am an OKX address,{SIG},,", "okx-9"),
    (H7, f"ETH,{ADDR},1500000000000000000,I am an OKX address,{SIG},null,", "okx-7"),
    (HA, f"ETH,ETH,{ADDR},{SIG},null,I am an OKX address,,,", "auditor"),
])
def test_layouts_detected_by_header_names(write_csv, header, line, layout):
    p = write_csv("coin,snapshot height,amount\nETH,100,1.5\n\n" + header + "\n" + line + "\n")
    head = read_head(p)
    assert head.layout.name == layout
    (row,) = rows_of(p)
    assert isinstance(row, ReserveRow)
    assert row.line == 5 and row.coin == "ETH" and row.address == ADDR and row.signature1 == SIG
    assert row.snapshot_height == 100  # from the row, or from the summary block in the 7-column era
    assert row.signature2 == ""
    if layout == "okx-7":
        assert row.amount_in_base_units and row.amount == Decimal(1500000000000000000)
    elif layout != "auditor":
        assert row.amount == Decimal("1.5") and not row.amount_in_base_units


def test_columns_found_by_name_not_position(write_csv):
    """A reordered header still maps every field."""
    p = write_csv(f"address,message,coin,amount,signature1,Network\n{ADDR},hi,ETH,2,{SIG},ETH\n")
    (row,) = rows_of(p)
    assert (row.coin, row.address, row.message, row.amount, row.network) == ("ETH", ADDR, "hi", Decimal(2), "ETH")


def test_okx_quirks(write_csv):
    text = (
        "coin,snapshot height,amount\r\n"
        "ETH(ALL),-, 6\r\n"
        "ETH,16005122, 5.2834\r\n"
        "\r\n"
        + H11 + "\r\n"
        f"ETH,ETH,16005122, {ADDR} , 0.5 ,I am an OKX address,{SIG},\\N,null\r\n"
        "\r\n"
        f'EOS,Vaulta,-,okbwallet1tr,1,I am an OKX address,SIG_K1_x,,"{{""publicKey1"": ""EOS1"", ""publicKey2"": ""EOS2""}}"\r\n'
        f"ETH,ETH,16005122,{ADDR},1,msg,[a,b],{{c,d}},\r\n"
    )
    p = write_csv("\ufeff" + text)
    head = read_head(p)
    assert head.bom
    assert [(s.coin, s.aggregate, s.snapshot_height, s.amount) for s in head.summary] == [
        ("ETH", True, None, Decimal(6)), ("ETH", False, 16005122, Decimal("5.2834"))]
    rows = rows_of(p)
    assert [r.line for r in rows] == [6, 8, 9]
    a, eos, brackets = rows
    assert a.address == ADDR and a.amount == Decimal("0.5") and a.signature2 == "" and a.script_or_pubkey == ""
    assert eos.snapshot_height is None
    assert eos.script_or_pubkey == '{"publicKey1": "EOS1", "publicKey2": "EOS2"}'
    assert brackets.signature1 == "[a,b]" and brackets.signature2 == "{c,d}"


def test_short_rows_are_padded_and_too_short_rows_are_errors(write_csv):
    p = write_csv("\n".join([H12,
                             f"ETH,Non Staking,ETH,1,{ADDR},1,msg,{SIG}",  # ends after signature1: padded
                             "ETH,Non Staking,ETH",  # the Go test's "too few columns"
                             ]) + "\n")
    ok, bad = rows_of(p)
    assert isinstance(ok, ReserveRow) and ok.eoa1 == "" and ok.type == "Non Staking"
    assert isinstance(bad, RowError) and bad.line == 3 and bad.field == "row"
    assert "3 fields" in bad.message and str(p) in str(bad)


@pytest.mark.parametrize("cell,field,fragment", [
    ("abc", "amount", "not a number"),
    ("", "amount", "empty"),
    ("NaN", "amount", "finite"),
    ("1e999", "amount", "range"),
    ("-1.5", "amount", "negative"),
    ("-1e5", "amount", "negative"),  # a sign before an exponent is still a sign
    ("-0E-3", "amount", "negative"),
])
def test_bad_amount_names_line_and_field(write_csv, cell, field, fragment):
    p = write_csv(H11 + f"\nETH,ETH,1,{ADDR},{cell},msg,{SIG},,\nETH,ETH,1,{ADDR},2,msg,{SIG},,\n")
    bad, good = rows_of(p)
    assert isinstance(bad, RowError) and (bad.line, bad.field) == (2, field) and fragment in bad.message
    assert isinstance(good, ReserveRow) and good.line == 3  # the run goes on


def test_other_row_errors(write_csv):
    p = write_csv("\n".join([
        H11,
        f"ETH,ETH,12x,{ADDR},1,msg,{SIG},,",
        f"ETH,ETH,1,,1,msg,{SIG},,",
        f",ETH,1,{ADDR},1,msg,{SIG},,",
        f"ETH,ETH,1,{ADDR},1,msg,{SIG},,,,,extra",
    ]))  # no final newline
    errors = rows_of(p)
    assert [(e.line, e.field) for e in errors] == [(2, "snapshot_height"), (3, "address"), (4, "coin"), (5, "row")]
    assert all(isinstance(e, RowError) for e in errors)


def test_base_unit_amount_must_be_integer(write_csv):
    p = write_csv(H7 + f"\nETH,{ADDR},1.5,msg,{SIG},,\n")
    (bad,) = rows_of(p)
    assert isinstance(bad, RowError) and bad.field == "amount" and "base units" in bad.message


@pytest.mark.parametrize("text,fragment", [
    ("", "no detail header"),
    ("just,some,words\n1,2,3\n", "neither a summary header"),
    ("coin,amount\nETH,1\n\nfoo,bar\n", "expected the detail header"),
    ("coin,address,amount\nETH,0x1,1\n", "lacks column"),
])
def test_unreadable_files_raise_ingest_error(write_csv, text, fragment):
    with pytest.raises(IngestError, match=fragment):
        read_head(write_csv(text))


@pytest.mark.parametrize("header, said", [
    (H11.replace("address,amount", "address,address,amount"), "'address' and 'address' (columns 4, 5) both name the address"),
    (H12.replace("amount", "amount,balance"), "'amount' and 'balance' (columns 6, 7) both name the amount"),
    (H7.replace("signature1", "signature1,Signature"), "'signature1' and 'Signature' (columns 5, 6) both name the signature1"),
    (HA.replace("network", "network,chain"), "'network' and 'chain' (columns 2, 3) both name the network"),
    ("coin,address,snapshot height,balance,message,signature,address", "(columns 2, 7) both name the address"),  # HTX
    ("Coin,Network,Address,Balance,Height,Wallet Address", "'Address' and 'Wallet Address'"),  # Binance-style list
])
def test_a_column_named_twice_is_a_header_error(write_csv, header, said):
    """The first of the two was read, silently: a file whose second address column is the real one
    read every row's address from the wrong column."""
    width = len(split_cells(header))
    p = write_csv("coin,snapshot height,amount\nETH,100,1.5\n\n" + header + "\n" + ",".join(["x"] * width) + "\n")
    with pytest.raises(IngestError) as err:
        read_head(p)
    assert str(err.value).startswith(f"{p}:4: detail header: duplicate column: ") and said in str(err.value), err.value


def test_a_summary_column_named_twice_is_a_header_error(write_csv):
    p = write_csv("coin,snapshot height,amount,balance\nETH,100,1.5,2\n\n" + H11 + "\n")
    with pytest.raises(IngestError, match=r":1: summary header: duplicate column: 'amount' and 'balance'"):
        read_head(p)


def test_missing_file():
    with pytest.raises(IngestError, match="cannot read"):
        read_head("/nonexistent/porscan.csv")


def test_split_cells():
    assert split_cells("a,b,,c") == ["a", "b", "", "c"]
    assert split_cells('a,"b,c",d') == ["a", "b,c", "d"]
    assert split_cells('a,"say ""hi""",d') == ["a", 'say "hi"', "d"]
    assert split_cells("a,[1,2],{x,y},z") == ["a", "[1,2]", "{x,y}", "z"]


def test_chunks_cover_every_line_once(tmp_path):
    lines = [H11] + [f"ETH,ETH,{i},{ADDR},{i},msg,{SIG},," for i in range(3000)]
    p = tmp_path / "f.csv"
    p.write_text("\n".join(lines) + "\n")
    head = read_head(p)
    chunks = list(iter_chunks(head, chunk_bytes=10_000))
    assert len(chunks) > 10
    seen = [r.snapshot_height for r in iter_rows(p)]
    assert seen == list(range(3000))
    # chunk boundaries are contiguous and line numbers consistent
    for (o1, l1, f1), (o2, _, f2) in zip(chunks, chunks[1:]):
        assert o1 + l1 == o2 and f2 > f1
    # each chunk's first line number is its first byte's, blank lines and CRLF endings counted, however cut
    p.write_bytes(("\r\n".join(lines[:1000]) + "\r\n\r\n\n" + "\n".join(lines[1000:])).encode())
    data, head = p.read_bytes(), read_head(p)
    for size in (1, 97, 10_000, 1 << 20):
        chunks = list(iter_chunks(head, chunk_bytes=size))
        assert [f for _, _, f in chunks] == [data[:o].count(b"\n") + 1 for o, _, _ in chunks], size
        assert chunks[0][0] == head.data_offset and sum(n for _, n, _ in chunks) == len(data) - head.data_offset


def test_shared_fixtures_parse():
    for name, layout, n in [("okx_por_example.csv", "okx-11", 5), ("okx_por_staking_example.csv", "okx-12", 3),
                            ("okx_por_2022_example.csv", "okx-7", 33), ("test.csv", "auditor", 9)]:
        p = shared_path("okx", name)
        head = read_head(p)
        rows = rows_of(p)
        assert head.layout.name == layout and len(rows) == n
        assert all(isinstance(r, ReserveRow) for r in rows)


def test_streaming_memory_is_bounded(tmp_path):
    """A ~40 MB file streams with a small, size-independent peak of traced memory."""
    secret = g.seeded_key(7, "mem")
    addr, sig = g.evm_sign_okx_fast(secret)
    line = f"ETH,ETH,1,{addr},1.25,I am an OKX address,{sig},,\n"
    p = tmp_path / "big.csv"
    with open(p, "w") as fh:
        fh.write(H11 + "\n")
        block = line * 10_000
        for _ in range(20):
            fh.write(block)
    assert p.stat().st_size > 40_000_000
    tracemalloc.start()
    n = 0
    for _ in iter_rows(p):
        n += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 200_000
    assert peak < 16 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("text,fragment", [
    ("coin,snapshot height,balance\nBTC,1,2\n\ncoin,address,snapshot height,balance,message,signature\n", "no detail rows"),
    ("coin,address,amount,message,signature1\n\n\n", "no detail rows"),
    ("coin,address,snapshot height,balance,message,signature", "no detail rows"),  # truncated after the header
    ("coin,snapshot height,balance\rBTC,1,2\r\rcoin,address,snapshot height,balance,message,signature\r"
     "BTC,1abc,1,2,-,-\r", "old Mac line endings"),
])
def test_a_file_without_detail_rows_is_an_input_error(write_csv, text, fragment):
    """A header-only file, a truncated download or CR-only line endings: never a clean pass."""
    from scanner.cli.main import main

    path = write_csv(text)
    with pytest.raises(IngestError, match=fragment):
        read_head(path)
    assert main(["verify", str(path), "-q"]) == 2
    assert main(["scan", str(path), "--db", str(path.with_suffix(".db")), "-q", "--no-progress"]) == 2
