"""Streaming ingest of published reserve files (OKX 7/9/11/12-column, HTX, auditor CSV).

The layout is detected from header *names*, never from column counts. Cells are split on commas
except inside ``[...]``, ``{...}`` and double quotes; cells are stripped and ``null``/``\\N`` read as
empty. A row that cannot be read becomes a :class:`RowError` naming file, line and field; the
rest of the file goes on. Nothing here holds more than one line (plus the summary block) at once.

Why one file: the layouts, the header reader and the row parser share one table of columns; split,
each would need the others' private rules."""

from __future__ import annotations

import hashlib
import io
import operator
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator, NamedTuple

from signatures.model import Claim

from ..amounts import AmountError, parse_amount
from ..errors import InputError


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a whole input file, read in 1 MiB pieces: what reports cite for reproducibility."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

EMPTY_MARKERS = frozenset({"null", "NULL", "Null", "\\N", "None"})
# HTX writes ``-`` for "none": a row with no signature, or an address listed with no height and no
# balance. Such a row stands: unsigned, or with no published amount (None, text "") to compare.
# An *empty* amount cell stays an unreadable row: nothing says the figure was left out on purpose.
NONE_PUBLISHED = "-"


class IngestError(InputError):
    """The file as a whole cannot be read (no header, unknown layout, unreadable)."""


@dataclass(frozen=True, slots=True)
class RowError:
    path: str
    line: int  # physical line number, 1-based
    field: str  # which column (or "row")
    message: str
    coin: str = ""
    network: str = ""
    address: str = ""
    amount_text: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class ReserveRow(NamedTuple):
    """One detail row. A NamedTuple rather than a frozen dataclass: it is built 600k times per file
    and a tuple is ~6x cheaper to create; it is just as immutable and typed."""

    line: int
    coin: str
    network: str
    snapshot_height: int | None
    address: str
    amount: Decimal | None  # as published: coin units, or base units when ``amount_in_base_units``; None when the file publishes none (no amount column, or ``-``)
    amount_text: str
    amount_in_base_units: bool
    message: str
    signature1: str
    signature2: str
    script_or_pubkey: str
    eoa1: str
    eoa2: str
    type: str
    status_column: str = ""
    custodian: str = ""  # third-party custodian named by an address list; "" = the exchange itself

    def claim(self) -> Claim:
        return Claim(coin=self.coin, network=self.network, address=self.address, message=self.message,
                     signature1=self.signature1,
                     signature2=self.signature2, script_or_pubkey=self.script_or_pubkey, eoa1=self.eoa1,
                     eoa2=self.eoa2, type=self.type)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    line: int
    coin: str  # e.g. "ETH", "USDT-TRC20", or the asset of an aggregate row
    aggregate: bool  # "<ASSET>(ALL)" rows
    snapshot_height: int | None
    amount: Decimal
    amount_text: str


# canonical field <- normalised header names
_HEADER_NAMES: dict[str, str] = {
    "coin": "coin", "digitalasset": "coin", "asset": "coin",
    "network": "network", "chain": "network",
    "snapshot height": "snapshot_height", "snapshot_height": "snapshot_height", "height": "snapshot_height",
    "address": "address", "wallet address": "address",
    "amount": "amount", "balance": "amount",
    "message": "message",
    "signature1": "signature1", "signedmessage": "signature1", "signature": "signature1",
    "signature2": "signature2", "signedmessage2": "signature2",
    "redeem script/ public key": "script", "redeem script/public key": "script", "redeem_script": "script",
    "redeem script": "script", "publickey": "script", "public key": "script",
    "eoa1": "eoa1", "owner1": "eoa1", "eoa2": "eoa2", "owner2": "eoa2",
    "type": "type", "status": "status",
    # Binance's address lists name the third-party custodian holding some of its wallets
    "custodian": "custodian", "custody": "custodian", "custodian name": "custodian",
    "third-party custodian": "custodian", "third party custodian": "custodian",
    "third_party_custodian": "custodian", "thirdpartycustodian": "custodian",
}
_REQUIRED: tuple[str, ...] = ("coin", "address", "amount", "message", "signature1")
# An address list (Binance's wallets and deposit addresses) has no message and no signature column:
# its rows are claims without a proof. Without a signature only the network says which chain an
# address is on, so a list must name it (and a bare coin,address,amount header is more likely a
# signed file whose signature columns were lost than a list).
_LIST_REQUIRED: tuple[str, ...] = ("coin", "network", "address")
_SIGNED_ONLY = ("message", "signature1")
_GETTERS: dict[tuple[int, ...], "operator.itemgetter"] = {}
# custodian last: positional ReserveRow construction elsewhere stays valid
_FIELDS = ("coin", "network", "snapshot_height", "address", "amount", "message", "signature1", "signature2",
           "script", "eoa1", "eoa2", "type", "status", "custodian")


