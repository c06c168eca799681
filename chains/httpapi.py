"""Plain HTTP APIs (TRON's ``/wallet/*``) over the same transport as :mod:`chains.jsonrpc`.

:class:`HttpApiClient` *is* a :class:`JsonRpcClient` for one endpoint: the same aiohttp session,
token-bucket rate limit, in-flight limit, HTTP error taxonomy (429 / 5xx / timeouts / malformed
JSON become :class:`TransportError`) and error counters; the URL path varies per call
(``_post(path=...)``) and the retry loop is per call instead of per batch item. A TronGrid-style
``{"Error": "... frequency limit ..."}`` answer counts as a rate limit and is retried too.

Headers such as ``TRON-PRO-API-KEY = "${TRONGRID_API_KEY}"`` come from the endpoint's options;
their values are resolved from the environment and redacted from every message like the URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import aiohttp

from .jsonrpc import _RATE_LIMIT_WORDS, Endpoint, JsonRpcClient, TransportError
from .limits import Limiter
from .secrets import expand_env, looks_like_key

T = TypeVar("T")
R = TypeVar("R")


def resolve_headers(label: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``${VAR}`` in header values from the environment; a missing variable is a ConfigError."""
    out = {}
    for name, value in (headers or {}).items():
        out[str(name)] = expand_env(str(value), f"endpoint {label} (header {name})")
    return out


class HttpApiClient(JsonRpcClient):
    """POST JSON bodies to ``<endpoint url><path>``; one reply (parsed JSON) or TransportError."""

    def __init__(self, endpoint: Endpoint, headers: Mapping[str, str] | None = None, *, attempts: int = 6,
                 backoff_min: float = 0.05, backoff_max: float = 8.0, limiter: Limiter | None = None):
        self._headers = resolve_headers(endpoint.label, headers)
        super().__init__(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max,
                         limiter=limiter)
        self._url = self._url.rstrip("/")  # paths start with "/"
        self._secrets.extend(v for v in self._headers.values() if v and looks_like_key(v))

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # TLS verification stays on (aiohttp's default); API-key headers on every request.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout), headers=self._headers,
                connector=aiohttp.TCPConnector(limit=max(4, self.endpoint.concurrency * 2)))
        return self._session

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One call with retries on transport failures and on "slow down" answers in the body."""
        return await self._request(path, json.dumps(body or {}, separators=(",", ":")).encode(), "POST")

    async def get(self, path: str) -> Any:
        """``GET path`` (query included), retried as :meth:`post` is (REST APIs: Cardano, aelf, Hyperion)."""
        return await self._request(path, None, "GET")

    async def _request(self, path: str, payload: bytes | None, method: str) -> Any:
        return await self._retried(lambda: self._answer(path, payload, method))

    async def _answer(self, path: str, payload: bytes | None, method: str) -> Any:
        return self._checked(await self._post(payload, path=path, method=method))

    def _checked(self, reply: Any) -> Any:
        if isinstance(reply, dict) and _is_rate_limit(reply.get("Error")):
            self._count("api-rate-limit")
            raise TransportError(f"rate limited: {self.redact(str(reply['Error']))[:120]}")
        return reply


def _is_rate_limit(error: Any) -> bool:
    if not isinstance(error, str):
        return False
    text = error.lower()
    return any(w in text for w in _RATE_LIMIT_WORDS) or "frequency limit" in text


async def bounded_map(items: Iterable[T], fn: Callable[[T], Awaitable[R]], workers: int) -> list[R]:
    """``fn`` over ``items`` with at most ``workers`` in flight, results in input order."""
    seq = list(items)
    out: list[Any] = [None] * len(seq)
    it = iter(range(len(seq)))

    async def worker() -> None:
        for i in it:
            out[i] = await fn(seq[i])

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(seq))))))
    return out
