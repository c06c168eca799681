"""A small run store and a feed server in a child process, for tests that talk to ``porscan serve``
over real sockets (limits, malformed requests): the child can get its own open-file limit, and its
log goes to a file whose size the test can measure."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .common import ROOT

_READY = re.compile(r"porscan feed on http://127\.0\.0\.1:(\d+)/")


def make_store(path: Path, exchanges: int = 2, days: int = 3, end: str = "2025-03-31") -> str:
    """A SQLite run store at ``path`` holding ``days`` finished runs for each of ``exchanges``."""
    from scanner.devnet.feed_sample import populate
    from scanner.storage import open_store

    async def fill() -> None:
        store = await open_store(str(path))
        try:
            await populate(store, exchanges, days, end)
        finally:
            await store.close()

    asyncio.run(fill())
    return str(path)


@dataclass(frozen=True, slots=True)
class FeedProcess:
    proc: subprocess.Popen
    port: int
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> str:
        """SIGTERM to its process group (it is the group's leader), then its whole log."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        return self.log.read_text(errors="replace")


def start_feed(db: str, log: Path, *, nofile: int | None = None, code: str | None = None,
               unset: tuple[str, ...] = ()) -> FeedProcess:
    """``porscan serve --db DB --port 0`` (or ``python -c CODE`` with ``DB`` in its environment as
    ``FEED_DB``, for a server with other limits than the command's), stderr into ``log``, with the
    soft open-file limit ``nofile`` and without the environment variables ``unset``. Returns once it
    logged the port it bound."""

    def limit() -> None:
        if nofile is not None:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    argv = ([sys.executable, "-c", code] if code is not None else
            [sys.executable, "-m", "scanner", "serve", "--db", db, "--port", "0"])
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, "FEED_DB": db, "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True, preexec_fn=limit)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        m = _READY.search(log.read_text(errors="replace"))
        if m:
            return FeedProcess(proc=proc, port=int(m.group(1)), log=log)
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    raise AssertionError("the feed server did not start:\n" + log.read_text(errors="replace")[-4000:])