def normalise_header(cell: str) -> str:
    return " ".join(cell.strip().strip('"').lower().split())


def header_columns(cells: list[str], path: str, line: int, kind: str) -> dict[str, int]:
    """Canonical field -> cell index of a header; two cells naming one field (``address,address``,
    ``amount,balance``) are an IngestError naming them. The first was read before, silently: which
    of the two holds the address or the amount is the publisher's to say, not porscan's to guess."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for i, cell in enumerate(cells):
        name = _HEADER_NAMES.get(normalise_header(cell))
        if name:
            seen.setdefault(name, []).append((i, cell.strip().strip('"')))
    twice = [f"{' and '.join(repr(c) for _, c in said)} (columns {', '.join(str(i + 1) for i, _ in said)}) "
             f"both name the {name.replace('_', ' ')}" for name, said in seen.items() if len(said) > 1]
    if twice:
        raise IngestError(f"{path}:{line}: {kind}: duplicate column: {'; '.join(twice)}")
    return {name: said[0][0] for name, said in seen.items()}


@dataclass(frozen=True, slots=True)
class Layout:
    name: str  # okx-7 | okx-9 | okx-11 | okx-12 | auditor | custom-N | binance | address-list
    columns: dict[str, int]  # canonical field -> index
    width: int  # header cell count
    min_fields: int  # a row needs at least this many fields (through the last required column)
    keyed_by_network: bool  # auditor files and address lists: the network column selects the scheme
    amount_in_base_units: bool  # 7-column era: integer wei/sat/sun
    field_index: tuple[int, ...] = ()  # cell index per name in _FIELDS; -1 = column absent

    @property
    def getter(self):
        """``itemgetter`` of the _FIELDS cells (built once per layout)."""
        g = _GETTERS.get(self.field_index)
        if g is None:
            g = _GETTERS[self.field_index] = operator.itemgetter(*self.field_index)
        return g

    @property
    def has_amount(self) -> bool:
        return "amount" in self.columns

    @classmethod
    def from_header(cls, cells: list[str], path: str = "", line: int = 0) -> "Layout":
        cols = header_columns(cells, path, line, "detail header")
        listed = not any(f in cols for f in _SIGNED_ONLY)  # an address list: no proof columns at all
        if listed:
            required = _LIST_REQUIRED
            # a signature column under a name we do not know must not turn a signed file into a
            # list whose every row reads as unsigned
            stray = [c.strip() for c in cells if normalise_header(c) not in _HEADER_NAMES and _proof_like(c)]
            if stray:
                raise IngestError(f"{path}:{line}: detail header has no message/signature1 column but unknown "
                                  f"column(s) {', '.join(map(repr, stray))} that look like one; not read as an "
                                  f"unsigned address list: {','.join(cells)!r}")
        else:
            required = _REQUIRED
        missing = [f for f in required if f not in cols and not (f == "amount" and "coin" in cols and _auditor(cells))]
        if missing:
            kind = "address-list header (no message/signature1)" if listed else "detail header"
            raise IngestError(f"{path}:{line}: {kind} lacks column(s) {', '.join(missing)}: {','.join(cells)!r}")
        auditor = _auditor(cells)
        width = len(cells)
        if listed:
            name = "binance" if cols.keys() - {"custodian"} == _BINANCE else "address-list"
        elif auditor:
            name = "auditor"
        elif "type" in cols:
            name = "okx-12" if width == 12 else f"okx-typed-{width}"
        else:
            name = {7: "okx-7", 9: "okx-9", 11: "okx-11"}.get(width, f"custom-{width}")
        base_units = "network" not in cols and "snapshot_height" not in cols and not auditor
        needed = max(cols[f] for f in required if f in cols) + 1
        # a list's network column says which chain an address is on (USDT on ETH, BSC, TRX, ...)
        keyed = auditor or listed
        return cls(name, cols, width, needed, keyed, base_units, tuple(cols.get(f, -1) for f in _FIELDS))


# Binance's published wallet and deposit-address lists: Coin,Network,Address,Balance,Height (+ custodian)
_BINANCE = frozenset({"coin", "network", "address", "amount", "snapshot_height"})


def _proof_like(cell: str) -> bool:
    """A header word that names a signature or a signed message (``sig``, ``Signature 1``, ``msg``);
    by word, so ``assignee`` is not one."""
    words = "".join(ch if ch.isalnum() else " " for ch in normalise_header(cell)).split()
    return any(w.startswith("sig") or w in ("message", "msg", "signed") for w in words)


def _auditor(cells: list[str]) -> bool:
    names = {normalise_header(c) for c in cells}
    return "digitalasset" in names or "signedmessage" in names


def split_cells(line: str) -> list[str]:
    """Split on commas outside ``[...]``, ``{...}`` and double quotes; unquote quoted cells."""
    if '"' not in line and "[" not in line and "{" not in line:
        return line.split(",")
    cells: list[str] = []
    buf: list[str] = []
    depth = 0
    quoted = False
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quoted:
            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':
                    buf.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                buf.append(ch)
        elif ch == '"' and not "".join(buf).strip():
            quoted = True
            buf = []
        elif ch in "[{":
            depth += 1
            buf.append(ch)
        elif ch in "]}":
            depth = max(0, depth - 1)
            buf.append(ch)
        elif ch == "," and depth == 0:
            cells.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    cells.append("".join(buf))
    return cells


def clean(cell: str) -> str:
    c = cell.strip()
    return "" if c in EMPTY_MARKERS else c


NO_HEIGHT = frozenset({"", "-", "_", "n/a", "N/A"})  # "no height": HTX writes - and, on ThirdParty lines, _


def parse_height(text: str) -> int | None:
    t = text.strip()
    if t in NO_HEIGHT or t in EMPTY_MARKERS:
        return None
    if not (t.isascii() and t.isdigit()) or len(t) > 19:
        raise ValueError(f"not a block height: {t!r}")
    return int(t)


def parse_detail_line(line: str, lineno: int, layout: Layout, path: str = "",
                      heights: dict[str, int] | None = None) -> ReserveRow | RowError:
    """One detail line -> ReserveRow or RowError (never raises). For many lines of one file, build
    the parser once with :func:`row_parser`."""
    return row_parser(layout, path, heights)(line, lineno)


def row_parser(layout: Layout, path: str = "", heights: dict[str, int] | None = None):
    """``parse(line, lineno) -> ReserveRow | RowError`` for the detail lines of one file (never
    raises). The layout's facts are bound once: the parser runs 600k times per OKX file and ~10^7
    times per Binance deposit-address list. Absent columns (an address list's message and
    signatures) read as "" through the getter's index -1: no per-row branch for them."""
    width, min_fields, getter = layout.width, layout.min_fields, layout.getter
    has_amount, base_units, name = layout.has_amount, layout.amount_in_base_units, layout.name
    pad = [""] * (width + 1)  # missing trailing cells of short rows, and index -1 (absent column)
    empty_markers = EMPTY_MARKERS

    def parse(line: str, lineno: int) -> ReserveRow | RowError:
        raw = split_cells(line)
        n = len(raw)
        cells = [c if len(c) > 4 or c not in empty_markers else "" for c in map(str.strip, raw)]
        cells += pad[n:] if n < width else pad[-1:]
        (coin, network, height_text, address, amount_text, message, sig1, sig2, script, eoa1, eoa2, typ,
         status, custodian) = getter(cells)
        if n < min_fields:
            return RowError(path=path, line=lineno, field="row",
                            message=f"row has {n} fields, layout {name} needs at least {min_fields}",
                            coin=coin, network=network, address=address)
        if n > width and any(cells[width:]):
            return RowError(path=path, line=lineno, field="row",
                            message=f"row has {n} fields, header has {width} (unquoted comma?)",
                            coin=coin, network=network, address=address)
        if not coin:
            return RowError(path=path, line=lineno, field="coin", message="coin is empty", coin=coin, network=network,
                            address=address, amount_text=amount_text)
        if not address:
            return RowError(path=path, line=lineno, field="address", message="address is empty", coin=coin,
                            network=network, address=address, amount_text=amount_text)
        if sig1 == NONE_PUBLISHED:
            sig1 = ""
        if sig2 == NONE_PUBLISHED:
            sig2 = ""
        if not has_amount or amount_text == NONE_PUBLISHED:
            amount, amount_text = None, ""
        else:
            try:
                amount = parse_amount(amount_text)
            except AmountError as exc:
                return RowError(path=path, line=lineno, field="amount", message=str(exc), coin=coin, network=network,
                                address=address, amount_text=amount_text)
            if base_units and amount != amount.to_integral_value():
                return RowError(path=path, line=lineno, field="amount",
                                message=f"{amount_text!r} is not an integer of base units (7-column layout)",
                                coin=coin, network=network, address=address, amount_text=amount_text)
        if height_text:
            try:
                height = parse_height(height_text)
            except ValueError as exc:
                return RowError(path=path, line=lineno, field="snapshot_height", message=str(exc), coin=coin,
                                network=network, address=address, amount_text=amount_text)
        else:
            height = None
        if height is None and heights:
            height = heights.get(coin.upper())
        return ReserveRow(lineno, coin, network, height, address, amount, amount_text,
                          base_units, message, sig1, sig2, script, eoa1, eoa2, typ, status, custodian)

    return parse


