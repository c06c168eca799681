"""``porscan backfill``: past rounds of several exchanges scanned as runs, each at most once.

A list (TOML or CSV) names each round: the exchange, the round (its snapshot date), the reserve file
(a path, relative to the list, or an https URL) and optionally the liabilities file and scan options.
The whole list is checked before anything runs: every bad entry is one line naming the list file, the
entry (CSV line or TOML ``round[i]``) and the field. Then each round is, in order:

* fetched: an https URL (TLS verified, ``${VAR}`` allowed for a token) is downloaded once into the
  cache folder; a URL is shown without its query, password or variables' values;
* hashed, and skipped when the store holds a finished run of the same exchange that read the same
  input and liabilities (hashes) with the same parameters (filters, config, options; the line names
  that run);
* scanned by the scan's own run (or, ``distributed``, through the job queue that ``porscan worker``
  processes serve) from the context read for the skip: the input is hashed once (gigabytes of a
  year's rounds otherwise read twice). A round that fails is reported and the next one goes on.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import logging
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Mapping

from chains.secrets import display_url, expand_env, scrub, secrets_in, unset_vars, url_problem

from ..config.files import read_text
from ..errors import PorscanError, UsageError
from ..exitcodes import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from ..report_model import ScanReport
from ..storage import RunInfo, Store, StoreError, open_store
from .ingest import IngestError
from .inputs import check_room
from .scan import NullUI, ScanError, ScanOptions, ScanOutcome, ScanUI, _load_context, _params, _proven, _run, verdict

FIELDS = ("exchange", "round", "file", "liabilities", "options")
# options a round may set, as ScanOptions fields; list-valued ones also take "A,B"
OPTION_KEYS = {"coin": "coins", "network": "networks", "liabilities_format": "liabilities_format",
               "usd_scale": "usd_scale", "usd_total": "usd_total", "prices": "prices"}
_DOWNLOAD_CHUNK = 1 << 20
log = logging.getLogger("porscan.backfill")


class BackfillListError(UsageError):
    """Bad entries in a backfill list: one line each, naming the file, the entry and the field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Round:
    exchange: str
    round: str  # the snapshot date, YYYY-MM-DD
    file: str  # a local path (absolute) or an https URL as written (it may hold ${VAR})
    liabilities: str | None
    options: Mapping[str, Any]  # ScanOptions fields
    where: str  # "list.csv:3" or "list.toml: round[2]"

    @property
    def shown_file(self) -> str:
        return display_url(self.file)

    @property
    def name(self) -> str:
        return f"{self.exchange} {self.round}"


@dataclass(frozen=True, slots=True)
class Settings:
    db: str
    cache: Path  # downloaded inputs
    base: ScanOptions  # the options every round shares (config files, endpoints, workers)
    distributed: bool = False


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    round: Round
    status: str  # "skipped" | "done" | "failed"
    run_id: int | None
    exit_code: int
    message: str


@dataclass(frozen=True, slots=True)
class Summary:
    outcomes: tuple[RoundOutcome, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """A round that could not be scanned (2) over a failed check (1) over an incomplete read (3)."""
        codes = {o.exit_code for o in self.outcomes}
        for code in (EXIT_USAGE, EXIT_FAILED, EXIT_INCOMPLETE):
            if code in codes:
                return code
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0}
        for o in self.outcomes:
            out[o.status] += 1
        return out


# ------------------------------------------------------------------------------ the list

def load_list(path: str | Path) -> list[Round]:
    """The rounds of a TOML (``[[round]]`` tables) or CSV (a header naming the fields) list; every bad
    entry at once as a BackfillListError."""
    path = Path(path)
    text = read_text(path, UsageError)
    if path.suffix.lower() == ".toml":
        entries = _toml_entries(path, text)
    else:
        entries = _csv_entries(path, text)
    problems: list[str] = []
    rounds = []
    for where, fields in entries:
        got = _round(path, where, fields, problems)
        if got is not None:
            rounds.append(got)
    seen: dict[tuple[str, str, str], str] = {}
    for r in rounds:
        key = (r.exchange, r.round, r.file)
        if key in seen:
            problems.append(f"{r.where}: round: {r.name} with the same file is listed again (first at {seen[key]})")
        seen.setdefault(key, r.where)
    if not rounds and not problems:
        problems.append(f"{path}: no rounds listed")
    if problems:
        raise BackfillListError(problems)
    return rounds


