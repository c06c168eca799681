"""BETH validator keys: BLS12-381 proof-of-possession signatures over the EVM message digest.

The scheme is the IETF ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (keys in G1,
signatures in G2) that Ethereum validators sign with; ``Verify`` below is its CoreVerify with
KeyValidate. The curve work runs in py-arkworks-bls12381 (native, ~2 ms a row; py_ecc, pure Python,
took ~0.3 s a row, so a file of validator keys took minutes). Why that binding: it is the one the
Ethereum specs' own test generators use, maintained and typed; milagro-bls-binding, which offers the
whole Verify in one call, declares itself deprecated and unmaintained on import, and pyblst is an
alpha binding of bare primitives. py_ecc stays the reference that the tests compare this with on
real and mutated rows.
"""

from __future__ import annotations

from py_arkworks_bls12381 import GT, G1Point, G2Point

from .encoding import parse_hex
from .evm import okx_evm_digest
from .model import Claim, Verdict, failed, verified

SCHEME = "bls-pop"
DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
_NEG_G1 = -G1Point()  # -P, the G1 generator negated: e(PK, H(m)) * e(-P, sig) == 1
_G1_INFINITY = G1Point.identity()


def _g1(data: bytes) -> G1Point | None:
    """A public key: canonical compressed encoding of a point of the prime-order subgroup.

    ``from_compressed_bytes`` checks the curve and the subgroup; the round trip also refuses
    encodings that py_ecc refuses but arkworks would read (e.g. the infinity flag with x bits set)."""
    try:
        point = G1Point.from_compressed_bytes(data)
    except ValueError:
        return None
    return point if point.to_compressed_bytes() == data else None


def _g2(data: bytes) -> G2Point | None:
    try:
        point = G2Point.from_compressed_bytes(data)
    except ValueError:
        return None
    return point if point.to_compressed_bytes() == data else None


def bls_pop_verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """The ciphersuite's Verify: False (never an exception) for a key or signature that is not a
    canonically encoded point of its subgroup, and for the key at infinity (KeyValidate)."""
    return not _why_not(pubkey, message, signature)


def _why_not(pubkey: bytes, message: bytes, signature: bytes) -> str:
    """"" when the signature verifies, else the reason it does not."""
    pk = _g1(pubkey) if len(pubkey) == 48 else None
    if pk is None:
        return "invalid BLS point: the validator key is not a G1 subgroup point"
    if pk == _G1_INFINITY:
        return "invalid BLS point: the validator key is the point at infinity"
    sig = _g2(signature) if len(signature) == 96 else None
    if sig is None:
        return "invalid BLS point: the signature is not a G2 subgroup point"
    if not GT.pairing_check([pk, _NEG_G1], [G2Point.hash_to_curve(message, DST), sig]):
        return "BLS signature does not verify under the validator key"
    return ""


def verify_bls(claim: Claim, addr_type: str = "BETH") -> Verdict:
    pub = parse_hex(claim.address)
    sig = parse_hex(claim.signature1) if claim.signature1 else b""
    if len(pub) != 48:
        return failed(SCHEME, f"validator key is {len(pub)} bytes, expected 48")
    if len(sig) != 96:
        return failed(SCHEME, f"signature is {len(sig)} bytes, expected 96")
    why = _why_not(pub, okx_evm_digest(claim.message.encode()), sig)
    if why:
        return failed(SCHEME, why)
    return verified(SCHEME, "validator signing key; withdrawal credentials not checked")
