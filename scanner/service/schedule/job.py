"""The scheduled reserve-ratio job: ``porscan schedule --once CONFIG`` and ``porscan serve --schedule CONFIG``.

A TOML file lists the exchanges to watch. For each one, a pass of the job

1. fetches the reserve file and the liabilities file (a local path, or an http(s) URL downloaded into
   the cache folder with TLS verification on, a size limit, an optional sha256 checksum, a conditional
   GET when the server gives an ETag / Last-Modified, and retries for transient errors);
2. skips the scan when both files have the same sha256 as the exchange's newest finished run (the
   inputs did not change), else runs ``porscan scan`` on them (``scanner.pipeline.scan.run_scan``: stored,
   tagged with the exchange name and snapshot date, resumed if an earlier pass was interrupted);
3. evaluates the alert rules on the exchange's newest finished run: proven ratio below X (per asset or
   all), coverage below Y, more than N failed signatures, published vs on-chain mismatch above Z, and
   the job itself failing (source unreachable, bad checksum, scan error). Each condition is one alert in
   the store, open until the condition clears: it is logged and POSTed to the webhook once when it
   opens (re-sent on a later pass only if the webhook could not be reached), and once more when it is
   resolved.

One exchange's failure (an unreachable source, a checksum mismatch, a scan error) is logged and
alerted, and the other exchanges go on. Secrets come from the environment as ``${VAR}`` in URLs,
headers and the database URL; the log shows the ``${VAR}`` form, never the value.

Exit codes of ``porscan schedule --once`` (see ``EXIT_*``): 0 every exchange scanned or skipped and
no alert open; 1 every exchange ran but at least one alert is open; 2 bad config or command line
(nothing ran); 3 at least one exchange's job failed or a webhook could not be delivered (the others
ran; failed deliveries are retried on the next pass).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chains.secrets import ConfigError as UnsetVariable, display_url, expand_env, scrub, secrets_in, unset_vars

from ... import __version__
from ...errors import ConfigError, PorscanError
from ...exitcodes import EXIT_ALERTS, EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 (re-exported)
from ...amounts import fmt, shown_fraction
from ...pipeline.ingest import sha256_file

log = logging.getLogger("porscan.schedule")


DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: OKX's reserve file is ~200 MB
DEFAULT_INTERVAL = 3600.0
ALERT_SCHEMA = "porscan.alert/1"
JOB_FAILED_KEY = "job_failed"
RULES = ("proven_ratio_below", "coverage_below", "failed_signatures_above", "mismatch_above", "job_failed")


class ScheduleConfigError(ConfigError):
    """The schedule config is wrong: the message names the file and the key."""


class SourceError(PorscanError):
    """An input could not be fetched or failed its checks (the message shows no secret)."""


# --------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class Source:
    role: str  # "reserves" | "liabilities"
    url: str | None  # as written (may hold ${VAR}); http or https
    path: str | None  # local file (resolved against the config's folder)
    sha256: str | None  # expected checksum (lowercase hex), checked after download
    max_bytes: int

    @property
    def display(self) -> str:
        """How logs and errors name it: the ``${VAR}`` form, password and query hidden."""
        return display_url(self.url) if self.url is not None else str(self.path)


@dataclass(frozen=True)
class Rules:
    proven_ratio_below: dict[str, Decimal] = field(default_factory=dict)  # asset or "*" -> X
    coverage_below: dict[str, Decimal] = field(default_factory=dict)
    failed_signatures_above: int | None = None
    mismatch_above: dict[str, Decimal] = field(default_factory=dict)
    job_failed: bool = True


@dataclass(frozen=True)
class ExchangeJob:
    name: str
    reserves: Source
    liabilities: Source | None
    liabilities_format: str | None
    networks_config: str | None
    coins_config: str | None
    rpc: tuple[str, ...]
    networks: frozenset[str]  # only rows of these networks (empty: all)
    coins: frozenset[str]
    snapshot_date: str | None
    every: float  # seconds between scans (0: whenever the inputs change)
    rules: Rules
    enabled: bool = True


@dataclass(frozen=True)
class Webhook:
    url: str  # as written (may hold ${VAR})
    headers: dict[str, str]
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 1.0  # seconds; doubles per retry, at most 30 s

    @property
    def display(self) -> str:
        return display_url(self.url)


@dataclass(frozen=True)
class ScheduleConfig:
    path: str
    db: str | None  # as written (may hold ${VAR})
    cache_dir: str
    interval: float
    workers: int | None
    download_attempts: int
    download_timeout: float
    webhook: Webhook | None
    exchanges: tuple[ExchangeJob, ...]

    def db_url(self) -> str | None:
        return None if self.db is None else expand(self.db)


def expand(text: str) -> str:
    """``${VAR}`` -> the environment variable's value (checked to be set when the config loads)."""
    try:
        return expand_env(text)
    except UnsetVariable as exc:  # unset since the config was loaded
        raise ScheduleConfigError(str(exc)) from exc


