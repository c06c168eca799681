"""Run storage: one schema, two backends (SQLite by default, PostgreSQL through asyncpg).

``store = await open_store(url)`` opens (and migrates) the database:

* ``None`` -> SQLite at ``$PORSCAN_DB`` if set, else ``${XDG_DATA_HOME:-~/.local/share}/porscan/porscan.db``;
* ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a bare path -> that SQLite file (parent
  folders created); ``sqlite:///:memory:`` for a throw-away store;
* ``postgresql://user:pass@host:port/db`` (or ``postgres://``) -> an asyncpg pool.

A run is checkpointed per chunk: ``save_rows``/``save_balances`` write a chunk's records and its
checkpoint in one transaction, and saving an already checkpointed chunk does nothing, so a resumed
run (``find_resumable`` / ``resume_run`` then ``done_chunks``) never counts a row twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Store
from .model import (FAILED_BALANCE_STATUSES, FAILED_ROW_STATUSES, RUN_STATUSES, STAGE_BALANCES, STAGE_VERIFY,
                    AddressObservation, AlertInfo, AssetTotal, BalanceRecord, ExchangeInfo, Failure, LiabilityRecord,
                    RatioPoint, RatioRecord, RowRecord, RunInfo, RunSpec, StoreError, redact_url)

__all__ = ["open_store", "default_db_path", "Store", "StoreError", "RunSpec", "RunInfo", "RowRecord", "BalanceRecord",
           "AssetTotal", "LiabilityRecord", "RatioRecord", "ExchangeInfo", "RatioPoint", "AddressObservation",
           "Failure", "AlertInfo", "RUN_STATUSES", "STAGE_VERIFY", "STAGE_BALANCES", "FAILED_ROW_STATUSES",
           "FAILED_BALANCE_STATUSES", "redact_url"]


def default_db_path() -> Path:
    """Where ``open_store(None)`` keeps its SQLite file."""
    if os.environ.get("PORSCAN_DB"):
        return Path(os.environ["PORSCAN_DB"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "porscan" / "porscan.db"


async def open_store(url: str | os.PathLike | None = None, *, max_connections: int = 4,
                     upto_version: int | None = None, create: bool = True) -> Store:
    """Open the store at ``url`` and apply pending migrations (``upto_version``: stop there; tests).

    ``max_connections`` sizes the PostgreSQL pool. With ``create=False`` (commands that only read:
    ``runs``, ``report``, ``serve``) a SQLite file that does not exist is a StoreError instead of a new
    empty database (a typo in --db must not look like "no runs"). Raises StoreError (password redacted)."""
    if url is None:
        target = str(default_db_path())
    else:
        target = os.fspath(url)
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore  # asyncpg only when asked for
        return await PostgresStore.open(target, upto_version=upto_version, max_connections=max_connections)
    if scheme == "sqlite":
        path = target.split("://", 1)[1]
        if not path.startswith("/"):
            raise StoreError(f"bad SQLite URL {target!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
        path = path[1:]
        if not path:
            raise StoreError(f"bad SQLite URL {target!r}: no file name")
    elif scheme:
        raise StoreError(f"unsupported database URL {redact_url(target)!r}: use a file path, sqlite:///FILE or "
                         "postgresql://USER@HOST:PORT/DB")
    else:
        path = target
    if not create and path != ":memory:" and not Path(path).is_file():
        raise StoreError(f"no database at {path}: nothing has been stored there (check --db, or run "
                         "`porscan scan` first)")
    from .sqlite import SqliteStore
    return await SqliteStore.open(path, upto_version=upto_version)
