"""Ed25519 family: OKX signs ``varstr("OKX Signed Message:\\n") || varstr(msg)`` (not hashed); HTX
and wallet tools sign the message bytes themselves (``raw``, tried only for plain-text messages:
:func:`signatures.encoding.plain_text_message`).

Signatures and keys may be hex, base58 or base64. The key is the script/public-key column, or,
where the chain's address *is* the key (Solana, Algorand, Stellar, SS58, MultiversX, NEAR
implicit accounts), taken from the address. After the signature checks against the key, the key
is turned into the chain's address (SOL, APTOS, SUI, TON, SS58, Stellar, ADA enterprise, Algorand,
Tezos, MultiversX, NEAR implicit) and compared with the row's; that comparison also checks the
address's own checksum. Chains whose addresses are not derived from the key give ``key_only``.
"""

from __future__ import annotations

import base64

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

from .encoding import (EncodingError, b58check_encode, b58decode, b58encode, bech32_decode_bytes, bech32_encode_bytes,
                       one_case, parse_hex, plain_text_message)
from .hashing import blake2b, crc16_xmodem, sha3_256, sha512_256, varstr
from .model import Claim, Verdict, failed, key_only, owner_only, verified

SCHEME = "ed25519-okx"
OKX_HEADER = b"OKX Signed Message:\n"

_msg_cache: dict[str, bytes] = {}


def signed_bytes(message: str) -> bytes:
    m = _msg_cache.get(message)
    if m is None:
        m = varstr(OKX_HEADER) + varstr(message.encode())
        if len(_msg_cache) > 4096:
            _msg_cache.clear()
        _msg_cache[message] = m
    return m


_HEX = frozenset("0123456789abcdefABCDEF")


_B64_ONLY = frozenset("+/=")


