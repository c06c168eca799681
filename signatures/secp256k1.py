"""secp256k1 public-key recovery over coincurve's libsecp256k1 bindings (the hot path).

All functions take raw bytes and return raw bytes or ``None``; nothing here knows about coins.
"""

from __future__ import annotations

import base64
import binascii
import threading

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from .encoding import EncodingError, parse_hex

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2

_CTX = GLOBAL_CONTEXT.ctx
_UNCOMPRESSED = lib.SECP256K1_EC_UNCOMPRESSED
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED


class _Buffers(threading.local):
    """Per-thread scratch space for the C calls (cffi releases the GIL during them)."""

    def __init__(self) -> None:
        self.rsig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self.pub = ffi.new("secp256k1_pubkey *")
        self.out = ffi.new("unsigned char[65]")
        self.outlen = ffi.new("size_t *")


_BUF = _Buffers()
_parse_compact = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
_recover = lib.secp256k1_ecdsa_recover
_serialize = lib.secp256k1_ec_pubkey_serialize
_buffer = ffi.buffer


_MemoKey = tuple[bytes, int, bytes, bool]  # r||s, recid, digest, compressed


class _Memo:
    """Keys already recovered, by (r||s, recid, digest, compressed): recovery is a pure function of
    these, and published files repeat them. A few cold-wallet keys sign every multisig row of a
    coin with one fixed message, and deterministic (RFC 6979) signing makes each key's signature
    the same on every row; an EVM address listed on several networks carries the same signature
    on each. Two generations: a full young one becomes the old one (the one before is dropped),
    and a hit in the old one is kept in the young, so a key used all through a file stays held
    among any number of once-only signatures, and memory stays bounded (2 x ``size`` entries)."""

    __slots__ = ("young", "old", "size")

    def __init__(self, size: int) -> None:
        self.young: dict[_MemoKey, bytes | None] = {}
        self.old: dict[_MemoKey, bytes | None] = {}
        self.size = size

    def put(self, key: _MemoKey, value: bytes | None) -> None:
        if len(self.young) >= self.size:
            self.old, self.young = self.young, {}
        self.young[key] = value


_MEMO = _Memo(8192)


def recover(rs: bytes, recid: int, digest: bytes, compressed: bool = False) -> bytes | None:
    """Recover the public key that signed ``digest`` (32 bytes) with ``r||s`` and ``recid``.

    Returns the 65-byte uncompressed (or 33-byte compressed) SEC key, or ``None`` when no key
    recovers (invalid r/s, point not on the curve, ...). A signature seen before is answered from
    :class:`_Memo` without the curve arithmetic.
    """
    if len(rs) != 64 or len(digest) != 32 or not 0 <= recid <= 3:
        return None
    memo = _MEMO
    key = (rs, recid, digest, compressed)
    if key in memo.young:
        return memo.young[key]
    found = memo.old[key] if key in memo.old else _recover_now(rs, recid, digest, compressed)
    memo.put(key, found)
    return found


def _recover_now(rs: bytes, recid: int, digest: bytes, compressed: bool) -> bytes | None:
    buf = _BUF
    if not _parse_compact(_CTX, buf.rsig, rs, recid):
        return None
    if not _recover(_CTX, buf.pub, buf.rsig, digest):
        return None
    size = 33 if compressed else 65
    buf.outlen[0] = size
    _serialize(_CTX, buf.out, buf.outlen, buf.pub, _COMPRESSED if compressed else _UNCOMPRESSED)
    key: bytes = _buffer(buf.out, size)[:]
    return key


def is_low_s(rs: bytes) -> bool:
    return int.from_bytes(rs[32:64], "big") <= HALF_N


def compress(pubkey: bytes) -> bytes:
    """65-byte (04||X||Y) or 64-byte (X||Y) key -> 33-byte compressed; 33-byte keys pass through."""
    if len(pubkey) == 33 and pubkey[0] in (2, 3):
        return pubkey
    if len(pubkey) == 65 and pubkey[0] == 4:
        pubkey = pubkey[1:]
    if len(pubkey) != 64:
        raise EncodingError("public key must be 33, 64 or 65 bytes")
    return bytes((2 | (pubkey[63] & 1),)) + pubkey[:32]


def decompress(pubkey33: bytes) -> bytes | None:
    """33-byte compressed key -> 65-byte uncompressed, or ``None`` if not a curve point."""
    pub = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, pub, pubkey33, len(pubkey33)):
        return None
    out = ffi.new("unsigned char[65]")
    outlen = ffi.new("size_t *", 65)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, outlen, pub, _UNCOMPRESSED)
    return bytes(ffi.buffer(out, 65))


def parse_rsv_hex(text: str) -> tuple[bytes, int]:
    """``0x`` + 65-byte hex R||S||V -> (r||s, V). Raises EncodingError on bad length/hex."""
    raw = parse_hex(text)
    if len(raw) != 65:
        raise EncodingError(f"signature is {len(raw)} bytes, expected 65")
    return raw[:64], raw[64]


def parse_compact_b64(text: str) -> tuple[int, bytes]:
    """BIP-137 base64 compact signature -> (header byte, r||s)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("signature is not base64") from exc
    if len(raw) != 65:
        raise EncodingError(f"compact signature is {len(raw)} bytes, expected 65")
    return raw[0], raw[1:]
