"""``porscan backfill``'s download of an https round (``scanner.pipeline.backfill.fetch``) against a
local TLS server whose certificate the client is made to trust."""

from __future__ import annotations

import ssl

import pytest
from aiohttp import web

from scanner.errors import UsageError
from scanner.pipeline.backfill import fetch
from support.common import local_sites, run, self_signed_cert


@pytest.fixture
def trusted_tls(tmp_path, monkeypatch):
    """A server TLS context for 127.0.0.1 and aiohttp's default verifying context trusting it (the
    download opens its own session with that default)."""
    import aiohttp.connector

    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", ssl.create_default_context(cafile=str(cert)))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server


def test_a_round_redirected_from_https_to_http_is_refused(tmp_path, trusted_tls):
    """An https round answering 302 to a plain http:// URL was downloaded and scanned; now the
    download fails naming why, and nothing is cached. A plain https download still works."""
    body = b"coin,network,address\n"

    async def go(path: str):
        ports: list[int] = []  # plain, https: the https server redirects to the plain one

        async def plain_file(request):
            return web.Response(body=body)

        async def moved(request):
            raise web.HTTPFound(f"http://127.0.0.1:{ports[0]}/f.csv")

        plain, secure = web.Application(), web.Application()
        plain.router.add_get("/f.csv", plain_file)
        secure.router.add_get("/moved.csv", moved)
        secure.router.add_get("/f.csv", plain_file)
        async with local_sites((plain, None), (secure, trusted_tls)) as found:
            ports[:] = found
            return await fetch(f"https://127.0.0.1:{ports[1]}/{path}", tmp_path / "cache")

    assert run(go("f.csv")).read_bytes() == body
    with pytest.raises(UsageError, match=r"moved.csv: redirected to a plain http:// URL; refused"):
        run(go("moved.csv"))
    (kept,) = (tmp_path / "cache").iterdir()  # the good download only
    assert kept.name.endswith("-f.csv")


def test_a_download_stops_while_its_disk_keeps_room(tmp_path, trusted_tls, monkeypatch):
    """An https round whose answer never ends (or outgrows the disk) was written until the cache's
    disk was full, and every other program's with it. It stops now, as a copy of stdin does, while
    256 MiB are still free; nothing is kept."""
    import shutil
    from collections import namedtuple

    import scanner.pipeline.inputs as inputs

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(inputs, "_ROOM_EVERY", 1 << 20)  # look at every MiB (64 MiB in use)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - (100 << 20), 100 << 20))

    async def go():
        async def endless(request):
            resp = web.StreamResponse()
            await resp.prepare(request)
            for _ in range(64):
                await resp.write(b"x" * (1 << 20))
            return resp

        app = web.Application()
        app.router.add_get("/big.csv", endless)
        async with local_sites((app, trusted_tls)) as (port,):
            return await fetch(f"https://127.0.0.1:{port}/big.csv?key=LITERALKEY", tmp_path / "cache")

    with pytest.raises(UsageError, match=r"big.csv\?\*\*\*: download stopped after \d+ MiB: less than 256 MiB left") as err:
        run(go())
    assert "LITERALKEY" not in str(err.value)
    assert not list((tmp_path / "cache").iterdir())
