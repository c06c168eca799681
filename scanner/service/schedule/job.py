"""The scheduled reserve-ratio job: ``porscan schedule --once CONFIG`` and ``porscan serve --schedule CONFIG``.

A TOML file lists the exchanges to watch. For each one, a pass of the job

1. fetches the reserve file and the liabilities file (a local path, or an http(s) URL downloaded into
   the cache folder with TLS verification on, a size limit, an optional sha256 checksum, a conditional
   GET when the server gives an ETag / Last-Modified, and retries for transient errors);
2. skips the scan when both files have the same sha256 as the exchange's newest finished run (the
   inputs did not change) and that run read every balance it tried, else runs ``porscan scan`` on
   them (``scanner.pipeline.scan.run_scan``: stored, tagged with the exchange name and snapshot date,
   resumed if an earlier pass was interrupted);
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
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from chains.secrets import scrub, secrets_in

from ...exitcodes import EXIT_ALERTS, EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 (re-exported)
from ...report_model import ScanReport

from .alerts import (Condition, Notifier, alert_payload, deliver_pending, evaluate, reconcile_alerts,  # noqa: F401
                     undecided, _pct)
from .config import (DEFAULT_INTERVAL, JOB_FAILED_KEY, RULES, ExchangeJob, Rules, ScheduleConfig, ScheduleConfigError,  # noqa: F401
                     Source, SourceError, Webhook, expand, load_config, parse_duration)
from .fetch import Fetched, fetch_source  # noqa: F401 (re-exported)

log = logging.getLogger("porscan.schedule")


# --------------------------------------------------------------------------------------- one pass

@dataclass
class ExchangeResult:
    exchange: str
    status: str  # scanned | skipped | not_due | busy (another pass holds it) | failed | disabled
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
    """One exchange's job, held for this process: two passes at once on one store (cron while
    ``serve --schedule`` runs, a pass longer than the interval) each downloaded into the same cache
    file (the second died on a FileNotFoundError, alerted as a failed scan), resumed the same run
    twice and could deliver an alert twice. The second one now leaves the exchange to the first."""
    from ...storage import StoreError

    try:
        async with store.hold(f"schedule exchange: {job.name}") as held:
            if held:
                return await _run_held(job, cfg, store, session, notifier, force, today)
    except StoreError as exc:
        result = ExchangeResult(job.name, "failed", str(exc))
        log.error("%s: job failed: %s", job.name, result.message)
        return result
    result = ExchangeResult(job.name, "busy", "another schedule pass is running this exchange; left to it")
    log.warning("%s: %s", job.name, result.message)
    result.alerts_open = len(await store.list_alerts(job.name, open_only=True, limit=10_000))
    return result


async def _run_held(job: ExchangeJob, cfg: ScheduleConfig, store, session, notifier: Notifier, force: bool,
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
            # a run that left balances unread (an endpoint down, erroring, on another chain) is scanned
            # again although its inputs did not change: skipping it kept its gaps, and the alerts they
            # hid, until the exchange published a new file
            unread = _unread_balances(last)
            if unread:
                log.info("%s: run %d left %d balance(s) unread: scanning again", name, last.id, unread)
            if (not force and last is not None and last.input_sha256 == reserves.sha256
                    and last.liabilities_sha256 == liab_sha and not unread):
                result.status, result.run_id = "skipped", last.id
                result.message = f"inputs unchanged since run {last.id} (sha256 {reserves.sha256[:12]}...)"
                log.info("%s: skipped: %s", name, result.message)
            else:
                # the same files scanned again (balances left unread, --force) are the same snapshot: a
                # later pass gave them the day it ran, a second point of the series for one snapshot
                same_snapshot = (last.snapshot_date if last is not None and last.input_sha256 == reserves.sha256
                                 and last.liabilities_sha256 == liab_sha else None)
                # a downloaded file is named by its URL as shown (the cache path said nowhere where it came from)
                opts = ScanOptions(file=reserves.path, source=job.reserves.display if job.reserves.url else None,
                                   liabilities=liabilities.path if liabilities else None,
                                   liabilities_format=job.liabilities_format, db=cfg.db_url(), exchange=name,
                                   snapshot_date=job.snapshot_date or same_snapshot or today
                                   or datetime.now(timezone.utc).date().isoformat(),
                                   networks_path=job.networks_config, coins_path=job.coins_config,
                                   rpc=tuple(expand(s) for s in job.rpc), networks=job.networks, coins=job.coins,
                                   workers=cfg.workers)
                log.info("%s: scanning %s (sha256 %s...)", name, job.reserves.display, reserves.sha256[:12])
                t = time.perf_counter()
                outcome = await run_scan(opts, _LogUI(name))
                result.status, result.run_id = "scanned", outcome.run.id
                result.message = f"run {outcome.run.id} done in {time.perf_counter() - t:.1f} s"
                missed = _unread_balances(outcome.run)
                if missed:  # the summary line says how complete the run is, as every report does
                    result.message += f"; {missed} balance(s) unread (scanned again on the next pass)"
                log.info("%s: %s", name, result.message)
                last = outcome.run
        if job.rules.job_failed:
            await _resolve_job_failed(store, name, notifier)
        if last is not None and last.summary:
            report = ScanReport.from_json(last.summary)
            conditions = evaluate(name, last.id, report, job.rules)
            result.alerts_open = await reconcile_alerts(store, name, conditions, managed, notifier, last.id,
                                                        {a.asset for a in report.assets},
                                                        undecided(report, job.rules))
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


def _unread_balances(run) -> int:
    """Balance reads of a finished run that failed (status ``unread``: tried and not answered), 0
    without a run or a summary. Rows porscan cannot read at all (``unsupported``: no endpoint) are not
    counted: scanning again would not read them."""
    if run is None or not run.summary:
        return 0
    return int(ScanReport.from_json(run.summary).balance_status.get("unread", 0))


async def _job_failed(store, job: ExchangeJob, result: ExchangeResult, notifier: Notifier) -> None:
    try:
        if job.rules.job_failed:
            cond = Condition(JOB_FAILED_KEY, JOB_FAILED_KEY, f"{job.name}: scheduled scan failed: {result.message}",
                             {"rule": JOB_FAILED_KEY, "error": result.message})
            alert, new = await store.raise_alert(job.name, cond.key, cond.message, cond.detail, None)
            if new:
                log.warning("ALERT %s: %s", job.name, cond.message)
        await deliver_pending(store, job.name, notifier)
        result.alerts_open = len(await store.list_alerts(job.name, open_only=True, limit=10_000))
    except Exception:  # noqa: BLE001 - the store itself may be what failed
        log.exception("%s: could not record the failure alert", job.name)


async def _resolve_job_failed(store, exchange: str, notifier: Notifier) -> None:
    if await store.resolve_alert(exchange, JOB_FAILED_KEY):
        log.info("resolved %s: %s (the job ran again)", exchange, JOB_FAILED_KEY)
    await deliver_pending(store, exchange, notifier)


async def _until_stopped(work, stop: asyncio.Event | None):
    """``work``'s result, or None when ``stop`` is set first (the work is cancelled then). SIGTERM
    (systemd stop) and Ctrl-C only set ``stop``: waited for at the end of the pass, a long scan or a
    slow webhook held the process past the service manager's stop timeout, and Ctrl-C did nothing."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


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
            result = await _until_stopped(run_pass(cfg), stop)
            if result is None:  # stopped during the pass: its scan was interrupted and resumes next time
                log.info("schedule stopped during a pass; an interrupted scan resumes on the next pass")
                return
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
