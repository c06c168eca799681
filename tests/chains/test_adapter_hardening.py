"""Adapter hardening: what a garbled, slow, lying or reorganising endpoint does to a read.

EVM cases run on the real anvil node behind :class:`RewriteProxy`, a proxy that forwards every request
to the node and changes only what the case needs (a disagreeing balance, a null result, a garbled
batch item, a block that changes, a refused EIP-1898 block hash, a "timeout" for big calls). Also:
address and quantity parsing, the rate limiter and the endpoint limits in networks.toml, secret
redaction, and Solana amounts summed across two slots (FAKE Solana server: no validator runs here).
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiohttp import web
from eth_utils import to_checksum_address

from support.common import balances_then_close, run
from chains.evm import EvmAdapter, decode_uint, encode_native_call, parse_address, _parse_all
from chains.failover import FailoverAdapter
from chains.jsonrpc import ConfigError, Endpoint, JsonRpcClient, RateLimiter, TransportError
from chains.protocol import Asset
from support.evm_world import EvmWorld, build_world
from support.faultproxy import FaultProxy

ETH = Asset("local", "ETH", 18)


@pytest.fixture(scope="module")
def world(anvil) -> EvmWorld:
    return build_world(anvil.url, n_native=12, n_holders=3)


class RewriteProxy(FaultProxy):
    """Forwards each JSON-RPC request to the real node; ``rewrite(calls, reply)`` returns the reply sent back
    (``calls`` and ``reply`` are lists, single requests wrapped)."""

    def __init__(self, upstream: str, rewrite):
        super().__init__(upstream, 0.0)
        self.rewrite = rewrite
        self.http_requests = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.http_requests += 1
        calls = json.loads(body)
        async with self._session.post(self.upstream, data=body, headers={"content-type": "application/json"}) as up:
            reply = json.loads(await up.read())
        single = isinstance(calls, dict)
        out = self.rewrite([calls] if single else calls, [reply] if single else reply)
        return web.json_response(out[0] if single and len(out) == 1 else out)


def pairs(calls, reply):
    """(call, reply item) by id."""
    by_id = {c["id"]: c for c in calls}
    return [(by_id.get(item.get("id")), item) for item in reply]


def by_hash(call) -> bool:
    return any(isinstance(p, dict) and "blockHash" in p for p in call["params"])


async def read(eps, asset, addresses, height, cross_check=0, seed=None, **kw):
    ad = FailoverAdapter("local", [EvmAdapter("local", e, **kw) for e in eps], cross_check=cross_check, seed=seed)
    return await balances_then_close(asset, ad, addresses, height), ad


# ------------------------------------------------------------------ 1. cross-check disagreement


def test_cross_check_disagreement_leaves_the_rows_unread_not_a_crash(world):
    def plus_one(calls, reply):
        for call, item in pairs(calls, reply):
            if call and call["method"] == "eth_getBalance" and isinstance(item.get("result"), str):
                item["result"] = hex(int(item["result"], 16) + 1)
        return reply

    addrs = list(world.native)[:5]
    with RewriteProxy(world.url, plus_one) as px:
        eps = [Endpoint("anvil", world.url), Endpoint("liar", px.url)]
        batch, _ = run(read(eps, ETH, addrs, world.snapshot, cross_check=5, seed=1, force_strategy="batched-calls"))
    # two endpoints disagree and no third settles it: neither figure counts
    assert batch.read == 0 and all(r.amount_base_units is None and r.error.startswith("disputed: ") for r in batch.results)
    assert any(n.startswith("cross-check: 0/5") for n in batch.notes), batch.notes
    bad = [n for n in batch.notes if "DISAGREEMENT" in n]
    assert len(bad) == 5
    a = addrs[0]
    assert f"anvil says {world.native[a]}, liar says {world.native[a] + 1}" in " ".join(bad)


# ------------------------------------------------------------------ 2. rate limits and endpoint limits



def _liar(world, target, value):
    """A server that lies about one address's balance (eth_getBalance), in front of real anvil."""
    def lie(calls, reply):
        for call, item in pairs(calls, reply):
            if call and call["method"] == "eth_getBalance" and call["params"][0].lower() == target.lower():
                item["result"] = hex(value)
        return reply

    return RewriteProxy(world.url, lie)