def parse_duration(value: Any, where: str) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"6h"``, ``"1d"`` -> seconds."""
    if isinstance(value, bool):
        raise ScheduleConfigError(f"{where}: expected a duration like \"6h\", got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if not m:
            raise ScheduleConfigError(f"{where}: expected a duration like \"30s\", \"15m\", \"6h\" or \"1d\", "
                                      f"got {value!r}")
        seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    else:
        raise ScheduleConfigError(f"{where}: expected a duration like \"6h\", got {type(value).__name__}")
    if seconds < 0:
        raise ScheduleConfigError(f"{where}: a duration cannot be negative")
    return seconds


class _Reader:
    """Typed access to one TOML table, every error naming the file and the key."""

    def __init__(self, file: str, table: dict, prefix: str, allowed: tuple[str, ...]):
        self.file, self.table, self.prefix = file, table, prefix
        for key in table:
            if key not in allowed:
                raise self.error(key, f"unknown key (expected one of: {', '.join(allowed)})")

    def where(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, what: str) -> ScheduleConfigError:
        return ScheduleConfigError(f"{self.file}: {self.where(key)}: {what}")

    def get(self, key: str, kind, default=None, required: bool = False):
        if key not in self.table:
            if required:
                raise self.error(key, "missing (required)")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "string").replace("dict", "table").replace("list", "array")
                                for k in kinds)
            raise self.error(key, f"expected {names}, got {type(value).__name__} {value!r}"[:200])
        return value


def _check_vars(file: str, where: str, text: str | None) -> None:
    for name in unset_vars(text):
        raise ScheduleConfigError(f"{file}: {where}: environment variable {name} is not set")


def _decimal(value: Any, where: str, file: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ScheduleConfigError(f"{file}: {where}: expected a number, got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ScheduleConfigError(f"{file}: {where}: not a number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ScheduleConfigError(f"{file}: {where}: must be a finite non-negative number, got {value!r}")
    return d


def _per_asset(value: Any, where: str, file: str) -> dict[str, Decimal]:
    """A threshold for every asset (``1.0``) or per asset (``{ "*" = 1.0, USDT = 0.98 }``)."""
    if isinstance(value, dict):
        if not value:
            raise ScheduleConfigError(f"{file}: {where}: empty table (give \"*\" or asset names)")
        return {("*" if k == "*" else k.upper()): _decimal(v, f"{where}.{k}", file) for k, v in value.items()}
    return {"*": _decimal(value, where, file)}


def _rules(file: str, table: dict, prefix: str, base: Rules | None) -> Rules:
    r = _Reader(file, table, prefix, RULES)
    out = dict(base.__dict__) if base is not None else {}
    for key in ("proven_ratio_below", "coverage_below", "mismatch_above"):
        if key in table:
            out[key] = _per_asset(table[key], r.where(key), file)
    if "failed_signatures_above" in table:
        n = r.get("failed_signatures_above", int)
        if n < 0:
            raise r.error("failed_signatures_above", "must be 0 or more")
        out["failed_signatures_above"] = n
    if "job_failed" in table:
        out["job_failed"] = r.get("job_failed", bool)
    return Rules(**out)


def _source(file: str, value: Any, where: str, role: str, base_dir: Path, default_max: int) -> Source:
    if isinstance(value, str):
        value = {"url": value} if re.match(r"(?i)https?://", value) else {"path": value}
    if not isinstance(value, dict):
        raise ScheduleConfigError(f"{file}: {where}: expected a path, a URL or a table {{ url = ..., sha256 = ... }}")
    r = _Reader(file, value, f"{where}.", ("url", "path", "sha256", "max_bytes"))
    url, path = r.get("url", str), r.get("path", str)
    if (url is None) == (path is None):
        raise ScheduleConfigError(f"{file}: {where}: give exactly one of url or path")
    if url is not None:
        if not re.match(r"(?i)https?://[^/]", url):
            raise r.error("url", f"must be an http:// or https:// URL, got {display_url(url)!r}")
        _check_vars(file, r.where("url"), url)
    else:
        path = str((base_dir / Path(path).expanduser()).resolve()) if not os.path.isabs(path) else path
    sha = r.get("sha256", str)
    if sha is not None:
        sha = sha.strip().lower().removeprefix("sha256:")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise r.error("sha256", "expected 64 hex digits")
    max_bytes = r.get("max_bytes", int, default_max)
    if max_bytes <= 0:
        raise r.error("max_bytes", "must be positive")
    return Source(role, url, path, sha, max_bytes)


def _path(value: str | None, base_dir: Path) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _names(r: _Reader, key: str) -> frozenset[str]:
    items = r.get(key, list, [])
    if not all(isinstance(x, str) and x.strip() for x in items):
        raise r.error(key, "expected an array of names")
    return frozenset(x.strip().upper() for x in items)


def load_config(path: str | os.PathLike) -> ScheduleConfig:
    """Read and check a schedule config; ScheduleConfigError names the file and key of any problem."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ScheduleConfigError(f"{file}: no such file") from None
    except OSError as exc:
        raise ScheduleConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleConfigError(f"{file}: not valid TOML: {exc}") from None
    base_dir = Path(file).resolve().parent
    top = _Reader(file, data, "", ("db", "cache_dir", "interval", "workers", "max_download_bytes",
                                   "download_attempts", "download_timeout", "networks_config", "coins_config",
                                   "webhook", "alerts", "exchange"))
    db = top.get("db", str)
    _check_vars(file, "db", db)
    if db is not None and "://" not in db:
        db = _path(db, base_dir)
    cache_dir = _path(top.get("cache_dir", str), base_dir) or str(_default_cache())
    interval = parse_duration(top.get("interval", (int, float, str), DEFAULT_INTERVAL), f"{file}: interval")
    if interval <= 0:
        raise top.error("interval", "must be positive")
    workers = top.get("workers", int)
    if workers is not None and workers < 1:
        raise top.error("workers", "must be at least 1")
    max_bytes = top.get("max_download_bytes", int, DEFAULT_MAX_BYTES)
    if max_bytes <= 0:
        raise top.error("max_download_bytes", "must be positive")
    attempts = top.get("download_attempts", int, 3)
    if attempts < 1:
        raise top.error("download_attempts", "must be at least 1")
    dl_timeout = parse_duration(top.get("download_timeout", (int, float, str), 600), f"{file}: download_timeout")
    networks_config = _path(top.get("networks_config", str), base_dir)
    coins_config = _path(top.get("coins_config", str), base_dir)
    webhook = None
    if "webhook" in data:
        wt = top.get("webhook", dict)
        w = _Reader(file, wt, "webhook.", ("url", "headers", "timeout", "attempts", "backoff"))
        url = w.get("url", str, required=True)
        if not re.match(r"(?i)https?://[^/]", url):
            raise w.error("url", f"must be an http:// or https:// URL, got {display_url(url)!r}")
        _check_vars(file, "webhook.url", url)
        headers = w.get("headers", dict, {})
        for k, v in headers.items():
            if not isinstance(v, str):
                raise w.error(f"headers.{k}", "expected a string")
            _check_vars(file, f"webhook.headers.{k}", v)
        attempts_w = w.get("attempts", int, 5)
        if attempts_w < 1:
            raise w.error("attempts", "must be at least 1")
        webhook = Webhook(url, dict(headers), parse_duration(w.get("timeout", (int, float, str), 10), f"{file}: webhook.timeout"),
                          attempts_w, float(w.get("backoff", (int, float), 1.0)))
    default_rules = _rules(file, top.get("alerts", dict, {}), "alerts.", None)
    raw_exchanges = top.get("exchange", list, [])
    if not raw_exchanges:
        raise ScheduleConfigError(f"{file}: exchange: no [[exchange]] listed")
    jobs, seen = [], set()
    for i, item in enumerate(raw_exchanges):
        prefix = f"exchange[{i}]"
        if not isinstance(item, dict):
            raise ScheduleConfigError(f"{file}: {prefix}: expected a table ([[exchange]])")
        r = _Reader(file, item, f"{prefix}.", ("name", "reserves", "liabilities", "liabilities_format",
                                               "networks_config", "coins_config", "rpc", "networks", "coins",
                                               "snapshot_date", "every", "alerts", "enabled"))
        name = r.get("name", str, required=True).strip()
        if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}", name):
            raise r.error("name", f"expected a short name (letters, digits, space . _ -), got {name!r}")
        prefix = f"exchange[{i}] ({name})"
        r.prefix = f"{prefix}."
        if name in seen:
            raise r.error("name", "listed twice")
        seen.add(name)
        if "reserves" not in item:
            raise r.error("reserves", "missing (required)")
        reserves = _source(file, item["reserves"], r.where("reserves"), "reserves", base_dir, max_bytes)
        liabilities = (_source(file, item["liabilities"], r.where("liabilities"), "liabilities", base_dir, max_bytes)
                       if "liabilities" in item else None)
        rpc = r.get("rpc", list, [])
        for j, spec in enumerate(rpc):
            if not isinstance(spec, str) or "=" not in spec:
                raise r.error(f"rpc[{j}]", "expected \"NETWORK=URL\"")
            _check_vars(file, r.where(f"rpc[{j}]"), spec)
        snapshot = r.get("snapshot_date", (str, date))
        if isinstance(snapshot, date):
            snapshot = snapshot.isoformat()
        if snapshot is not None:
            try:
                date.fromisoformat(snapshot)
            except ValueError:
                raise r.error("snapshot_date", f"expected YYYY-MM-DD, got {snapshot!r}") from None
        every = parse_duration(r.get("every", (int, float, str), 0), f"{file}: {r.where('every')}")
        rules = _rules(file, r.get("alerts", dict, {}), f"{prefix}.alerts.", default_rules)
        jobs.append(ExchangeJob(name, reserves, liabilities, r.get("liabilities_format", str),
                                _path(r.get("networks_config", str), base_dir) or networks_config,
                                _path(r.get("coins_config", str), base_dir) or coins_config,
                                tuple(rpc), _names(r, "networks"), _names(r, "coins"), snapshot, every, rules,
                                r.get("enabled", bool, True)))
    return ScheduleConfig(file, db, cache_dir, interval, workers, attempts, dl_timeout, webhook, tuple(jobs))


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "porscan" / "sources"


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


