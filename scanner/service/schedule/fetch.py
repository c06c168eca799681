"""Fetching a source: a local file as it is, or a URL downloaded into the cache (size limit, checksum,
conditional GET, retries for transient errors), its secrets scrubbed from every message."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from chains.secrets import scrub, secrets_in

from ... import __version__
from ...pipeline.ingest import sha256_file

from .config import expand, ScheduleConfig, Source, SourceError

log = logging.getLogger("porscan.schedule")


# --------------------------------------------------------------------------------------- fetching

@dataclass
class Fetched:
    path: str
    sha256: str
    bytes: int
    downloaded: bool  # False: a local file or the cached copy (HTTP 304)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


class _Transient(Exception):
    """A download error worth retrying (connection, timeout, HTTP 5xx / 408 / 429)."""


async def fetch_source(src: Source, exchange: str, cfg: ScheduleConfig, session) -> Fetched:
    """A local file as it is, or a URL downloaded into the cache folder (see the module doc)."""
    if src.url is None:
        path = str(src.path)  # load_config gives every source a url or a path
        try:
            digest = await asyncio.to_thread(sha256_file, path)
            size = os.path.getsize(path)
        except OSError as exc:
            raise SourceError(f"{src.role} {path}: {exc.strerror or exc}") from exc
        _check_sha(src, digest)
        return Fetched(path, digest, size, False)

    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    folder = Path(cfg.cache_dir) / _safe(exchange)
    folder.mkdir(parents=True, exist_ok=True)
    leaf = _safe(Path(urlsplit(src.url).path).name or src.role)
    target = folder / f"{src.role}-{leaf}"
    meta_path = folder / f"{src.role}.meta.json"
    url_key = hashlib.sha256(src.url.encode()).hexdigest()  # of the ${VAR} form: no secret on disk
    meta = {}
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        pass
    secrets = secrets_in(src.url)
    cached = meta.get("url") == url_key and meta.get("file") == target.name and target.exists()
    try:
        async for attempt in AsyncRetrying(stop=stop_after_attempt(cfg.download_attempts),
                                           wait=wait_exponential(multiplier=0.5, max=10),
                                           retry=retry_if_exception_type(_Transient), reraise=True):
            with attempt:
                result = await _download(src, target, meta if cached else {}, cfg, session, secrets)
    except _Transient as exc:
        raise SourceError(f"{src.role} {src.display}: {exc} (after {cfg.download_attempts} attempt(s))") from None
    if result is None:  # 304: the cached copy is current
        digest, size = meta["sha256"], meta["bytes"]
        _check_sha(src, digest)
        return Fetched(str(target), digest, size, False)
    digest, size, etag, modified = result
    meta_path.write_text(json.dumps({"url": url_key, "file": target.name, "sha256": digest, "bytes": size,
                                     "etag": etag, "last_modified": modified,
                                     "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    return Fetched(str(target), digest, size, True)


def _check_sha(src: Source, digest: str) -> None:
    if src.sha256 is not None and digest != src.sha256:
        raise SourceError(f"{src.role} {src.display}: sha256 {digest} does not match the configured {src.sha256}")


async def _download(src: Source, target: Path, meta: dict, cfg: ScheduleConfig, session,
                    secrets: list[str]) -> tuple[str, int, str | None, str | None] | None:
    import aiohttp

    headers = {"User-Agent": f"porscan/{__version__}"}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    part = target.with_name(target.name + ".part")
    timeout = aiohttp.ClientTimeout(total=cfg.download_timeout, sock_connect=30, sock_read=60)
    try:
        async with session.get(expand(str(src.url)), headers=headers, timeout=timeout, allow_redirects=True) as resp:
            # an https source redirected to plain http (at any hop) is refused before its body is read:
            # aiohttp follows the downgrade, and the file was taken though no TLS covered it
            if urlsplit(str(src.url)).scheme.lower() == "https" and any(
                    r.url.scheme != "https" for r in (*resp.history, resp)):
                raise SourceError(f"{src.role} {src.display}: redirected to a plain http:// URL; refused (an "
                                  "https source is read over TLS only)")
            if resp.status == 304 and meta:
                return None
            if resp.status in (408, 429) or resp.status >= 500:
                raise _Transient(f"HTTP {resp.status}")
            if resp.status != 200:
                raise SourceError(f"{src.role} {src.display}: HTTP {resp.status} {scrub(resp.reason or '', secrets)}")
            if resp.content_length is not None and resp.content_length > src.max_bytes:
                raise SourceError(f"{src.role} {src.display}: {resp.content_length} bytes, above the limit of "
                                  f"{src.max_bytes} (max_bytes)")
            h, n = hashlib.sha256(), 0
            with open(part, "wb") as fh:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    n += len(chunk)
                    if n > src.max_bytes:
                        raise SourceError(f"{src.role} {src.display}: more than {src.max_bytes} bytes (max_bytes); "
                                          "download stopped")
                    h.update(chunk)
                    fh.write(chunk)
            digest = h.hexdigest()
            if src.sha256 is not None and digest != src.sha256:
                raise SourceError(f"{src.role} {src.display}: sha256 {digest} does not match the configured "
                                  f"{src.sha256}")
            os.replace(part, target)
            return digest, n, resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError, aiohttp.ClientPayloadError) as exc:
        raise _Transient(scrub(_describe(exc), secrets)) from None
    except aiohttp.ClientError as exc:
        raise SourceError(f"{src.role} {src.display}: {scrub(_describe(exc), secrets)}") from None
    finally:
        if part.exists():
            part.unlink()


def _describe(exc: BaseException) -> str:
    """An aiohttp error without the request URL (which may carry a key)."""
    import aiohttp

    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate verification failed for {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    return type(exc).__name__ + (f": {exc}" if str(exc) and "://" not in str(exc) else "")