def test_cross_check_disagreement_leaves_the_address_unread(world):
    """Two endpoints that disagree: neither figure counts (the row is unread, both values said)."""
    addrs = list(world.native)
    target = addrs[0]
    with _liar(world, target, world.native[target] + 5) as px:
        eps = [Endpoint("honest", world.url), Endpoint("liar", px.url)]
        batch, _ = run(read(eps, ETH, addrs, world.snapshot, cross_check=len(addrs), seed=1,
                            force_strategy="batched-calls"))
    got = {r.address: r for r in batch.results}
    assert got[target].amount_base_units is None
    err = got[target].error
    assert "disputed" in err and f"honest says {world.native[target]}" in err and f"liar says {world.native[target] + 5}" in err
    assert batch.read == len(addrs) - 1 and not batch.complete
    assert batch.total_base_units == sum(v for a, v in world.native.items() if a != target)
    assert any("DISAGREEMENT" in n for n in batch.notes)


@pytest.mark.parametrize("liar_first", [True, False])
def test_a_third_endpoint_settles_a_dispute(world, liar_first):
    addrs = list(world.native)
    target = addrs[1]
    with _liar(world, target, 7) as px:
        liar, honest = Endpoint("liar", px.url), Endpoint("honest", world.url)
        eps = [liar, honest, Endpoint("third", world.url)] if liar_first else [honest, liar, Endpoint("third", world.url)]
        batch, _ = run(read(eps, ETH, addrs, world.snapshot, cross_check=len(addrs), seed=1,
                            force_strategy="batched-calls"))
    assert batch.complete
    got = {r.address: r for r in batch.results}
    assert got[target].amount_base_units == world.native[target]  # the value two endpoints agree on
    assert got[target].endpoint == "honest"
    assert any("settled" in n and "third" in n for n in batch.notes)

def test_rate_below_one_per_second_still_gives_tokens():
    async def go():
        limiter = RateLimiter(0.5)
        await asyncio.wait_for(limiter.acquire(), 1.0)  # the first one at once (a bucket capped at 0.5 never got 1)

    run(go())


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_rate_not_positive_is_refused(rate):
    with pytest.raises(ConfigError, match="requests_per_second"):
        RateLimiter(rate)


@pytest.mark.parametrize("key,value", [("requests_per_second", 0), ("requests_per_second", -2.5),
                                       ("concurrency", 0), ("max_batch", 0), ("max_batch", -1), ("timeout", 0),
                                       ("timeout", -1), ("concurrency", 1.5), ("requests_per_second", "fast")])
def test_networks_toml_refuses_bad_endpoint_limits(tmp_path, key, value):
    from scanner.config.networks import NetConfigError, load_networks

    path = tmp_path / "networks.toml"
    path.write_text(f'[networks.eth]\nkind = "evm"\nchain_id = 1\n[[networks.eth.endpoints]]\nlabel = "prov"\n'
                    f'url = "http://127.0.0.1:1"\n{key} = {json.dumps(value)}\n')
    with pytest.raises(NetConfigError, match=f"network eth: endpoint prov: {key} must be"):
        load_networks(path)


def test_networks_toml_accepts_a_slow_rate(tmp_path):
    from scanner.config.networks import load_networks

    path = tmp_path / "networks.toml"
    path.write_text('[networks.eth]\nkind = "evm"\nchain_id = 1\n[[networks.eth.endpoints]]\nlabel = "prov"\n'
                    'url = "http://127.0.0.1:1"\nrequests_per_second = 0.5\nconcurrency = 1\nmax_batch = 1\n'
                    'timeout = 2.5\n')
    (ep,) = load_networks(path)["eth"].endpoints
    assert (ep.requests_per_second, ep.concurrency, ep.max_batch, ep.timeout) == (0.5, 1, 1, 2.5)


# ------------------------------------------------------------------ 3. block pinning


def test_transient_hash_probe_failure_does_not_fix_reads_by_number(world):
    state = {"fail": True}

    def flaky_hash(calls, reply):
        for call, item in pairs(calls, reply):
            if state["fail"] and call and call["method"] == "eth_getBalance" and by_hash(call):
                item.pop("result", None)
                item["error"] = {"code": -32005, "message": "rate limit exceeded"}
        return reply

    addrs = list(world.native)[:3]
    with RewriteProxy(world.url, flaky_hash) as px:
        async def go():
            ad = EvmAdapter("local", Endpoint("p", px.url), attempts=2, backoff_min=0.001, backoff_max=0.01)
            try:
                first = await ad.balances(ETH, addrs, world.snapshot)
                state["fail"] = False
                second = await ad.balances(ETH, addrs, world.snapshot)
                return first, second, ad.block_param_style
            finally:
                await ad.close()

        first, second, style = run(go())
    assert first.read == 0
    assert style == "hash"  # probed again once the provider answered, not left on "number"
    assert second.complete and all(r.amount_base_units == world.native[r.address] for r in second.results)


