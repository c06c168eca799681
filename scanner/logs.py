"""Logging for every porscan command: human text by default, JSON lines for machines.

``porscan --log-format json ...`` (or ``PORSCAN_LOG_FORMAT=json``) writes one JSON object per line
on stderr: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, the record's extra fields, and
``exc`` with the traceback when there is one. Endpoint URLs never reach log records (adapters log
endpoint labels; their clients replace URLs by labels in error texts).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


_handler: logging.Handler | None = None


def setup(level: int | str = logging.WARNING, fmt: str | None = None) -> None:
    """Send log records to stderr in ``fmt`` from ``level`` up. Calling it again replaces porscan's own
    handler only (handlers others installed, e.g. a test's log capture, stay)."""
    global _handler
    fmt = (fmt or os.environ.get("PORSCAN_LOG_FORMAT") or "text").lower()
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(_handler)
    root.setLevel(level)
