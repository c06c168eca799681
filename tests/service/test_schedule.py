"""The scheduled job (``porscan schedule``): config errors that name file and key, downloads (size
limit, checksum, conditional GET, retries) from a local HTTP server, alert rules, and the whole job
on a sample exchange on real local chains (anvil): scanned, then skipped because the inputs did not
change, alerts POSTed once to a local webhook server and resolved when the condition clears, while
an exchange whose source is unreachable fails alone."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from support.common import run
from scanner.devnet.loopthread import ServedApp
from support.reports import scan_report

from scanner.devnet.localnodes import anvil_binary
from scanner.service.schedule.job import (EXIT_ALERTS, EXIT_JOB_FAILED, EXIT_OK, Rules, ScheduleConfigError, SourceError,
                              evaluate, fetch_source, load_config, run_pass)


class LocalHTTP:
    """An aiohttp server on 127.0.0.1 in a background thread (files and a recording webhook)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.fail_next: dict[str, list[int]] = {}  # path -> statuses to answer first
        self.received: list[dict] = []
        self.headers: list[dict] = []
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/hook", self._hook)
        app.router.add_route("*", "/any", self._any)
        app.router.add_route("*", "/moved", self._moved)
        self._server = ServedApp(app).start()
        self.port = self._server.port
        self.url = self._server.url

    def _fail(self, path: str):
        queue = self.fail_next.get(path)
        if queue:
            return web.Response(status=queue.pop(0))
        return None

    async def _file(self, request):
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if (r := self._fail(path)) is not None:
            return r
        body = self.files.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag})

    async def _hook(self, request):
        self.hits["/hook"] = self.hits.get("/hook", 0) + 1
        if (r := self._fail("/hook")) is not None:
            return r
        self.received.append(await request.json())
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": True})

    async def _any(self, request):
        """A webhook that answers any method 200 (many do): records what came."""
        self.received.append({"method": request.method, "body": (await request.read()).decode()})
        return web.json_response({"ok": True})

    async def _moved(self, request):
        raise web.HTTPFound("/any")

    def close(self):
        self._server.stop()


@pytest.fixture
def http():
    s = LocalHTTP()
    yield s
    s.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------- config errors

BASE = '[[exchange]]\nname = "OKX"\nreserves = "r.csv"\n'


@pytest.mark.parametrize("text, key, what", [
    ("", "exchange", "no [[exchange]] listed"),
    ("intervall = 5\n" + BASE, "intervall", "unknown key"),
    ("[[exchange]]\nreserves = \"r.csv\"\n", "exchange[0].name", "missing"),
    ("[[exchange]]\nname = \"OKX\"\n", "exchange[0] (OKX).reserves", "missing"),
    (BASE + "[[exchange]]\nname = \"OKX\"\nreserves = \"x.csv\"\n", "exchange[1] (OKX).name", "listed twice"),
    ('[[exchange]]\nname = "OKX"\nreserves = { url = "ftp://x/r.csv" }\n', "exchange[0] (OKX).reserves.url",
     "http:// or https://"),
    ('[[exchange]]\nname = "OKX"\nreserves = { url = "http://[::1/r.csv" }\n', "exchange[0] (OKX).reserves.url",
     "bracket is not closed"),
    ('[[exchange]]\nname = "OKX"\nreserves = "r.csv"\nrpc = ["ethereum=http://x:99999"]\n',
     "exchange[0] (OKX).rpc[0]", "port"),
    ('[webhook]\nurl = "https://u:LITERALSECRETPW@[::1/x"\n' + BASE, "webhook.url", "bracket is not closed"),
    ('[[exchange]]\nname = "OKX"\nreserves = { url = "https://x/r.csv", sha256 = "abc" }\n',
     "exchange[0] (OKX).reserves.sha256", "64 hex digits"),
    ('[[exchange]]\nname = "OKX"\nreserves = { url = "https://x/r.csv?k=${PORSCAN_TEST_UNSET}" }\n',
     "exchange[0] (OKX).reserves.url", "PORSCAN_TEST_UNSET is not set"),
    ('[[exchange]]\nname = "OKX"\nreserves = "r.csv"\nevery = "soon"\n', "exchange[0] (OKX).every", "duration"),
    ('[[exchange]]\nname = "OKX"\nreserves = "r.csv"\n[exchange.alerts]\nproven_ratio_below = "high"\n',
     "exchange[0] (OKX).alerts.proven_ratio_below", "not a number"),
    ('[alerts]\nfailed_signatures_above = 1.5\n' + BASE, "alerts.failed_signatures_above", "expected int"),
    ('[webhook]\nurl = "https://hooks.example/x"\nattempts = 0\n' + BASE, "webhook.attempts", "at least 1"),
    ('[webhook]\nheaders = { X = "y" }\n' + BASE, "webhook.url", "missing"),
    ("db = 5\n" + BASE, "db", "expected string"),
    (BASE + 'liabilities = "l.json"\nliabilities_format = "nope"\n', "exchange[0] (OKX).liabilities_format",
     "'nope' is not a liabilities format porscan reads"),
    (BASE + 'liabilities_format = "simple"\n', "exchange[0] (OKX).liabilities_format", "given without liabilities"),
    ("[[exchange]\n", "", "not valid TOML"),
    ('[webhook]\nurl = "https://hooks.example/x"\nheaders = { "Bad Name" = "v" }\n' + BASE,
     "webhook.headers.'Bad Name'", "not an HTTP header name"),
    ('[webhook]\nurl = "https://hooks.example/x"\nheaders = { X-Token = "${PORSCAN_TEST_NEWLINE}" }\n' + BASE,
     "webhook.headers.X-Token", "line break"),
    ('[webhook]\nurl = "https://hooks.example/x"\ntimeout = 0\n' + BASE, "webhook.timeout", "longer than 0"),
    ('[webhook]\nurl = "https://hooks.example/x"\nbackoff = -1\n' + BASE, "webhook.backoff", "negative"),
    ('download_timeout = "0s"\n' + BASE, "download_timeout", "longer than 0"),
])
def test_bad_config_names_file_and_key(tmp_path, monkeypatch, text, key, what):
    monkeypatch.delenv("PORSCAN_TEST_UNSET", raising=False)
    monkeypatch.setenv("PORSCAN_TEST_NEWLINE", "LITERAL-token\n")  # a token read from a file, newline and all
    cfg = write(tmp_path / "sched.toml", text)
    with pytest.raises(ScheduleConfigError) as err:
        load_config(cfg)
    msg = str(err.value)
    assert msg.startswith(str(cfg)) and what in msg and (f": {key}:" in msg if key else True), msg
    assert "LITERAL" not in msg


