"""porscan's own exceptions: one root, each class with the exit code the CLI gives it.

::

    PorscanError                 exit 1   something porscan could not do (the message says what)
    ├── UsageError               exit 2   the input as given cannot be used: option, file, config, request
    │   ├── InputError                    a reserve or liabilities file (names the file, line and field)
    │   └── ConfigError                   networks/coins/assets, schedule or feed config (names file and key)
    └── StoreError               exit 2   the database cannot be opened, read or written (passwords redacted)

The CLI has one handler (``scanner.cli.main``): it prints ``porscan COMMAND: <message>`` on one line
and exits with ``exit_code``; a traceback is never shown for these. Raise them ``from exc`` so the
cause stays attached for logs and debuggers. Chain errors (``chains.protocol.AdapterError``, RPC and
transport errors) stay below this tree: they are per-endpoint facts the pipeline turns into unread
rows and notes, not reasons to stop.
"""

from __future__ import annotations

from .exitcodes import EXIT_FAILED, EXIT_USAGE


class PorscanError(Exception):
    """Root of every error porscan raises on purpose; ``str(exc)`` is the one line shown to the user."""

    exit_code = EXIT_FAILED


class UsageError(PorscanError):
    """The input as given (an option, a file, a config key, an HTTP request) cannot be used."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """A reserve or liabilities file that cannot be read as a whole."""


class ConfigError(UsageError):
    """A config file or key that is wrong; the message names the file and the key."""


class StoreError(PorscanError):
    """A storage problem, with a message fit for the user (database passwords are never included)."""

    exit_code = EXIT_USAGE
