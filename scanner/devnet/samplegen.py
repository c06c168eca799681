"""Signed sample reserve rows made with porscan's own keys, through independent libraries.

Used by the tests, the benchmarks and the sample exchange of the README's main job. Signing goes
through eth-account / coincurve / tronpy / PyNaCl, never through porscan's own verifiers, so a
verifier bug cannot make its own fixtures pass.
"""

from __future__ import annotations

import base64
import hashlib
import random

import base58
import bech32 as bech32_ref
from dataclasses import dataclass

from coincurve import PrivateKey as CcPrivateKey
from eth_hash.auto import keccak
from nacl.signing import SigningKey

MESSAGE = "I am an OKX address"


@dataclass(frozen=True, slots=True)
class SampleRow:
    coin: str
    network: str
    address: str
    amount: str
    message: str = MESSAGE
    signature1: str = ""
    signature2: str = ""
    script: str = ""
    eoa1: str = ""
    eoa2: str = ""


def seeded_key(seed: int | str, label: str = "") -> bytes:
    """A deterministic 32-byte private key (valid for secp256k1 and Ed25519 seeds)."""
    return hashlib.sha256(f"porscan-sample/{label}/{seed}".encode()).digest()


def b58encode(data: bytes) -> str:
    return base58.b58encode(data).decode()


# ---------------------------------------------------------------------------------------- EVM