# --------------------------------------------------------------------------------------- alert rules

@dataclass(frozen=True)
class Condition:
    key: str  # one alert per (exchange, key)
    rule: str
    message: str
    detail: dict


def _threshold(table: dict[str, Decimal], asset: str) -> Decimal | None:
    return table.get(asset.upper(), table.get("*"))


def _dec(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def evaluate(exchange: str, run_id: int, report: dict, rules: Rules) -> list[Condition]:
    """The alert conditions that hold for a finished run's report (``porscan.scan/1``)."""
    out: list[Condition] = []
    run = report.get("run") or {}
    tag = f"run {run_id}" + (f", snapshot {run['snapshot_date']}" if run.get("snapshot_date") else "")
    base = {"run_id": run_id, "snapshot_date": run.get("snapshot_date")}
    for a in report.get("assets") or []:
        asset = str(a.get("asset"))
        x = _threshold(rules.proven_ratio_below, asset)
        ratio = _dec(a.get("proven_ratio"))
        if x is not None and ratio is not None and ratio < x:
            out.append(Condition(f"proven_ratio_below:{asset}", "proven_ratio_below",
                                 f"{exchange}: {asset} proven reserve ratio {ratio} is below {x} ({tag})",
                                 {**base, "rule": "proven_ratio_below", "asset": asset, "value": str(ratio),
                                  "threshold": str(x), "provenance": a.get("liabilities_provenance")}))
        y = _threshold(rules.coverage_below, asset)
        expected, read = a.get("rows_expected") or 0, a.get("rows_read") or 0
        if y is not None and expected:
            coverage = Decimal(read) / Decimal(expected)
            if coverage < y:
                out.append(Condition(f"coverage_below:{asset}", "coverage_below",
                                     f"{exchange}: {asset} coverage {read}/{expected} rows read is below {y} ({tag})",
                                     {**base, "rule": "coverage_below", "asset": asset, "rows_read": read,
                                      "rows_expected": expected, "value": fmt(shown_fraction(coverage)),
                                      "threshold": str(y)}))
        z = _threshold(rules.mismatch_above, asset)
        if z is not None:
            published, unread, onchain = (_dec(a.get("published")), _dec(a.get("unread_published")),
                                          _dec(a.get("onchain")))
            if published is not None and onchain is not None:
                compared = published - (unread or 0)  # published amount of the rows that were read
                diff = onchain - compared
                rel = abs(diff) / compared if compared > 0 else (Decimal(1) if diff else Decimal(0))
                if rel > z:
                    out.append(Condition(f"mismatch_above:{asset}", "mismatch_above",
                                         f"{exchange}: {asset} on-chain {onchain} differs from the published "
                                         f"{compared} (rows read) by {diff} ({_pct(rel)}), above {_pct(z)} ({tag})",
                                         {**base, "rule": "mismatch_above", "asset": asset, "published": str(compared),
                                          "onchain": str(onchain), "difference": str(diff),
                                          "value": fmt(shown_fraction(rel)), "threshold": str(z)}))
    n = rules.failed_signatures_above
    failed = int(((report.get("verification") or {}).get("by_status") or {}).get("failed", 0))
    if n is not None and failed > n:
        out.append(Condition("failed_signatures_above", "failed_signatures_above",
                             f"{exchange}: {failed} row(s) failed ownership verification, more than {n} ({tag})",
                             {**base, "rule": "failed_signatures_above", "value": failed, "threshold": n}))
    return out


def _pct(d: Decimal) -> str:
    return f"{fmt(shown_fraction(d) * 100)}%"


# --------------------------------------------------------------------------------------- notifying

class Notifier:
    """Alerts to the log and, when configured, to a webhook (JSON POST, retried with tenacity)."""

    def __init__(self, webhook: Webhook | None, session=None):
        self.webhook = webhook
        self.session = session
        self.failures = 0
        self.secrets = secrets_in(webhook.url, *webhook.headers.values()) if webhook else []

    async def send(self, payload: dict) -> bool:
        """True when delivered (or when no webhook is configured)."""
        if self.webhook is None:
            return True
        import aiohttp
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        w = self.webhook
        headers = {"Content-Type": "application/json", "User-Agent": f"porscan/{__version__}",
                   **{k: expand(v) for k, v in w.headers.items()}}
        body = json.dumps(payload, sort_keys=True).encode()
        timeout = aiohttp.ClientTimeout(total=w.timeout)
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(w.attempts),
                                               wait=wait_exponential(multiplier=w.backoff, max=30),
                                               retry=retry_if_exception_type(_Transient), reraise=True):
                with attempt:
                    try:
                        async with self.session.post(expand(w.url), data=body, headers=headers,
                                                     timeout=timeout) as resp:
                            await resp.read()
                            if resp.status in (408, 429) or resp.status >= 500:
                                raise _Transient(f"HTTP {resp.status}")
                            if resp.status >= 300:
                                raise SourceError(f"HTTP {resp.status}")
                    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                        raise _Transient(scrub(_describe(exc), self.secrets)) from None
                    except aiohttp.ClientError as exc:
                        raise SourceError(scrub(_describe(exc), self.secrets)) from None
        except (_Transient, SourceError) as exc:
            self.failures += 1
            log.error("webhook %s: %s alert %s for %s not delivered: %s", w.display, payload.get("event"),
                      payload.get("key"), payload.get("exchange"), exc)
            return False
        return True


