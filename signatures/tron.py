"""TRON: TIP-191 message signatures, v1 (over keccak(msg)), v2 (over the message), and the header
followed by the raw message.

TronWeb's ``verifySignature(hex)`` (HTX's verifier and signer) hashes ``"\\x19TRON Signed Message:\\n32"``
followed by the message bytes themselves, whatever their length: porscan calls that ``tron-header-raw``
and tries it only for plain-text messages, like every raw construction
(:func:`signatures.encoding.plain_text_message`).
"""

from __future__ import annotations

from .encoding import EncodingError, b58check_decode, parse_hex, plain_text_message
from .hashing import keccak256
from .model import Claim, Verdict, failed, verified
from .evm import recid_from_v
from .secp256k1 import parse_rsv_hex, recover

HEADER_32 = b"\x19TRON Signed Message:\n32"
SCHEMES = {"v1": "tron-v1", "v2": "tron-v2", "raw": "tron-header-raw"}

_cache: dict[tuple[str, str], bytes] = {}
_ORDER: tuple[str, ...] = ("v1", "v2", "raw")  # digests in the order tried; the last one that matched goes first
_RANK = {kind: i for i, kind in enumerate(_ORDER)}  # the order a failure names them in, whatever order they were tried


def tron_v1_digest(message: bytes) -> bytes:
    return keccak256(HEADER_32 + keccak256(message))


def tron_v2_digest(message: bytes) -> bytes:
    return keccak256(b"\x19TRON Signed Message:\n" + str(len(message)).encode() + message)


def tron_header_raw_digest(message: bytes) -> bytes:
    return keccak256(HEADER_32 + message)


_DIGESTS = {"v1": tron_v1_digest, "v2": tron_v2_digest, "raw": tron_header_raw_digest}


def _digest(kind: str, message: str) -> bytes:
    d = _cache.get((kind, message))
    if d is None:
        d = _DIGESTS[kind](message.encode())
        if len(_cache) > 4096:
            _cache.clear()
        _cache[(kind, message)] = d
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
    seen: list[tuple[str, str]] = []
    global _ORDER
    raw_ok = plain_text_message(claim.message)
    for kind in _ORDER:
        if kind == "raw" and not raw_ok:
            continue
        pub = recover(rs, recid, _digest(kind, claim.message))
        if pub is None:
            continue
        addr = keccak256(pub[1:])[12:]
        if addr == expected:
            if kind != _ORDER[0]:  # files are homogeneous: try this digest first next time
                _ORDER = tuple(sorted(_ORDER, key=lambda k: k != kind))
            return verified(SCHEMES[kind])
        seen.append((kind, f"{SCHEMES[kind]} recovers 41{addr.hex()}"))
    said = "; ".join(text for _, text in sorted(seen, key=lambda k: _RANK[k[0]]))
    return failed("tron-v1", f"signer is not {claim.address} ({said or 'no key recovers'})")
