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
  ``***``, the query (which may carry a key) hidden unless asked for.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Iterable, Sequence
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MIN_SECRET = 3  # shorter values are not secrets worth masking, and masking them would garble text


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


def userinfo_secrets(url: str) -> list[str]:
    """A URL's ``user:password@`` as the forms that can leak: the password, ``user:password`` and
    their Basic-auth base64 (aiohttp sends the decoded pair), each as written and percent-decoded."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return []
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
        if values:
            out.append(expanded)
        out += userinfo_secrets(expanded)
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
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else netloc
    hidden = "***" if parts.query and not query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=hidden, fragment=""))