def hex_or_base58(text: str, size: int) -> bytes:
    """Hex (with or without 0x) when it is exactly ``size`` bytes of hex; base64 when it has base64's
    own characters (``+/=``, which base58 lacks) or is not base58 but is base64 of ``size`` bytes;
    else base58 (2022 files)."""
    t = text.strip()
    body = t[2:] if t[:2] in ("0x", "0X") else t
    if len(body) == 2 * size:
        try:
            return bytes.fromhex(body)
        except ValueError:
            pass
    if t[:2] in ("0x", "0X"):
        return parse_hex(t)
    if _B64_ONLY.intersection(t):
        return _b64(t)
    try:
        return b58decode(t)
    except EncodingError:
        if len(t) == 4 * ((size + 2) // 3) or len(t) == (size * 8 + 5) // 6:
            return _b64(t)  # base64 of the right length that happens to use no + / =
        raise


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:
        raise EncodingError(f"invalid base64: {exc}") from None


def key_from_address(address: str, addr_type: str) -> bytes | None:
    """The public key inside an address, for chains whose address is the key plus framing.

    Nothing is validated here: the caller derives the address back from the key and compares it
    with the row's, which checks the framing and checksum too."""
    a = address.strip()
    try:
        if addr_type == "SOL":
            return b58decode(a)
        if addr_type == "ALGO" and len(a) == 58:
            return base64.b32decode(a + "======")[:32]
        if addr_type == "STELLAR" and len(a) == 56:
            return base64.b32decode(a)[1:33]
        if addr_type.startswith("SS58:"):
            raw = b58decode(a)
            return raw[1:33] if len(raw) == 35 else raw[2:34] if len(raw) == 36 else None
        if addr_type == "EGLD":
            return bech32_decode_bytes(a.lower())[1]
        if addr_type == "NEAR" and len(a) == 64 and _HEX.issuperset(a):
            return bytes.fromhex(a)
    except (EncodingError, ValueError):
        return None
    return None


def ed25519_verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    if len(pubkey) != 32 or len(signature) != 64:
        return False
    try:
        crypto_sign_open(signature + message, pubkey)
        return True
    except (BadSignatureError, CryptoError, ValueError):
        return False


def ss58_encode(pubkey: bytes, ident: int) -> str:
    if ident < 64:
        prefix = bytes((ident,))
    else:
        prefix = bytes((((ident & 0xFC) >> 2) | 0x40, (ident >> 8) | ((ident & 0x03) << 6)))
    checksum = blake2b(b"SS58PRE" + prefix + pubkey, 64)[:2]
    return b58encode(prefix + pubkey + checksum)


def stellar_address(pubkey: bytes) -> str:
    body = b"\x30" + pubkey
    return base64.b32encode(body + crc16_xmodem(body).to_bytes(2, "little")).decode()


def algorand_address(pubkey: bytes) -> str:
    return base64.b32encode(pubkey + sha512_256(pubkey)[-4:]).decode().rstrip("=")


def aptos_auth_key(pubkey: bytes) -> bytes:
    return sha3_256(pubkey + b"\x00")


def _hex32(text: str) -> bytes:
    """APTOS/SUI account hex, possibly with leading zero nibbles stripped."""
    t = text.strip()
    if t[:2] in ("0x", "0X"):
        t = t[2:]
    if not t or len(t) > 64:
        raise EncodingError("account address must be 1..64 hex digits")
    return parse_hex(t.rjust(64, "0"))


def derive(pubkey: bytes, addr_type: str) -> str | bytes | None:
    """The address of ``pubkey`` under ``addr_type`` (bytes for hex-account chains), None if no rule."""
    if addr_type == "SOL":
        return b58encode(pubkey)
    if addr_type == "APTOS":
        return aptos_auth_key(pubkey)
    if addr_type == "SUI":
        return blake2b(b"\x00" + pubkey, 32)
    if addr_type.startswith("SS58:"):
        return ss58_encode(pubkey, int(addr_type[5:]))
    if addr_type == "STELLAR":
        return stellar_address(pubkey)
    if addr_type == "ADA":
        return bech32_encode_bytes("addr", b"\x61" + blake2b(pubkey, 28))
    if addr_type == "ALGO":
        return algorand_address(pubkey)
    if addr_type == "XTZ":
        return b58check_encode(b"\x06\xa1\x9f" + blake2b(pubkey, 20))
    if addr_type == "EGLD":
        return bech32_encode_bytes("erd", pubkey)
    if addr_type == "NEAR":
        return pubkey.hex()
    return None


_BECH32_ADDRESSES = {"ADA", "EGLD"}


def _scheme(construction: str, addr_type: str) -> str:
    return f"ed25519-{construction}-{addr_type.split(':')[0].lower()}" if addr_type else f"ed25519-{construction}"


def verify_ed25519(claim: Claim, addr_type: str) -> Verdict:
    scheme = _scheme("okx", addr_type)
    if not claim.signature1:
        return failed(scheme, "no signature")
    sig = hex_or_base58(claim.signature1, 64)
    if len(sig) != 64:
        return failed(scheme, f"signature is {len(sig)} bytes, expected 64")
    if claim.script_or_pubkey:
        pub = hex_or_base58(claim.script_or_pubkey, 32)
        if len(pub) != 32:
            return failed(scheme, f"public key is {len(pub)} bytes, expected 32")
    else:
        key = key_from_address(claim.address, addr_type)
        if key is None:
            return failed(scheme, "no public key given (script/public key column is empty) and the address does not hold one")
        if len(key) != 32:
            return failed(scheme, f"{addr_type} address is not a 32-byte key")
        pub = key
    if ed25519_verify(pub, signed_bytes(claim.message), sig):
        pass
    elif plain_text_message(claim.message) and ed25519_verify(pub, claim.message.encode(), sig):
        scheme = _scheme("raw", addr_type)
    else:
        return failed(scheme, f"signature does not verify under key {pub.hex()}")

    if addr_type == "APTOS" and claim.eoa1:
        if aptos_auth_key(pub) != _hex32(claim.eoa1):
            return failed(scheme, f"key's auth key 0x{aptos_auth_key(pub).hex()} is not eoa1 {claim.eoa1}")
        return owner_only(scheme, "key matches the auth key in eoa1; account->auth key link not checked (needs an on-chain read)")
    if addr_type == "TON":
        from .ton import match_ton_address  # local: TON rows are rare

        label = match_ton_address(pub, claim.address.strip())
        if label is None:
            return failed(scheme, f"{claim.address} is not a wallet-v3r2 or highload-v3 address of key {pub.hex()}")
        return verified(f"{scheme}-{label.replace(' ', '-')}")
    expected = derive(pub, addr_type)
    if expected is None:
        why = f"{addr_type or 'this chain'}: address is not derived from the key offline"
        return key_only(scheme, f"signature proves key {pub.hex()}; {why}")
    address = claim.address.strip()
    if isinstance(expected, bytes):
        try:
            match = _hex32(address) == expected
        except EncodingError:
            match = False
    elif addr_type == "NEAR":
        implicit = len(address) == 64 and _HEX.issuperset(address)
        if not implicit:
            return key_only(scheme, f"signature proves key {pub.hex()}; {address} is a named NEAR account (keys are on chain)")
        match = address == expected  # NEAR account ids are lower case only
    elif addr_type in _BECH32_ADDRESSES:
        match = one_case(address) == expected
    else:
        match = address == expected
    if not match:
        shown = "0x" + expected.hex() if isinstance(expected, bytes) else expected
        return failed(scheme, f"key's address is {shown}, not {address}")
    return verified(scheme)
