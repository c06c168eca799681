"""EVM family: OKX's keccak-then-personal_sign digest, standard EIP-191 ``personal_sign`` and raw keccak.

OKX signs ``keccak("\\x19Ethereum Signed Message:\\n32" || keccak(msg))`` (a personal_sign over the
32-byte hash of the message). Wallet tools produce plain EIP-191 ``personal_sign(msg)``. HTX also signs
the bare ``keccak(msg)`` (no prefix): tried only for plain-text messages, where the digest cannot be a
transaction's (see :func:`signatures.encoding.plain_text_message`). porscan records which matched.
Signatures with ``s > n/2`` are rejected (low-S rule).
"""

from __future__ import annotations

import base64

from .encoding import EncodingError, bech32_encode_bytes, one_case, parse_hex, plain_text_message
from .hashing import blake2b, keccak256
from .model import Claim, Verdict, failed, owner_only, verified
from .secp256k1 import is_low_s, parse_rsv_hex, recover

OKX_EVM_PREFIX = b"\x19Ethereum Signed Message:\n32"
SCHEME_OKX = "evm-okx-keccak"
SCHEME_EIP191 = "evm-personal-sign"
SCHEME_RAW = "evm-raw-keccak"

_digest_cache: dict[tuple[str, str], bytes] = {}
# digests in the order tried; whichever matched last goes first (the result never depends on it)
_ORDER: tuple[tuple[str, str], ...] = (("okx", SCHEME_OKX), ("eip191", SCHEME_EIP191), ("raw", SCHEME_RAW))
# a failure names what each digest recovers in this fixed order, whatever order they were tried in: the
# same row gets the same reason in every run and every worker
_RANK = {scheme: i for i, (_, scheme) in enumerate(_ORDER)}


def okx_evm_digest(message: bytes) -> bytes:
    return keccak256(OKX_EVM_PREFIX + keccak256(message))


def personal_sign_digest(message: bytes) -> bytes:
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def _digest(kind: str, message: str) -> bytes:
    key = (kind, message)
    d = _digest_cache.get(key)
    if d is None:
        raw = message.encode()
        d = okx_evm_digest(raw) if kind == "okx" else personal_sign_digest(raw) if kind == "eip191" else keccak256(raw)
        if len(_digest_cache) > 4096:
            _digest_cache.clear()
        _digest_cache[key] = d
    return d


def recid_from_v(v: int) -> int:
    """V as OKX writes it (27..34) or as some wallets do (0..3)."""
    if 27 <= v <= 34:
        return (v - 27) & 3
    if 0 <= v <= 3:
        return v
    raise EncodingError(f"signature V byte {v} is not 0..3 or 27..34")


def address_from_pubkey(pub65: bytes) -> bytes:
    return keccak256(pub65[1:])[12:]


def parse_evm_address(text: str) -> bytes:
    raw = parse_hex(text)
    if len(raw) != 20:
        raise EncodingError(f"EVM address is {len(raw)} bytes, expected 20")
    return raw


def check_signer(signature: str, message: str, expected: bytes) -> tuple[bool, str, str]:
    """Does ``signature`` over ``message`` recover to the 20-byte ``expected`` address?

    Returns ``(ok, scheme, reason)``; tries OKX's digest first, then plain personal_sign.
    """
    if not signature:
        return False, SCHEME_OKX, "no signature"
    rs, v = parse_rsv_hex(signature)
    recid = recid_from_v(v)
    seen: list[tuple[str, str]] = []
    for kind, scheme in _digests(message):
        pub = recover(rs, recid, _digest(kind, message))
        if pub is None:
            seen.append((scheme, f"{scheme}: no key recovers"))
            continue
        addr = address_from_pubkey(pub)
        if addr == expected:
            _matched(kind)
            if not is_low_s(rs):
                return False, scheme, "high-S signature (s > n/2) rejected by the low-S rule"
            return True, scheme, ""
        seen.append((scheme, f"{scheme} recovers 0x{addr.hex()}"))
    said = "; ".join(text for _, text in sorted(seen, key=lambda s: _RANK[s[0]]))
    return False, SCHEME_OKX, f"signer is not 0x{expected.hex()} ({said})"