@dataclass(slots=True)
class FileHead:
    """What precedes the detail rows: the summary block and the detail header."""

    path: str
    size: int
    summary_header: list[str] = field(default_factory=list)
    summary: list[SummaryRow] = field(default_factory=list)
    summary_errors: list[RowError] = field(default_factory=list)
    # set by read_head before it returns a head (a file without a detail header is an IngestError)
    layout: Layout = None  # type: ignore[assignment]
    header_line: int = 0
    data_offset: int = 0  # byte offset of the first detail line
    data_line: int = 0  # its physical line number
    bom: bool = False

    @property
    def heights(self) -> dict[str, int]:
        return {s.coin.upper(): s.snapshot_height for s in self.summary if s.snapshot_height is not None and not s.aggregate}


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def read_head(path: str | os.PathLike) -> FileHead:
    """Read the summary block and the detail header; stops at the first detail row."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    head = FileHead(path, size)
    with fh:
        offset = 0
        lineno = 0
        state = "first"
        summary_cols: dict[str, int] = {}
        while True:
            raw = fh.readline()
            if not raw:
                break
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                head.bom = True
                offset += 3
                raw = raw[3:]
            offset += len(raw)
            text = _decode(raw)
            if "\r" in text:  # a CR inside a line: old-Mac line endings, the whole file reads as one line
                raise IngestError(f"{path}:{lineno}: lines end in CR alone (old Mac line endings): convert the "
                                  "file to LF or CRLF line endings")
            if not text.strip():
                if state == "summary":
                    state = "need_header"
                continue
            cells = split_cells(text.strip())
            names = {_HEADER_NAMES.get(normalise_header(c)) for c in cells}
            if state in ("first", "need_header", "summary") and "address" in names:
                head.layout = Layout.from_header(cells, path, lineno)
                head.header_line = lineno
                head.data_offset = offset
                head.data_line = lineno + 1
                if not _any_line(fh):  # a header with nothing under it is no reserve file: never a clean pass
                    raise IngestError(f"{path}:{lineno}: no detail rows under the detail header (an empty or "
                                      "truncated file)")
                return head
            if state == "first":
                head.summary_header = cells
                summary_cols = header_columns(cells, path, lineno, "summary header")
                if "coin" not in summary_cols or "amount" not in summary_cols:
                    raise IngestError(f"{path}:{lineno}: first line is neither a summary header (coin,...,amount) "
                                      f"nor a detail header (with an address column): {text[:120]!r}")
                state = "summary"
                continue
            if state == "summary":
                head.summary.append(_summary_row(cells, summary_cols, lineno, path, head))
                continue
            raise IngestError(f"{path}:{lineno}: expected the detail header (with an address column) after the summary block, got {text[:120]!r}")
    raise IngestError(f"{path}: no detail header found (a line naming coin, address, amount, message, signature1; "
                      f"or, for an address list, coin, network, address)")


def _any_line(fh) -> bool:
    """Is there a non-blank line from here on? Reads only up to the first one."""
    while raw := fh.readline(1 << 16):
        if raw.strip():
            return True
    return False


def _summary_row(cells: list[str], cols: dict[str, int], lineno: int, path: str, head: FileHead) -> SummaryRow:
    def get(name: str) -> str:
        i = cols.get(name)
        return clean(cells[i]) if i is not None and i < len(cells) else ""

    coin = get("coin")
    aggregate = coin.upper().endswith("(ALL)")
    if aggregate:
        coin = coin[: -len("(ALL)")].strip()
    amount_text = get("amount")
    try:
        amount = parse_amount(amount_text)
    except AmountError as exc:
        head.summary_errors.append(RowError(path=path, line=lineno, field="amount", message=str(exc), coin=coin))
        amount = Decimal(0)
    try:
        height = parse_height(get("snapshot_height"))
    except ValueError as exc:
        head.summary_errors.append(RowError(path=path, line=lineno, field="snapshot_height", message=str(exc), coin=coin))
        height = None
    return SummaryRow(line=lineno, coin=coin, aggregate=aggregate, snapshot_height=height, amount=amount,
                      amount_text=amount_text)


def iter_lines(path: str, offset: int, length: int, first_line: int) -> Iterator[tuple[int, str]]:
    """Physical lines of ``path[offset:offset+length]``, stripped, with their line numbers (blank
    lines skipped)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    text = data.decode("utf-8", errors="replace")
    lineno = first_line
    for line in text.split("\n"):
        line = line.strip()
        if line:
            yield lineno, line
        lineno += 1


