"""Raw JSON-RPC over aiohttp: batches, rate limits, retries, and no secrets in messages.

web3.py's high-level batch API is ~40x slower than this; the adapters build and parse the
payloads themselves. A batch comes back as one result per call, each either the value or an
:class:`RpcError`; transport failures (timeouts, 429, 5xx, malformed JSON, items missing from a
batch reply) are retried with exponential backoff and jitter, and what is still missing after
the last attempt comes back as a :class:`TransportError` result, never as a value.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .limits import Limiter, LimitSpec, RateLimiter, limiter_for, request_slot  # noqa: F401 (RateLimiter: re-exported)
from .secrets import ConfigError, expand_env, redactor, secrets_in, userinfo_secrets  # noqa: F401 (ConfigError, userinfo_secrets: re-exported)

log = logging.getLogger("porscan.rpc")
T = TypeVar("T")  # --log-level debug: one line per request, by endpoint label

# JSON-RPC error codes and messages that mean "slow down" rather than "wrong request"
_RATE_LIMIT_CODES = {-32005, -32090, 429}
_RATE_LIMIT_WORDS = ("rate limit", "too many requests", "exceeded", "throttl", "capacity", "server busy",
                     "excessive resource usage")  # the last two: ElectrumX


class RpcError(Exception):
    """A JSON-RPC error object for one call."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def rate_limited(self) -> bool:
        text = self.message.lower()
        return self.code in _RATE_LIMIT_CODES or any(w in text for w in _RATE_LIMIT_WORDS)


class TransportError(Exception):
    """The request did not get a usable answer (retryable)."""


class RefusedError(TransportError):
    """The server refused the request itself (HTTP 4xx other than 408 and 429: a bad key, a path it
    does not serve, a request too large): the same request will be refused again, so it is not retried."""


RETRYABLE = retry_if_exception(lambda exc: isinstance(exc, TransportError) and not isinstance(exc, RefusedError))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One provider URL with its limits. ``url`` may reference ``${ENV_VAR}`` for API keys."""

    label: str  # printed in logs and reports instead of the URL
    url: str
    requests_per_second: float | None = None
    concurrency: int = 4
    max_batch: int = 1000  # JSON-RPC calls per HTTP request
    timeout: float = 60.0
    archive: bool = True  # declared; the adapter still checks
    network: str = ""  # the network id, with the label the name of its limits across a fleet

    @property
    def limit_key(self) -> str:
        """The endpoint's name for limits shared across processes: never the URL (it may hold a key)."""
        return f"{self.network}/{self.label}" if self.network else self.label

    def resolved_url(self) -> str:
        return expand_env(self.url, f"endpoint {self.label}")

    def secrets(self) -> list[str]:
        """Values that must never appear in a message: the resolved URL, referenced variables and a
        password in the URL (also as the Basic credentials a server may echo back)."""
        return secrets_in(self.url)


