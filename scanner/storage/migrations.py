"""Versioned schema, one list per backend; the same tables and columns in both.

Applied in order inside one transaction when a store opens (``schema_migrations`` records each
version). Never edit a released migration: append a new one. Amounts are exact: PostgreSQL
``numeric(78,0)`` for base units and ``numeric`` for coin units; SQLite TEXT holding the integer or
decimal string (never REAL).

Tables: runs; checkpoints (run, stage, chunk key: what a resumed run skips); verifications (one per
row, unique per run and line); balances (unique per run, line and asset, with block number and hash);
asset_totals, liabilities, ratios (a run's results, replaced as a whole); alerts (one open alert per
exchange and condition); balance_notes (what each network's reads said, replaced per network).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from .model import StoreError


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


# The column lists both backends write (order matters for COPY / executemany).
VERIFICATION_COLUMNS = ("run_id", "line", "coin", "network", "address", "snapshot_height", "amount_text",
                        "amount_base_units", "status", "scheme", "reason", "custodian")
BALANCE_COLUMNS = ("run_id", "line", "coin", "network", "asset", "address", "snapshot_height",
                   "published_base_units", "onchain_base_units", "decimals", "block_number", "block_hash",
                   "at_snapshot", "status", "reason", "endpoint", "staked", "unbonding")


def _schema(d: dict[str, str]) -> list[Migration]:
    """The migrations, written once with per-backend type names filled in."""
    return [
        Migration(1, "runs, checkpoints, verifications, balances", f"""
CREATE TABLE runs (
    id {d['id']},
    exchange text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at {d['ts']} NOT NULL,
    finished_at {d['ts']},
    input_path text NOT NULL,
    input_sha256 text NOT NULL,
    liabilities_path text,
    liabilities_sha256 text,
    params {d['json']} NOT NULL,
    params_key text NOT NULL,
    tool_version text NOT NULL,
    snapshot_date {d['date']},
    summary {d['json']}
);
CREATE INDEX runs_resume ON runs (exchange, input_sha256, params_key);
CREATE INDEX runs_exchange_date ON runs (exchange, snapshot_date);
CREATE TABLE checkpoints (
    run_id bigint NOT NULL REFERENCES runs (id),
    stage text NOT NULL,
    chunk_key text NOT NULL,
    items integer NOT NULL,
    saved_at {d['ts']} NOT NULL,
    PRIMARY KEY (run_id, stage, chunk_key)
){d['without_rowid']};
CREATE TABLE verifications (
    run_id bigint NOT NULL,
    line bigint NOT NULL,
    coin text NOT NULL,
    network text NOT NULL,
    address text NOT NULL,
    snapshot_height bigint,
    amount_text text NOT NULL,
    amount_base_units {d['units']},
    status text NOT NULL,
    scheme text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (run_id, line)
){d['without_rowid']};
CREATE TABLE balances (
    run_id bigint NOT NULL,
    line bigint NOT NULL,
    coin text NOT NULL,
    network text NOT NULL,
    asset text NOT NULL,
    address text NOT NULL,
    snapshot_height bigint,
    published_base_units {d['units']},
    onchain_base_units {d['units']},
    decimals integer,
    block_number bigint,
    block_hash text,
    at_snapshot boolean,
    status text NOT NULL,
    reason text NOT NULL,
    endpoint text NOT NULL,
    PRIMARY KEY (run_id, line, asset)
){d['without_rowid']};
"""),
        Migration(2, "per-asset totals, liabilities, ratios", f"""
