"""What the commands share: option types and groups, the input wrapper, consoles, the async runner."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable

from ..errors import UsageError
from .args import COUNT

if TYPE_CHECKING:
    from ..pipeline.inputs import Input


def run_async(coro: Any) -> Any:
    """asyncio.run, imported on first use: ``porscan verify`` never loads the event loop (~50 ms)."""
    import asyncio

    return asyncio.run(coro)


MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 1 << 30


def chunk_bytes_arg(text: str) -> int:
    """argparse type of --chunk-bytes: a whole number of bytes, at least MIN_CHUNK_BYTES."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes") from None
    if value < MIN_CHUNK_BYTES:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_CHUNK_BYTES} bytes")
    if value > MAX_CHUNK_BYTES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CHUNK_BYTES} bytes (one work unit is read into memory)")
    return value


def split_multi(values: list[str] | None, option: str = "--coin") -> frozenset[str]:
    """Repeated and comma-separated option values (``--coin A,B --coin C``), upper-case. A value
    that names nothing (``--coin ''``, ``--coin ,,,``) is a UsageError: it meant "no filter" before,
    the opposite of what was typed."""
    from ..errors import UsageError

    out: set[str] = set()
    for v in values or []:
        parts = {p.strip().upper() for p in v.split(",") if p.strip()}
        if not parts:
            raise UsageError(f"{option} {v!r}: names nothing (give one or more, comma-separated)")
        out.update(parts)
    return frozenset(out)


def on_input(command: str, args: argparse.Namespace, run: Callable[[argparse.Namespace, "Input"], int]) -> int:
    """``run(args, source)`` on the command's input as a local file (.gz/.zip/stdin unpacked first); an
    input that cannot be had (unreadable, a bad archive, no room for its copy) is an InputError."""
    from ..pipeline.inputs import open_input

    with open_input(args.file) as source:
        return run(args, source)


def require_extra(extra: str) -> None:
    """A UsageError naming the pip extra when a distribution it lists is not installed: ``porscan sample``
    and ``porscan demo`` sign with reference libraries that a plain ``pip install porscan`` leaves out."""
    import re
    from importlib import metadata

    from ..errors import UsageError

    try:
        requires = metadata.requires("porscan") or []
    except metadata.PackageNotFoundError:  # a source tree used without installing it: nothing to compare with
        return
    missing = []
    for req in requires:
        spec, _, marker = req.partition(";")
        name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
        if name is None or name.group(0) == "porscan" or f'extra == "{extra}"' not in marker.replace("'", '"'):
            continue
        try:
            metadata.distribution(name.group(0))
        except metadata.PackageNotFoundError:
            missing.append(name.group(0))
    if missing:
        raise UsageError(f"needs the {extra!r} extra: pip install 'porscan[{extra}]' (from a checkout: "
                         f"pip install '.[{extra}]'); missing {', '.join(missing)}")


def stdout_console():
    from rich.console import Console

    # piped: no width limit, so tables keep their natural width and no amount is cropped
    return Console(highlight=False, width=None if sys.stdout.isatty() else 100_000)


def consoles():
    from rich.console import Console

    return stdout_console(), Console(stderr=True, highlight=False)


def min_ratio_arg(text: str | None, err) -> tuple[bool, Decimal | None]:
    if text is None:
        return True, None
    try:
        value = Decimal(text)
        if not value.is_finite() or value < 0:
            raise InvalidOperation
        return True, value
    except InvalidOperation:
        err.print(f"porscan: --min-ratio {text!r} is not a non-negative number", markup=False)
        return False, None


INPUT_HELP = "published reserve file: CSV, .gz, .zip (one CSV member) or - for stdin"


def unfinished_run(run: Any, what: str = "") -> UsageError:
    """The one line for a command that needs a finished run and got another: how to finish it. A
    run of a downloaded file (schedule, backfill) is named by its URL, which `porscan scan` does not
    read: the job that started it resumes it. The path is quoted for a shell (it may hold spaces)."""
    import shlex

    if "://" in (run.input_path or ""):
        how = "the schedule or backfill that started it resumes it on its next pass"
    else:
        how = f"finish it with `porscan scan --resume {run.id} {shlex.quote(run.input_path)}`{what}"
    return UsageError(f"run {run.id} is {run.status}, not done; {how}")


def add_db_option(p: argparse.ArgumentParser) -> None:
    """``--db`` of the commands that read stored runs."""
    p.add_argument("--db", metavar="URL", help="database (default: $PORSCAN_DB or ~/.local/share/porscan/porscan.db)")


