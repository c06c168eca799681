"""TRON: TIP-191 message signatures, v1 (over keccak(msg)) and v2 (over the message)."""

from __future__ import annotations

from .encoding import EncodingError, b58check_decode, parse_hex
from .hashing import keccak256
from .model import Claim, Verdict, failed, verified
from .evm import recid_from_v
from .secp256k1 import parse_rsv_hex, recover

_cache: dict[tuple[int, str], bytes] = {}
_ORDER = (1, 2)  # digest versions in the order tried; the last one that matched goes first


def tron_v1_digest(message: bytes) -> bytes:
    return keccak256(b"\x19TRON Signed Message:\n32" + keccak256(message))


def tron_v2_digest(message: bytes) -> bytes:
    return keccak256(b"\x19TRON Signed Message:\n" + str(len(message)).encode() + message)


def _digest(version: int, message: str) -> bytes:
    d = _cache.get((version, message))
    if d is None:
        raw = message.encode()
        d = tron_v1_digest(raw) if version == 1 else tron_v2_digest(raw)
        if len(_cache) > 4096:
            _cache.clear()
        _cache[(version, message)] = d
    return d


def parse_tron_address(text: str) -> bytes:
    """Base58check ``T...`` or hex ``41...`` -> the 20-byte account id."""
    t = text.strip()
    if len(t) == 42 and t[:2] == "41":
        raw = parse_hex(t)
    else:
        raw = b58check_decode(t)
    if len(raw) != 21 or raw[0] != 0x41:
        raise EncodingError("not a TRON address (expected 0x41 prefix and 20 bytes)")
    return raw[1:]


def verify_tron(claim: Claim, addr_type: str = "TRX") -> Verdict:
    expected = parse_tron_address(claim.address)
    if not claim.signature1:
        return failed("tron-v1", "no signature")
    rs, v = parse_rsv_hex(claim.signature1)
    recid = recid_from_v(v)
    seen = []
    global _ORDER
    for version in _ORDER:
        pub = recover(rs, recid, _digest(version, claim.message))
        if pub is None:
            continue
        addr = keccak256(pub[1:])[12:]
        if addr == expected:
            if version != _ORDER[0]:  # files are homogeneous: try this digest first next time
                _ORDER = (version, 3 - version)
            return verified(f"tron-v{version}")
        seen.append(f"v{version} recovers 41{addr.hex()}")
    return failed("tron-v1", f"signer is not {claim.address} ({'; '.join(seen) or 'no key recovers'})")
