"""What the store keeps: plain frozen records, exact amounts (int base units, Decimal coin units)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from chains.secrets import display_url

from .. import errors
from ..records import AssetTotal, BalanceRecord, Failure, LiabilityRecord, RatioRecord, RowRecord  # noqa: F401 (stored as they are)

RUN_STATUSES = ("running", "done", "failed")
STAGE_VERIFY = "verify"
STAGE_BALANCES = "balances"
# what the feed lists as a run's failures, by stage
FAILED_ROW_STATUSES = ("failed", "invalid_row")
FAILED_BALANCE_STATUSES = ("mismatch", "unread", "invalid_row")


StoreError = errors.StoreError  # defined with the other errors; re-exported here, where storage code looks


def redact_url(url: str) -> str:
    """A database URL as shown anywhere: its password as ``***`` (the query, e.g. sslmode, kept)."""
    return display_url(url, query=True)


def params_key(params: dict) -> str:
    """Canonical hash of a run's parameters (what ``find_resumable`` compares)."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def canonical_json(value) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"value is not JSON-able: {exc}") from exc


@dataclass(frozen=True)
class RunSpec:
    exchange: str
    input_path: str
    input_sha256: str
    liabilities_path: str | None
    liabilities_sha256: str | None
    params: dict  # JSON-able: filters, config hash, ...
    tool_version: str
    snapshot_date: str | None = None  # YYYY-MM-DD when known


@dataclass(frozen=True)
class RunInfo:
    id: int
    exchange: str
    status: str  # running | done | failed
    started_at: str  # ISO 8601, UTC
    finished_at: str | None
    input_path: str
    input_sha256: str
    liabilities_path: str | None
    liabilities_sha256: str | None
    params: dict
    tool_version: str
    snapshot_date: str | None
    summary: dict | None  # JSON stored at finish
    # why a JSON column of the row could not be read (a hand edit, a disk fault): the run is still
    # listed and found, with no summary; whatever needs its report names this instead
    damaged: str = ""


# --- feed-side read models ---

@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    exchange: str
    runs: int
    done_runs: int
    latest_run_id: int  # newest run of any status
    latest_done_run_id: int | None
    latest_snapshot_date: str | None  # newest snapshot date among done runs


@dataclass(frozen=True, slots=True)
class RatioPoint:
    """One point of a ratio time series: the newest done run of one snapshot date."""

    run_id: int
    snapshot_date: str  # the run's snapshot date, else the UTC date it started
    finished_at: str | None
    ratio: RatioRecord


@dataclass(frozen=True, slots=True)
class AddressObservation:
    """One address in one run: its verification and (when read) its balance."""

    run_id: int
    exchange: str
    snapshot_date: str | None
    started_at: str
    line: int
    coin: str
    network: str
    row_status: str
    scheme: str
    reason: str
    amount_text: str
    amount_base_units: int | None
    balance_status: str | None
    asset: str | None
    onchain_base_units: int | None
    decimals: int | None
    block_number: int | None
    block_hash: str | None
    at_snapshot: bool | None


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """An alert condition for an exchange; open until resolved, raised once per condition."""

    id: int
    exchange: str
    key: str  # the condition, e.g. "proven_ratio_below:USDT:1.0"
    message: str
    detail: dict
    first_run_id: int | None
    last_run_id: int | None
    opened_at: str
    last_seen_at: str
    resolved_at: str | None
    notified_at: str | None  # the "opened" event reached the webhook
    resolved_notified_at: str | None = None  # the "resolved" event reached the webhook
