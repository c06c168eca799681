"""A private PostgreSQL cluster for tests, benchmarks and the demo.

``with LocalPostgres.start() as pg: pg.dsn`` runs initdb and pg_ctl from the Debian server binaries
($PORSCAN_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else initdb on PATH) in a fresh temp
directory, on a free loopback port, with fsync off (throw-away data). PostgreSQL refuses to run as
root, so as root every server command goes through ``runuser -u postgres`` and the directory is
handed to that user. ``stop()`` stops the server it started (pg_ctl stop on its own data directory)
and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .localnodes import free_port

SERVER_USER = "postgres"
SERVER_OPTIONS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                  "-c max_connections=50")


class PostgresUnavailable(RuntimeError):
    """The server binaries or the user to run them as are missing (tests skip with this message)."""


def pg_bin_dir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres, or None."""
    installed = sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
                       key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)
    candidates: list[str | None] = [os.environ.get("PORSCAN_PG_BIN"), *installed]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else None)
    for c in candidates:
        if c and all(os.access(Path(c) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    return None


def _traversable_tmp() -> str:
    """A temp parent every user can traverse ($TMPDIR may be a private directory)."""
    base = Path(tempfile.gettempdir()).resolve()
    if all(os.stat(p).st_mode & 0o001 for p in [base, *base.parents]):
        return str(base)
    return "/tmp"


@dataclass
class LocalPostgres:
    """A running private cluster; ``dsn`` points at database ``database`` (created at start)."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None  # "postgres" when we are root
    database: str

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start_for(cls, backends: list[str]) -> "LocalPostgres | None":
        """For benchmarks: a cluster when ``backends`` lists postgresql, else None; when it cannot
        start, say why and drop postgresql from ``backends`` (in place)."""
        if "postgresql" not in backends:
            return None
        try:
            return cls.start()
        except (PostgresUnavailable, RuntimeError) as exc:
            print(f"PostgreSQL skipped: {exc}")
            backends.remove("postgresql")
            return None

    @classmethod
    def start(cls, database: str = "porscan", bin_dir: str | Path | None = None, timeout: float = 60.0,
              attempts: int = 3) -> "LocalPostgres":
        bin_path = Path(bin_dir) if bin_dir else pg_bin_dir()
        if bin_path is None:
            raise PostgresUnavailable("PostgreSQL server binaries not found: set PORSCAN_PG_BIN or install the "
                                      "`postgresql` package (scripts/postgres-tools.sh does it when run as root)")
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root but there is no `{SERVER_USER}` user to run the "
                                          "server as (PostgreSQL refuses to run as root)") from None
            run_as = SERVER_USER
        root = Path(tempfile.mkdtemp(prefix="porscan-pg.", dir=_traversable_tmp()))
        if run_as:
            shutil.chown(root, run_as, run_as)
        pg = cls(root, 0, bin_path, run_as, database)
        try:
            pg._run("initdb", "-D", str(pg.data_dir), "-A", "trust", "-U", SERVER_USER, "-E", "UTF8", "--no-sync",
                    timeout=timeout)
            for attempt in range(attempts):  # a free port can be taken between probe and bind
                pg.port = free_port()
                try:
                    pg._run("pg_ctl", "-D", str(pg.data_dir), "-l", str(root / "server.log"), "-w", "-t",
                            str(int(timeout)), "-o", f"-p {pg.port} -k {root} {SERVER_OPTIONS}", "start",
                            timeout=timeout + 5)
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
            pg.create_database(database)
        except BaseException:
            pg.stop()
            raise
        return pg

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> str:
        cmd = [str(self.bin_dir / tool), *args]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                               + (f"\nserver log:\n{tail}" if tail else ""))
        return proc.stdout

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command through the server's unix socket (psql from the same bin dir)."""
        return self._run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root), "-p", str(self.port),
                         "-U", SERVER_USER, "-d", database, "-At", "-c", sql)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (an identifier) and return its DSN."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn_for(name)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalPostgres":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
