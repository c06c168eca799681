"""The verify workers' per-row tuples, read back as RowRecords by name (scanner.pipeline.verify.row_records),
agree field by field with the JSON rows the same workers write for ``porscan verify --json``."""

from __future__ import annotations

import json

from scanner.devnet import samplegen as g
from scanner.pipeline.ingest import read_head
from scanner.pipeline.verify import AHEAD_BYTES, chunks_ahead, row_records, run_verify
from scanner.records import RowRecord


def test_row_records_match_the_json_rows_field_by_field(tmp_path):
    lines = []
    for i in range(30):
        addr, sig = g.evm_sign_okx_fast(g.seeded_key(i, "records"))
        lines.append(f"ETH,ETH,{100 + i},{addr},1.{i:02d},{g.MESSAGE},{sig},,")
    other, _ = g.evm_sign_okx_fast(g.seeded_key(99, "records"))
    lines.append(f"ETH,ETH,100,{other},2,{g.MESSAGE},{sig},,")  # another key's signature: failed, with a reason
    lines.append("ETH,ETH,100,0xabc,not-a-number,msg,0x00,,")  # invalid_row
    lines.append(f"BTC,BTC,300,bc1qxyz,0.5,{g.MESSAGE},,,")  # unsigned, other coin
    p = tmp_path / "okx.csv"
    p.write_text(g.OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
    records: list[RowRecord] = []
    rows: list[dict] = []

    def on_chunk(res) -> None:
        records.extend(row_records(res))
        rows.extend(json.loads("[" + res.row_json.decode() + "]"))

    run_verify(read_head(str(p)), workers=2, chunk_bytes=1024, want_rows=True, want_records=True,
               decimals={"ETH": 18, "BTC": 8}, on_chunk=on_chunk)
    assert len(records) == len(rows) == len(lines)
    assert {r.status for r in records} == {"verified", "failed", "invalid_row", "unsigned"}
    for rec, row in zip(records, rows):
        assert isinstance(rec, RowRecord)
        assert rec.line == row["line"] and rec.coin == row["coin"] and rec.network == row["network"]
        assert rec.address == row["address"] and rec.status == row["status"]
        assert rec.scheme == row["scheme"] and rec.reason == row["reason"]
        assert rec.amount_text == row["amount"] and rec.snapshot_height == row["snapshot_height"]
        assert rec.amount_base_units == (None if row["amount_base_units"] is None else int(row["amount_base_units"]))
        assert rec.custodian == ""
    assert [r.line for r in records] == sorted(r.line for r in records)
    first = records[0]
    assert first.amount_base_units == 10**18 and first.snapshot_height == 100 and first.scheme


def test_workers_are_handed_chunks_ahead_within_a_bound_of_input():
    """3 to 8 chunks a worker in flight: 1 MiB chunks keep 8 each queued (the scan's store may lag),
    large chunks no more than 3 each, so the chunks held at once stay near 32 MiB of input."""
    assert chunks_ahead(2, 1 << 20) == 16
    assert chunks_ahead(4, 1 << 20) == 32
    assert chunks_ahead(2, 4 << 20) == 8  # 32 MiB
    for workers in (1, 2, 8):
        for chunk in (1 << 10, 1 << 20, 16 << 20, 1 << 30):
            ahead = chunks_ahead(workers, chunk)
            assert 3 * workers <= ahead <= 8 * workers
            assert ahead == 3 * workers or ahead * chunk <= AHEAD_BYTES
