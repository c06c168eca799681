"""TON: wallet addresses derived from an Ed25519 key (spec section 2.7, TON row).

A TON account address is ``workchain:hash`` where ``hash`` is the representation hash of the
contract's StateInit cell (code + initial data). A key therefore maps to one address per wallet
contract. OKX reserve rows use two contracts:

- wallet V3R2, subwallet id 698983191 (the TONCOIN-NEW vectors, bounceable ``EQ...``);
- Highload wallet V3, subwallet id 4269 (``0x10ad``), timeout 43200 s (the ``USDT-TON`` row,
  non-bounceable ``UQ...``).

Addresses are compared on the decoded 32-byte hash, never on text: OKX's tool compares the
base64 text case-insensitively, which accepts strings that are not the address.

Pure code: cell hashing, a minimal bag-of-cells (BOC) reader for the two embedded code cells,
and the user-friendly address format (tag, workchain, hash, CRC16-XModem).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from .encoding import EncodingError
from .hashing import crc16_xmodem

__all__ = [
    "TonAddress",
    "Boc",
    "BocCell",
    "read_boc",
    "parse_ton_address",
    "format_ton_address",
    "wallet_candidates",
    "match_ton_address",
    "HIGHLOAD_V3_CODE_HASH",
    "WALLET_V3R2_CODE_HASH",
]

# --------------------------------------------------------------------------------------------
# Cells

_Cell = tuple[bytes, int]  # (representation hash, depth) of an ordinary level-0 cell


def _cell_hash(bits: int, data: bytes, refs: tuple[_Cell, ...]) -> _Cell:
    """Representation hash and depth of an ordinary (non-exotic, level 0) cell.

    ``data`` holds ``bits`` bits, already padded with the completion tag when ``bits % 8``.
    Hashed bytes: d1 = refs, d2 = ceil(bits/8) + floor(bits/8), data, each ref's depth
    (2 bytes big-endian), each ref's hash (TON whitepaper / tvm.pdf 3.1.4-3.1.5).
    """
    if len(refs) > 4 or bits > 1023 or len(data) != (bits + 7) // 8:
        raise EncodingError("not a valid cell")
    d1 = len(refs)
    d2 = (bits + 7) // 8 + bits // 8
    h = hashlib.sha256(bytes((d1, d2)) + data)
    for _, depth in refs:
        h.update(depth.to_bytes(2, "big"))
    for ref_hash, _ in refs:
        h.update(ref_hash)
    depth = 1 + max((d for _, d in refs), default=-1)
    return h.digest(), depth


def _pack_bits(fields: list[tuple[int, int]]) -> tuple[int, bytes]:
    """Big-endian bit string of ``(value, width)`` fields, plus the completion tag if needed."""
    acc = 0
    nbits = 0
    for value, width in fields:
        if value < 0 or value >> width:
            raise ValueError(f"{value} does not fit in {width} bits")
        acc = (acc << width) | value
        nbits += width
    if nbits % 8:
        pad = 8 - nbits % 8
        acc = (acc << pad) | (1 << (pad - 1))  # completion tag: one 1 bit, then zeros
    return nbits, acc.to_bytes((nbits + 7) // 8, "big")


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC32C_TABLE: Final = _crc32c_table()


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the BOC checksum."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BocCell:
    """One cell of a ``serialized_boc`` as stored: descriptor byte ``d1`` (refs, exotic flag, stored
    hashes, level mask), ``bits`` of ``data`` (completion tag included in ``data``), refs by index."""

    d1: int
    bits: int
    data: bytes
    refs: tuple[int, ...]

    @property
    def exotic(self) -> bool:
        return bool(self.d1 & 0x08)

    @property
    def value(self) -> int:
        """The cell's ``bits`` bits as an integer (completion tag dropped)."""
        return int.from_bytes(self.data, "big") >> (len(self.data) * 8 - self.bits)


@dataclass(frozen=True, slots=True)
class Boc:
    cells: tuple[BocCell, ...]
    roots: tuple[int, ...]
    absent: int


