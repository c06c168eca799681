"""EOS / Vaulta / WAX: ``SIG_K1_`` signatures over ``sha256(varstr(OKX header) || varstr(msg))``.

An EOS account name (``okbwallet1tr``) is not derived from a key: the signature proves the key
only. Which keys control the account is on-chain state, so the best offline status is ``key_only``.
"""

from __future__ import annotations

import json

from .encoding import EncodingError, b58decode
from .hashing import ripemd160, sha256, varstr
from .model import Claim, Verdict, failed, key_only
from .secp256k1 import recover

SCHEME = "eos-k1"
OKX_HEADER = b"OKX Signed Message:\n"


def eos_digest(message: str) -> bytes:
    return sha256(varstr(OKX_HEADER) + varstr(message.encode()))


def parse_eos_signature(text: str) -> tuple[int, bytes]:
    if not text.startswith("SIG_K1_"):
        raise EncodingError("EOS signature must start with SIG_K1_")
    raw = b58decode(text[7:])
    if len(raw) != 69:
        raise EncodingError(f"EOS signature is {len(raw)} bytes, expected 69")
    body, checksum = raw[:65], raw[65:]
    if ripemd160(body + b"K1")[:4] != checksum:
        raise EncodingError("EOS signature checksum mismatch")
    header = body[0]
    if not 27 <= header <= 34:
        raise EncodingError(f"EOS signature header {header} is not 27..34")
    return (header - 27) & 3, body[1:]


def parse_eos_pubkey(text: str) -> bytes:
    t = text.strip()
    if t.startswith("PUB_K1_"):
        raw = b58decode(t[7:])
        suffix = b"K1"
    elif t.startswith("EOS"):
        raw = b58decode(t[3:])
        suffix = b""
    else:
        raise EncodingError("EOS public key must start with EOS or PUB_K1_")
    if len(raw) != 37 or ripemd160(raw[:33] + suffix)[:4] != raw[33:]:
        raise EncodingError("EOS public key checksum mismatch")
    return raw[:33]


def _keys(cell: str) -> list[str]:
    cell = cell.strip()
    if cell.startswith("{"):
        try:
            obj = json.loads(cell)
        except json.JSONDecodeError as exc:
            raise EncodingError(f"public-key cell is not JSON: {exc.msg}") from exc
        keys = [obj.get("publicKey1", ""), obj.get("publicKey2", "")]
        return [k for k in keys if k]
    return [cell] if cell else []


def verify_eos(claim: Claim, addr_type: str = "EOS") -> Verdict:
    keys = _keys(claim.script_or_pubkey)
    if not keys:
        return failed(SCHEME, "no public key given")
    sigs = [claim.signature1, claim.signature2][: len(keys)]
    digest = eos_digest(claim.message)
    for i, (key_text, sig_text) in enumerate(zip(keys, sigs), 1):
        if not sig_text:
            return failed(SCHEME, f"no signature for key {i}")
        recid, rs = parse_eos_signature(sig_text)
        pub = recover(rs, recid, digest, compressed=True)
        if pub is None or pub != parse_eos_pubkey(key_text):
            return failed(SCHEME, f"signature {i} is not by {key_text}")
    return key_only(SCHEME, f"signature(s) prove {len(keys)} key(s); {claim.address}'s permissions are on-chain state, not checked")