def iter_rows(path: str | os.PathLike, head: FileHead | None = None) -> Iterator[ReserveRow | RowError]:
    """Stream every detail row of a file (single process; the verify pipeline splits into chunks)."""
    head = head or read_head(path)
    assert head.layout is not None
    parse = row_parser(head.layout, head.path, head.heights)
    for start, length, first in iter_chunks(head):
        for lineno, line in iter_lines(head.path, start, length, first):
            yield parse(line, lineno)


_ALL_BUT_NEWLINE = bytes(b for b in range(256) if b != 0x0A)


def iter_chunks(head: FileHead, chunk_bytes: int = 1 << 20, hasher=None) -> Iterator[tuple[int, int, int]]:
    """Cut the detail block into ``(offset, length, first_line)`` ranges ending at newlines.

    Reads the file once (feeding ``hasher`` with every byte, BOM and head included) but holds
    only one block in memory.
    """
    with open(head.path, "rb") as fh:
        if hasher is not None:
            remaining = head.data_offset
            while remaining:
                block = fh.read(min(remaining, 1 << 20))
                if not block:
                    break
                hasher.update(block)
                remaining -= len(block)
        fh.seek(head.data_offset)
        offset = head.data_offset
        line = head.data_line
        carry = b""
        while True:
            block = fh.read(chunk_bytes)
            if hasher is not None and block:
                hasher.update(block)
            if not block:
                if carry:
                    yield offset, len(carry), line
                return
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            yield offset, cut + 1, line
            offset += cut + 1
            # every newline of ``data`` is in the piece (``cut`` is the last), counted as what is left once
            # every other byte is deleted: twice as fast as bytes.count (a scan cuts the file twice)
            line += len(data.translate(None, _ALL_BUT_NEWLINE))
            carry = data[cut + 1:]


__all__ = ["IngestError", "Layout", "ReserveRow", "RowError", "SummaryRow", "FileHead", "read_head",
           "iter_rows", "iter_chunks", "iter_lines", "parse_detail_line", "row_parser", "split_cells", "io"]