def read_boc(boc: bytes) -> Boc:
    """The cells of a ``b5ee9c72`` bag of cells (tvm.pdf 3.1.7 ``serialized_boc``), as stored.

    The one BOC reader: signature checks hash code cells with it, the TON adapter reads address slices
    from get-method stacks with it. The index is skipped, the CRC-32C checked when flagged, stored
    hashes skipped; sizes must add up exactly (no truncated cell, no trailing byte). Raises
    :class:`EncodingError`.
    """
    if boc[:4] != bytes.fromhex("b5ee9c72") or len(boc) < 6:
        raise EncodingError("not a serialized_boc")
    flags = boc[4]
    has_idx, has_crc = flags & 0x80, flags & 0x40
    size = flags & 0x07
    off_bytes = boc[5]
    if not 1 <= size <= 4 or not 1 <= off_bytes <= 8:
        raise EncodingError("unsupported BOC flags")
    if has_crc:
        if len(boc) < 10 or _crc32c(boc[:-4]) != int.from_bytes(boc[-4:], "little"):
            raise EncodingError("BOC CRC-32C mismatch")
        boc = boc[:-4]
    pos = 6

    def take(n: int) -> int:
        nonlocal pos
        if pos + n > len(boc):
            raise EncodingError("truncated BOC")
        value = int.from_bytes(boc[pos : pos + n], "big")
        pos += n
        return value

    n_cells, n_roots, n_absent, total = take(size), take(size), take(size), take(off_bytes)
    if n_roots < 1 or n_cells < 1:
        raise EncodingError("BOC without a root cell")
    roots = tuple(take(size) for _ in range(n_roots))
    if any(r >= n_cells for r in roots):
        raise EncodingError("root cell index out of range")
    if has_idx:
        pos += n_cells * off_bytes
    if len(boc) - pos != total:
        raise EncodingError("BOC cell data size mismatch")
    cells: list[BocCell] = []
    for _ in range(n_cells):
        d1, d2 = take(1), take(1)
        if d1 & 0x10:  # stored hashes and depths, one per level present, precede the data
            pos += (bin(d1 >> 5).count("1") + 1) * 34
        length = (d2 + 1) // 2
        data = boc[pos : pos + length]
        if len(data) != length:
            raise EncodingError("truncated BOC cell")
        pos += length
        bits = (d2 // 2) * 8
        if d2 & 1:  # the last byte carries a completion tag: one 1 bit, then zeros
            if not data or data[-1] == 0:
                raise EncodingError("missing completion tag")
            bits += 8 - (data[-1] & -data[-1]).bit_length()
        refs = tuple(take(size) for _ in range(d1 & 0x07))
        if any(r >= n_cells for r in refs):
            raise EncodingError("BOC ref out of range")
        cells.append(BocCell(d1=d1, bits=bits, data=data, refs=refs))
    if pos != len(boc):
        raise EncodingError("trailing bytes in BOC")
    return Boc(tuple(cells), roots, n_absent)


def _boc_root(boc: bytes) -> _Cell:
    """Hash and depth of the single root of a BOC of ordinary level-0 cells (the embedded code cells)."""
    bag = read_boc(boc)
    if len(bag.roots) != 1 or bag.absent:
        raise EncodingError("expected one root and no absent cells")
    if any(c.d1 & ~0x07 for c in bag.cells):  # exotic flag, stored hashes or a non-zero level
        raise EncodingError("only ordinary level-0 cells are supported")
    n_cells = len(bag.cells)
    done: list[_Cell | None] = [None] * n_cells
    for i in range(n_cells - 1, -1, -1):  # refs always point forward in a BOC
        cell = bag.cells[i]
        if any(r <= i for r in cell.refs):
            raise EncodingError("BOC refs are not topologically ordered")
        done[i] = _cell_hash(cell.bits, cell.data, tuple(done[r] for r in cell.refs))  # type: ignore[misc]
    result = done[bag.roots[0]]
    assert result is not None
    return result


# --------------------------------------------------------------------------------------------
# Wallet contracts

#: wallet V3R2 code BOC, as shipped by toncenter/tonweb
#: ``src/contract/wallet/v3/wallet-v3-contract-r2.ts`` (identical bytes in the .NET TonProof
#: ``WalletContractV3R2.cs``); one cell of 888 bits.
WALLET_V3R2_CODE_BOC: Final = (
    "b5ee9c724101010100710000deff0020dd2082014c97ba218201339cbab19f71b0ed44d0d31fd31f31d70bffe304"
    "e0a4f2608308d71820d31fd31fd31ff82313bbf263ed44d0d31fd31fd3ffd15132baf2a15144baf2a204f901541055"
    "f910f2a3f8009320d74a96d307d402fb00e8d101a4c8cb1fcb1fcbffc9ed5410bd6dad"
)
#: Representation hash of that code cell (the well-known v3r2 code hash ``84dafa44...d599``).
WALLET_V3R2_CODE_HASH: Final = bytes.fromhex("84dafa449f98a6987789ba232358072bc0f76dc4524002a5d0918b9a75d2d599")
#: Default V3 subwallet id for workchain 0: 698983191 = 0x29a9a317 (tonweb: ``698983191 + wc``).
WALLET_V3_SUBWALLET_ID: Final = 698983191

#: Highload wallet V3 code BOC: ton-blockchain/highload-wallet-contract-v3
#: ``build/HighloadWalletV3.compiled.json`` (``hex``; 16 cells).
HIGHLOAD_V3_CODE_BOC: Final = (
    "b5ee9c7241021001000228000114ff00f4a413f4bcf2c80b01020120020d02014803040078d020d74bc00101c060"
    "b0915be101d0d3030171b0915be0fa4030f828c705b39130e0d31f018210ae42e5a4ba9d8040d721d74cf82a01ed55"
    "fb04e030020120050a02027306070011adce76a2686b85ffc00201200809001aabb6ed44d0810122d721d70b3f0018"
    "aa3bed44d08307d721d70b1f0201200b0c001bb9a6eed44d0810162d721d70b15800e5b8bf2eda2edfb21ab0902840"
    "9b0ed44d0810120d721f404f404d33fd315d1058e1bf82325a15210b99f326df82305aa0015a112b992306dde92303"
    "3e2923033e25230800df40f6fa19ed021d721d70a00955f037fdb31e09130e259800df40f6fa19cd001d721d70a00"
    "937fdb31e0915be270801f6f2d48308d718d121f900ed44d0d3ffd31ff404f404d33fd315d1f82321a15220b98e12"
    "336df82324aa00a112b9926d32de58f82301de541675f910f2a106d0d31fd4d307d30cd309d33fd315d15168baf2a2"
    "515abaf2a6f8232aa15250bcf2a304f823bbf2a35304800df40f6fa199d024d721d70a00f2649130e20e01fe530980"
    "0df40f6fa18e13d05004d718d20001f264c858cf16cf8301cf168e1030c824cf40cf8384095005a1a514cf40e2f800"
    "c94039800df41704c8cbff13cb1ff40012f40012cb3f12cb15c9ed54f80f21d0d30001f265d3020171b0925f03e0fa"
    "4001d70b01c000f2a5fa4031fa0031f401fa0031fa00318060d721d300010f0020f265d2000193d431d19130e272b1"
    "fb00b585bf03"
)
#: Its code hash, published next to it in the same ``compiled.json`` (``hash``).
HIGHLOAD_V3_CODE_HASH: Final = bytes.fromhex("11acad7955844090f283bf238bc1449871f783e7cc0979408d3f4859483e8525")
#: Subwallet id recommended by the highload-v3 README (``0x10ad``), the one OKX uses.
HIGHLOAD_V3_SUBWALLET_ID: Final = 4269
#: Timeout (query TTL) in seconds of the OKX highload wallets: 12 hours.
HIGHLOAD_V3_TIMEOUT: Final = 43200


def _load_code(boc_hex: str, expected_hash: bytes) -> _Cell:
    cell = _boc_root(bytes.fromhex(boc_hex))
    if cell[0] != expected_hash:  # integrity of the embedded constants
        raise RuntimeError(f"embedded code BOC hashes to {cell[0].hex()}, expected {expected_hash.hex()}")
    return cell


_V3R2_CODE: Final = _load_code(WALLET_V3R2_CODE_BOC, WALLET_V3R2_CODE_HASH)
_HIGHLOAD_V3_CODE: Final = _load_code(HIGHLOAD_V3_CODE_BOC, HIGHLOAD_V3_CODE_HASH)


def _state_init_hash(code: _Cell, data: _Cell) -> bytes:
    """Hash of ``StateInit``: split_depth absent (0), special absent (0), code present (1, ref),
    data present (1, ref), library empty HashmapE (0) -> bits ``00110``, refs [code, data]."""
    bits, packed = _pack_bits([(0b00110, 5)])
    return _cell_hash(bits, packed, (code, data))[0]


def _v3r2_data(pubkey: bytes) -> _Cell:
    """Initial V3 data: ``seqno:uint32 = 0, subwallet_id:uint32, public_key:bits256``."""
    fields = [(0, 32), (WALLET_V3_SUBWALLET_ID, 32), (int.from_bytes(pubkey, "big"), 256)]
    return _cell_hash(*_pack_bits(fields), ())


def _highload_v3_data(pubkey: bytes) -> _Cell:
    """Initial highload-v3 data (``highload-wallet-v3.func`` ``recv_external`` load order):
    ``public_key:uint256, subwallet_id:uint32, old_queries:dict (1 bit, empty),
    queries:dict (1 bit, empty), last_clean_time:uint64 = 0, timeout:uint22``."""
    fields = [
        (int.from_bytes(pubkey, "big"), 256),
        (HIGHLOAD_V3_SUBWALLET_ID, 32),
        (0, 1),
        (0, 1),
        (0, 64),
        (HIGHLOAD_V3_TIMEOUT, 22),
    ]
    return _cell_hash(*_pack_bits(fields), ())


def wallet_candidates(pubkey: bytes) -> list[tuple[str, bytes]]:
    """``(variant, account hash)`` of each wallet contract OKX uses for ``pubkey`` (32 bytes)."""
    if len(pubkey) != 32:
        raise EncodingError(f"Ed25519 public key is {len(pubkey)} bytes, expected 32")
    return [
        ("wallet-v3r2", _state_init_hash(_V3R2_CODE, _v3r2_data(pubkey))),
        ("highload-v3", _state_init_hash(_HIGHLOAD_V3_CODE, _highload_v3_data(pubkey))),
    ]


# --------------------------------------------------------------------------------------------
# Addresses

_TAG_BOUNCEABLE: Final = 0x11
_TAG_NON_BOUNCEABLE: Final = 0x51
_TAG_TESTNET: Final = 0x80
_WORKCHAINS: Final = (0, -1)  # basechain, masterchain

_RAW_RE: Final = re.compile(r"(0|-1):([0-9a-fA-F]{64})")
_URLSAFE_RE: Final = re.compile(r"[A-Za-z0-9_-]{48}")
_STANDARD_RE: Final = re.compile(r"[A-Za-z0-9+/]{48}")


@dataclass(frozen=True, slots=True)
class TonAddress:
    """A decoded TON address. ``bounceable`` is None for the raw ``wc:hex`` form."""

    workchain: int
    hash_part: bytes
    bounceable: bool | None
    testnet: bool

    @property
    def form(self) -> str:
        """``bounceable``, ``non-bounceable`` or ``raw``."""
        if self.bounceable is None:
            return "raw"
        return "bounceable" if self.bounceable else "non-bounceable"


def parse_ton_address(text: str) -> TonAddress:
    """Decode a raw (``0:<64 hex>``, ``-1:<64 hex>``) or user-friendly (48 base64 chars, url-safe
    or standard alphabet) address; checksum, tag and workchain are verified. No whitespace is
    stripped. Raises :class:`EncodingError` on anything else."""
    raw = _RAW_RE.fullmatch(text)
    if raw:
        return TonAddress(workchain=int(raw.group(1)), hash_part=bytes.fromhex(raw.group(2)), bounceable=None, testnet=False)
    if _URLSAFE_RE.fullmatch(text):
        body = base64.urlsafe_b64decode(text)
    elif _STANDARD_RE.fullmatch(text):
        body = base64.b64decode(text, validate=True)
    else:
        raise EncodingError(f"not a TON address: {text!r}")
    # 48 base64 chars without padding -> exactly 36 bytes: tag, workchain, hash[32], crc16
    if crc16_xmodem(body[:34]) != int.from_bytes(body[34:], "big"):
        raise EncodingError("TON address checksum mismatch")
    tag = body[0]
    testnet = bool(tag & _TAG_TESTNET)
    tag &= ~_TAG_TESTNET
    if tag not in (_TAG_BOUNCEABLE, _TAG_NON_BOUNCEABLE):
        raise EncodingError(f"unknown TON address tag 0x{body[0]:02x}")
    workchain = int.from_bytes(body[1:2], "big", signed=True)
    if workchain not in _WORKCHAINS:
        raise EncodingError(f"unknown TON workchain {workchain}")
    return TonAddress(workchain=workchain, hash_part=body[2:34], bounceable=tag == _TAG_BOUNCEABLE, testnet=testnet)


def format_ton_address(
    workchain: int, hash_part: bytes, *, bounceable: bool = True, testnet: bool = False, url_safe: bool = True
) -> str:
    """User-friendly form (``EQ..``/``UQ..`` on mainnet workchain 0 with the url-safe alphabet)."""
    if workchain not in _WORKCHAINS or len(hash_part) != 32:
        raise EncodingError("TON address needs workchain 0/-1 and a 32-byte hash")
    tag = (_TAG_BOUNCEABLE if bounceable else _TAG_NON_BOUNCEABLE) | (_TAG_TESTNET if testnet else 0)
    body = bytes((tag, workchain & 0xFF)) + hash_part
    body += crc16_xmodem(body).to_bytes(2, "big")
    return (base64.urlsafe_b64encode if url_safe else base64.b64encode)(body).decode()


def match_ton_address(pubkey: bytes, address: str) -> str | None:
    """``"<variant> <form>"`` (e.g. ``"wallet-v3r2 bounceable"``) when ``address`` is a mainnet
    workchain-0 address of one of :func:`wallet_candidates`, compared on the decoded hash;
    None when it is not, or when ``address`` does not parse."""
    try:
        addr = parse_ton_address(address)
    except EncodingError:
        return None
    if addr.workchain != 0 or addr.testnet:
        return None
    for variant, account_hash in wallet_candidates(pubkey):
        if account_hash == addr.hash_part:
            return f"{variant} {addr.form}"
    return None