def test_block_with_another_number_is_refused(world):
    def wrong_number(calls, reply):
        for call, item in pairs(calls, reply):
            if call and call["method"] == "eth_getBlockByNumber" and isinstance(item.get("result"), dict):
                item["result"]["number"] = hex(int(item["result"]["number"], 16) + 1)
        return reply

    with RewriteProxy(world.url, wrong_number) as px:
        batch, _ = run(read([Endpoint("p", px.url)], ETH, list(world.native)[:3], world.snapshot))
    assert batch.read == 0 and all(r.amount_base_units is None for r in batch.results)
    assert any(f"asked for block {world.snapshot}, the node returned block {world.snapshot + 1}" in n
               for n in batch.notes), batch.notes


@pytest.mark.parametrize("reorg", [False, True])
def test_reads_by_number_are_rechecked_against_the_block_hash(world, reorg):
    seen = {"blocks": 0}

    def no_eip1898(calls, reply):
        for call, item in pairs(calls, reply):
            if call is None:
                continue
            if by_hash(call):  # an endpoint without EIP-1898: reads go by number
                item.pop("result", None)
                item["error"] = {"code": -32602, "message": "invalid argument 1: hex string without 0x prefix"}
            elif call["method"] == "eth_getBlockByNumber" and isinstance(item.get("result"), dict):
                seen["blocks"] += 1
                if reorg and seen["blocks"] > 1:
                    item["result"]["hash"] = "0x" + "ee" * 32
        return reply

    addrs = list(world.native)[:4]
    with RewriteProxy(world.url, no_eip1898) as px:
        batch, ad = run(read([Endpoint("p", px.url)], ETH, addrs, world.snapshot))
    assert ad.adapters[0].block_param_style == "number" and seen["blocks"] >= 2
    if not reorg:
        assert batch.complete and all(r.block.at_snapshot and r.block.hash for r in batch.results)
        assert {r.address: r.amount_base_units for r in batch.results} == {a: world.native[a] for a in addrs}
    else:
        assert batch.read == 0
        assert all("block changed during the read (reorg?)" in r.error for r in batch.results)


# ------------------------------------------------------------------ 4, 5, 6. addresses and quantities

NINETEEN_BYTES = "0x" + "ab" * 19 + "  "  # 42 characters
INNER_SPACE = "0x" + "ab" * 10 + " " + "cd" * 10


def test_only_0x_and_40_hex_digits_are_addresses():
    good = "0x" + "11" * 20
    for bad in (NINETEEN_BYTES, INNER_SPACE, "0x" + "ab" * 19 + "\n\n", "0x" + "11" * 21, "11" * 20 + "0x", "0x-" + "1" * 39):
        assert parse_address(bad) is None, bad
        assert _parse_all([good, bad]) == [bytes(b"\x11" * 20), None], bad
    assert parse_address(" " + good + " ") == b"\x11" * 20


def test_a_short_address_does_not_break_its_chunk(world):
    addrs = list(world.native)[:4]
    batch, _ = run(read([Endpoint("anvil", world.url)], ETH, addrs + [NINETEEN_BYTES, INNER_SPACE], world.snapshot,
                        force_strategy="state-override-reader"))
    assert [r.amount_base_units for r in batch.results[:4]] == [world.native[a] for a in addrs]
    assert [r.error for r in batch.results[4:]] == ["not an EVM address", "not an EVM address"]


def test_eip55_checksum_is_required_for_mixed_case(world):
    a = to_checksum_address(list(world.native)[0])
    letters = [i for i, c in enumerate(a) if i > 1 and c.isalpha()]
    i = letters[0]
    broken = a[:i] + a[i].swapcase() + a[i + 1:]
    assert broken[2:] not in (broken[2:].lower(), broken[2:].upper())
    assert parse_address(broken) is None and parse_address(a) is not None
    batch, _ = run(read([Endpoint("anvil", world.url)], ETH, [a, a.lower(), "0x" + a[2:].upper(), broken],
                        world.snapshot))
    ok, low, up, bad = batch.results
    assert ok.amount_base_units == low.amount_base_units == up.amount_base_units == world.native[list(world.native)[0]]
    assert bad.amount_base_units is None and bad.error == "bad EIP-55 checksum" and bad.block is None


