"""Endpoint URLs: a malformed one is refused when it is read, naming why and never quoting it, and a
secret in one that slips through (userinfo, query) is masked in every error text that quotes it."""

from __future__ import annotations

import pytest

from chains.jsonrpc import Endpoint, JsonRpcClient, TransportError
from chains.secrets import display_url, secrets_in, url_problem
from support.common import run

SCHEMES = ("http", "https", "ws", "wss")


@pytest.mark.parametrize("url, why", [
    ("http://", "no host"),
    ("http://:8545/", "no host"),
    ("http://x:99999", "port"),
    ("http://x:0/", "port"),
    ("http://x:80a/", "port"),
    ("http://[::1", "bracket"),
    ("http://user:LITERALSECRETPW@[::1/", "bracket"),
    ("http://[zz]:1/", "host is malformed (a host in brackets"),
    ("http://ex\uff03ample/", "host is malformed"),
    ("ftp://x/", "scheme 'ftp'"),
    ("127.0.0.1:8545", "not a URL"),
])
def test_malformed_urls_are_named_never_quoted(url, why):
    problem = url_problem(url, SCHEMES)
    assert problem is not None and why in problem, problem
    assert "LITERAL" not in problem and "::1" not in problem.replace("[::1]:PORT", "")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8545", "https://user:pw@[::1]:8545/x?k=v", "wss://h.example/",
                                 "https://h.example/v2/${PORSCAN_TEST_UNSET_KEY}", "HTTPS://H.example:443"])
def test_wellformed_urls_pass(url, monkeypatch):
    monkeypatch.delenv("PORSCAN_TEST_UNSET_KEY", raising=False)
    assert url_problem(url, SCHEMES) is None


def test_secrets_of_a_url_that_does_not_parse_are_still_known():
    """urlsplit refuses ``[::1`` and the password was let through: aiohttp then quoted it whole."""
    secrets = secrets_in("http://user:LITERALSECRETPW@[::1/")
    assert "LITERALSECRETPW" in secrets
    assert "LITERALSECRETQ" in secrets_in("https://[::1/x.csv?key=LITERALSECRETQ")
    assert "LITERALSECRETQ" not in display_url("https://[::1/x.csv?key=LITERALSECRETQ")
    assert "LITERALSECRETPW" not in display_url("http://user:LITERALSECRETPW@[::1/")


def test_an_aiohttp_error_quoting_a_bad_url_is_masked():
    """An Endpoint built without the config's check (a library caller): aiohttp's InvalidUrlClientError
    is the URL itself, and it reaches logs, notes, JSON and the store."""
    ep = Endpoint(label="bad", url="http://user:LITERALSECRETPW@[::1/?apikey=LITERALSECRETQ")
    client = JsonRpcClient(ep, attempts=1)

    async def once():
        try:
            await client.call("eth_blockNumber", [])
        finally:
            await client.close()

    with pytest.raises(TransportError) as err:
        run(once())
    assert "LITERALSECRET" not in str(err.value), err.value
    assert "<bad>" in str(err.value)


def test_short_query_settings_are_not_masked():
    """A key in a query is masked; ``usd`` or ``bitcoin`` are settings, and masking them would turn
    every error text that mentions them into ``<label>``."""
    secrets = secrets_in("https://api.example/price?ids=bitcoin&vs=usd&key=abcdef123456")
    assert "abcdef123456" in secrets and "usd" not in secrets and "bitcoin" not in secrets
