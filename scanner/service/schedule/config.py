"""The schedule config (TOML): exchanges, sources, alert rules, webhook; every mistake names file and key."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from chains.secrets import ConfigError as UnsetVariable, display_url, expand_env, unset_vars, url_problem

from ...config.files import read_toml
from ...config.networks import ENDPOINT_SCHEMES
from ...errors import ConfigError, PorscanError

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


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


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
        why = url_problem(url, ("http", "https"))
        if why:  # found by --check, not by the first download; the URL is not quoted (a key may be in it)
            raise r.error("url", why)
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
    data = read_toml(file, ScheduleConfigError)
    base_dir = Path(file).resolve().parent
    top = _Reader(file, data, "", ("db", "cache_dir", "interval", "workers", "max_download_bytes",
                                   "download_attempts", "download_timeout", "networks_config", "coins_config",
                                   "webhook", "alerts", "exchange"))
    db = top.get("db", str)
    _check_vars(file, "db", db)
    if db is not None and "://" not in db:
        db = _path(db, base_dir)
    cache_dir = _path(top.get("cache_dir", str), base_dir) or str(_default_cache())
    blocker = _file_in_the_way(Path(cache_dir))
    if blocker is not None:  # else every download failed on mkdir, logged as a traceback, and exit 0
        raise top.error("cache_dir", f"{cache_dir} cannot be a folder: {blocker} is a file")
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
    if dl_timeout <= 0:  # aiohttp reads a total of 0 as no limit
        raise top.error("download_timeout", "must be longer than 0")
    networks_config = _path(top.get("networks_config", str), base_dir)
    coins_config = _path(top.get("coins_config", str), base_dir)
    webhook = None
    if "webhook" in data:
        wt = top.get("webhook", dict)
        w = _Reader(file, wt, "webhook.", ("url", "headers", "timeout", "attempts", "backoff"))
        url = w.get("url", str, required=True)
        if not re.match(r"(?i)https?://[^/]", url):
            raise w.error("url", f"must be an http:// or https:// URL, got {display_url(url)!r}")
        why = url_problem(url, ("http", "https"))
        if why:
            raise w.error("url", why)
        _check_vars(file, "webhook.url", url)
        headers = w.get("headers", dict, {})
        for k, v in headers.items():
            if not _HEADER_NAME.fullmatch(k):
                raise w.error(f"headers.{k!r}", "not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
            if not isinstance(v, str):
                raise w.error(f"headers.{k}", "expected a string")
            _check_vars(file, f"webhook.headers.{k}", v)
            # a token read from a file often ends in a newline: aiohttp refuses the header at every
            # delivery (a ValueError that failed the exchange's job). Found here, the value not shown.
            if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", expand(v)):
                raise w.error(f"headers.{k}", "the value" + (" (after ${VAR})" if "${" in v else "")
                              + " holds a line break or another control character")
        attempts_w = w.get("attempts", int, 5)
        if attempts_w < 1:
            raise w.error("attempts", "must be at least 1")
        hook_timeout = parse_duration(w.get("timeout", (int, float, str), 10), f"{file}: webhook.timeout")
        if hook_timeout <= 0:  # aiohttp reads a total of 0 as no limit: a webhook that never answers held the pass
            raise w.error("timeout", "must be longer than 0")
        backoff = w.get("backoff", (int, float), 1.0)
        if backoff < 0:
            raise w.error("backoff", "cannot be negative")
        webhook = Webhook(url, dict(headers), hook_timeout, attempts_w, float(backoff))
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
            why = url_problem(spec.split("=", 1)[1], ENDPOINT_SCHEMES)
            if why:
                raise r.error(f"rpc[{j}]", why)
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
        fmt = r.get("liabilities_format", str)
        if fmt is not None:  # found by --check, not by the first pass that reads the liabilities
            from ...pipeline.liabilities import FORMATS

            if fmt not in FORMATS:
                raise r.error("liabilities_format", f"{fmt!r} is not a liabilities format porscan reads "
                                                    f"({', '.join(FORMATS)})")
            if liabilities is None:
                raise r.error("liabilities_format", "given without liabilities: there is nothing to read with it")
        jobs.append(ExchangeJob(name, reserves, liabilities, fmt,
                                _path(r.get("networks_config", str), base_dir) or networks_config,
                                _path(r.get("coins_config", str), base_dir) or coins_config,
                                tuple(rpc), _names(r, "networks"), _names(r, "coins"), snapshot, every, rules,
                                r.get("enabled", bool, True)))
    return ScheduleConfig(file, db, cache_dir, interval, workers, attempts, dl_timeout, webhook, tuple(jobs))


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing part of ``folder`` when it is not a folder (nothing is created here:
    ``--check`` only reads)."""
    for part in (folder, *folder.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "porscan" / "sources"