def alert_payload(event: str, alert) -> dict:
    return {"schema": ALERT_SCHEMA, "event": event, "exchange": alert.exchange, "key": alert.key,
            "message": alert.message, "detail": alert.detail, "alert_id": alert.id, "opened_at": alert.opened_at,
            "resolved_at": alert.resolved_at if event == "resolved" else None, "run_id": alert.last_run_id,
            "tool": {"name": "porscan", "version": __version__}}


async def reconcile_alerts(store, exchange: str, conditions: list[Condition], managed: set[str],
                           notifier: Notifier, run_id: int | None, assets: set[str] | None = None) -> int:
    """Open (once) every condition that holds, resolve the open alerts of the ``managed`` rules that
    no longer hold, and deliver what has not been delivered. Returns the number still open.

    ``assets``: the assets the run reports. An alert about an asset the run does not report stays
    open: an asset that vanished from the file is not a condition cleared."""
    current = {c.key for c in conditions}
    for c in conditions:
        alert, new = await store.raise_alert(exchange, c.key, c.message, c.detail, run_id)
        if new:
            log.warning("ALERT %s: %s", exchange, c.message)
    for a in await store.list_alerts(exchange, open_only=True, limit=10_000):
        rule, _, asset = a.key.partition(":")
        if asset and assets is not None and asset not in assets:
            continue
        if rule in managed and a.key not in current:
            if await store.resolve_alert(exchange, a.key):
                log.info("resolved %s: %s (condition cleared)", exchange, a.key)
                resolved = next((x for x in await store.list_alerts(exchange, limit=50) if x.id == a.id), a)
                await notifier.send(alert_payload("resolved", resolved))
    still_open = await store.list_alerts(exchange, open_only=True, limit=10_000)
    for a in still_open:
        if a.notified_at is None:
            if await notifier.send(alert_payload("opened", a)):
                await store.mark_alert_notified(a.id)
    return len(still_open)


