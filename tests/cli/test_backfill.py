"""``porscan backfill``: two rounds of the local sample exchange (anvil) scanned as stored runs, then
skipped on the second pass; a bad list entry is one line and nothing runs; a round that cannot be had
(an https URL whose TLS does not verify) fails alone."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess

import pytest
from aiohttp import web

from scanner.cli.main import main
from scanner.devnet.loopthread import LoopThread
from scanner.storage import open_store
from support.common import need_anvil


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    # EVM chains only: the other rows stay unread, which the rounds' verdicts (exit 1: the sample's own
    # failed rows) do not depend on
    w = build_local_exchange(tmp_path_factory.mktemp("world"), seed=13, bitcoin=False, litecoin=False,
                             tron_solana=False)
    yield w
    w.stop()


def _second_round(world, folder):
    """An earlier round: the same file less its last row (another file, another hash)."""
    lines = world.reserves.read_bytes().splitlines(keepends=True)
    path = folder / "reserves_2024-05.csv"
    path.write_bytes(b"".join(lines[:-1]))
    return path


def _args(world, *extra):
    return ["backfill", *extra, "--config", str(world.networks), "--coins", str(world.coins)]


async def _runs(db):
    store = await open_store(db)
    try:
        return await store.list_runs(None, 100)
    finally:
        await store.close()


def test_two_rounds_then_both_skipped(world, tmp_path, capsys, monkeypatch):
    import scanner.pipeline.scan as scan

    hashed: list[str] = []  # the inputs hashed, once each time read: the skip and the scan share the hash

    def sha256_file(path, *args, **kwargs):
        hashed.append(str(path))
        return real(path, *args, **kwargs)

    real = scan.sha256_file
    monkeypatch.setattr(scan, "sha256_file", sha256_file)
    older = _second_round(world, tmp_path)
    rounds = tmp_path / "rounds.toml"
    rounds.write_text(f"""
[[round]]
exchange = "Sample"
round = 2024-06-01
file = "{world.reserves}"
liabilities = "{world.liabilities}"

[[round]]
exchange = "Sample"
round = "2024-05-01"
file = "{older.name}"
liabilities = "{world.liabilities}"
options = {{ prices = "published" }}
""")
    db = str(tmp_path / "runs.db")
    code = main(_args(world, str(rounds), "--db", db))
    first = capsys.readouterr().out
    assert code == 1, first  # the sample exchange has failed rows on purpose: a check failed in a round
    runs = asyncio.run(_runs(db))
    assert sorted((r.snapshot_date, r.status, r.exchange) for r in runs) == [
        ("2024-05-01", "done", "Sample"), ("2024-06-01", "done", "Sample")]
    by_date = {r.snapshot_date: r for r in runs}
    assert by_date["2024-05-01"].input_sha256 != by_date["2024-06-01"].input_sha256
    assert by_date["2024-06-01"].liabilities_sha256 is not None
    assert "2 scanned, 0 already stored, 0 failed" in first
    assert sorted(hashed) == sorted([str(world.reserves), str(older)])
    hashed.clear()

    code = main(_args(world, str(rounds), "--db", db))
    second = capsys.readouterr().out
    assert code == 1, second  # the stored verdicts, not "nothing to do"
    for day in ("2024-06-01", "2024-05-01"):
        assert f"Sample {day}: skipped: already stored as run {by_date[day].id}" in second
    assert "0 scanned, 2 already stored, 0 failed" in second
    assert sorted(hashed) == sorted([str(world.reserves), str(older)])
    assert len(asyncio.run(_runs(db))) == 2  # nothing scanned again

    # the same file read for one coin only is another reading: never passed off as the stored full round
    one_coin = tmp_path / "one_coin.toml"
    one_coin.write_text(f"""
[[round]]
exchange = "Sample"
round = 2024-06-01
file = "{world.reserves}"
liabilities = "{world.liabilities}"
options = {{ coin = ["ETH"] }}
""")
    main(_args(world, str(one_coin), "--db", db))
    third = capsys.readouterr().out
    assert "1 scanned, 0 already stored, 0 failed" in third, third
    runs = asyncio.run(_runs(db))
    assert len(runs) == 3 and max(runs, key=lambda r: r.id).params["coins"] == ["ETH"]


def test_a_bad_entry_is_one_line_and_nothing_runs(world, tmp_path, capsys):
    rounds = tmp_path / "rounds.csv"
    rounds.write_text("exchange,round,file,liabilities\n"
                      f"Sample,2024-06-01,{world.reserves},\n"
                      f"Sample,2024-13-01,{world.reserves},\n")
    db = tmp_path / "runs.db"
    assert main(_args(world, str(rounds), "--db", str(db))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"porscan backfill: {rounds}:3: round: '2024-13-01' is not a snapshot date (YYYY-MM-DD)"]
    assert not db.exists()  # nothing ran


@pytest.mark.parametrize("entry,field", [("file = 'http://example.test/r.csv'", "file"),
                                         ("file = 'missing.csv'", "file"),
                                         ("file = 'https://h.test/r.csv?key=${PORSCAN_TEST_UNSET_KEY}'", "file"),
                                         ("file = 'https://[::1/x.csv?key=LITERALSECRETQ'", "file"),
                                         ("file = 'https://u:LITERALSECRETPW@[::1/x.csv'", "file"),
                                         ("file = 'https://h.test:99999/x.csv'", "file"),
                                         ("file = 'r.csv'\noptions = { usd_scale = 99 }", "options.usd_scale"),
                                         ("file = 'r.csv'\ncolour = 'red'", "colour")])
def test_toml_entries_name_the_round_and_field(tmp_path, capsys, entry, field):
    (tmp_path / "r.csv").write_text("x\n")
    rounds = tmp_path / "rounds.toml"
    rounds.write_text(f"[[round]]\nexchange = 'A'\nround = 2024-01-01\nfile = 'r.csv'\n\n"
                      f"[[round]]\nexchange = 'B'\nround = 2024-01-01\n{entry}\n")
    assert main(["backfill", str(rounds), "--db", str(tmp_path / "x.db")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"porscan backfill: {rounds}: round[1]: {field}:"), line
    assert "LITERAL" not in line  # a malformed URL is named, not quoted


@pytest.fixture
def self_signed_https(tmp_path):
    """An https server whose certificate no CA vouches for: a download must refuse it."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    asked: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        asked.append(request.path_qs)
        return web.Response(text="never served to a verifying client")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    loop, box = LoopThread(), {}

    async def boot():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        box["runner"], box["port"] = runner, site._server.sockets[0].getsockname()[1]

    loop.start(boot)
    yield f"https://127.0.0.1:{box['port']}", asked
    loop.stop(box["runner"].cleanup)