class JsonRpcClient:
    """Batched JSON-RPC client for one endpoint."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession | None = None,
                 attempts: int = 6, backoff_max: float = 8.0, backoff_min: float = 0.05,
                 json_loads: Callable[[bytes], Any] = json.loads, limiter: Limiter | None = None):
        self.endpoint = endpoint
        self._loads = json_loads  # e.g. Bitcoin Core amounts: functools.partial(json.loads, parse_float=Decimal)
        self._url = endpoint.resolved_url()
        self._secrets = endpoint.secrets()  # subclasses may add more (e.g. API key headers)
        self._redact_for: tuple[str, ...] | None = None
        self._redact_re: re.Pattern[str] | None = None
        self._own_session = session is None
        self._session = session
        # ``limiter``: another client's, when two clients reach one provider under one set of limits
        self._limiter = limiter or limiter_for(LimitSpec(key=endpoint.limit_key,
                                                         requests_per_second=endpoint.requests_per_second,
                                                         concurrency=endpoint.concurrency))
        self._ids = itertools.count(1)
        self.attempts = attempts
        self.backoff_max = backoff_max
        self.backoff_min = backoff_min
        self.requests = 0  # HTTP requests sent
        self.retries = 0
        self.errors: dict[str, int] = {}

    @property
    def label(self) -> str:
        return self.endpoint.label

    @property
    def limiter(self) -> Limiter:
        """This client's rate and concurrency limits, for another client of the same provider to share."""
        return self._limiter

    def redact(self, text: str) -> str:
        """``text`` without any secret of this endpoint, matched case-insensitively (yarl lower-cases
        host names) and in its percent-encoded forms (URLs quote what they carry)."""
        key = tuple(self._secrets)
        if key != self._redact_for:
            self._redact_for, self._redact_re = key, redactor(key)
        if self._redact_re is None:
            return text
        return self._redact_re.sub(f"<{self.endpoint.label}>", text)

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # TLS verification stays on (aiohttp's default); no proxies from the environment.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout),
                connector=aiohttp.TCPConnector(limit=max(4, self.endpoint.concurrency * 2)),
                json_serialize=json.dumps,
            )
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def _exchange_raw(self, method: str, path: str, payload: bytes | None,
                            want_headers: tuple[str, ...] = ()) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to the endpoint URL (+ ``path``) under the endpoint's rate limit and
        concurrency, counted and logged by label: (status, the ``want_headers`` present, body). Timeouts
        and connection errors raise TransportError; the status is the caller's to judge."""
        session = await self._get_session()
        async with request_slot(self._limiter):
            self.requests += 1
            try:
                headers = {"content-type": "application/json"} if payload is not None else None
                started = time.monotonic()
                async with session.request(method, self._url + path, data=payload, headers=headers) as resp:
                    body = await resp.read()
                    if log.isEnabledFor(logging.DEBUG):  # the label, never the URL (it may hold a key)
                        log.debug("%s: %s %s, %d bytes -> HTTP %d, %d bytes in %.3f s", self.label, method,
                                  self.redact(path) or "/", len(payload or b""), resp.status, len(body),
                                  time.monotonic() - started)
                    found = {h: resp.headers[h] for h in want_headers if h in resp.headers}
                    return resp.status, found, body
            except asyncio.TimeoutError:
                self._count("timeout")
                raise TransportError("timeout") from None
            except aiohttp.ClientError as exc:
                self._count(type(exc).__name__)
                raise TransportError(self.redact(f"{type(exc).__name__}: {exc}")) from None

    async def _retried(self, once: Callable[[], Awaitable[T]]) -> T:
        """``once()`` with retries on transport failures (not on refusals): the first attempt outside
        tenacity (its machinery costs more than the request on a fast node), then up to ``attempts`` in
        all with jittered exponential backoff."""
        try:
            return await once()
        except RefusedError:
            raise  # refused as asked: asking again gets the same answer
        except TransportError:
            if self.attempts <= 1:
                raise
        await asyncio.sleep(random.uniform(0, self.backoff_min))
        retrying = AsyncRetrying(stop=stop_after_attempt(self.attempts - 1), reraise=True, retry=RETRYABLE,
                                 wait=wait_random_exponential(multiplier=self.backoff_min, max=self.backoff_max))
        async for attempt in retrying:
            with attempt:
                self.retries += 1
                return await once()
        raise TransportError("no attempt made")  # pragma: no cover (tenacity always attempts once)

    async def _post(self, payload: bytes | None, *, path: str = "", method: str = "POST", raw: bool = False) -> Any:
        """One HTTP request to the endpoint URL (+ ``path``); the parsed JSON reply (``raw``: the bytes)."""
        status, _, body = await self._exchange_raw(method, path, payload)
        if status == 429:
            self._count("http-429")
            raise TransportError("HTTP 429 Too Many Requests")
        if status >= 500:
            self._count(f"http-{status}")
            raise TransportError(f"HTTP {status}")
        if status >= 400:
            self._count(f"http-{status}")
            text = self.redact(body[:200].decode(errors="replace"))
            # 408, and a 4xx whose body says "slow down" (some gateways answer 403 to a
            # rate limit), are worth retrying; any other refusal would be refused again
            slow_down = status == 408 or any(w in text.lower() for w in _RATE_LIMIT_WORDS)
            raise (TransportError if slow_down else RefusedError)(f"HTTP {status}: {text}")
        if raw:
            return body
        try:
            return self._loads(body)
        except ValueError:
            self._count("malformed-json")
            raise TransportError("malformed JSON in reply") from None

    async def call(self, method: str, params: Sequence[Any]) -> Any:
        """One call; raises RpcError or TransportError."""
        (result,) = await self.batch([(method, params)])
        if isinstance(result, Exception):
            raise result
        return result

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send calls (split into ``max_batch`` HTTP requests); one value or exception per call."""
        size = max(1, self.endpoint.max_batch)
        if len(calls) <= size:
            return await self._batch_one(calls)
        parts = await asyncio.gather(*(self._batch_one(calls[i:i + size]) for i in range(0, len(calls), size)))
        return [r for part in parts for r in part]

    async def _batch_one(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        last_error = "no attempt made"
        attempt = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.backoff_min, max=self.backoff_max),
            retry=RETRYABLE,
            reraise=True,
        )
        try:
            async for attempt_ctx in retrying:
                with attempt_ctx:
                    attempt += 1
                    if attempt > 1:
                        self.retries += 1
                        log.debug("%s: retry %d of %d calls after: %s", self.label, attempt - 1, len(pending),
                                  last_error)
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("%s: batch of %d calls (%s)", self.label, len(pending),
                                  ", ".join(sorted({calls[i][0] for i in pending})))
                    try:
                        pending, last_error = await self._send(calls, pending, results)
                    except TransportError as exc:
                        last_error = str(exc)  # for the next retry's log line
                        raise
                    if pending:
                        raise TransportError(last_error)
        except TransportError as exc:
            last_error = str(exc)
        for i in pending:
            results[i] = TransportError(f"{last_error} (after {attempt} attempts)")
        return results

    async def _send(self, calls: Sequence[tuple[str, Sequence[Any]]], pending: list[int], results: list[Any]) -> tuple[list[int], str]:
        ids = {}
        payload = []
        for i in pending:
            rid = next(self._ids)
            ids[rid] = i
            method, params = calls[i]
            payload.append({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)})
        reply = await self._post(json.dumps(payload, separators=(",", ":")).encode())
        if isinstance(reply, dict):  # some servers answer a batch with one error object
            err = reply.get("error") or {}
            self._count("batch-rejected")
            raise TransportError(f"batch rejected: {err.get('message', 'not a list')}")
        if not isinstance(reply, list):
            self._count("malformed-json")
            raise TransportError("reply is not a JSON-RPC batch")
        still: list[int] = []
        note = ""
        seen: set[int] = set()
        for item in reply:
            if not isinstance(item, dict):
                continue
            item_id = item.get("id")
            if type(item_id) is not int:  # a garbled id (list, object, null, bool): the item counts as missing
                continue
            at = ids.get(item_id)
            if at is None or at in seen:
                continue
            i = at
            seen.add(i)
            if "error" in item and item["error"] is not None:
                e = item["error"] if isinstance(item["error"], dict) else {"code": -1, "message": str(item["error"])}
                code = e.get("code", -1)
                if type(code) is not int:  # "x", null, 1.5, true: not a JSON-RPC error object; retried
                    self._count("malformed-item")
                    still.append(i)
                    note = f"malformed error object in the reply (code {str(code)[:20]!r})"
                    continue
                err = RpcError(code, self.redact(str(e.get("message", ""))), e.get("data"))
                if err.rate_limited:
                    self._count("rpc-rate-limit")
                    still.append(i)
                    note = err.message
                else:
                    results[i] = err
            elif "result" in item:
                results[i] = item["result"]
            else:
                still.append(i)
                note = "reply item without result or error"
        missing = [i for i in pending if i not in seen]
        if missing:
            self._count("batch-items-missing")
            note = f"{len(missing)} item(s) missing from the batch reply"
        return still + missing, note