# --------------------------------------------------------------------------------------- one pass

@dataclass
class ExchangeResult:
    exchange: str
    status: str  # scanned | skipped | not_due | failed | disabled
    message: str = ""
    run_id: int | None = None
    alerts_open: int = 0


@dataclass
class PassResult:
    results: list[ExchangeResult]
    webhook_failures: int

    @property
    def exit_code(self) -> int:
        if self.webhook_failures or any(r.status == "failed" for r in self.results):
            return EXIT_JOB_FAILED
        if any(r.alerts_open for r in self.results):
            return EXIT_ALERTS
        return EXIT_OK


class _LogUI:
    def __init__(self, exchange: str):
        self.exchange = exchange

    def stage(self, name, total, done=0):
        log.info("%s: %s%s", self.exchange, name, f" ({total:,} to do)" if total else "")

    def advance(self, n):
        pass

    def note(self, text):
        log.info("%s: %s", self.exchange, text)

    def end_stage(self):
        pass


def parse_ts(text: str | None) -> float | None:
    """An ISO 8601 time as Unix seconds (None if absent or unreadable)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def run_pass(cfg: ScheduleConfig, *, force: bool = False, only: set[str] | None = None,
                   today: str | None = None) -> PassResult:
    """One pass over every exchange of the config (see the module doc). Never raises for one
    exchange's problem; a database that cannot be opened is a StoreError for the caller."""
    import aiohttp

    from ...storage import open_store

    store = await open_store(cfg.db_url())
    results: list[ExchangeResult] = []
    try:
        async with aiohttp.ClientSession() as session:  # TLS verification on (aiohttp's default)
            notifier = Notifier(cfg.webhook, session)
            for job in cfg.exchanges:
                if only and job.name not in only:
                    continue
                if not job.enabled:
                    results.append(ExchangeResult(job.name, "disabled"))
                    continue
                results.append(await _run_exchange(job, cfg, store, session, notifier, force, today))
        return PassResult(results, notifier.failures)
    finally:
        await store.close()


