"""Reading a config or list file as text or TOML: every way it can fail is one ConfigError line.

A path that is a folder, one under a file, a file that is not UTF-8 (a UTF-16 export starts with
``\\xff\\xfe``) or not TOML each surfaced as a traceback from one loader or another; the networks,
coins, assets, prices, zk digests and schedule files and the backfill list read through here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError


def read_text(path: str | Path, error: type[UsageError] = ConfigError) -> str:
    """The file's text (UTF-8, a BOM dropped); ``error`` naming the file and why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except NotADirectoryError:
        raise error(f"{path}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read: not UTF-8 text (byte {exc.start}: {exc.reason}); "
                    f"save it as UTF-8") from exc


def read_toml(path: str | Path, error: type[UsageError] = ConfigError) -> dict[str, Any]:
    """The file as a TOML table; ``error`` naming the file and the first problem."""
    text = read_text(path, error)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc


def table(value: Any, path: str | Path, key: str, what: str = "a table",
          error: type[UsageError] = ConfigError) -> dict[str, Any]:
    """``value`` when it is a TOML table, else ``error`` naming the file and key (``networks = [1, 2]``
    met ``.items()`` as a traceback)."""
    if not isinstance(value, dict):
        raise error(f"{path}: {key}: expected {what}, got {type(value).__name__} {str(value)[:40]!r}")
    return value