def test_unreadable_config_and_a_cache_dir_under_a_file(tmp_path):
    """A UTF-16 file was a UnicodeDecodeError traceback; a cache_dir under a file failed every
    download on mkdir (a traceback in the log) while `schedule --check` said the config was fine."""
    cfg = tmp_path / "sched.toml"
    cfg.write_bytes(b"\xff\xfe" + BASE.encode())
    with pytest.raises(ScheduleConfigError, match=r"sched.toml: cannot read: not UTF-8 text"):
        load_config(cfg)
    write(tmp_path / "plain", "")
    write(cfg, 'cache_dir = "plain/sub"\n' + BASE)
    with pytest.raises(ScheduleConfigError, match=rf"sched.toml: cache_dir: .*plain/sub cannot be a folder: "
                                                  rf"{tmp_path}/plain is a file"):
        load_config(cfg)


@pytest.mark.parametrize("argv, said", [
    (["serve", "--interval", "0s"], "--interval '0s': must be longer than 0"),
    (["schedule", "--once", "--interval", "0"], "--interval '0': must be longer than 0"),
    (["serve", "--interval", "5m"], "--interval: serve runs no scheduled job without --schedule"),
])
def test_an_interval_that_would_be_ignored_is_refused(tmp_path, capsys, argv, said):
    """0 fell back to the config's interval (``0 or default``); serve without --schedule ignored it."""
    from scanner.cli.main import main

    cfg = write(tmp_path / "sched.toml", f'db = "{tmp_path / "x.db"}"\n' + BASE)
    write(tmp_path / "r.csv", "x\n")
    args = [*argv, str(cfg)] if argv[0] == "schedule" else [*argv, "--db", str(tmp_path / "x.db")]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"porscan {argv[0]}: {said}" or line.startswith(f"porscan {argv[0]}: {said}"), line
    assert not (tmp_path / "x.db").exists()