async def _run_exchange(job: ExchangeJob, cfg: ScheduleConfig, store, session, notifier: Notifier, force: bool,
                        today: str | None) -> ExchangeResult:
    from ...pipeline.scan import ScanError, ScanOptions, run_scan
    from ...storage import StoreError

    name = job.name
    result = ExchangeResult(name, "failed")
    managed = {r for r in RULES if r != JOB_FAILED_KEY}
    try:
        last = (await store.list_runs(name, 1, 0, status="done") or [None])[0]
        started = parse_ts(last.started_at) if last else None
        if not force and job.every and started is not None and time.time() - started < job.every:
            result.status, result.run_id = "not_due", last.id
            result.message = f"last scan (run {last.id}) is newer than every = {job.every:g} s"
            log.info("%s: not due: %s", name, result.message)
        else:
            reserves = await fetch_source(job.reserves, name, cfg, session)
            liabilities = (await fetch_source(job.liabilities, name, cfg, session)
                           if job.liabilities is not None else None)
            liab_sha = liabilities.sha256 if liabilities else None
            if (not force and last is not None and last.input_sha256 == reserves.sha256
                    and last.liabilities_sha256 == liab_sha):
                result.status, result.run_id = "skipped", last.id
                result.message = f"inputs unchanged since run {last.id} (sha256 {reserves.sha256[:12]}...)"
                log.info("%s: skipped: %s", name, result.message)
            else:
                opts = ScanOptions(file=reserves.path, liabilities=liabilities.path if liabilities else None,
                                   liabilities_format=job.liabilities_format, db=cfg.db_url(), exchange=name,
                                   snapshot_date=job.snapshot_date or today
                                   or datetime.now(timezone.utc).date().isoformat(),
                                   networks_path=job.networks_config, coins_path=job.coins_config,
                                   rpc=tuple(expand(s) for s in job.rpc), networks=job.networks, coins=job.coins,
                                   workers=cfg.workers)
                log.info("%s: scanning %s (sha256 %s...)", name, job.reserves.display, reserves.sha256[:12])
                t = time.perf_counter()
                outcome = await run_scan(opts, _LogUI(name))
                result.status, result.run_id = "scanned", outcome.run.id
                result.message = f"run {outcome.run.id} done in {time.perf_counter() - t:.1f} s"
                log.info("%s: %s", name, result.message)
                last = outcome.run
        if job.rules.job_failed:
            await _resolve_job_failed(store, name, notifier)
        if last is not None and last.summary:
            conditions = evaluate(name, last.id, last.summary, job.rules)
            reported = {a.get("asset") for a in last.summary.get("assets", []) if isinstance(a, dict)}
            result.alerts_open = await reconcile_alerts(store, name, conditions, managed, notifier, last.id,
                                                        {a for a in reported if isinstance(a, str)})
        else:
            result.alerts_open = len(await store.list_alerts(name, open_only=True, limit=10_000))
    except (SourceError, ScanError, StoreError) as exc:
        secrets = secrets_in(job.reserves.url, job.liabilities.url if job.liabilities else None, *job.rpc)
        result.status, result.message = "failed", scrub(str(exc), secrets)
        log.error("%s: job failed: %s", name, result.message)
        await _job_failed(store, job, result, notifier)
    except Exception as exc:  # noqa: BLE001 - one exchange's bug must not stop the others
        secrets = secrets_in(job.reserves.url, job.liabilities.url if job.liabilities else None, *job.rpc)
        result.status = "failed"
        result.message = scrub(f"unexpected error: {type(exc).__name__}: {exc}", secrets)
        log.exception("%s: job failed", name)
        await _job_failed(store, job, result, notifier)
    return result


