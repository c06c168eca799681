"""The feed server under slow and many clients, over loopback, in a child process with a soft
open-file limit of 256: hundreds of half-open connections neither starve a normal client nor exhaust
the server's descriptors; heads and bodies that never finish are cut off; the log stays a few lines."""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import time
from typing import Callable

from scanner.service.feed.connections import BODY_TIMEOUT, HEADER_TIMEOUT
from support.feed_world import FeedProcess, make_store, start_feed

NOFILE = 256
SLOW = 300  # more than the open-file limit allows
LOG_BYTES = 50_000


def _slow_clients(port: int, n: int) -> dict[socket.socket, float]:
    """``n`` connections that each send part of a request and then nothing: a cut request line or
    headers without the blank line. Returns each socket with the time it was opened."""
    partial = (b"GET /api/v1/exch", b"GET /api/v1/exchanges HTTP/1.1\r\nHost: feed\r\nAccept: */*\r\n")
    out: dict[socket.socket, float] = {}
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        out[s] = time.monotonic()
        try:
            s.sendall(partial[i % 2])
        except OSError:
            pass  # already closed to make room for a newer one: that is what the test looks at
    return out


def _closed_at(socks: list[socket.socket], until: float,
               tick: Callable[[], None] | None = None) -> dict[socket.socket, float]:
    """When the server closed each socket (EOF or reset), watching them until ``until``; ``tick`` is
    called every 0.25 s meanwhile. The sockets are closed on return."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed: dict[socket.socket, float] = {}
    try:
        while len(closed) < len(socks) and time.monotonic() < until:
            for key, _ in sel.select(timeout=0.25):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed[s] = time.monotonic()
                    sel.unregister(s)
            if tick is not None:
                tick()
    finally:
        sel.close()
        for s in socks:
            s.close()
    return closed


def _get(port: int, path: str = "/api/v1/exchanges", timeout: float = 5.0) -> tuple[int, bytes, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), time.monotonic() - started
    finally:
        conn.close()


def _check_log(feed: FeedProcess) -> str:
    assert feed.alive(), "the server died"
    log = feed.stop()
    assert len(log.encode()) < LOG_BYTES, f"{len(log)} bytes of log:\n{log[:3000]}"
    assert "Traceback" not in log, log[:3000]
    return log


def test_slow_clients_neither_starve_nor_exhaust_the_server(tmp_path):
    db = make_store(tmp_path / "feed.db")
    feed = start_feed(db, tmp_path / "serve.log", nofile=NOFILE)  # the real `porscan serve`, its defaults
    try:
        idle_fds = feed.open_fds()
        slow = _slow_clients(feed.port, SLOW)
        held = feed.open_fds() - idle_fds
        # a normal client is answered at once, while the slow ones are still there
        status, body, took = _get(feed.port)
        assert status == 200 and [e["exchange"] for e in json.loads(body)["exchanges"]] == ["Binance", "OKX"]
        assert took < 3, took
        assert 0 < held < NOFILE - 8, held  # many held, never up to the limit
        # trickling a header a byte at a time does not stretch the header timeout
        trickler = socket.create_connection(("127.0.0.1", feed.port), timeout=10)
        trickle_from = time.monotonic()
        trickle = iter(b"GET / HTTP/1.1\r\nHost: feed\r\nX-Slow: " + b"a" * 200)

        def drip() -> None:
            try:
                trickler.send(bytes([next(trickle)]))
            except (OSError, StopIteration):
                pass

        socks = [*slow, trickler]
        closed = _closed_at(socks, time.monotonic() + HEADER_TIMEOUT + 8, tick=drip)
        slow_open = [s for s in slow if s not in closed]
        assert not slow_open, f"{len(slow_open)} of {SLOW} slow connections still open"
        lasted = sorted(closed[s] - opened for s, opened in slow.items())
        assert lasted[-1] < HEADER_TIMEOUT + 3, lasted[-5:]
        # the ones not closed to make room were held until the header timeout, not dropped at once
        assert lasted[-1] > HEADER_TIMEOUT - 0.5, lasted[-5:]
        assert trickler in closed and closed[trickler] - trickle_from < HEADER_TIMEOUT + 2
        assert feed.open_fds() <= idle_fds + 2
        status, _, took_after = _get(feed.port)
        assert status == 200
    finally:
        log = _check_log(feed)
    assert log.count("Too many open files") == 0, log
    print(f"\nfeed limits: {held} slow connections held at once (of {SLOW}; RLIMIT_NOFILE {NOFILE}), normal "
          f"request answered in {took * 1000:.1f} ms, slow ones closed after {lasted[0]:.2f}..{lasted[-1]:.2f} s, "
          f"log {len(log.encode())} bytes, {len(log.splitlines())} lines")


_SERVE = """
import asyncio, logging, os
from scanner.logs import setup
from scanner.service.feed.connections import ConnectionLimits
from scanner.service.feed.server import serve
setup(logging.INFO)
asyncio.run(serve(os.environ["FEED_DB"], port=0, limits=ConnectionLimits({limits})))
"""


def test_accept_errors_are_one_log_line(tmp_path):
    """A cap set above what the open-file limit allows: accept() fails with EMFILE (asyncio retries it
    again and again); that is one log line, and the server serves again once the slow ones are cut."""
    db = make_store(tmp_path / "feed.db")
    code = _SERVE.format(limits="max_connections=1000")
    feed = start_feed(db, tmp_path / "serve.log", nofile=NOFILE, code=code)
    try:
        slow = _slow_clients(feed.port, SLOW)
        started, answered = time.monotonic(), None
        while answered is None and time.monotonic() - started < HEADER_TIMEOUT + 5:
            try:
                status, _, _ = _get(feed.port, timeout=3)
                answered = time.monotonic() - started if status == 200 else None
            except OSError:
                time.sleep(0.2)
        assert answered is not None, "no answer after the header timeout"
        closed = _closed_at(list(slow), time.monotonic() + HEADER_TIMEOUT + 3)
        assert len(closed) == SLOW, f"{SLOW - len(closed)} slow connections still open"
    finally:
        log = _check_log(feed)
    assert log.count("Too many open files") == 1, log
    print(f"\nfeed limits over the fd limit: normal request answered after {answered:.2f} s, "
          f"log {len(log.encode())} bytes")


def test_bodies_and_keep_alive_are_bounded(tmp_path):
    db = make_store(tmp_path / "feed.db")
    code = _SERVE.format(limits="max_requests_per_connection=3, keepalive_timeout=2.0")
    feed = start_feed(db, tmp_path / "serve.log", code=code)
    try:
        # a body announced and never sent, and one sent a byte every 0.25 s: answered (no route reads
        # a body), then cut BODY_TIMEOUT after the head
        head = b"GET /api/v1/exchanges HTTP/1.1\r\nHost: feed\r\nContent-Length: 1000\r\n\r\n"
        silent = socket.create_connection(("127.0.0.1", feed.port), timeout=10)
        dripping = socket.create_connection(("127.0.0.1", feed.port), timeout=10)
        sent_at = time.monotonic()
        silent.sendall(head)
        dripping.sendall(head)
        first = silent.recv(64)
        assert first.startswith(b"HTTP/1.1 200 "), first

        def drip() -> None:
            try:
                dripping.send(b"x")
            except OSError:
                pass

        closed = _closed_at([silent, dripping], sent_at + BODY_TIMEOUT + 5, tick=drip)
        assert silent in closed and closed[silent] - sent_at < BODY_TIMEOUT + 2
        assert dripping in closed and closed[dripping] - sent_at < BODY_TIMEOUT + 2

        # keep-alive: requests on one connection until the third, which says Connection: close
        conn = http.client.HTTPConnection("127.0.0.1", feed.port, timeout=5)
        said = []
        for _ in range(3):
            conn.request("GET", "/api/v1/exchanges")
            resp = conn.getresponse()
            resp.read()
            said.append((resp.status, resp.getheader("Connection")))
        conn.close()
        assert said == [(200, None), (200, None), (200, "close")], said

        # an idle keep-alive connection is closed after keepalive_timeout (2 s here)
        idle = socket.create_connection(("127.0.0.1", feed.port), timeout=10)
        idle.sendall(b"GET /api/v1/exchanges HTTP/1.1\r\nHost: feed\r\n\r\n")
        assert idle.recv(64).startswith(b"HTTP/1.1 200 ")
        answered_at = time.monotonic()
        closed = _closed_at([idle], answered_at + 6)
        assert idle in closed and 1.5 < closed[idle] - answered_at < 4, closed[idle] - answered_at
    finally:
        _check_log(feed)
