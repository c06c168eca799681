"""A fault-injecting proxy for line-delimited JSON-RPC over TCP (the Electrum protocol), in front of a
real server. At ``rate``, a request line gets one of: the connection dropped, a garbage line, a
stall past the client's timeout, a batch reply with one item missing, or one item replaced by a
"server busy" error. Everything else is forwarded unchanged."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

from support.faultproxy import spoil_one_item
from scanner.devnet.loopthread import LoopThread

FAULTS = ("drop", "garbage", "stall", "missing-item", "busy")
SERVER_BUSY = {"code": -102, "message": "server busy - request timed out"}


class TcpFaultProxy:
    def __init__(self, upstream_port: int, rate: float, seed: int = 1, faults=FAULTS, stall: float = 2.0,
                 match: bytes = b""):
        self.upstream_port = upstream_port
        self.rate = rate
        self.rng = random.Random(seed)
        self.faults = tuple(faults)
        self.stall = stall
        self.match = match  # only lines containing this get faults
        self.injected: Counter[str] = Counter()
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lt = LoopThread()
        self._clients: set[asyncio.Task] = set()  # ended at stop(): a client left pending closes its writer late

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port, limit=2**24)
        except OSError:
            writer.close()
            return
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                eligible = self.match in line
                fault = self.rng.choice(self.faults) if eligible and self.rng.random() < self.rate else None
                if fault:
                    self.injected[fault] += 1
                if fault == "drop":
                    break
                if fault == "garbage":
                    writer.write(b"{not json\n")
                    await writer.drain()
                    continue
                if fault == "stall":
                    await asyncio.sleep(self.stall)
                    break
                up_w.write(line)
                await up_w.drain()
                reply = await up_r.readline()
                if fault in ("missing-item", "busy"):
                    msg = json.loads(reply)
                    if isinstance(msg, list) and msg:
                        spoil_one_item(msg, self.rng, fault == "missing-item", SERVER_BUSY)
                        reply = json.dumps(msg).encode() + b"\n"
                writer.write(reply)
                await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            up_w.close()
            writer.close()

    def start(self) -> "TcpFaultProxy":
        async def boot() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=2**24)
            self.port = self._server.sockets[0].getsockname()[1]

        self._lt.start(boot)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            # cancelled and awaited here, while the loop runs: left pending, a client (stalled, or
            # waiting for a line) would close its writer when the stopped loop is collected, after it
            # has closed ("Event loop is closed" in a later test's teardown)
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)

        self._lt.stop(shutdown)

    def __enter__(self) -> "TcpFaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