async def _job_failed(store, job: ExchangeJob, result: ExchangeResult, notifier: Notifier) -> None:
    try:
        if job.rules.job_failed:
            cond = Condition(JOB_FAILED_KEY, JOB_FAILED_KEY, f"{job.name}: scheduled scan failed: {result.message}",
                             {"rule": JOB_FAILED_KEY, "error": result.message})
            alert, new = await store.raise_alert(job.name, cond.key, cond.message, cond.detail, None)
            if new:
                log.warning("ALERT %s: %s", job.name, cond.message)
        for a in await store.list_alerts(job.name, open_only=True, limit=10_000):
            if a.notified_at is None and await notifier.send(alert_payload("opened", a)):
                await store.mark_alert_notified(a.id)
        result.alerts_open = len(await store.list_alerts(job.name, open_only=True, limit=10_000))
    except Exception:  # noqa: BLE001 - the store itself may be what failed
        log.exception("%s: could not record the failure alert", job.name)


async def _resolve_job_failed(store, exchange: str, notifier: Notifier) -> None:
    if await store.resolve_alert(exchange, JOB_FAILED_KEY):
        log.info("resolved %s: %s (the job ran again)", exchange, JOB_FAILED_KEY)
        alerts = [a for a in await store.list_alerts(exchange, limit=50) if a.key == JOB_FAILED_KEY]
        if alerts:
            await notifier.send(alert_payload("resolved", alerts[0]))


def summarize(result: PassResult) -> str:
    lines = []
    for r in result.results:
        lines.append(f"{r.exchange:<16} {r.status:<8} {r.message}" + (f"  [{r.alerts_open} alert(s) open]"
                                                                       if r.alerts_open else ""))
    return "\n".join(lines)


async def schedule_loop(cfg: ScheduleConfig, interval: float | None = None, on_pass=None,
                        stop: asyncio.Event | None = None) -> None:
    """Run a pass every ``interval`` seconds (default the config's) until cancelled or ``stop`` is set."""
    from ...storage import StoreError

    every = interval or cfg.interval
    while stop is None or not stop.is_set():
        t = time.monotonic()
        try:
            result = await run_pass(cfg)
            log.info("schedule pass done (exit code %d):\n%s", result.exit_code, summarize(result))
            if on_pass is not None:
                on_pass(result)
        except StoreError as exc:
            log.error("schedule pass failed: %s", exc)
        except Exception:  # noqa: BLE001 - keep the service alive; the next pass tries again
            log.exception("schedule pass failed")
        wait = max(1.0, every - (time.monotonic() - t))
        if stop is None:
            await asyncio.sleep(wait)
        else:
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                pass