def test_a_round_that_cannot_be_had_fails_alone(world, tmp_path, capsys, self_signed_https, monkeypatch):
    url, asked = self_signed_https
    monkeypatch.setenv("BACKFILL_TOKEN", "s3cr3t-token")
    rounds = tmp_path / "rounds.csv"
    rounds.write_text("exchange,round,file,liabilities,options\n"
                      f"Sample,2024-04-01,{url}/por.csv?token=${{BACKFILL_TOKEN}},,\n"
                      f"Sample,2024-06-01,{world.reserves},{world.liabilities},coin=ETH\n")
    db = str(tmp_path / "runs.db")
    code = main(_args(world, str(rounds), "--db", db, "--cache", str(tmp_path / "cache")))
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert code == 2, out  # a round could not be scanned (over the other round's failed check)
    assert "Sample 2024-04-01: failed:" in out and "cannot download" in out
    assert "s3cr3t-token" not in out and "${BACKFILL_TOKEN}" not in out
    assert "1 scanned, 0 already stored, 1 failed" in out
    (run,) = asyncio.run(_runs(db))
    assert run.status == "done" and run.snapshot_date == "2024-06-01"
    assert json.loads(json.dumps(run.params))["coins"] == ["ETH"]  # the round's own options
    assert not list((tmp_path / "cache").glob("*"))  # nothing kept of a refused download


def test_distributed_and_shared_limits_need_postgresql(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("x\n")
    rounds = tmp_path / "rounds.csv"
    rounds.write_text(f"exchange,round,file\nA,2024-01-01,{tmp_path / 'r.csv'}\n")
    for flag in ("--distributed", "--shared-limits"):
        assert main(["backfill", str(rounds), "--db", str(tmp_path / "x.db"), flag]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "PostgreSQL" in line and flag in line
    assert main(["scan", str(tmp_path / "r.csv"), "--db", str(tmp_path / "x.db"), "--shared-limits"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("porscan scan: --shared-limits needs a PostgreSQL --db")
    assert not (tmp_path / "x.db").exists()


def test_backfill_on_postgresql_with_shared_limits(world, tmp_path, capsys, postgres_db):
    """The rounds' endpoints ask the fleet's limits in the store for every request (keyed by network and
    label, never by URL) and hold no slot once done; the round is stored there and skipped next time."""
    import asyncpg

    rounds = tmp_path / "rounds.csv"
    rounds.write_text(f"exchange,round,file,liabilities\nSample,2024-06-01,{world.reserves},{world.liabilities}\n")
    assert main(_args(world, str(rounds), "--db", postgres_db, "--shared-limits")) == 1
    (run,) = asyncio.run(_runs(postgres_db))

    async def slots():
        conn = await asyncpg.connect(postgres_db)
        try:
            return await conn.fetch("SELECT key, count(*) AS n, count(holder) AS held FROM porscan_limit_slots GROUP BY key")
        finally:
            await conn.close()

    got = {r["key"]: (r["n"], r["held"]) for r in asyncio.run(slots())}
    assert got == {"ethereum/local-anvil-ethereum": (4, 0), "arbitrum/local-anvil-arbitrum": (4, 0)}
    assert main(_args(world, str(rounds), "--db", postgres_db, "--shared-limits")) == 1
    assert f"skipped: already stored as run {run.id}" in capsys.readouterr().out


def test_distributed_rounds_are_scanned_by_workers(world, tmp_path, capsys, postgres_db):
    """With --distributed each round is queued for `porscan worker` processes and aggregated as a run."""
    pytest.importorskip("scanner.pipeline.distributed.coordinator")
    import signal
    import sys

    from support.common import ROOT

    older = _second_round(world, tmp_path)
    rounds = tmp_path / "rounds.csv"
    rounds.write_text("exchange,round,file,liabilities\n"
                      f"Sample,2024-06-01,{world.reserves},{world.liabilities}\n"
                      f"Sample,2024-05-01,{older},{world.liabilities}\n")
    worker = subprocess.Popen([sys.executable, "-m", "scanner", "worker", "--db", postgres_db, "--processes", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert main(_args(world, str(rounds), "--db", postgres_db, "--distributed")) == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    out = capsys.readouterr().out
    assert "2 scanned, 0 already stored, 0 failed" in out, out
    runs = asyncio.run(_runs(postgres_db))
    assert sorted((r.snapshot_date, r.status) for r in runs) == [("2024-05-01", "done"), ("2024-06-01", "done")]