def add_display_options(p: argparse.ArgumentParser, bars: str = "no progress bar") -> None:
    """--no-progress and -q: how much goes to the terminal."""
    p.add_argument("--no-progress", action="store_true", help=bars)
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final line")


def add_network_options(p: argparse.ArgumentParser, per_group: str = "") -> None:
    """--config, --coins, --rpc, --strategy and --cross-check: how balances are read (balances, scan)."""
    p.add_argument("--config", metavar="PATH", help="networks and endpoints (default scanner/config/networks.toml)")
    p.add_argument("--coins", metavar="PATH", help="coin-key map (default scanner/config/coins.toml)")
    p.add_argument("--rpc", action="append", default=[], metavar="NETWORK=URL",
                   help="use this endpoint for a network instead of the configured ones (URL may hold ${ENV_VAR})")
    p.add_argument("--strategy", choices=["state-override-reader", "multicall3", "batched-calls"],
                   help="force one EVM read strategy (default: probe each endpoint)")
    p.add_argument("--cross-check", type=COUNT, default=0, metavar="N",
                   help=f"re-read N random balances{per_group} on a second EVM endpoint; an address the two disagree "
                        "on is unread (disputed, both values) unless a third endpoint agrees with one")


def time_columns(total_known: bool) -> list:
    """Rich progress columns: the time elapsed and, where the stage's total is known, the time left
    ("ETA 0:01:23"; "ETA -:--:--" until a rate is known), estimated from the recent rate."""
    from rich.progress import TextColumn, TimeElapsedColumn, TimeRemainingColumn

    cols: list = [TimeElapsedColumn()]
    if total_known:
        cols += [TextColumn("ETA"), TimeRemainingColumn()]
    return cols


class RichUI:
    """Progress bars per stage on stderr, with an ETA where the stage's total is known."""

    def __init__(self, console, show: bool):
        self.console = console
        self.show = show
        self.progress: Any = None  # a rich Progress while a stage runs
        self.task: Any = None

    def stage(self, name: str, total: int | None, done: int = 0) -> None:
        self.end_stage()
        if not self.show:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        cols = [TextColumn(f"{name:<10}"), BarColumn()]
        cols.append(TextColumn("{task.percentage:>3.0f}%") if name == "verify" else MofNCompleteColumn())
        self.progress = Progress(*cols, *time_columns(total is not None), console=self.console, transient=False)
        self.task = self.progress.add_task(name, total=total, completed=done)
        self.progress.start()

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n)

    def note(self, text: str) -> None:
        self.console.print(f"porscan scan: {text}", markup=False)

    def end_stage(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# Options that name a file porscan writes; every other path-valued option is read (or is the store).
_OUTPUT_DESTS = ("json", "csv", "html", "failures_csv", "out")


def _option_name(dest: str) -> str:
    return dest.upper() if dest == "out" else "--" + dest.replace("_", "-")


def check_output_paths(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output path that would destroy something: the command's own input
    or store (``verify X.csv --json X.csv`` emptied the file it was about to read, then reported
    0 rows), another output of the same run, or a directory."""
    import os
    from pathlib import Path

    from ..errors import UsageError

    outputs = {d: v for d in _OUTPUT_DESTS if isinstance(v := getattr(args, d, None), str) and v not in ("", "-")}
    if not outputs:
        return
    read: list[tuple[str, str]] = []  # (option, path) of every other existing path given
    for dest, value in vars(args).items():
        if dest in outputs:
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v:
                path = v.removeprefix("sqlite:///").removeprefix("sqlite://")  # a SQLite store's URL
                if os.path.exists(path):
                    read.append((dest, path))
    seen: dict[tuple[int, int] | str, str] = {}
    for dest, value in outputs.items():
        name = _option_name(dest)
        if os.path.isdir(value):
            raise UsageError(f"{name} {value}: is a directory; give a file path")
        key: tuple[int, int] | str
        if os.path.isfile(value):
            for other, path in read:
                if os.path.samefile(value, path):
                    shown = "FILE" if other == "file" else _option_name(other)
                    raise UsageError(f"{name} {value}: is the same file as {shown} {path}; "
                                     "porscan does not write over what it reads")
            st = os.stat(value)
            key = (st.st_dev, st.st_ino)
        elif os.path.exists(value):
            continue  # a device or FIFO (/dev/stdout): written in place, as often as asked
        else:
            key = str(Path(value).resolve())
        if key in seen:
            raise UsageError(f"{name} {value}: is also the path of {seen[key]}; give each output its own file")
        seen[key] = name