CREATE TABLE asset_totals (
    run_id bigint NOT NULL REFERENCES runs (id),
    seq integer NOT NULL,
    asset text NOT NULL,
    network text NOT NULL,
    rows_total bigint NOT NULL,
    rows_expected bigint NOT NULL,
    rows_read bigint NOT NULL,
    published {d['dec']} NOT NULL,
    onchain {d['dec']} NOT NULL,
    proven {d['dec']} NOT NULL,
    owner_only {d['dec']} NOT NULL,
    key_only {d['dec']} NOT NULL,
    unverified {d['dec']} NOT NULL,
    unread_published {d['dec']} NOT NULL,
    blocks {d['json']} NOT NULL,
    PRIMARY KEY (run_id, asset, network)
);
CREATE TABLE liabilities (
    run_id bigint NOT NULL REFERENCES runs (id),
    seq integer NOT NULL,
    asset text NOT NULL,
    amount {d['dec']} NOT NULL,
    provenance text NOT NULL,
    source text NOT NULL,
    file text NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE ratios (
    run_id bigint NOT NULL REFERENCES runs (id),
    seq integer NOT NULL,
    asset text NOT NULL,
    liabilities {d['dec']},
    proven_reserves {d['dec']} NOT NULL,
    with_unproven_reserves {d['dec']} NOT NULL,
    proven_ratio {d['dec']},
    with_unproven_ratio {d['dec']},
    provenance text NOT NULL,
    coverage {d['dec']},
    PRIMARY KEY (run_id, asset)
);
"""),
        Migration(3, "feed indexes and alerts", f"""
CREATE INDEX runs_exchange_status ON runs (exchange, status, id);
CREATE INDEX verifications_address ON verifications (address);
CREATE INDEX balances_address ON balances (address);
CREATE INDEX verifications_failed ON verifications (run_id, line) WHERE status IN ('failed', 'invalid_row');
CREATE INDEX balances_failed ON balances (run_id, line) WHERE status IN ('mismatch', 'unread', 'invalid_row');
CREATE TABLE alerts (
    id {d['id']},
    exchange text NOT NULL,
    key text NOT NULL,
    message text NOT NULL,
    detail {d['json']} NOT NULL,
    first_run_id bigint REFERENCES runs (id),
    last_run_id bigint REFERENCES runs (id),
    opened_at {d['ts']} NOT NULL,
    last_seen_at {d['ts']} NOT NULL,
    resolved_at {d['ts']},
    notified_at {d['ts']}
);
CREATE UNIQUE INDEX alerts_open ON alerts (exchange, key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_exchange ON alerts (exchange, id);
"""),
        # address lists name the third party that holds a wallet for the exchange ('' = the exchange)
        Migration(4, "row custodian", """
ALTER TABLE verifications ADD COLUMN custodian text NOT NULL DEFAULT '';
"""),
        # the staked / unbonding parts of a balance read; NULL (rows stored before, or a split not read)
        # is unknown, never liquid. Totals stored before had no split: 0.
        Migration(5, "staked and unbonding parts", f"""
ALTER TABLE balances ADD COLUMN staked {d['units']};
ALTER TABLE balances ADD COLUMN unbonding {d['units']};
ALTER TABLE asset_totals ADD COLUMN staked {d['dec']} NOT NULL DEFAULT '0';
ALTER TABLE asset_totals ADD COLUMN unbonding {d['dec']} NOT NULL DEFAULT '0';
ALTER TABLE asset_totals ADD COLUMN split_unknown {d['dec']} NOT NULL DEFAULT '0';
ALTER TABLE asset_totals ADD COLUMN split_unknown_rows bigint NOT NULL DEFAULT 0;
"""),
        # what a network's balance reads said (provider errors, strategies, reads not at the snapshot),
        # kept with the run: a distributed run's reads happen in workers, its report in the coordinator
        Migration(6, "balance notes per network", """
CREATE TABLE balance_notes (
    run_id bigint NOT NULL,
    network text NOT NULL,
    seq integer NOT NULL,
    note text NOT NULL,
    PRIMARY KEY (run_id, network, seq)
);
"""),
        # no query looks balances up by address (an address's history goes through verifications,
        # then balances by (run_id, line)); the index cost a random B-tree insert per balance stored
        Migration(7, "no address index on balances", """
DROP INDEX balances_address;
"""),
        # PostgreSQL: a row's address goes into a hash index, not a B-tree. Addresses arrive in random
        # order, and a B-tree insert walks to a random leaf of an index that grows with every run
        # (600k rows into a fresh table: 2.8 core-s more than no index for the B-tree, 1.9 for the
        # hash; 4.6 against 1.9 once the table holds a few runs). The index serves address lookups
        # by equality only, which a hash index answers. SQLite keeps its B-tree. On a store holding
        # many runs, the first open after this migration spends the time of one index build.
        Migration(8, "address lookups through a hash index", d["address_index"]),
        # when the "resolved" event of an alert reached the webhook: without it a resolution announced
        # while the webhook was down was never sent again. Alerts resolved before count as delivered
        # (nothing old is sent again when a store is upgraded).
        Migration(9, "resolved alert deliveries", f"""
ALTER TABLE alerts ADD COLUMN resolved_notified_at {d['ts']};
UPDATE alerts SET resolved_notified_at = resolved_at WHERE resolved_at IS NOT NULL;
"""),
    ]


SQLITE = _schema({"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "ts": "text", "date": "text", "json": "text",
                  "units": "text", "dec": "text", "without_rowid": " WITHOUT ROWID", "address_index": ""})
POSTGRES = _schema({"id": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "ts": "timestamptz", "date": "date",
                    "json": "jsonb", "units": "numeric(78,0)", "dec": "numeric", "without_rowid": "",
                    "address_index": "DROP INDEX verifications_address;\n"
                                     "CREATE INDEX verifications_address ON verifications USING hash (address);"})
LATEST = SQLITE[-1].version
assert [m.version for m in SQLITE] == [m.version for m in POSTGRES] == list(range(1, LATEST + 1))


def tracking_table(ts_type: str) -> str:
    return ("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            f"applied_at {ts_type} NOT NULL)")


def pending(schema: list[Migration], applied: Iterable[int], upto_version: int | None, where: str) -> list[Migration]:
    """The migrations still to apply (up to ``upto_version``); StoreError if the database is newer."""
    have = set(applied)
    if have and max(have) > LATEST:
        raise StoreError(f"{where} has schema version {max(have)}, newer than this porscan knows ({LATEST}): "
                         "upgrade porscan")
    return [m for m in schema if m.version not in have and (upto_version is None or m.version <= upto_version)]
