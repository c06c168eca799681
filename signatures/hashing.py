"""Hash functions used by the signature schemes, as plain ``bytes -> bytes`` functions.

Keccak comes from safe-pysha3 (C, ~7x faster than pycryptodome's); RIPEMD-160 from
pycryptodome because OpenSSL 3 builds of ``hashlib`` may not offer it.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Protocol

from Crypto.Hash import RIPEMD160 as _RIPEMD160

class _Hash(Protocol):
    def digest(self) -> bytes: ...


_keccak_256: Callable[[bytes], _Hash]
try:  # safe-pysha3: the fast path
    from sha3 import keccak_256 as _sha3_keccak

    _keccak_256 = _sha3_keccak
except ImportError:  # pragma: no cover - fallback keeps the package usable
    from Crypto.Hash import keccak as _keccak_mod

    def _pycryptodome_keccak(data: bytes = b"") -> _Hash:
        return _keccak_mod.new(data=data, digest_bits=256)

    _keccak_256 = _pycryptodome_keccak


_sha256 = hashlib.sha256
_blake2b = hashlib.blake2b


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (pre-NIST padding), not SHA3-256."""
    return _keccak_256(data).digest()


def sha256(data: bytes) -> bytes:
    return _sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256."""
    return _sha256(_sha256(data).digest()).digest()


def sha3_256(data: bytes) -> bytes:
    """NIST SHA3-256 (APTOS auth keys, ICX addresses)."""
    return hashlib.sha3_256(data).digest()


def ripemd160(data: bytes) -> bytes:
    return _RIPEMD160.new(data).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)): Bitcoin key and script hashes."""
    return _RIPEMD160.new(_sha256(data).digest()).digest()


def blake2b(data: bytes, digest_size: int, person: bytes = b"") -> bytes:
    return _blake2b(data, digest_size=digest_size, person=person).digest()


def sha512_256(data: bytes) -> bytes:
    """SHA-512/256 (Algorand address checksums)."""
    return hashlib.new("sha512_256", data).digest()


def varstr(data: bytes) -> bytes:
    """Bitcoin CompactSize length prefix followed by the bytes."""
    n = len(data)
    if n < 0xFD:
        return bytes((n,)) + data
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little") + data
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little") + data
    return b"\xff" + n.to_bytes(8, "little") + data


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0): Stellar StrKey and TON user-friendly address checksums."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc
