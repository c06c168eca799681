"""FAKE Esplora REST server (tests only): no Esplora/electrs server can run here.

It serves, in the real API's shapes, data read from a REAL regtest node (Bitcoin Knots): every
block with ``getblock <hash> 3`` (transactions with their prevouts), indexed per address as
Esplora does. Routes: ``/blocks/tip/height``, ``/block-height/:h``, ``/address/:a``
(``chain_stats``), ``/address/:a/txs/chain[/:last_seen_txid]`` (25 per page, newest first,
confirmed only). Its endpoint label is ``FAKE-esplora``; it is never a default endpoint.

Faults at ``fault_rate``: HTTP 429, HTTP 500, a reply slower than the client's timeout, truncated
JSON. Values are satoshis (converted exactly from the node's Decimal amounts).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from support.btc_world import CoreNode, sats
from support.faultproxy import http_fault_reply
from scanner.devnet.loopthread import ServedApp

LABEL = "FAKE-esplora"
FAULTS = ("http429", "http500", "timeout", "truncated")


@dataclass
class ChainData:
    tip: int = 0
    hashes: list[str] = field(default_factory=list)
    txs: list[dict] = field(default_factory=list)  # chain order
    by_address: dict[str, list[int]] = field(default_factory=dict)  # address -> indices into txs
    sums: dict[str, list[int]] = field(default_factory=dict)  # address -> [funded, spent] satoshis


def chain_data_from_node(node: CoreNode) -> ChainData:
    d = ChainData(tip=node.rpc("getblockcount"))
    for h in range(d.tip + 1):
        bh = node.rpc("getblockhash", h)
        d.hashes.append(bh)
        block = node.rpc("getblock", bh, 3)
        for tx in block["tx"]:
            vin = []
            touched = set()
            for i in tx["vin"]:
                if "coinbase" in i:
                    vin.append({"is_coinbase": True, "prevout": None})
                    continue
                p = i["prevout"]["scriptPubKey"]
                vin.append({"txid": i["txid"], "vout": i["vout"], "is_coinbase": False, "prevout": {
                    "scriptpubkey": p["hex"], "scriptpubkey_address": p.get("address"), "value": sats(i["prevout"]["value"])}})
                if p.get("address"):
                    touched.add(p["address"])
                    d.sums.setdefault(p["address"], [0, 0])[1] += sats(i["prevout"]["value"])
            vout = []
            for o in tx["vout"]:
                s = o["scriptPubKey"]
                vout.append({"scriptpubkey": s["hex"], "scriptpubkey_address": s.get("address"), "value": sats(o["value"])})
                if s.get("address"):
                    touched.add(s["address"])
                    d.sums.setdefault(s["address"], [0, 0])[0] += sats(o["value"])
            d.txs.append({"txid": tx["txid"], "vin": vin, "vout": vout,
                          "status": {"confirmed": True, "block_height": h, "block_hash": bh}})
            for a in touched:
                d.by_address.setdefault(a, []).append(len(d.txs) - 1)
    return d


class FakeEsplora:
    """FAKE Esplora on 127.0.0.1 (a thread with its own event loop)."""

    def __init__(self, data: ChainData, fault_rate: float = 0.0, seed: int = 1, timeout_sleep: float = 3.0,
                 valid_address=None, fault_prefix: str = "/"):
        self.data = data
        self.fault_rate = fault_rate
        self.fault_prefix = fault_prefix  # only paths starting with this get faults
        self.rng = random.Random(seed)
        self.timeout_sleep = timeout_sleep
        self.valid_address = valid_address or (lambda a: True)
        self.injected: Counter[str] = Counter()
        self.served = 0
        self.port: int | None = None
        self._server: ServedApp | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _fault(self, path: str):
        if self.fault_rate and path.startswith(self.fault_prefix) and self.rng.random() < self.fault_rate:
            f = self.rng.choice(FAULTS)
            self.injected[f] += 1
            return await http_fault_reply(f, self.timeout_sleep, "FAKE upstream error") or "truncated"
        return None

    async def _reply(self, request, value, text: bool = False):
        f = await self._fault(request.path)
        if isinstance(f, web.Response):
            return f
        self.served += 1
        body = str(value) if text else json.dumps(value)
        if f == "truncated":
            body = body[: max(1, len(body) // 2)]
        return web.Response(text=body, content_type="text/plain" if text else "application/json")

    async def tip(self, request):
        return await self._reply(request, self.data.tip, text=True)

    async def block_height(self, request):
        h = int(request.match_info["h"])
        if not 0 <= h <= self.data.tip:
            return web.Response(status=404, text="Block not found")
        return await self._reply(request, self.data.hashes[h], text=True)

    async def address(self, request):
        a = request.match_info["a"]
        if not self.valid_address(a):
            return web.Response(status=400, text="Invalid Bitcoin address")
        funded, spent = self.data.sums.get(a, (0, 0))
        idx = self.data.by_address.get(a, [])
        stats = {"funded_txo_count": 0, "funded_txo_sum": funded, "spent_txo_count": 0, "spent_txo_sum": spent,
                 "tx_count": len(idx)}
        return await self._reply(request, {"address": a, "chain_stats": stats, "mempool_stats": {
            "funded_txo_count": 0, "funded_txo_sum": 0, "spent_txo_count": 0, "spent_txo_sum": 0, "tx_count": 0}})

    async def txs_chain(self, request):
        a = request.match_info["a"]
        if not self.valid_address(a):
            return web.Response(status=400, text="Invalid Bitcoin address")
        newest_first = [self.data.txs[i] for i in reversed(self.data.by_address.get(a, []))]
        last = request.match_info.get("last")
        if last:
            pos = next((k for k, t in enumerate(newest_first) if t["txid"] == last), None)
            if pos is None:
                return web.Response(status=400, text="Transaction not found")
            newest_first = newest_first[pos + 1:]
        return await self._reply(request, newest_first[:25])

    def start(self) -> "FakeEsplora":
        app = web.Application()
        app.router.add_get("/blocks/tip/height", self.tip)
        app.router.add_get("/block-height/{h}", self.block_height)
        app.router.add_get("/address/{a}", self.address)
        app.router.add_get("/address/{a}/txs/chain", self.txs_chain)
        app.router.add_get("/address/{a}/txs/chain/{last}", self.txs_chain)
        self._server = ServedApp(app).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