def test_serve_runs_the_job_on_the_store_it_shows(tmp_path, capsys, monkeypatch):
    """`serve --db A --schedule CFG`: a config naming no db had the job write to the default store, so
    the dashboard on A never showed its runs; a config naming another db did the same. Now the job
    writes to A, and a config naming another store is refused."""
    import scanner.service.feed.server as server
    from scanner.cli.main import main

    seen = {}

    async def fake_serve(db, host, port, token, schedule=None, **kw):
        seen.update(db=db, job_db=schedule.db_url())

    monkeypatch.setattr(server, "serve", fake_serve)
    feed_db = str(tmp_path / "feed.db")
    plain = write(tmp_path / "plain.toml", BASE)
    assert main(["serve", "--db", feed_db, "--schedule", str(plain)]) == 0
    assert seen == {"db": feed_db, "job_db": feed_db}
    same = write(tmp_path / "same.toml", 'db = "feed.db"\n' + BASE)  # the same file, named relatively
    assert main(["serve", "--db", f"sqlite:///{feed_db}", "--schedule", str(same)]) == 0
    other = write(tmp_path / "other.toml", 'db = "postgresql://u:LITERALSECRETPW@db/porscan"\n' + BASE)
    assert main(["serve", "--db", feed_db, "--schedule", str(other)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"porscan serve: --db {feed_db}: the schedule config's db is postgresql://u:***@db/porscan")
    assert "LITERALSECRETPW" not in line


def test_a_stop_during_a_pass_ends_the_loop_at_once(tmp_path, monkeypatch):
    """SIGTERM (systemd stop) or Ctrl-C during a pass of `porscan schedule` (no --once) was waited for
    until the pass ended: a long scan or a slow webhook held the process past the stop timeout (then
    SIGKILL). Now the pass is cancelled (its scan resumes on the next pass) and the loop returns."""
    import time

    import scanner.service.schedule.job as job

    cancelled = []

    async def slow_pass(cfg, **kw):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    monkeypatch.setattr(job, "run_pass", slow_pass)
    cfg = load_config(write(tmp_path / "sched.toml", BASE))

    async def body():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        t = time.monotonic()
        await asyncio.wait_for(job.schedule_loop(cfg, 3600, stop=stop), 10)
        return time.monotonic() - t

    assert run(body()) < 5 and cancelled == [True]


def test_bad_config_cli_exit_2(tmp_path, capsys):
    from scanner.cli.main import main

    cfg = write(tmp_path / "sched.toml", "[[exchange]]\nname = \"OKX\"\n")
    assert main(["schedule", "--once", str(cfg)]) == 2
    assert f"{cfg}: exchange[0] (OKX).reserves: missing" in capsys.readouterr().err
    assert main(["schedule", "--once", str(tmp_path / "none.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_config_resolves_and_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOOK_TOKEN", "tok-abcdef-123")
    cfg = write(tmp_path / "sched.toml", f'''
db = "runs.db"
cache_dir = "cache"
interval = "6h"
networks_config = "nets.toml"
[webhook]
url = "https://hooks.example/porscan?key=${{HOOK_TOKEN}}"
headers = {{ Authorization = "Bearer ${{HOOK_TOKEN}}" }}
[alerts]
proven_ratio_below = 1.0
coverage_below = {{ "*" = 0.99, BTC = 0.95 }}
failed_signatures_above = 0
mismatch_above = "0.001"
[[exchange]]
name = "OKX"
reserves = {{ url = "https://static.example/okx/por.csv", sha256 = "{'ab' * 32}" }}
liabilities = "okx/liabilities.json"
every = "1d"
networks = ["eth", "TRX"]
[exchange.alerts]
proven_ratio_below = {{ USDT = 0.98 }}
''')
    c = load_config(cfg)
    assert c.db == str(tmp_path / "runs.db") and c.cache_dir == str(tmp_path / "cache") and c.interval == 6 * 3600
    j = c.exchanges[0]
    assert j.reserves.url and j.reserves.sha256 == "ab" * 32
    assert j.liabilities.path == str(tmp_path / "okx" / "liabilities.json")
    assert j.networks_config == str(tmp_path / "nets.toml") and j.every == 86400
    assert j.networks == frozenset({"ETH", "TRX"})
    assert j.rules.proven_ratio_below == {"USDT": Decimal("0.98")}  # the exchange's table replaces the default
    assert j.rules.coverage_below == {"*": Decimal("0.99"), "BTC": Decimal("0.95")}
    assert j.rules.failed_signatures_above == 0 and j.rules.mismatch_above == {"*": Decimal("0.001")}
    from scanner.cli.main import main

    assert main(["schedule", "--check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "tok-abcdef-123" not in out and "hooks.example/porscan?***" in out


# ------------------------------------------------------------------------------------- rules

def _report(**asset):
    a = {"asset": "USDT", "published": "1000", "onchain": "990", "unread_published": "0", "proven_ratio": "0.97",
         "rows_read": 9, "rows_expected": 10, "liabilities_provenance": "self-reported", **asset}
    return scan_report({"run": {"snapshot_date": "2025-01-01"}, "assets": [a], "verification": {"by_status": {"failed": 3}}})


def test_rules():
    rules = Rules(proven_ratio_below={"*": Decimal(1)}, coverage_below={"*": Decimal("0.95")},
                  failed_signatures_above=2, mismatch_above={"*": Decimal("0.005")})
    keys = {c.key: c for c in evaluate("X", 7, _report(), rules)}
    assert set(keys) == {"proven_ratio_below:USDT", "coverage_below:USDT", "failed_signatures_above",
                         "mismatch_above:USDT"}
    assert keys["proven_ratio_below:USDT"].detail["value"] == "0.97"
    assert "run 7, snapshot 2025-01-01" in keys["coverage_below:USDT"].message
    # unread rows are left out of the mismatch (published 1000, of which 10 unread, on chain 990: no mismatch)
    assert not evaluate("X", 7, _report(unread_published="10", proven_ratio="1.2", rows_read=10),
                        Rules(mismatch_above={"*": Decimal(0)}, proven_ratio_below={"USDT": Decimal(1)}))
    # a per-asset threshold wins over "*"; no ratio (no liabilities) is no alert
    assert not evaluate("X", 1, _report(), Rules(proven_ratio_below={"*": Decimal(1), "USDT": Decimal("0.9")}))
    assert not evaluate("X", 1, _report(proven_ratio=None), Rules(proven_ratio_below={"*": Decimal(1)}))


def test_a_ratio_from_incomplete_reads_says_so_and_no_ratio_decides_nothing():
    """The alert for a ratio read from part of the rows named neither the rows read nor that it is a
    lower bound; an asset with no ratio or nothing read is undecided (its alert is kept, not resolved)."""
    from scanner.service.schedule.alerts import undecided

    rules = Rules(proven_ratio_below={"*": Decimal(1)}, mismatch_above={"*": Decimal(0)})
    (c,) = [c for c in evaluate("X", 7, _report(), rules) if c.rule == "proven_ratio_below"]
    assert "from incomplete reads: 9 of 10 rows read" in c.message, c.message
    assert (c.detail["rows_read"], c.detail["rows_expected"], c.detail["complete"]) == (9, 10, False)
    assert not undecided(_report(), rules)
    unread = _report(onchain=None, proven_ratio=None, rows_read=0, unread_published="1000")
    assert not evaluate("X", 7, unread, rules)
    assert undecided(unread, rules) == {"proven_ratio_below:USDT", "mismatch_above:USDT"}


# ------------------------------------------------------------------------------------- downloads

def _cfg(tmp_path, text: str):
    return load_config(write(tmp_path / "sched.toml", f'cache_dir = "cache"\ndownload_attempts = 3\n{text}'))


def _fetch(cfg, job=0, role="reserves"):
    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session:
            j = cfg.exchanges[job]
            return await fetch_source(getattr(j, role), j.name, cfg, session)

    return run(go())


def test_download_limits_checksum_and_conditional_get(tmp_path, http):
    body = b"coin,network,address\n" * 100
    http.files["por.csv"] = body
    good = hashlib.sha256(body).hexdigest()
    cfg = _cfg(tmp_path, f'[[exchange]]\nname = "A"\nreserves = {{ url = "{http.url}/files/por.csv", sha256 = "{good}" }}\n'
                         f'[[exchange]]\nname = "B"\nreserves = {{ url = "{http.url}/files/por.csv", max_bytes = 100 }}\n'
                         f'[[exchange]]\nname = "C"\nreserves = {{ url = "{http.url}/files/por.csv", sha256 = "{"0" * 64}" }}\n'
                         f'[[exchange]]\nname = "D"\nreserves = {{ url = "{http.url}/files/missing.csv" }}\n')
    first = _fetch(cfg, 0)
    assert first.downloaded and first.sha256 == good and Path(first.path).read_bytes() == body
    again = _fetch(cfg, 0)  # conditional GET: 304, the cached copy is used
    assert not again.downloaded and again.sha256 == good and again.path == first.path
    with pytest.raises(SourceError, match="above the limit of 100"):
        _fetch(cfg, 1)
    with pytest.raises(SourceError, match="does not match the configured"):
        _fetch(cfg, 2)
    with pytest.raises(SourceError, match="HTTP 404"):
        _fetch(cfg, 3)
    assert not list((tmp_path / "cache").rglob("*.part"))
    # transient errors are retried
    http.files["flaky.csv"] = body
    http.fail_next["/files/flaky.csv"] = [503, 502]
    cfg2 = _cfg(tmp_path, f'[[exchange]]\nname = "E"\nreserves = "{http.url}/files/flaky.csv"\n')
    assert _fetch(cfg2).sha256 == good and http.hits["/files/flaky.csv"] == 3


def test_an_https_source_redirected_to_http_is_refused(tmp_path):
    """An https reserve URL answering 302 to a plain http:// URL: aiohttp followed it and the file,
    covered by no TLS, was scanned. Now the download is refused, naming why; nothing is cached."""
    import ssl

    import aiohttp

    from support.common import local_sites, self_signed_cert

    cert, key = self_signed_cert(tmp_path)
    async def go():
        ports: list[int] = []  # plain, https: the https server redirects to the plain one

        async def plain_file(request):
            return web.Response(body=b"coin,network,address\n")

        async def moved(request):
            raise web.HTTPFound(f"http://127.0.0.1:{ports[0]}/f.csv")

        plain, secure = web.Application(), web.Application()
        plain.router.add_get("/f.csv", plain_file)
        secure.router.add_get("/f.csv", moved)
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        async with local_sites((plain, None), (secure, server_tls)) as found:
            ports[:] = found
            cfg = _cfg(tmp_path, f'[[exchange]]\nname = "A"\nreserves = "https://127.0.0.1:{ports[1]}/f.csv"\n')
            client_tls = ssl.create_default_context(cafile=str(cert))
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls)) as session:
                j = cfg.exchanges[0]
                return await fetch_source(j.reserves, j.name, cfg, session)

    with pytest.raises(SourceError, match=r"redirected to a plain http:// URL; refused"):
        run(go())
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_secrets_stay_out_of_logs(tmp_path, http, monkeypatch, caplog):
    secret = "k3y-VERY-secret-99"
    monkeypatch.setenv("PORSCAN_SRC_KEY", secret)
    port = closed_port()
    cfg = _cfg(tmp_path, f'[[exchange]]\nname = "A"\nreserves = "http://127.0.0.1:{port}/por.csv?apikey=${{PORSCAN_SRC_KEY}}"\n')
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as err:
        _fetch(cfg)
    assert secret not in str(err.value) and "apikey" not in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert secret not in caplog.text


def test_url_password_is_scrubbed_in_every_form(monkeypatch):
    """A password written in a source URL (literal or from ${VAR}) and its Basic-auth form are
    scrubbed like any ${VAR} secret."""
    import base64

    from chains.secrets import scrub, secrets_in as secrets_of

    monkeypatch.setenv("PORSCAN_SRC_PW", "p%40ss-word")
    for url, pw in (("https://analyst:hunter2-pw@por.example/f.csv", "hunter2-pw"),
                    ("https://analyst:${PORSCAN_SRC_PW}@por.example/f.csv", "p@ss-word")):
        secrets = secrets_of(url)
        basic = base64.b64encode(f"analyst:{pw}".encode()).decode()
        text = scrub(f"401 for user analyst: you sent Basic {basic}; password {pw}; pair analyst:{pw}", secrets)
        assert pw not in text and basic not in text, text
        assert "analyst" in text  # a user name alone is not a secret


def test_a_redirecting_webhook_is_not_delivered(tmp_path, http, caplog):
    """A webhook answering 302: aiohttp followed it as a GET without the body, the 200 counted as
    delivered, so the alert was marked notified and never reached anyone. Now it is a failed delivery
    (retried on the next pass), and nothing is sent to where it points."""
    from scanner.service.schedule.alerts import Notifier
    from scanner.service.schedule.config import Webhook
    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session:
            n = Notifier(Webhook(f"{http.url}/moved", {}, timeout=5, attempts=2, backoff=0.01), session)
            return await n.send({"event": "opened", "key": "job_failed", "exchange": "X"}), n.failures

    assert run(go()) == (False, 1)
    assert http.received == []
    assert "redirects are not followed" in caplog.text


def test_a_header_aiohttp_refuses_is_a_failed_delivery_not_a_failed_scan(http, caplog):
    """A webhook header value with a line break (a variable changed after the config was checked):
    aiohttp's ValueError escaped the notifier, failing the exchange whose scan had succeeded, with a
    'scheduled scan failed' alert and two tracebacks. Now it is a delivery that failed."""
    import aiohttp

    from scanner.service.schedule.alerts import Notifier
    from scanner.service.schedule.config import Webhook

    async def go():
        async with aiohttp.ClientSession() as session:
            n = Notifier(Webhook(f"{http.url}/hook", {"X-Token": "tok\n"}, timeout=5, attempts=1), session)
            return await n.send({"event": "opened", "key": "job_failed", "exchange": "X"}), n.failures

    assert run(go()) == (False, 1)
    assert "request refused before sending" in caplog.text and "Traceback" not in caplog.text
    assert http.received == []


def test_an_exchange_another_pass_is_running_is_left_to_it(tmp_path):
    """Two passes at once on one store (cron while `serve --schedule` runs): both downloaded into the
    same cache file (the second died on FileNotFoundError, alerted as a failed scan) and resumed the
    same run. The exchange another pass holds is now left to it, and the other exchanges run."""
    from scanner.storage import open_store

    cfg = load_config(write(tmp_path / "sched.toml", f'db = "{tmp_path / "runs.db"}"\ncache_dir = "cache"\n'
                            + BASE + '[[exchange]]\nname = "HTX"\nreserves = "missing.csv"\n'))

    async def body():
        store = await open_store(cfg.db_url())
        try:
            async with store.hold("schedule exchange: OKX") as held:  # the other pass
                assert held
                return await run_pass(cfg)
        finally:
            await store.close()

    result = run(body())
    status = {r.exchange: r for r in result.results}
    assert status["OKX"].status == "busy" and "another schedule pass" in status["OKX"].message
    assert status["HTX"].status == "failed" and "missing.csv" in status["HTX"].message
    assert not _stored(cfg, lambda s: s.list_alerts("OKX"))  # nothing alerted for the busy exchange


def test_a_resolution_the_webhook_missed_is_sent_on_the_next_pass(tmp_path, http):
    """The webhook down (500) when a condition cleared: the "resolved" event was lost for good (the
    receiver kept the incident open); "opened" was retried, "resolved" was not. Now it is sent on the
    next pass, once."""
    import aiohttp

    from scanner.service.schedule.alerts import Condition, Notifier, reconcile_alerts
    from scanner.service.schedule.config import Webhook
    from scanner.storage import open_store

    async def body():
        store = await open_store(str(tmp_path / "alerts.db"))
        try:
            async with aiohttp.ClientSession() as session:
                def notifier():
                    return Notifier(Webhook(f"{http.url}/hook", {}, timeout=5, attempts=1, backoff=0.01), session)

                managed = {"proven_ratio_below"}
                low = [Condition("proven_ratio_below:BTC", "proven_ratio_below", "BTC low", {})]
                assert await reconcile_alerts(store, "X", low, managed, notifier(), None, {"BTC"}) == 1
                http.fail_next["/hook"] = [500]
                down = notifier()
                assert await reconcile_alerts(store, "X", [], managed, down, None, {"BTC"}) == 0
                assert down.failures == 1
                for _ in range(2):  # the webhook is back: sent once, not again
                    back = notifier()
                    assert await reconcile_alerts(store, "X", [], managed, back, None, {"BTC"}) == 0
                    assert back.failures == 0
                (alert,) = await store.list_alerts("X")
                assert alert.resolved_at and alert.resolved_notified_at
        finally:
            await store.close()

    run(body())
    assert [(e["key"], e["event"]) for e in http.received] == [("proven_ratio_below:BTC", "opened"),
                                                               ("proven_ratio_below:BTC", "resolved")]


# ------------------------------------------------------------------------------------- the whole job

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if anvil_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("anvil is not installed (scripts/node-tools.sh should have installed it)")
        pytest.skip("anvil not installed")
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path_factory.mktemp("world"), seed=21, litecoin=False, tron_solana=False)
    yield w
    w.stop()


def _job_config(tmp_path, w, http, threshold="1.0", db=None) -> Path:
    """Sample (reserves over HTTP, local liabilities) and Offline (an unreachable source); the ratio rule
    watches USDT, whose liabilities the sample sets at 125% of its reserves."""
    http.files["reserves.csv"] = w.reserves.read_bytes()
    return write(tmp_path / "schedule.toml", f'''
db = "{db or tmp_path / 'runs.db'}"
cache_dir = "{tmp_path / 'cache'}"
networks_config = "{w.networks}"
coins_config = "{w.coins}"
workers = 1
download_attempts = 2

[webhook]
url = "{http.url}/hook?token=${{PORSCAN_HOOK_SECRET}}"
headers = {{ "X-Porscan-Token" = "${{PORSCAN_HOOK_SECRET}}" }}
attempts = 3
backoff = 0.01

[alerts]
proven_ratio_below = {{ USDT = {threshold} }}
failed_signatures_above = 100

[[exchange]]
name = "Sample"
reserves = "{http.url}/files/reserves.csv"
liabilities = "{w.liabilities}"
snapshot_date = "2025-05-01"

[[exchange]]
name = "Offline"
reserves = "http://127.0.0.1:{closed_port()}/por.csv"
''')


def test_schedule_twice_skips_unchanged_inputs_and_alerts_once(world, tmp_path, http, monkeypatch, caplog):
    from scanner.cli.main import main

    secret = "hook-secret-1234567"
    monkeypatch.setenv("PORSCAN_HOOK_SECRET", secret)
    cfg_path = _job_config(tmp_path, world, http)
    http.fail_next["/hook"] = [500]  # the first delivery fails once and is retried
    caplog.set_level(logging.INFO)

    # pass 1: Sample is scanned; Offline's source is unreachable and fails alone
    assert main(["schedule", "--once", str(cfg_path)]) == EXIT_JOB_FAILED
    cfg = load_config(cfg_path)
    runs = _stored(cfg, lambda s: s.list_runs())
    assert [(r.exchange, r.status, r.snapshot_date) for r in runs] == [("Sample", "done", "2025-05-01")]
    events = {(e["exchange"], e["key"], e["event"]) for e in http.received}
    assert ("Sample", "proven_ratio_below:USDT", "opened") in events  # USDT liabilities are 125% of reserves
    assert ("Offline", "job_failed", "opened") in events
    assert all(e["schema"] == "porscan.alert/1" for e in http.received)
    assert http.headers[0]["X-Porscan-Token"] == secret  # the secret reaches the webhook, not the log
    assert secret not in caplog.text and "ALERT Sample" in caplog.text and "Offline: job failed" in caplog.text
    usdt = next(e for e in http.received if e["key"] == "proven_ratio_below:USDT")
    assert Decimal(usdt["detail"]["value"]) < 1 and usdt["detail"]["threshold"] == "1.0"
    sent = len(http.received)

    # pass 2: nothing changed -> Sample skipped, no new run, the open alerts are not sent again
    result = run(run_pass(cfg))
    status = {r.exchange: r for r in result.results}
    assert status["Sample"].status == "skipped" and "inputs unchanged" in status["Sample"].message
    assert status["Offline"].status == "failed" and "cannot connect to 127.0.0.1" in status["Offline"].message
    assert len(_stored(cfg, lambda s: s.list_runs())) == 1
    assert len(http.received) == sent and result.exit_code == EXIT_JOB_FAILED

    # pass 3: the rule changes so the condition clears -> resolved, announced once; only Sample this time
    cfg_path = _job_config(tmp_path, world, http, threshold="0.5")
    result = run(run_pass(load_config(cfg_path), only={"Sample"}))
    assert [r.status for r in result.results] == ["skipped"] and result.exit_code == EXIT_OK
    resolved = [e for e in http.received[sent:] if e["event"] == "resolved"]
    assert [(e["exchange"], e["key"]) for e in resolved] == [("Sample", "proven_ratio_below:USDT")]
    assert resolved[0]["resolved_at"]
    alerts = _stored(cfg, lambda s: s.list_alerts())
    assert {(a.exchange, a.key, a.resolved_at is None) for a in alerts} == {
        ("Sample", "proven_ratio_below:USDT", False), ("Offline", "job_failed", True)}

    # pass 4: --force scans again although nothing changed; the threshold back at 1.0 opens a new alert
    cfg_path = _job_config(tmp_path, world, http)
    n = len(http.received)
    assert main(["schedule", "--once", "--force", "--exchange", "Sample", str(cfg_path)]) == EXIT_ALERTS
    assert len(_stored(cfg, lambda s: s.list_runs())) == 2
    assert [(e["key"], e["event"]) for e in http.received[n:]] == [("proven_ratio_below:USDT", "opened")]


def test_a_chain_down_keeps_its_alert_open_and_is_scanned_again(world, tmp_path, http, monkeypatch):
    """The Ethereum endpoint down during a pass: USDT (all on Ethereum here) is read from nothing, so
    its ratio alert is not resolved (it was, announced as "condition cleared"), the summary says how
    many balances are unread, and the next pass scans again although the inputs did not change (it
    skipped them, keeping the gap until a new file was published)."""
    monkeypatch.setenv("PORSCAN_HOOK_SECRET", "hook-secret-1234567")
    cfg_path = _job_config(tmp_path, world, http)
    cfg_path.write_text(cfg_path.read_text().replace('snapshot_date = "2025-05-01"\n', ""))  # the pass's date
    eth = world.nodes[0].url
    down = write(tmp_path / "nets-down.toml", world.networks.read_text().replace(eth, f"http://127.0.0.1:{closed_port()}"))
    cfg = load_config(cfg_path)
    down_cfg = load_config(write(tmp_path / "down.toml", cfg_path.read_text().replace(str(world.networks), str(down))))

    first = run(run_pass(cfg, only={"Sample"}, today="2025-05-01"))
    assert first.results[0].status == "scanned" and first.exit_code == EXIT_ALERTS
    # the run names where its file came from, not the cache copy it read
    (stored,) = _stored(cfg, lambda s: s.list_runs("Sample"))
    assert stored.input_path == f"{http.url}/files/reserves.csv", stored.input_path
    opened = [(e["key"], e["event"]) for e in http.received]
    assert opened == [("proven_ratio_below:USDT", "opened")]

    during = run(run_pass(down_cfg, force=True, only={"Sample"}, today="2025-05-02"))
    (r,) = during.results
    assert r.status == "scanned" and "balance(s) unread" in r.message, r.message
    assert r.alerts_open == 1 and during.exit_code == EXIT_ALERTS
    assert [(e["key"], e["event"]) for e in http.received] == opened  # nothing resolved from nothing
    (alert,) = _stored(cfg, lambda s: s.list_alerts("Sample", open_only=True))
    assert alert.key == "proven_ratio_below:USDT"

    after = run(run_pass(cfg, only={"Sample"}, today="2025-05-03"))  # the endpoint is back; the file did not change
    (r,) = after.results
    assert r.status == "scanned" and "unread" not in r.message, r.message
    # one snapshot, one date: the files scanned again keep the date of their first run
    assert [x.snapshot_date for x in _stored(cfg, lambda s: s.list_runs("Sample"))] == ["2025-05-01"] * 3
    assert run(run_pass(cfg, only={"Sample"})).results[0].status == "skipped"  # complete now: skipped
    assert [(e["key"], e["event"]) for e in http.received] == opened


def _stored(cfg, read):
    """What ``read(store)`` returns from the job's store (opened and closed around it)."""
    from scanner.cli.scan import _with_store

    return run(_with_store(cfg.db_url(), read))


def test_serve_with_schedule_in_process(world, tmp_path, http, monkeypatch):
    """``porscan serve --schedule``: the job runs in the feed's process and the feed shows its run."""
    import aiohttp

    from scanner.service.feed.server import serve

    monkeypatch.setenv("PORSCAN_HOOK_SECRET", "x" * 20)
    cfg = load_config(_job_config(tmp_path, world, http))

    async def main():
        stop = asyncio.Event()
        ports = []
        task = asyncio.create_task(serve(cfg.db_url(), "127.0.0.1", 0, None, schedule=cfg, interval=3600,
                                         ready=ports.append, stop=stop))
        try:
            async with aiohttp.ClientSession() as s:
                for _ in range(600):
                    await asyncio.sleep(0.2)
                    if ports:
                        async with s.get(f"http://127.0.0.1:{ports[0]}/api/v1/exchanges/Sample/ratios/latest") as r:
                            if r.status == 200:
                                return await r.json()
                raise AssertionError("the in-process schedule did not store a run")
        finally:
            stop.set()
            await task

    latest = run(main())
    assert latest["run"]["snapshot_date"] == "2025-05-01"
    assert {q["asset"] for q in latest["ratios"]} >= {"ETH", "USDT"}


def test_an_asset_that_vanishes_from_the_file_does_not_clear_its_alert(tmp_path):
    """A ratio alert on LTC, then a run whose file no longer lists LTC: the alert stays open (the
    condition was not seen to clear); an asset the run does report and that is fine is resolved."""
    from scanner.service.schedule.job import Condition, Notifier, reconcile_alerts
    from scanner.storage import open_store

    async def body():
        store = await open_store(str(tmp_path / "alerts.db"))
        try:
            managed = {"proven_ratio_below"}
            first = [Condition("proven_ratio_below:LTC", "proven_ratio_below", "LTC low", {}),
                     Condition("proven_ratio_below:BTC", "proven_ratio_below", "BTC low", {})]
            assert await reconcile_alerts(store, "X", first, managed, Notifier(None), None, {"LTC", "BTC"}) == 2
            # the next run reports BTC (now fine) and no LTC at all
            assert await reconcile_alerts(store, "X", [], managed, Notifier(None), None, {"BTC"}) == 1
            (still,) = await store.list_alerts("X", open_only=True)
            assert still.key == "proven_ratio_below:LTC"
        finally:
            await store.close()
    run(body())
