"""The input file as the user gave it -> a local regular file the verify pipeline can cut into chunks.

``porscan verify`` cuts the file into byte ranges that worker processes re-open by path, so it
needs a seekable regular file. Exchanges publish ``.gz`` and ``.zip`` files and users pipe
downloads in (``curl ... | porscan verify -``); :func:`open_input` turns each of those into a
temporary plain copy, streaming in constant memory, and hashes the bytes *as given* on the way so
reports can cite the SHA-256 of what was downloaded, not only of what porscan read.

Compression is recognised by magic bytes (a ``.gz`` served already decompressed is refused by
name, a gzip stream named ``.csv`` is still decompressed). Temporary copies live in one
``tempfile.TemporaryDirectory`` (under ``$TMPDIR``) removed when the context exits.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from .ingest import IngestError, sha256_file

_BLOCK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Input:
    path: str  # a local regular file to read: the original itself, or a temporary plain copy
    original: str  # as the user gave it: a path, or "-" for stdin
    source_sha256: str | None  # SHA-256 (hex) of the bytes as given, when they were copied; None = passed through
    compressed: str | None  # "gzip" | "zip" | None
    member: str | None = None  # the zip member read

    @property
    def label(self) -> str:
        """How messages name the input: what the user gave, never the temporary copy."""
        name = "<stdin>" if self.original == STDIN else self.original
        return f"{name}!{self.member}" if self.member else name

    def relabel(self, text: str) -> str:
        """``text`` (an error naming ``path``) naming the input as given instead."""
        return text if self.path == self.original else text.replace(self.path, self.label)


class _HashingReader:
    """A read-only stream that feeds every byte it hands out (``prefix`` first) to a SHA-256."""

    def __init__(self, raw: BinaryIO, prefix: bytes = b""):
        self._raw = raw
        self._prefix = prefix
        self.hasher = hashlib.sha256(prefix)
        self.name = ""  # gzip.GzipFile asks
        self.mode = "rb"

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            data = self._prefix if n < 0 else self._prefix[:n]
            self._prefix = self._prefix[len(data):]
            return data
        data = self._raw.read(n)
        self.hasher.update(data)
        return data

    def drain(self) -> str:
        """Read (and hash) whatever the consumer left, e.g. a zip's central directory; the hex digest."""
        while self.read(_BLOCK):
            pass
        return self.hasher.hexdigest()


def _kind(magic: bytes) -> str | None:
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic[:4] in _ZIP_MAGIC:
        return "zip"
    return None


def _named(path: str) -> str | None:
    low = path.lower()
    if low.endswith((".gz", ".gzip")):
        return "gzip"
    if low.endswith(".zip"):
        return "zip"
    return None


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# A copy (of stdin, a FIFO, a .gz or .zip) stops while this much room is left on its disk: an input
# that never ends (`verify /dev/zero`, a stalled pipe's producer gone wild) filled the disk, and
# every other program on the machine with it. Checked every _ROOM_EVERY bytes written.
DISK_RESERVE = 256 << 20
_ROOM_EVERY = 64 << 20


def _copy(src, dst_path: str, label: str, bad: str) -> None:
    """Stream ``src`` into a new file; a read error is ``bad`` input, a write error is the disk's."""
    folder = os.path.dirname(dst_path)
    written = 0
    with open(dst_path, "wb") as dst:
        while True:
            try:
                block = src.read(_BLOCK)
            except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                raise IngestError(f"{label}: {bad}: {_why(exc)}") from exc
            if not block:
                return
            try:
                dst.write(block)
            except OSError as exc:
                raise IngestError(f"{label}: cannot write a temporary copy to {folder}: {_why(exc)}") from exc
            written += len(block)
            check_room(folder, written, len(block), f"{label}: stopped copying it to {folder}",
                       "set TMPDIR to a roomier one")


def check_room(folder: str, written: int, block: int, what: str, hint: str) -> None:
    """IngestError when the disk of ``folder`` has less than DISK_RESERVE free, looked at each time
    ``written`` crosses a multiple of _ROOM_EVERY (``block``: the bytes just written)."""
    import shutil

    if written % _ROOM_EVERY < block and shutil.disk_usage(folder).free < DISK_RESERVE:
        raise IngestError(f"{what} after {written >> 20} MiB: less than {DISK_RESERVE >> 20} MiB left on that disk "
                          f"({hint})")


def _gunzip(raw: _HashingReader, dst_path: str, label: str) -> str:
    """Decompress a (possibly multi-member) gzip stream into ``dst_path``; the SHA-256 of the gzip bytes."""
    with gzip.GzipFile(fileobj=raw, mode="rb") as gz:  # type: ignore[call-overload]  # reads in bounded pieces
        _copy(gz, dst_path, label, "not a readable gzip file")
    try:
        return raw.drain()
    except OSError as exc:
        raise IngestError(f"{label}: cannot read: {_why(exc)}") from exc


