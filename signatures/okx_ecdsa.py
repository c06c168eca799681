"""OKX-ECDSA family: secp256k1 over ``keccak(varstr("OKX Signed Message:\\n") || varstr(msg))``.

The recovered key is turned into the chain's address by the rule of the row's address type.
Types whose address is not derived from a key (XRP, NULS, FLOW, or a row that only gives a public
key) prove key possession only: ``key_only``.
"""

from __future__ import annotations

import base64

from .encoding import (
    EncodingError,
    b58check_encode,
    cashaddr_polymod,
    convertbits,
    bech32_encode_bytes,
    one_case,
    parse_hex,
)
from .evm import recid_from_v
from .hashing import blake2b, hash160, keccak256, sha256d, sha3_256
from .model import Claim, Verdict, failed, key_only, owner_only, unsupported, verified
from .secp256k1 import compress, parse_rsv_hex, recover
from .utxo import okx_ecdsa_digest

SCHEME = "okx-ecdsa"

# address type -> bech32 hrp of RIPEMD160(SHA256(compressed key)) (cosmos-style)
COSMOS_HRP = {"ATOM": "cosmos", "TIA": "celestia", "CRO": "cro", "DORA": "dora", "DYDX": "dydx",
              "TERRA": "terra", "LUNC": "terra"}
# address type -> bech32 hrp of the 20-byte EVM address
EVM_BECH32_HRP = {"INJ": "inj", "ONE": "one"}
NO_ADDRESS_RULE = {"": "no address rule for this coin", "FLOW": "FLOW addresses are not derived from keys"}


def filecoin_f1_address(pub65: bytes) -> str:
    payload = blake2b(pub65, 20)
    checksum = blake2b(b"\x01" + payload, 4)
    return "f1" + base64.b32encode(payload + checksum).decode().lower().rstrip("=")


_CIP37 = "abcdefghjkmnprstuvwxyz0123456789"


def conflux_address(addr20: bytes, network_id: int = 1029) -> str:
    """CIP-37 base32 address (``cfx:aa...``) of a user account: first nibble forced to 1."""
    body = bytes([(addr20[0] & 0x0F) | 0x10]) + addr20[1:]
    prefix = "cfx" if network_id == 1029 else ("cfxtest" if network_id == 1 else f"net{network_id}")
    data5 = convertbits(b"\x00" + body, 8, 5)
    poly = cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data5 + [0] * 8)
    checksum = [(poly >> 5 * (7 - i)) & 31 for i in range(8)]
    return prefix + ":" + "".join(_CIP37[d] for d in data5 + checksum)


def _c32(data: bytes) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 32)
        out = alphabet[r] + out
    return "0" * (len(data) - len(data.lstrip(b"\x00"))) + out


def stacks_address(h160: bytes, version: int = 22) -> str:
    """c32check ``SP...`` address (version 22 = mainnet single-sig)."""
    checksum = sha256d(bytes((version,)) + h160)[:4]
    return "S" + "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[version] + _c32(h160 + checksum)


def derive_addresses(pub65: bytes, addr_type: str) -> list[str]:
    """Every address text the key has under ``addr_type`` (compared case-normalised by the caller)."""
    evm20 = keccak256(pub65[1:])[12:]
    comp = compress(pub65)
    if addr_type == "FIL":
        return [filecoin_f1_address(pub65)]
    if addr_type == "CFX":
        return [conflux_address(evm20)]
    if addr_type == "ELF":
        return [b58check_encode(sha256d(pub65))]
    if addr_type in COSMOS_HRP:
        return [bech32_encode_bytes(COSMOS_HRP[addr_type], hash160(comp))]
    if addr_type in EVM_BECH32_HRP:
        return [bech32_encode_bytes(EVM_BECH32_HRP[addr_type], evm20)]
    if addr_type == "ETH":  # OKC / OKT chain: ex1... bech32 or 0x
        return ["0x" + evm20.hex(), bech32_encode_bytes("ex", evm20)]
    if addr_type == "ICX":
        return ["hx" + sha3_256(pub65[1:])[-20:].hex()]
    if addr_type == "STX":
        return [stacks_address(hash160(comp)), stacks_address(hash160(pub65))]
    raise KeyError(addr_type)


def _normalise(addr_type: str, text: str) -> str:
    t = text.strip()
    if addr_type == "ELF":
        if t.startswith("ELF_") and t.count("_") == 2:
            t = t.split("_")[1]
        return t  # base58: case-sensitive
    if addr_type == "CFX" and t.count(":") == 2:  # verbose form cfx:type.user:aa...
        parts = t.split(":")
        t = parts[0] + ":" + parts[2]
    if addr_type == "STX":
        return t.upper()
    if t[:2] in ("0x", "0X"):
        return t.lower()  # hex: case is at most an EIP-55 checksum
    return one_case(t)  # bech32, base32 and CIP-37: one case throughout


def recover_okx_ecdsa(signature: str, message: str) -> bytes | None:
    rs, v = parse_rsv_hex(signature)
    return recover(rs, recid_from_v(v), okx_ecdsa_digest(message))


def _given_pubkey(text: str) -> bytes:
    raw = parse_hex(text)
    if len(raw) not in (33, 64, 65):
        raise EncodingError(f"public key is {len(raw)} bytes, expected 33, 64 or 65")
    return compress(raw)


def verify_okx_ecdsa(claim: Claim, addr_type: str) -> Verdict:
    if not claim.signature1:
        return failed(SCHEME, "no signature")
    if claim.eoa1 and addr_type == "ETH":
        return _owner_mode(claim)
    pub = recover_okx_ecdsa(claim.signature1, claim.message)
    if pub is None:
        return failed(SCHEME, "no key recovers from the signature")
    given = claim.script_or_pubkey
    if given:
        if compress(pub) != _given_pubkey(given):
            return failed(SCHEME + "-pubkey", f"signature recovers {compress(pub).hex()}, not the given key")
    if addr_type in NO_ADDRESS_RULE or addr_type not in _RULES:
        reason = NO_ADDRESS_RULE.get(addr_type, f"no address rule for {addr_type}")
        if given:
            return key_only(SCHEME + "-pubkey", f"signature proves key {compress(pub).hex()}; {reason}")
        # any well-formed signature recovers *some* key: without a key to compare, nothing is proven
        return unsupported(SCHEME, f"{reason} and no public key given to check the signature against")
    want = _normalise(addr_type, claim.address)
    candidates = derive_addresses(pub, addr_type)
    for cand in candidates:
        if _normalise(addr_type, cand) == want:
            return verified(f"{SCHEME}-{addr_type.lower()}")
    return failed(f"{SCHEME}-{addr_type.lower()}", f"recovered key's address is {candidates[0]}, not {claim.address}")


_RULES = {"FIL", "CFX", "ELF", "ETH", "ICX", "STX", *COSMOS_HRP, *EVM_BECH32_HRP}


def _owner_mode(claim: Claim) -> Verdict:
    owners = [(claim.signature1, claim.eoa1)] + ([(claim.signature2, claim.eoa2)] if claim.eoa2 else [])
    for sig, owner in owners:
        if not sig:
            return failed(SCHEME, f"owner {owner}: no signature")
        pub = recover_okx_ecdsa(sig, claim.message)
        if pub is None:
            return failed(SCHEME, f"owner {owner}: no key recovers")
        if _normalise("ETH", owner) not in [_normalise("ETH", c) for c in derive_addresses(pub, "ETH")]:
            return failed(SCHEME, f"owner {owner}: signer differs")
    return owner_only(SCHEME, "owners signed; owner->contract link not checked (needs an on-chain read)")