def _digests(message: str) -> tuple[tuple[str, str], ...]:
    """The digests sound for ``message``, in the order to try them."""
    if plain_text_message(message):
        return _ORDER
    return tuple(d for d in _ORDER if d[0] != "raw")


def _matched(kind: str) -> None:
    """Files are homogeneous: the digest that matched is tried first next time."""
    global _ORDER
    if kind != _ORDER[0][0]:
        _ORDER = tuple(sorted(_ORDER, key=lambda d: d[0] != kind))


def filecoin_f4_address(addr20: bytes) -> str:
    """Filecoin delegated (f410f) address of an EVM address."""
    payload = addr20
    checksum = blake2b(b"\x04\x0a" + payload, 4)
    body = base64.b32encode(payload + checksum).decode().lower().rstrip("=")
    return "f410f" + body


def _target(claim_address: str, addr_type: str) -> tuple[bytes | None, str]:
    """Translate the row's address into the 20 bytes a signer must recover to."""
    a = claim_address.strip()
    if addr_type == "FIL" and not a.lower().startswith("0x"):
        return None, one_case(a)  # compared as f410f text below
    if addr_type == "LAT" and a.lower().startswith("lat1"):
        return None, one_case(a)
    return parse_evm_address(a), ""


def verify_evm(claim: Claim, addr_type: str) -> Verdict:
    msg = claim.message
    # Owner mode: owners sign instead of the (contract / validator) address.
    if claim.eoa1:
        staking = claim.type.strip().lower()
        eoa2 = claim.eoa2
        sig2 = claim.signature2
        note = ""
        if staking.startswith("eigenlayer") and eoa2 and not sig2:
            eoa2 = ""  # EOA2 is the EigenPod contract: it cannot sign
            note = "; EOA2 is the EigenPod, not a signer"
        signers = [(claim.signature1, claim.eoa1, "eoa1")]
        if eoa2:
            signers.append((sig2, eoa2, "eoa2"))
        schemes = []
        for sig, owner, label in signers:
            ok, scheme, reason = check_signer(sig, msg, parse_evm_address(owner))
            if not ok:
                return failed(scheme, f"{label} {owner}: {reason}")
            schemes.append(scheme)
        owners = ", ".join(o for _, o, _ in signers)
        if staking and staking != "non staking":
            what = f"{claim.type.strip()}: validator key {claim.address[:18]}... not bound to {owners} offline (needs a beacon-chain read)"
        else:
            what = f"contract wallet: owners {owners} signed; owner->contract link not checked (needs an on-chain read)"
        return owner_only("+".join(dict.fromkeys(schemes)), what + note)

    expected, text_form = _target(claim.address, addr_type)
    if expected is not None:
        ok, scheme, reason = check_signer(claim.signature1, msg, expected)
        return verified(scheme) if ok else failed(scheme, reason)
    # Text-form addresses (Filecoin f410f, PlatON lat1): recover, derive, compare.
    rs, v = parse_rsv_hex(claim.signature1)
    recid = recid_from_v(v)
    for kind, scheme in _digests(msg):
        pub = recover(rs, recid, _digest(kind, msg))
        if pub is None:
            continue
        addr = address_from_pubkey(pub)
        derived = filecoin_f4_address(addr) if addr_type == "FIL" else bech32_encode_bytes("lat", addr)
        if derived == text_form:
            if not is_low_s(rs):
                return failed(scheme, "high-S signature (s > n/2) rejected by the low-S rule")
            return verified(scheme + ("-f410" if addr_type == "FIL" else "-lat"))
    return failed(SCHEME_OKX, f"no digest recovers a key whose {addr_type} address is {claim.address}")