def _toml_entries(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BackfillListError([f"{path}: not TOML: {exc}"]) from exc
    unknown = sorted(set(data) - {"round"})
    if unknown:
        raise BackfillListError([f"{path}: {k}: unknown table (rounds are [[round]] tables)" for k in unknown])
    items = data.get("round", [])
    if not isinstance(items, list):
        raise BackfillListError([f"{path}: round: must be [[round]] tables"])
    return [(f"{path}: round[{i}]", item if isinstance(item, dict) else {"": item}) for i, item in enumerate(items)]


def _csv_entries(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [f for f in ("exchange", "round", "file") if f not in header]
    if missing:
        raise BackfillListError([f"{path}:1: header: missing column {', '.join(missing)} "
                                 f"(columns: {', '.join(FIELDS)})"])
    out = []
    for row in reader:
        fields: dict[str, Any] = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        if None in row:  # more cells than the header names
            fields["options "] = row[None]
        fields = {k: v for k, v in fields.items() if v not in ("", None)}
        if "options" in fields:
            fields["options"] = _csv_options(str(fields["options"]))
        out.append((f"{path}:{reader.line_num}", fields))
    return out


def _csv_options(text: str) -> dict[str, Any] | str:
    """``key=value;key=value`` (a CSV cell); the text itself when it is not that form."""
    out: dict[str, Any] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        if not eq:
            return text
        out[key.strip()] = value.strip()
    return out


def _round(path: Path, where: str, fields: Mapping[str, Any], problems: list[str]) -> Round | None:
    before = len(problems)
    for key in fields:
        if key not in FIELDS:
            problems.append(f"{where}: {key.strip() or 'entry'}: unknown field (fields: {', '.join(FIELDS)})")
    exchange = fields.get("exchange")
    if not isinstance(exchange, str) or not exchange.strip():
        problems.append(f"{where}: exchange: missing (the exchange's name, e.g. OKX)")
    snapshot = _date(fields.get("round"))
    if snapshot is None:
        problems.append(f"{where}: round: {_shown(fields.get('round'))} is not a snapshot date (YYYY-MM-DD)")
    file = _reference(path, where, "file", fields.get("file"), problems, required=True)
    liabilities = _reference(path, where, "liabilities", fields.get("liabilities"), problems, required=False)
    options = _options(where, fields.get("options", {}), problems)
    if len(problems) > before:
        return None
    assert isinstance(exchange, str) and snapshot is not None and file is not None
    return Round(exchange=exchange.strip(), round=snapshot, file=file, liabilities=liabilities, options=options,
                 where=where)


def _shown(value: Any) -> str:
    return "missing" if value is None else repr(display_url(str(value)))[:80]


def _date(value: Any) -> str | None:
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return None
    return None


def _reference(path: Path, where: str, key: str, value: Any, problems: list[str], required: bool) -> str | None:
    """A path (relative to the list's folder; it must exist) or an https URL, as written."""
    if value is None:
        if required:
            problems.append(f"{where}: {key}: missing (a path or an https:// URL)")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key}: {_shown(value)} is not a path or an https:// URL")
        return None
    value = value.strip()
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme == "https":
        why = url_problem(value, ("https",))
        if why:  # before anything is downloaded; the URL is not quoted (its query or password may be a key)
            problems.append(f"{where}: {key}: {why}")
            return None
        unset = unset_vars(value)
        if unset:
            problems.append(f"{where}: {key}: {display_url(value)}: environment variable {', '.join(unset)} is not set")
            return None
        return value
    if scheme:
        problems.append(f"{where}: {key}: {display_url(value)}: only https:// URLs (TLS verified) or local paths")
        return None
    local = (path.parent / value).resolve()
    if not local.exists():
        problems.append(f"{where}: {key}: {value}: no such file")
        return None
    return str(local)


def _options(where: str, value: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append(f"{where}: options: {_shown(value)} is not key=value pairs ({', '.join(OPTION_KEYS)})")
        return {}
    out: dict[str, Any] = {}
    for raw_key, v in value.items():
        key = str(raw_key).strip().replace("-", "_")
        target = OPTION_KEYS.get(key)
        if target is None:
            problems.append(f"{where}: options.{raw_key}: unknown option (options: {', '.join(OPTION_KEYS)})")
            continue
        try:
            out[target] = _option_value(key, v)
        except ValueError as exc:
            problems.append(f"{where}: options.{raw_key}: {exc}")
    return out


def _option_value(key: str, value: Any) -> Any:
    items = [str(v).strip() for v in value] if isinstance(value, list) else str(value).split(",")
    items = [i.strip() for i in items if i.strip()]
    if key in ("coin", "network"):
        return frozenset(i.upper() if key == "coin" else i for i in items)
    if key == "prices":
        from .prices import SOURCE_KINDS

        kinds = tuple(i.lower() for i in items)
        bad = [k for k in kinds if k not in SOURCE_KINDS]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not a price source ({', '.join(SOURCE_KINDS)})")
        return kinds
    if key == "usd_scale":
        if type(value) is not int and not (isinstance(value, str) and value.strip().isdigit()):
            raise ValueError(f"{value!r} is not a whole number 0-30")
        if not 0 <= int(value) <= 30:
            raise ValueError(f"{value!r} is not a whole number 0-30")
        return int(value)
    if key == "usd_total":
        try:
            total = Decimal(str(value).replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a USD amount") from None
        if not total.is_finite() or total <= 0:
            raise ValueError(f"{value!r} is not a positive USD amount")
        return total
    return str(value).strip()  # liabilities_format: checked by the scan


# ------------------------------------------------------------------------------ the rounds

async def fetch(reference: str, cache: Path) -> Path:
    """A local path as it is; an https URL downloaded once into ``cache`` (TLS verified). Errors name
    the URL as shown (no query, password or variable values)."""
    if "://" not in reference:
        return Path(reference)
    import aiohttp

    shown = display_url(reference)
    secrets = secrets_in(reference)
    url = expand_env(reference, f"backfill file {shown}")
    name = Path(reference.split("?", 1)[0].split("#", 1)[0]).name or "input"
    target = cache / f"{hashlib.sha256(reference.encode()).hexdigest()[:16]}-{name}"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".part{os.getpid()}")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300)) as session:
            async with session.get(url) as resp:
                # aiohttp follows a redirect from https to plain http: the file, covered by no TLS, was
                # scanned as if verified. Refused before its body is read, at any hop.
                if any(r.url.scheme != "https" for r in (*resp.history, resp)):
                    raise UsageError(f"{shown}: redirected to a plain http:// URL; refused (only https, TLS "
                                     "verified)")
                if resp.status != 200:
                    raise UsageError(f"{shown}: HTTP {resp.status}")
                written = 0
                with open(partial, "wb") as fh:
                    async for chunk in resp.content.iter_chunked(_DOWNLOAD_CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
                        # an answer that never ends filled the cache's disk (and every other program's)
                        check_room(str(cache), written, len(chunk), f"{shown}: download stopped",
                                   "give --cache a roomier folder")
        os.replace(partial, target)
    except IngestError as exc:
        raise UsageError(str(exc)) from exc
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise UsageError(f"{shown}: cannot download: {scrub(f'{type(exc).__name__}: {exc}', secrets)}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


async def stored_run(store: Store, exchange: str, input_sha256: str, liabilities_sha256: str | None,
                     params: Mapping[str, Any]) -> RunInfo | None:
    """The newest finished run of ``exchange`` that read what this round would: the same input and
    liabilities (hashes) and the same parameters (coin and network filters, config hash, adapter
    options: the rule a resumed run is held to). A run of the same file for BTC only is not the round."""
    page, offset = 500, 0
    while True:
        runs = await store.list_runs(exchange, page, offset)
        for r in runs:
            if (r.status == "done" and r.input_sha256 == input_sha256 and r.liabilities_sha256 == liabilities_sha256
                    and r.params == params):
                return r
        if len(runs) < page:
            return None
        offset += page


def _stored_code(run: RunInfo) -> int:
    try:
        return verdict(ScanReport.from_json(run.summary or {})).code
    except (KeyError, TypeError, ValueError):  # a report of an older schema: the run is done, that is all we know
        return EXIT_OK


async def run_round(r: Round, settings: Settings, ui: ScanUI, say: Callable[[str], None]) -> RoundOutcome:
    from dataclasses import replace

    from .inputs import open_input

    local = await fetch(r.file, settings.cache)
    liabilities = str(await fetch(r.liabilities, settings.cache)) if r.liabilities else None
    extra: dict[str, Any] = {"distributed": True} if settings.distributed else {}
    opts = replace(settings.base, file=str(local), source=None, liabilities=liabilities, exchange=r.exchange,
                   snapshot_date=r.round, db=settings.db, **extra, **dict(r.options))
    with open_input(str(local)) as source:  # .gz/.zip unpacked as the scan command does
        # the inputs, config and parameters as the scan will read them (its own loader), to find the run;
        # the liabilities' proofs are checked only for a round that is scanned
        ctx = await asyncio.to_thread(_load_context, replace(opts, file=source.path), False)
        try:
            store = await open_store(settings.db)
        except StoreError as exc:
            raise ScanError(str(exc)) from exc
        try:
            found = await stored_run(store, r.exchange, ctx.input_sha256,
                                     ctx.liabilities.file_sha256 if ctx.liabilities is not None else None, _params(ctx))
            if found is not None:
                return RoundOutcome(r, "skipped", found.id, _stored_code(found),
                                    f"already stored as run {found.id} (same input, liabilities and options)")
            shown = r.shown_file if "://" in r.file else source.original
            # workers of a distributed run read the file at its path, so it is named by that path
            opts = replace(opts, file=source.path, source=None if source.path == shown or settings.distributed else shown)
            say(f"{r.name}: scanning {shown}")
            outcome = await _scan(await _scan_context(ctx, opts), store, settings.distributed, ui)
        finally:
            await store.close()
    return RoundOutcome(r, "done", outcome.run.id, verdict(outcome.report).code, f"run {outcome.run.id}")


async def _scan_context(ctx, opts: ScanOptions):
    """The context read for the skip, as the scan reads it: the round's options and its liabilities'
    proofs checked (the input's hash, the costly part, kept)."""
    liabilities = ctx.liabilities
    if liabilities is not None:
        liabilities = await asyncio.to_thread(_proven, liabilities, opts)
    return dataclasses.replace(ctx, opts=opts, liabilities=liabilities)


async def _scan(ctx, store: Store, distributed: bool, ui: ScanUI) -> ScanOutcome:
    """The round's run from its context: the scan's own, or queued for the workers."""
    if distributed:
        from .distributed.coordinator import run_distributed

        return await run_distributed(ctx.opts, ui, ctx=ctx)
    return await _run(ctx, store, ui)


async def backfill(rounds: list[Round], settings: Settings, say: Callable[[str], None],
                   ui: ScanUI | None = None) -> Summary:
    """Every round in order; one that fails is said and the next goes on."""
    outcomes = []
    for r in rounds:
        try:
            outcome = await run_round(r, settings, ui or NullUI(), say)
        except Exception as exc:  # noqa: BLE001 (one round's failure, whatever it is, is that round's)
            if not isinstance(exc, (PorscanError, StoreError)):
                log.debug("%s failed", r.name, exc_info=True)
            text = str(exc).strip()
            outcome = RoundOutcome(r, "failed", None, EXIT_USAGE, text.splitlines()[0] if text else type(exc).__name__)
        say(f"{r.name}: {outcome.status}: {outcome.message}")
        outcomes.append(outcome)
    return Summary(tuple(outcomes))


def check_distributed(db: str) -> None:
    """``--distributed`` needs a PostgreSQL store: the workers take their jobs from it."""
    from .scan import is_postgres

    if not is_postgres(db):
        raise UsageError("--distributed needs a PostgreSQL --db (postgresql://...): the workers take their jobs from it")