def evm_sign_okx(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    """OKX's EVM signature (personal_sign over keccak(msg)) with eth-account; returns (address, sig)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    acct = Account.from_key(secret)
    signed = acct.sign_message(encode_defunct(primitive=keccak(message.encode())))
    return acct.address, "0x" + bytes(signed.signature).hex()


def evm_sign_personal(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    """Standard EIP-191 personal_sign of the message text, with eth-account."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    acct = Account.from_key(secret)
    signed = acct.sign_message(encode_defunct(text=message))
    return acct.address, "0x" + bytes(signed.signature).hex()


_OKX_EVM_DIGEST: dict[str, bytes] = {}


def evm_sign_okx_fast(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    """Same signature as :func:`evm_sign_okx`, through coincurve directly (for bulk files)."""
    digest = _OKX_EVM_DIGEST.get(message)
    if digest is None:
        digest = _OKX_EVM_DIGEST[message] = keccak(b"\x19Ethereum Signed Message:\n32" + keccak(message.encode()))
    key = CcPrivateKey(secret)
    sig = key.sign_recoverable(digest, hasher=None)
    address = "0x" + keccak(key.public_key.format(compressed=False)[1:])[12:].hex()
    return address, "0x" + sig[:64].hex() + format(27 + sig[64], "02x")


# --------------------------------------------------------------------------------------- TRON

def tron_sign(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    """TIP-191 v2 signature with tronpy (V as 27/28, as TronWeb writes it)."""
    from tronpy.keys import PrivateKey

    key = PrivateKey(secret)
    raw = key.sign_msg(message.encode()).to_bytes()
    return key.public_key.to_base58check_address(), "0x" + raw[:64].hex() + format(27 + raw[64], "02x")


_TRON_V2: dict[str, bytes] = {}


def tron_sign_fast(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    """TIP-191 v2 through coincurve (bulk files); same bytes as :func:`tron_sign`."""
    digest = _TRON_V2.get(message)
    if digest is None:
        m = message.encode()
        digest = _TRON_V2[message] = keccak(b"\x19TRON Signed Message:\n" + str(len(m)).encode() + m)
    key = CcPrivateKey(secret)
    sig = key.sign_recoverable(digest, hasher=None)
    payload = b"\x41" + keccak(key.public_key.format(compressed=False)[1:])[12:]
    return base58.b58encode_check(payload).decode(), "0x" + sig[:64].hex() + format(27 + sig[64], "02x")


# ------------------------------------------------------------------------------------ Bitcoin

BTC_MAGIC = "Bitcoin Signed Message:\n"


def _varstr(b: bytes) -> bytes:
    return bytes((len(b),)) + b


def bip137_sign(secret: bytes, message: str = MESSAGE, magic: str = BTC_MAGIC, header_base: int = 31) -> str:
    """BIP-137 compact signature (compressed key: header 31..34) with coincurve, base64."""
    digest = hashlib.sha256(hashlib.sha256(_varstr(magic.encode()) + _varstr(message.encode())).digest()).digest()
    sig = CcPrivateKey(secret).sign_recoverable(digest, hasher=None)
    return base64.b64encode(bytes((header_base + sig[64],)) + sig[:64]).decode()


def compressed_pubkey(secret: bytes) -> bytes:
    return CcPrivateKey(secret).public_key.format(compressed=True)


def multisig_script(pubkeys: list[bytes], m: int = 2) -> bytes:
    body = b"".join(bytes((len(k),)) + k for k in pubkeys)
    return bytes((0x50 + m,)) + body + bytes((0x50 + len(pubkeys), 0xAE))


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    address = bech32_ref.encode(hrp, version, program)
    if address is None:
        raise ValueError("invalid witness program")
    return address


def base58check(payload: bytes) -> str:
    return base58.b58encode_check(payload).decode()


def hash160(data: bytes) -> bytes:
    from Crypto.Hash import RIPEMD160

    return RIPEMD160.new(hashlib.sha256(data).digest()).digest()


def p2wsh_multisig(secrets: list[bytes], signer_idx: tuple[int, int] = (0, 1), m: int = 2,
                   message: str = MESSAGE, hrp: str = "bc", signatures: dict[bytes, str] | None = None) -> tuple[str, str, str, str]:
    """2-of-3 P2WSH row parts: (address, sig1, sig2, script hex). ``signatures`` caches per key."""
    pubs = [compressed_pubkey(s) for s in secrets]
    script = multisig_script(pubs, m)
    address = segwit_address(hrp, 0, hashlib.sha256(script).digest())
    sigs = []
    for i in signer_idx:
        s = signatures.get(secrets[i]) if signatures is not None else None
        if s is None:
            s = bip137_sign(secrets[i], message)
            if signatures is not None:
                signatures[secrets[i]] = s
        sigs.append(s)
    return address, sigs[0], sigs[1], script.hex()


def p2sh_multisig(secrets: list[bytes], m: int = 2, message: str = MESSAGE, version: int = 5,
                  magic: str = BTC_MAGIC) -> tuple[str, str, str, str]:
    pubs = [compressed_pubkey(s) for s in secrets]
    script = multisig_script(pubs, m)
    address = base58check(bytes((version,)) + hash160(script))
    return address, bip137_sign(secrets[0], message, magic), bip137_sign(secrets[1], message, magic), script.hex()


def p2pkh(secret: bytes, version: int = 0, message: str = MESSAGE, magic: str = BTC_MAGIC) -> tuple[str, str]:
    address = base58check(bytes((version,)) + hash160(compressed_pubkey(secret)))
    return address, bip137_sign(secret, message, magic)


def p2wpkh_bip137(secret: bytes, message: str = MESSAGE, hrp: str = "bc") -> tuple[str, str]:
    address = segwit_address(hrp, 0, hash160(compressed_pubkey(secret)))
    return address, bip137_sign(secret, message, header_base=39)


def p2sh_p2wpkh_bip137(secret: bytes, message: str = MESSAGE) -> tuple[str, str]:
    redeem = b"\x00\x14" + hash160(compressed_pubkey(secret))
    return base58check(b"\x05" + hash160(redeem)), bip137_sign(secret, message, header_base=35)


# ----------------------------------------------------------------------------------- Ed25519

def okx_ed25519_bytes(message: str = MESSAGE) -> bytes:
    return _varstr(b"OKX Signed Message:\n") + _varstr(message.encode())


def sol_sign(secret: bytes, message: str = MESSAGE) -> tuple[str, str, str]:
    """(address, signature hex, public key hex) with PyNaCl."""
    sk = SigningKey(secret)
    pub = bytes(sk.verify_key)
    sig = sk.sign(okx_ed25519_bytes(message)).signature
    return b58encode(pub), "0x" + sig.hex(), pub.hex()


def ed25519_sign(secret: bytes, message: str = MESSAGE) -> tuple[bytes, str]:
    sk = SigningKey(secret)
    return bytes(sk.verify_key), "0x" + sk.sign(okx_ed25519_bytes(message)).signature.hex()


# ------------------------------------------------------------------------------ file writing

OKX11_HEADER = "coin,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/ public key, eoa1, eoa2"


def random_amount(rng: random.Random, decimals: int) -> str:
    units = rng.randrange(1, 10 ** (decimals + 3))
    text = str(units).rjust(decimals + 1, "0")
    whole, frac = text[:-decimals] or "0", text[-decimals:].rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def okx11_line(row: SampleRow, height: int | str) -> str:
    cells = [row.coin, row.network, str(height), row.address, row.amount, row.message, row.signature1,
             row.signature2, row.script]
    if row.eoa1 or row.eoa2:
        cells += [row.eoa1, row.eoa2]
    return ",".join(cells)