def _unzip(zip_path: str, dst_dir: str, label: str) -> tuple[str, str]:
    """The archive's single CSV member, streamed out to ``dst_dir``: (its path, its name)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise IngestError(f"{label}: not a readable zip archive: {_why(exc)}") from exc
    with archive:
        files = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        csvs = [i for i in files if i.filename.lower().endswith(".csv")]
        if len(csvs) > 1:
            raise IngestError(f"{label}: zip archive holds {len(csvs)} CSV files "
                              f"({', '.join(i.filename for i in csvs)}); porscan reads one: unzip it and pass that file")
        if not csvs:
            held = ", ".join(i.filename for i in files[:10]) + (", ..." if len(files) > 10 else "")
            raise IngestError(f"{label}: zip archive holds no CSV file ({'members: ' + held if files else 'it is empty'})")
        member = csvs[0]
        # only the base name reaches the file system: a member named ../../x stays in dst_dir
        dst = os.path.join(dst_dir, PurePosixPath(member.filename).name or "member.csv")
        try:
            src = archive.open(member)
        except (OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:  # encrypted, unknown method
            raise IngestError(f"{label}: cannot read zip member {member.filename}: {_why(exc)}") from exc
        with src:
            _copy(src, dst, label, f"zip member {member.filename} is corrupt")
        return dst, member.filename


def _plain_name(original: str, kind: str | None) -> str:
    name = os.path.basename(original) if original != STDIN else "stdin.csv"
    if kind == "gzip":
        for suffix in (".gz", ".gzip"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
    return name or "input.csv"


def _from_stream(stream: BinaryIO, original: str, label: str, tmp: str) -> Input:
    """A non-seekable source (stdin, a FIFO): copied once, decompressed on the way when gzip."""
    try:
        first = stream.read(_BLOCK)
    except OSError as exc:
        raise IngestError(f"{label}: cannot read: {_why(exc)}") from exc
    kind = _kind(first)
    raw = _HashingReader(stream, first)
    if kind == "gzip":
        dst = os.path.join(tmp, _plain_name(original, kind))
        digest = _gunzip(raw, dst, label)
        return Input(path=dst, original=original, source_sha256=digest, compressed="gzip")
    if kind == "zip":  # a zip's directory is at its end: keep the archive, then take its member out
        archive = os.path.join(tmp, "input.zip")
        _copy(raw, archive, label, "cannot read")
        dst, member = _unzip(archive, tmp, label)
        os.unlink(archive)  # the member is all that is read from here on; half the disk back
        return Input(path=dst, original=original, source_sha256=raw.hasher.hexdigest(), compressed="zip", member=member)
    dst = os.path.join(tmp, _plain_name(original, None))
    _copy(raw, dst, label, "cannot read")
    return Input(path=dst, original=original, source_sha256=raw.hasher.hexdigest(), compressed=None)


@contextmanager
def open_input(spec: str | os.PathLike, stdin: BinaryIO | None = None) -> Iterator[Input]:
    """``with open_input("okx.csv.gz") as src: read_head(src.path)``: see the module docstring.

    A plain regular file is passed through untouched (no copy, no hash: the verify pass hashes it
    as it reads); ``"-"`` reads ``stdin`` (default ``sys.stdin.buffer``). Any failure to read,
    decompress or copy raises :class:`IngestError` with one line naming the input as given.
    """
    original = os.fspath(spec)
    if original == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        if stream.isatty():
            raise IngestError("<stdin>: is a terminal; pipe the file in (porscan verify - < reserves.csv.gz)")
        with tempfile.TemporaryDirectory(prefix="porscan-input-") as tmp:
            yield _from_stream(stream, original, "<stdin>", tmp)
        return
    with ExitStack() as stack:
        try:
            fh = stack.enter_context(open(original, "rb"))
            regular = stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
            magic = fh.read(4) if regular else b""  # a FIFO's first bytes are not read twice
        except OSError as exc:
            raise IngestError(f"{original}: cannot read: {_why(exc)}") from exc
        if not regular:  # a FIFO, /dev/stdin, <(curl ...): workers cannot re-open it, so copy it once
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="porscan-input-"))
            yield _from_stream(fh, original, original, tmp)
            return
        kind, named = _kind(magic), _named(original)
        if kind is None and named is not None:
            what = "is empty" if not magic else f"starts with {magic!r}"
            raise IngestError(f"{original}: named like a {named} file but {what}, not {named} data")
        if kind is None:
            stack.close()  # no descriptor held while the file is read by path
            yield Input(path=original, original=original, source_sha256=None, compressed=None)
            return
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="porscan-input-"))
        if kind == "gzip":
            fh.seek(0)
            dst = os.path.join(tmp, _plain_name(original, kind))
            src = Input(path=dst, original=original, source_sha256=_gunzip(_HashingReader(fh), dst, original),
                        compressed="gzip")
        else:
            try:
                digest = sha256_file(original)
            except OSError as exc:
                raise IngestError(f"{original}: cannot read: {_why(exc)}") from exc
            dst, member = _unzip(original, tmp, original)
            src = Input(path=dst, original=original, source_sha256=digest, compressed="zip", member=member)
        fh.close()
        yield src


__all__ = ["STDIN", "Input", "open_input"]


def guess_exchange(path: str) -> str:
    """The exchange a published file is from, by its name (``okx_por_2024-06.csv`` -> OKX), or "unknown"."""
    from pathlib import Path

    name = Path(path).name.lower()
    for key, label in (("okx", "OKX"), ("okex", "OKX"), ("htx", "HTX"), ("huobi", "HTX"), ("binance", "Binance"),
                       ("bitget", "Bitget"), ("bybit", "Bybit"), ("kucoin", "KuCoin"), ("gate", "Gate")):
        if key in name:
            return label
    return "unknown"
