"""Connection limits of the feed server: its guard between the listening socket and aiohttp.

A server on the open internet meets clients that connect and never finish a request, and more
connections than it has file descriptors. The defaults are the module constants (``serve(...,
limits=ConnectionLimits(...))`` changes them):

* a request head (request line and headers) must arrive within ``HEADER_TIMEOUT`` (5 s) of the
  connection, or of the first byte of a follow-up request; trickling bytes does not extend it;
* a request body (the API reads none) must arrive within ``BODY_TIMEOUT`` (5 s) of its head;
* an idle keep-alive connection is closed after ``KEEPALIVE_TIMEOUT`` (15 s), and after
  ``MAX_REQUESTS_PER_CONNECTION`` (1000) requests; a response must be taken by the client within
  ``RESPONSE_TIMEOUT`` (60 s) of its request head;
* at most ``MAX_CONNECTIONS`` (1000) connections are open at once, fewer when the open-file limit
  (``ulimit -n``) is lower: that limit less ``FD_RESERVE`` (64) for the database, the log and the
  scheduled job, less twice the listen ``BACKLOG`` (128, at most a quarter of the limit): asyncio
  accepts up to a backlog of sockets in one go, and may accept a second go before the sockets closed
  to make room for the first have given back their descriptors. A new connection beyond the cap closes the
  oldest one not being answered (a slow or idle client's), or, when every one is being answered, is
  answered 503 and closed;
* request lines and header fields longer than ``MAX_LINE_SIZE`` / ``MAX_FIELD_SIZE`` get a 400.

None of this logs a line per connection: each kind of event (slow heads, slow bodies, the cap, an
accept error such as "Too many open files") is one log line at most every ``LOG_EVERY`` (60) seconds,
with the count since the previous one; a malformed request is one warning line.

aiohttp has knobs for some of this (keep-alive, line and field sizes, how long it drains an unread
body), but no header timeout and no connection cap: ``ConnectionGuard`` is the protocol factory
given to ``loop.create_server``; it wraps each of aiohttp's protocols with a deadline per phase
(head, answer, body, idle), and a middleware tells it when a request is being answered.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable

from aiohttp import web, web_protocol

from .shapes import dumps

log = logging.getLogger("porscan.feed")

HEADER_TIMEOUT = 5.0  # seconds for a request head, from the connection or a follow-up request's first byte
BODY_TIMEOUT = 5.0  # seconds for a request body, from its head
KEEPALIVE_TIMEOUT = 15.0  # seconds an idle keep-alive connection stays open
RESPONSE_TIMEOUT = 60.0  # seconds from a request head until the client has taken the whole response
MAX_REQUESTS_PER_CONNECTION = 1000
MAX_CONNECTIONS = 1000  # lowered to fit the open-file limit (ConnectionLimits.connection_cap)
BACKLOG = 128  # listen queue, and so the most sockets asyncio accepts in one go (lowered likewise)
FD_RESERVE = 64  # descriptors kept for the database, the log, the scheduled job's own connections
MAX_LINE_SIZE = 8190  # request line, bytes
MAX_FIELD_SIZE = 8190  # one header field, bytes
LOG_EVERY = 60.0  # seconds between two log lines of one kind of connection event


def _open_file_limit() -> int | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    response_timeout: float = RESPONSE_TIMEOUT
    max_requests_per_connection: int = MAX_REQUESTS_PER_CONNECTION
    max_connections: int | None = None  # None: MAX_CONNECTIONS or what the open-file limit allows

    def backlog(self) -> int:
        """asyncio accepts up to the listen backlog in one go, and a socket closed to make room frees
        its descriptor only after that: the burst must fit in what the cap leaves of the limit."""
        soft = _open_file_limit()
        return BACKLOG if soft is None else min(BACKLOG, max(8, soft // 4))

    def connection_cap(self) -> int:
        """Open connections allowed: beyond the file-descriptor limit accept() fails (in a loop), and the
        rest of the process (database, log) runs out of descriptors with it. Two bursts of accepts fit
        above the cap: the transports of one burst are made (closing the oldest connections, whose
        descriptors are freed only on the loop's next pass) in the same pass as the next burst is
        accepted."""
        if self.max_connections is not None:
            return max(1, self.max_connections)
        soft = _open_file_limit()
        if soft is None:
            return MAX_CONNECTIONS
        return max(1, min(MAX_CONNECTIONS, soft - 2 * self.backlog() - FD_RESERVE))


class _Throttled:
    """At most one log line per kind of event every ``every`` seconds, with the count since the last
    line: a thousand slow clients (or a full descriptor table) must not become a thousand lines."""

    def __init__(self, every: float = LOG_EVERY):
        self.every = every
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def __call__(self, kind: str, level: int, msg: str, *args: object) -> None:
        now = time.monotonic()
        count = self._count.get(kind, 0) + 1
        if now - self._last.get(kind, float("-inf")) < self.every:
            self._count[kind] = count
            return
        self._last[kind], self._count[kind] = now, 0
        if count > 1:
            msg += f" ({count} times since the last such line)"
        log.log(level, msg, *args)


_WAITING, _BUSY, _DRAINING, _IDLE = "waiting for a request head", "answering", "reading a body", "idle"


def _refusal() -> bytes:
    body = dumps({"error": {"status": 503, "message": "too many open connections, try again shortly"}})
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\n"
            b"Cache-Control: no-store\r\nConnection: close\r\nServer: porscan\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


_REFUSED = _refusal()


class _Refused(asyncio.Protocol):
    """A connection over the cap when none can make room: a 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSED)
        transport.close()


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, a deadline per phase outside (aiohttp has no header
    timeout, and its keep-alive timer is not one on every version)."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol):
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.phase = _WAITING
        self.head_at = 0.0  # loop time the current request's head was complete
        self.request: web.BaseRequest | None = None
        self.requests = 0
        self._timer: asyncio.TimerHandle | None = None

    # asyncio's side: everything goes on to aiohttp's protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.guard.opened(self)
        self.inner.connection_made(transport)
        self._arm(_WAITING, self.guard.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.phase == _IDLE and data:  # the first byte of a follow-up request starts its head's clock
            self._arm(_WAITING, self.guard.limits.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.guard.closed(self)
        self.transport = None
        self.request = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # the middleware's side
    def answering(self, request: web.BaseRequest) -> None:
        self.request = request
        self.head_at = asyncio.get_running_loop().time()
        limits = self.guard.limits
        self._arm(_BUSY, min(limits.body_timeout, limits.response_timeout))

    def answered(self) -> None:
        if self.request is not None and not self.request.content.is_eof():
            self._arm(_DRAINING, max(0.0, self.head_at + self.guard.limits.body_timeout
                                     - asyncio.get_running_loop().time()))
        else:
            self._arm(_IDLE, self.guard.limits.keepalive_timeout)

    # deadlines
    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self.phase = phase
        if self.transport is None or self.transport.is_closing():
            return  # cut already, or closed by aiohttp: nothing left to time
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        limits = self.guard.limits
        body_done = self.request is None or self.request.content.is_eof()
        if self.phase == _WAITING:
            self.cut("head", "closed connections that sent no complete request head within %g s", limits.header_timeout)
        elif self.phase == _IDLE:
            self.cut(None)  # the keep-alive time is up: nothing to report
        elif not body_done:
            self.cut("body", "closed connections that sent no complete request body within %g s", limits.body_timeout)
        elif self.phase == _DRAINING:  # the body came in the end: what follows is the next request
            self._arm(_WAITING, limits.header_timeout)
        else:
            left = self.head_at + limits.response_timeout - asyncio.get_running_loop().time()
            if left > 0:
                self._arm(_BUSY, left)
            else:
                self.cut("response", "closed connections whose response was not taken within %g s",
                         limits.response_timeout)

    def cut(self, kind: str | None, msg: str = "", *args: object) -> None:
        """Close now (abort: a client that reads nothing must not keep the socket in a flush)."""
        self._cancel()
        self.guard.closed(self)
        if kind is not None:
            self.guard.say(kind, logging.INFO, msg, *args)
        if self.transport is not None:
            self.transport.abort()


class ConnectionGuard:
    """The protocol factory behind the listening socket: counts connections, keeps their deadlines,
    and over the cap makes room by closing the oldest one that is still waiting for a request."""

    def __init__(self, limits: ConnectionLimits, cap: int):
        self.limits = limits
        self.cap = cap
        self.say = _Throttled()
        self._make: Callable[[], asyncio.Protocol] | None = None
        self._open: dict[_Guarded, None] = {}  # in the order they came: the oldest first
        self._by_transport: dict[object, _Guarded] = {}

    def bind(self, make: Callable[[], asyncio.Protocol]) -> None:
        self._make = make

    def protocol(self) -> asyncio.Protocol:
        """One per accepted socket (asyncio's protocol_factory: must not raise)."""
        assert self._make is not None, "bind() before serving"
        if len(self._open) >= self.cap and not self._make_room():
            self.say("cap", logging.WARNING, "%d connections open (the cap): new ones answered 503", self.cap)
            return _Refused()
        conn = _Guarded(self, self._make())
        self._open[conn] = None
        return conn

    def _make_room(self) -> bool:
        for conn in self._open:
            if conn.phase != _BUSY:
                conn.cut("evict", "%d connections open (the cap): each new one closes the oldest one not being "
                         "answered", self.cap)
                return True
        return False

    def close_waiting(self) -> None:
        """On shutdown: drop every connection that is not being answered (aiohttp waits for those)."""
        for conn in [c for c in self._open if c.phase != _BUSY]:
            conn.cut(None)

    def opened(self, conn: _Guarded) -> None:
        self._by_transport[conn.transport] = conn

    def closed(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)
        self._by_transport.pop(conn.transport, None)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        conn = self._by_transport.get(request.transport)
        if conn is None:
            return await handler(request)
        conn.answering(request)
        try:
            resp = await handler(request)
            conn.requests += 1
            if conn.requests >= self.limits.max_requests_per_connection:
                resp.force_close()
            try:  # sent here, so the response deadline covers a client that does not read it
                await resp.prepare(request)
                await resp.write_eof()
            except ConnectionError:
                pass  # aiohttp sees the same when it finishes the response, and drops the connection
            return resp
        finally:
            conn.answered()

    def accept_errors(self, loop: asyncio.AbstractEventLoop):
        """An exception handler for ``loop`` that turns asyncio's accept() errors (EMFILE and the like,
        which it reports on every retry) into one throttled line; the previous handler, to restore."""
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if (isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
                    and "accept" in str(context.get("message", ""))):
                self.say("accept", logging.ERROR, "cannot accept connections: %s (%d open; lower the cap or raise "
                         "the open-file limit)", exc.strerror or exc, len(self._open))
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)
        return previous


def problem(status: int, message: str) -> web.Response:
    """The feed's error answer: JSON ``{"error": {"status", "message"}}``, never cached."""
    return web.Response(status=status, body=dumps({"error": {"status": status, "message": message}}),
                        content_type="application/json", headers={"Cache-Control": "no-store"})


class JsonErrors(web_protocol.RequestHandler):
    """aiohttp's protocol with its own error answers (a malformed request line, a header over the
    limit, a handler past its deadline) in the feed's JSON and with its Server header: they were
    text/plain with ``Server: Python/3.11 aiohttp/...``, the one shape a client could not parse."""

    __slots__ = ()

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs it; raises when an answer went out already
        said = message if status != 500 and message else HTTPStatus(status).phrase.lower()
        resp = problem(status, str(said)[:200])
        resp.headers["Server"] = "porscan"
        resp.force_close()
        return resp


def json_errors(server: web.Server) -> Callable[[], web_protocol.RequestHandler]:
    """The protocol factory of ``server`` (an AppRunner's), making :class:`JsonErrors` handlers with
    the server's own settings."""
    loop = asyncio.get_running_loop()
    return lambda: JsonErrors(server, loop=loop, **server._kwargs)