@pytest.mark.parametrize("text", ["0x-1", "0x1_0", "0x 12", "0x+5", "0x12 ", "0x" + "1" * 65, "0x", "12", None, 5])
def test_decode_uint_accepts_only_hex_digits(text):
    with pytest.raises(ValueError):
        decode_uint(text)


def test_decode_uint_full_width():
    assert decode_uint("0x" + "f" * 64) == 2**256 - 1 and decode_uint("0x0") == 0 and decode_uint("0xA") == 10


# ------------------------------------------------------------------ 7. garbled replies


def test_garbled_batch_items_are_retried_not_crashes(world):
    state = {"n": 0}

    def garble_once(calls, reply):
        state["n"] += 1
        if state["n"] == 1:  # unhashable ids: those items are missing, the batch is retried
            return [dict(item, id=[item["id"]]) for item in reply]
        if state["n"] == 2:  # error objects with a code that is not an integer
            return [{"jsonrpc": "2.0", "id": item["id"], "error": {"code": "x", "message": "boom"}} for item in reply]
        return reply

    with RewriteProxy(world.url, garble_once) as px:
        async def go():
            c = JsonRpcClient(Endpoint("p", px.url), attempts=4, backoff_min=0.001, backoff_max=0.01)
            try:
                return await c.batch([("eth_blockNumber", []), ("eth_chainId", [])]), dict(c.errors)
            finally:
                await c.close()

        results, errors = run(go())
    assert all(isinstance(r, str) and r.startswith("0x") for r in results), results
    assert state["n"] == 3 and errors.get("malformed-item") == 2 and errors.get("batch-items-missing") == 1


def test_error_code_null_until_the_end_is_a_per_item_error(world):
    def null_code(calls, reply):
        return [{"jsonrpc": "2.0", "id": item["id"], "error": {"code": None, "message": "m"}} for item in reply]

    with RewriteProxy(world.url, null_code) as px:
        async def go():
            c = JsonRpcClient(Endpoint("p", px.url), attempts=2, backoff_min=0.001, backoff_max=0.01)
            try:
                return await c.batch([("eth_blockNumber", [])])
            finally:
                await c.close()

        (r,) = run(go())
    assert isinstance(r, TransportError) and "malformed error object" in str(r)


@pytest.mark.parametrize("strategy", ["state-override-reader", "multicall3"])
def test_null_call_result_is_an_error_per_address(world, strategy):
    probe_len = len(encode_native_call([bytes(20)]))

    def null_calls(calls, reply):
        for call, item in pairs(calls, reply):
            if call and call["method"] == "eth_call" and len(call["params"][0]["data"]) > probe_len + 64:
                item["result"] = None
        return reply

    addrs = list(world.native)[:4]
    with RewriteProxy(world.url, null_calls) as px:
        batch, _ = run(read([Endpoint("p", px.url)], ETH, addrs, world.snapshot, force_strategy=strategy))
    assert batch.read == 0 and all("unreadable result" in r.error for r in batch.results), batch.results[0]


# ------------------------------------------------------------------ 10. bounded splitting


def test_too_big_splits_stop_and_failover_takes_over(world):
    probe_len = len(encode_native_call([bytes(20)]))

    def too_big(calls, reply):  # any reader call with more than 2 addresses "times out"
        for call, item in pairs(calls, reply):
            if call and call["method"] == "eth_call" and len(call["params"][0]["data"]) > probe_len + 64:
                item.pop("result", None)
                item["error"] = {"code": -32000, "message": "execution timeout"}
        return reply

    extra = ["0x" + os.urandom(20).hex() for _ in range(250)]
    addrs = list(world.native) + extra
    with RewriteProxy(world.url, too_big) as px:
        batch, ad = run(read([Endpoint("slow", px.url), Endpoint("anvil", world.url)], ETH, addrs, world.snapshot,
                             force_strategy="state-override-reader"))
        sent = px.http_requests
    assert batch.complete and all(r.endpoint == "anvil" for r in batch.results)
    assert all(r.amount_base_units == world.native.get(r.address, 0) for r in batch.results)
    # block, probes, then the chunk halved 4 times (one request per level): not one request per address
    assert sent <= 12, sent


# ------------------------------------------------------------------ 11. redaction


