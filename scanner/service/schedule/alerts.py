"""Alert rules evaluated on a finished run, the webhook notifier, and keeping the store's alerts in
step with the conditions (open once, resolved once; a vanished asset's alert stays open)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import AbstractSet

from chains.secrets import scrub, secrets_in

from ... import __version__
from ...amounts import SHOWN_PLACES, fmt, shown_fraction, shown_percent
from ...report_model import ScanReport

from .config import expand, ALERT_SCHEMA, Rules, SourceError, Webhook
from .fetch import _Transient, _describe

log = logging.getLogger("porscan.schedule")


# --------------------------------------------------------------------------------------- alert rules

@dataclass(frozen=True)
class Condition:
    key: str  # one alert per (exchange, key)
    rule: str
    message: str
    detail: dict


def _threshold(table: dict[str, Decimal], asset: str) -> Decimal | None:
    return table.get(asset.upper(), table.get("*"))


def evaluate(exchange: str, run_id: int, report: ScanReport, rules: Rules) -> list[Condition]:
    """The alert conditions that hold for a finished run's report: thresholds compare the exact
    figures; the messages show them by the one rounding rule."""
    out: list[Condition] = []
    run = report.run
    tag = f"run {run_id}" + (f", snapshot {run.snapshot_date}" if run.snapshot_date else "")
    base = {"run_id": run_id, "snapshot_date": run.snapshot_date}
    for a in report.assets:
        asset = a.asset
        x = _threshold(rules.proven_ratio_below, asset)
        ratio = a.proven_ratio
        if x is not None and ratio is not None and ratio < x:
            # a ratio from incomplete reads says so, as it does in every report: the rows not read
            # are not in the reserves, so the figure is a lower bound
            partial = f", from incomplete reads: {a.figures.rows_read:,} of {a.figures.rows_expected:,} rows read" \
                if a.partial else ""
            out.append(Condition(f"proven_ratio_below:{asset}", "proven_ratio_below",
                                 f"{exchange}: {asset} proven reserve ratio {_pct(ratio)} is below {_pct(x)} "
                                 f"({tag}{partial})",
                                 {**base, "rule": "proven_ratio_below", "asset": asset, "value": fmt(ratio),
                                  "threshold": str(x), "provenance": a.liabilities_provenance,
                                  "rows_read": a.figures.rows_read, "rows_expected": a.figures.rows_expected,
                                  "complete": a.complete}))
        y = _threshold(rules.coverage_below, asset)
        expected, read = a.figures.rows_expected, a.figures.rows_read
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
            compared, onchain, diff = a.figures.published_read, a.figures.onchain, a.figures.difference
            if onchain is not None and diff is not None:
                rel = abs(diff) / compared if compared > 0 else (Decimal(1) if diff else Decimal(0))
                if rel > z:
                    out.append(Condition(f"mismatch_above:{asset}", "mismatch_above",
                                         f"{exchange}: {asset} on-chain {fmt(onchain)} differs from the published "
                                         f"{fmt(compared)} (rows read) by {fmt(diff)} ({_pct(rel)}), above {_pct(z)} ({tag})",
                                         {**base, "rule": "mismatch_above", "asset": asset, "published": fmt(compared),
                                          "onchain": fmt(onchain), "difference": fmt(diff),
                                          "value": fmt(shown_fraction(rel)), "threshold": str(z)}))
    n = rules.failed_signatures_above
    failed = int(report.by_status.get("failed", 0))
    if n is not None and failed > n:
        out.append(Condition("failed_signatures_above", "failed_signatures_above",
                             f"{exchange}: {failed} row(s) failed ownership verification, more than {n} ({tag})",
                             {**base, "rule": "failed_signatures_above", "value": failed, "threshold": n}))
    return out


def undecided(report: ScanReport, rules: Rules) -> set[str]:
    """The keys of the conditions a run cannot judge: a ratio rule on an asset with no ratio (nothing
    read, no liabilities figure), a mismatch rule on an asset of which nothing was read. An open
    alert of such a key stays open: a read that failed says nothing about the condition, so it must
    not resolve it (a chain whose endpoint was down resolved its asset's ratio alert)."""
    out: set[str] = set()
    for a in report.assets:
        if _threshold(rules.proven_ratio_below, a.asset) is not None and a.proven_ratio is None:
            out.add(f"proven_ratio_below:{a.asset}")
        if _threshold(rules.mismatch_above, a.asset) is not None and (a.figures.onchain is None
                                                                       or a.figures.difference is None):
            out.add(f"mismatch_above:{a.asset}")
    return out


def _pct(d: Decimal) -> str:
    return shown_percent(d, SHOWN_PLACES - 2)  # as many digits as a shown ratio has


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
                        # redirects are not followed: aiohttp turns a POST redirected by 301/302/303
                        # into a GET without the body, whose 200 counted as delivered (the alert was
                        # marked notified and never sent), and it would carry the headers' secrets on
                        async with self.session.post(expand(w.url), data=body, headers=headers,
                                                     timeout=timeout, allow_redirects=False) as resp:
                            await resp.read()
                            if resp.status in (408, 429) or resp.status >= 500:
                                raise _Transient(f"HTTP {resp.status}")
                            if 300 <= resp.status < 400:
                                raise SourceError(f"HTTP {resp.status}: the webhook redirects; redirects are not "
                                                  "followed (configure the URL it redirects to)")
                            if resp.status >= 300:
                                raise SourceError(f"HTTP {resp.status}")
                    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                        raise _Transient(scrub(_describe(exc), self.secrets)) from None
                    except aiohttp.ClientError as exc:
                        raise SourceError(scrub(_describe(exc), self.secrets)) from None
                    except ValueError as exc:  # a header aiohttp refuses (a variable changed since the config
                        # was checked): a failed delivery, not a failure of the exchange's scan
                        raise SourceError(f"request refused before sending: {type(exc).__name__}") from None
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
                           notifier: Notifier, run_id: int | None, assets: set[str] | None = None,
                           undecided: AbstractSet[str] = frozenset()) -> int:
    """Open (once) every condition that holds, resolve the open alerts of the ``managed`` rules that
    no longer hold, and deliver what has not been delivered. Returns the number still open.

    ``assets``: the assets the run reports. An alert about an asset the run does not report stays
    open: an asset that vanished from the file is not a condition cleared. ``undecided``: the keys
    the run could not judge (see :func:`undecided`); their open alerts stay open too."""
    current = {c.key for c in conditions}
    for c in conditions:
        alert, new = await store.raise_alert(exchange, c.key, c.message, c.detail, run_id)
        if new:
            log.warning("ALERT %s: %s", exchange, c.message)
    for a in await store.list_alerts(exchange, open_only=True, limit=10_000):
        rule, _, asset = a.key.partition(":")
        if asset and assets is not None and asset not in assets:
            continue
        if a.key in undecided:
            continue
        if rule in managed and a.key not in current:
            if await store.resolve_alert(exchange, a.key):
                log.info("resolved %s: %s (condition cleared)", exchange, a.key)
    await deliver_pending(store, exchange, notifier)
    return len(await store.list_alerts(exchange, open_only=True, limit=10_000))


async def deliver_pending(store, exchange: str, notifier: Notifier) -> None:
    """Send every event of the exchange's alerts the webhook has not had, in the order they happened,
    and record each one delivered. A "resolved" sent while the webhook was down was lost before (the
    receiver kept the incident open forever); now it is sent again on the next pass, like "opened".
    An alert opened and resolved while the webhook was down is sent as both. Stops at the first
    failure: a later event must not arrive before an earlier one."""
    for a in await store.undelivered_alerts(exchange):
        if a.notified_at is None:
            if not await notifier.send(alert_payload("opened", a)):
                return
            await store.mark_alert_notified(a.id, "opened")
        if a.resolved_at is not None and a.resolved_notified_at is None:
            if not await notifier.send(alert_payload("resolved", a)):
                return
            await store.mark_alert_notified(a.id, "resolved")
