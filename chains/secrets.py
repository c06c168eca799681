"""Secrets in configuration: ``${VAR}`` references, passwords in URLs, and keeping both out of text.

The one place for these rules; endpoints (``chains.jsonrpc``), the store, the scheduler and the
feed use it:

* :func:`expand_env` resolves ``${VAR}`` from the environment (an unset one is a ConfigError,
  naming where it was written), :func:`unset_vars` lists the unset ones without failing;
* :func:`secrets_in` gives every form a secret in a text can take once used: the values its
  ``${VAR}`` references expand to, a URL password as written and percent-decoded, ``user:password``
  and its Basic-auth base64;
* :func:`redactor` builds one case-insensitive pattern over those forms and their percent-encodings
  (hosts come back lower-cased, URLs quoted) and :func:`scrub` replaces them in any message;
* :func:`display_url` is how a URL is shown: ``${VAR}`` references as written, a password as
  ``***``, the query (which may carry a key) hidden unless asked for;
* :func:`url_problem` says why an endpoint URL cannot be used (scheme, host, port, an unclosed
  IPv6 bracket) without quoting it: a URL that does not parse may still carry a password or key.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Iterable, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MIN_SECRET = 3  # shorter values are not secrets worth masking, and masking them would garble text
MIN_KEY = 8  # a header or query value this long may be an API key; shorter ones (usd, 1h) are settings


def looks_like_key(value: str) -> bool:
    """Whether a header or query value written as is (not ``${VAR}``) is masked like a secret."""
    return len(value) >= MIN_KEY


class ConfigError(ValueError):
    """An endpoint or setting cannot be used as configured (e.g. its API key variable is not set)."""


def expand_env(text: str, where: str = "") -> str:
    """``${VAR}`` -> the variable's value; an unset variable is a ConfigError naming ``where``."""
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise ConfigError(f"{where + ': ' if where else ''}environment variable {m.group(1)} is not set")
        return value

    return ENV_REF.sub(sub, text)


def unset_vars(text: str | None) -> list[str]:
    """The ``${VAR}`` names in ``text`` that are unset or empty."""
    return [name for name in ENV_REF.findall(text or "") if not os.environ.get(name)]


# scheme://NETLOC: what a URL's authority is even when urlsplit refuses the rest (``[::1`` unclosed)
_NETLOC = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def _userinfo(url: str) -> tuple[str | None, str | None]:
    """(user, password) of ``url``; read from the authority by hand when the URL does not parse, so a
    malformed URL's password is masked like any other (aiohttp's errors quote the URL whole)."""
    try:
        parts = urlsplit(url)
        return parts.username, parts.password
    except ValueError:
        m = _NETLOC.match(url)
        if m is None or "@" not in m.group(1):
            return None, None
        user, _, password = m.group(1).rpartition("@")[0].partition(":")
        return user, password or None


def userinfo_secrets(url: str) -> list[str]:
    """A URL's ``user:password@`` as the forms that can leak: the password, ``user:password`` and
    their Basic-auth base64 (aiohttp sends the decoded pair), each as written and percent-decoded."""
    user, password = _userinfo(url)
    if not password:
        return []
    out = []
    for u, p in {(user or "", password), (unquote(user or ""), unquote(password))}:
        pair = f"{u}:{p}"
        out += [p, pair, base64.b64encode(pair.encode("latin-1", "replace")).decode(),
                base64.b64encode(pair.encode()).decode()]
    return [s for s in dict.fromkeys(out) if len(s) >= MIN_SECRET]


def secrets_in(*texts: str | None) -> list[str]:
    """Every secret ``texts`` (URLs, header values, as written with ``${VAR}``) carry once expanded:
    the referenced values, the expanded text when it references any, and URL passwords. Longest first."""
    out: list[str] = []
    for t in texts:
        if not t:
            continue
        values = [os.environ[name] for name in ENV_REF.findall(t) if os.environ.get(name)]
        out += values
        expanded = ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), t)
        if values or "://" in expanded:  # a URL whole: error texts quote it (aiohttp's invalid-URL error)
            out.append(expanded)
        out += userinfo_secrets(expanded)
        if "://" in expanded:  # a key written literally in the query (``?apikey=...``)
            query = expanded.partition("?")[2].partition("#")[0]
            out += [v for _, v in parse_qsl(query, keep_blank_values=False) if looks_like_key(v)]
    return sorted({s for s in out if len(s) >= MIN_SECRET}, key=len, reverse=True)


def redactor(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every secret, as is and percent-encoded (longest first)."""
    forms: set[str] = set()
    for s in secrets:
        forms.update((s, quote(s, safe=""), quote(s, safe="/:@"), quote(s)))
    forms.discard("")
    if not forms:
        return None
    return re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))), re.IGNORECASE)


def scrub(text: str, secrets: Sequence[str], mask: str = "***") -> str:
    """``text`` with every form of ``secrets`` replaced by ``mask``."""
    pattern = redactor(secrets)
    return text if pattern is None else pattern.sub(mask, text)


def display_url(url: str, *, query: bool = False) -> str:
    """A URL as logs, reports and errors show it: ``${VAR}`` references as written, a password as
    ``***``, the fragment dropped and the query hidden (``query=True`` keeps it, e.g. a database
    URL's ``sslmode``). An unparsable URL still has its ``user:password@`` masked; a plain file path
    is returned as it is."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed netloc
    except ValueError:  # the password and the query masked by hand (the query may carry a key)
        url = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url.partition("#")[0])
        head, sep, _query = url.partition("?")
        return head + (sep and "?***")
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else netloc
    hidden = "***" if parts.query and not query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=hidden, fragment=""))


def url_problem(url: str, schemes: Iterable[str]) -> str | None:
    """Why ``url`` (as written; ``${VAR}`` references allowed anywhere) cannot be an endpoint, or None.

    Checked when options and config are read, not on the first request: a URL without a host, with a
    port out of range or an unclosed IPv6 bracket passed ``--dry`` and then failed every retry. The
    reason never quotes the URL: one that does not parse may carry a password, a key in its path or
    query. An unset variable reads as ``1`` here (valid as a host, a port or a path); set ones are
    checked as their values."""
    text = ENV_REF.sub(lambda m: os.environ.get(m.group(1)) or "1", url.strip())
    allowed = tuple(s.lower() for s in schemes)
    said = ", ".join(allowed)
    scheme, sep, _rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return f"not a URL (expected SCHEME://HOST..., the scheme one of {said})"
    if scheme.lower() not in allowed:
        return f"scheme {scheme.lower()!r} is not one porscan speaks here ({said})"
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        if "Invalid IPv6 URL" in str(exc):
            return "the IPv6 host's bracket is not closed (write it as [::1]:PORT)"
        if "[" in _rest.partition("/")[0]:
            return "its host is malformed (a host in brackets must be an IPv6 address)"
        return "its host is malformed"
    host = parts.hostname
    if not host:
        return "no host"
    if re.search(r"[\s<>\\^`{|}\"]", host):
        return "its host has a character no host name can have"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # also "-1", "80a" and "99999", which urlsplit refuses
        return "its port is not a number from 1 to 65535"
    return None