def test_secrets_redacted_whatever_their_case_and_encoding(monkeypatch):
    monkeypatch.setenv("PORSCAN_HOST_KEY", "KeyInHost42")
    c = JsonRpcClient(Endpoint("lbl", "http://${PORSCAN_HOST_KEY}.example:1/"))
    text = c.redact("Cannot connect to host keyinhost42.example:1 and KEYINHOST42, http%3A%2F%2FKeyInHost42.example")
    assert "keyinhost42" not in text.lower() and text.count("<lbl>") == 3
    monkeypatch.setenv("PORSCAN_PATH_KEY", "a b/c")
    c = JsonRpcClient(Endpoint("lbl", "http://127.0.0.1:1/${PORSCAN_PATH_KEY}"))
    assert c.redact("GET /a%20b/c and /a%20b%2Fc failed") == "GET /<lbl> and /<lbl> failed"


def test_url_password_never_leaks_even_when_the_server_echoes_basic_auth():
    """A literal ``user:password@`` endpoint: aiohttp sends it as Basic credentials; a server that
    answers 401 with the request's Authorization header must not put the password (or its base64)
    into porscan's error."""
    import base64

    from scanner.devnet.loopthread import ServedApp

    seen = []

    async def echo(request):
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=401, text=f"denied, you sent {request.headers.get('Authorization')} "
                                             f"to {request.url}")

    app = web.Application()
    app.router.add_post("/", echo)
    with ServedApp(app) as srv:
        url = srv.url.replace("http://", "http://porscan:S3cr%40t-pw@") + "/"
        client = JsonRpcClient(Endpoint("node", url), attempts=1)

        async def go():
            try:
                await client.call("eth_blockNumber", [])
            finally:
                await client.close()

        with pytest.raises(TransportError) as exc:
            run(go())
    basic = base64.b64encode(b"porscan:S3cr@t-pw").decode()
    assert seen and seen[0] == f"Basic {basic}"  # the server really had the credentials to echo
    msg = str(exc.value)
    assert "HTTP 401" in msg and "<node>" in msg
    for leak in ("S3cr@t-pw", "S3cr%40t-pw", basic):
        assert leak not in msg, msg


# ------------------------------------------------------------------ 8. Solana: one figure, one slot


def test_solana_token_parts_at_two_slots_are_not_at_snapshot():
    from chains.solana import SolanaAdapter
    from scanner.devnet.fake_tron_solana import USDT_SPL_MINT, FakeSolana, solana_world

    fake = FakeSolana(slot=500, slot_step=1)  # every HTTP request moves the chain one slot on
    world = solana_world(fake, n=1, prefix="twoslots")
    owner = world["owners"][0]
    with fake.serve() as srv:
        async def go():
            # one call per HTTP request: getSlot 501, getBlockHeight 502, Token and Token-2022 at 503 and 504
            ad = SolanaAdapter("solana", Endpoint("FAKE-SOLANA", srv.url, max_batch=1, concurrency=1))
            return await balances_then_close(Asset("solana", "USDT", 6, USDT_SPL_MINT), ad, [owner], 504)

        batch = run(go())
    (r,) = batch.results
    assert r.amount_base_units == world["usdt"][owner]
    assert r.block.number == 504 and r.block.at_snapshot is False
    assert any("Token at slot 503 and Token-2022 at slot 504" in n for n in batch.notes), batch.notes


@pytest.mark.parametrize("status, tries, body", [(401, 1, "nope"), (403, 1, "nope"), (404, 1, "nope"), (413, 1, "nope"),
                                                 (408, 4, "nope"), (429, 4, "nope"), (503, 4, "nope"),
                                                 (403, 4, "rate limit exceeded, slow down")])
def test_a_refused_request_is_not_asked_again(status, tries, body):
    """A 4xx other than 408/429 is the server's answer to the request itself (a bad key, a wrong
    path): asking again gets the same answer, so it is said once, not retried; 408/429/5xx are."""
    from scanner.devnet.loopthread import ServedApp

    from chains.httpapi import HttpApiClient

    seen = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=status, text=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    with ServedApp(app) as srv:
        async def go():
            c = JsonRpcClient(Endpoint("ep", srv.url), attempts=4, backoff_min=0.001, backoff_max=0.01)
            h = HttpApiClient(Endpoint("api", srv.url), attempts=4, backoff_min=0.001, backoff_max=0.01)
            try:
                with pytest.raises(TransportError, match=f"HTTP {status}"):
                    await c.call("eth_blockNumber", [])
                rpc_tries = len(seen)
                with pytest.raises(TransportError, match=f"HTTP {status}"):
                    await h.post("/wallet/getnowblock")
                return rpc_tries, len(seen) - rpc_tries
            finally:
                await c.close()
                await h.close()

        assert run(go()) == (tries, tries)
