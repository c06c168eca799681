"""BETH validator keys: BLS12-381 proof-of-possession signatures over the EVM message digest."""

from __future__ import annotations

from .encoding import parse_hex
from .evm import okx_evm_digest
from .model import Claim, Verdict, failed, verified

SCHEME = "bls-pop"


def verify_bls(claim: Claim, addr_type: str = "BETH") -> Verdict:
    pub = parse_hex(claim.address)
    sig = parse_hex(claim.signature1) if claim.signature1 else b""
    if len(pub) != 48:
        return failed(SCHEME, f"validator key is {len(pub)} bytes, expected 48")
    if len(sig) != 96:
        return failed(SCHEME, f"signature is {len(sig)} bytes, expected 96")
    from py_ecc.bls.ciphersuites import G2ProofOfPossession  # slow import, rare rows
    from eth_typing import BLSPubkey, BLSSignature

    try:
        ok = G2ProofOfPossession.Verify(BLSPubkey(pub), okx_evm_digest(claim.message.encode()), BLSSignature(sig))
    except Exception as exc:  # py_ecc raises ValueError/AssertionError subclasses on bad points
        return failed(SCHEME, f"invalid BLS point: {type(exc).__name__}")
    if not ok:
        return failed(SCHEME, "BLS signature does not verify under the validator key")
    return verified(SCHEME, "validator signing key; withdrawal credentials not checked")
