"""BIP-322 "simple" signatures for single-key segwit outputs: P2WPKH and P2TR key path.

A simple signature is the base64 of a consensus-encoded witness stack (CompactSize item count,
then CompactSize-prefixed items). It must satisfy the one input of a virtual ``to_sign``
transaction spending output 0 of a virtual ``to_spend`` transaction whose scriptSig commits to
the message and whose output script is the address being proven::

    to_spend: version 0, locktime 0
              in:  000..000:0xFFFFFFFF, scriptSig OP_0 PUSH32[message_hash], sequence 0
              out: value 0, scriptPubKey = the address's script
    to_sign:  version 0, locktime 0
              in:  to_spend.txid:0, empty scriptSig, sequence 0, witness = the signature
              out: value 0, scriptPubKey OP_RETURN

Rules follow Bitcoin Core's BIP-322 verifier (PR #24058, shipped in Knots): its
``BIP322_REQUIRED_FLAGS`` include LOW_S, STRICTENC (BIP-66 strict DER, defined hash type) and
``m_require_sighash_all``. So for P2WPKH the ECDSA signature must be strict DER, low-S and end in
SIGHASH_ALL (0x01); for P2TR the BIP-340 signature is 64 bytes (SIGHASH_DEFAULT) or 65 bytes
ending in an explicit 0x01.

Deliberately narrower than Core (each of these gives ``(False, reason)``, never a false accept):
uncompressed keys in P2WPKH, P2TR annexes and script-path spends, P2WSH, witness versions >= 2,
and the ``full`` / proof-of-funds formats. The ``smp`` prefix that the 2026 revision of BIP-322
asks signers to add is accepted; an unprefixed signature is read as ``simple`` as the BIP allows.

Everything here is pure: bytes in, verdicts out.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Callable, Final

from coincurve.keys import PublicKey, PublicKeyXOnly

from .encoding import EncodingError
from .hashing import hash160, sha256, sha256d, varstr

__all__ = [
    "SIGHASH_DEFAULT",
    "SIGHASH_ALL",
    "SECP256K1_N",
    "tagged_hash",
    "message_hash",
    "script_pubkey",
    "to_spend_tx",
    "to_spend_txid",
    "to_sign_tx",
    "to_sign_txid",
    "sighash_p2wpkh",
    "sighash_p2tr",
    "encode_witness",
    "decode_witness",
    "is_strict_der",
    "is_low_s_der",
    "verify_simple",
]

SIGHASH_DEFAULT: Final = 0x00
SIGHASH_ALL: Final = 0x01

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N: Final = SECP256K1_N // 2

_OP_0: Final = 0x00
_OP_1: Final = 0x51
_OP_RETURN_SCRIPT: Final = b"\x6a"
_ANNEX_TAG: Final = 0x50
_MAX_COMPACT_SIZE: Final = 0x02000000  # Core's MAX_SIZE for deserialisation
# CompactSize marker byte -> (payload width, smallest value that may use it)
_COMPACT_SIZE_FORMS: Final = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}

_U32_ZERO: Final = b"\x00\x00\x00\x00"
_U64_ZERO: Final = b"\x00" * 8
_NULL_OUTPOINT: Final = b"\x00" * 32 + b"\xff\xff\xff\xff"
_TAG_PREFIX_CACHE: dict[bytes, bytes] = {}

# What the one output of to_sign contributes to the sighashes: value 0, script OP_RETURN.
_TO_SIGN_OUTPUTS: Final = _U64_ZERO + varstr(_OP_RETURN_SCRIPT)

_SIMPLE_PREFIX: Final = "smp"
_OTHER_PREFIXES: Final = {"ful": "full", "pof": "proof-of-funds"}


# --------------------------------------------------------------------------------------------
# hashing and the virtual transactions


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """BIP-340 tagged hash: ``sha256(sha256(tag) || sha256(tag) || data)``."""
    prefix = _TAG_PREFIX_CACHE.get(tag)
    if prefix is None:
        tag_digest = sha256(tag)
        prefix = _TAG_PREFIX_CACHE.setdefault(tag, tag_digest + tag_digest)
    return sha256(prefix + data)


def message_hash(message: bytes) -> bytes:
    """The BIP-322 message hash: tagged hash ``BIP0322-signed-message`` of the raw message."""
    return tagged_hash(b"BIP0322-signed-message", message)


def script_pubkey(witness_version: int, program: bytes) -> bytes:
    """``OP_n PUSH(program)`` for witness version ``n`` (0..16) and a 2..40-byte program."""
    if not 0 <= witness_version <= 16 or not 2 <= len(program) <= 40:
        raise ValueError("not a witness program")
    op = _OP_0 if witness_version == 0 else _OP_1 + witness_version - 1
    return bytes((op, len(program))) + program


def to_spend_tx(message_challenge: bytes, message: bytes) -> bytes:
    """Serialised ``to_spend`` (it has no witness, so this is also its txid preimage)."""
    script_sig = bytes((_OP_0, 32)) + message_hash(message)
    return b"".join(
        (
            _U32_ZERO,  # version
            b"\x01",  # one input
            _NULL_OUTPOINT,
            varstr(script_sig),
            _U32_ZERO,  # sequence
            b"\x01",  # one output
            _U64_ZERO,  # value
            varstr(message_challenge),
            _U32_ZERO,  # locktime
        )
    )


def to_spend_txid(message_challenge: bytes, message: bytes) -> bytes:
    """txid of ``to_spend`` in internal byte order (reverse it for the usual hex display)."""
    return sha256d(to_spend_tx(message_challenge, message))


def to_sign_tx(message_challenge: bytes, message: bytes, witness: Sequence[bytes] | None = None) -> bytes:
    """Serialised ``to_sign``; with ``witness`` in segwit (BIP-144) form, else without witness."""
    body_in = b"\x01" + to_spend_txid(message_challenge, message) + _U32_ZERO + b"\x00" + _U32_ZERO
    body_out = b"\x01" + _TO_SIGN_OUTPUTS
    if witness is None:
        return _U32_ZERO + body_in + body_out + _U32_ZERO
    return _U32_ZERO + b"\x00\x01" + body_in + body_out + encode_witness(witness) + _U32_ZERO


def to_sign_txid(message_challenge: bytes, message: bytes) -> bytes:
    """txid of ``to_sign`` in internal byte order; the witness does not enter it."""
    return sha256d(to_sign_tx(message_challenge, message))


def sighash_p2wpkh(key_hash: bytes, message: bytes) -> bytes:
    """BIP-143 SIGHASH_ALL digest of ``to_sign`` input 0 spending P2WPKH ``key_hash``."""
    outpoint = to_spend_txid(script_pubkey(0, key_hash), message) + _U32_ZERO
    script_code = b"\x76\xa9\x14" + key_hash + b"\x88\xac"  # OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
    preimage = b"".join(
        (
            _U32_ZERO,  # version
            sha256d(outpoint),  # hashPrevouts
            sha256d(_U32_ZERO),  # hashSequence
            outpoint,
            varstr(script_code),
            _U64_ZERO,  # amount spent
            _U32_ZERO,  # sequence
            sha256d(_TO_SIGN_OUTPUTS),  # hashOutputs
            _U32_ZERO,  # locktime
            SIGHASH_ALL.to_bytes(4, "little"),
        )
    )
    return sha256d(preimage)


def sighash_p2tr(output_key: bytes, message: bytes, hash_type: int = SIGHASH_DEFAULT) -> bytes:
    """BIP-341 key-path digest of ``to_sign`` input 0 (no annex) for SIGHASH_DEFAULT or _ALL."""
    if hash_type not in (SIGHASH_DEFAULT, SIGHASH_ALL):
        raise ValueError("only SIGHASH_DEFAULT and SIGHASH_ALL are defined for BIP-322")
    spk = script_pubkey(1, output_key)
    outpoint = to_spend_txid(spk, message) + _U32_ZERO
    sig_msg = b"".join(
        (
            b"\x00",  # epoch
            bytes((hash_type,)),
            _U32_ZERO,  # version
            _U32_ZERO,  # locktime
            sha256(outpoint),  # sha_prevouts
            sha256(_U64_ZERO),  # sha_amounts
            sha256(varstr(spk)),  # sha_scriptpubkeys
            sha256(_U32_ZERO),  # sha_sequences
            sha256(_TO_SIGN_OUTPUTS),  # sha_outputs
            b"\x00",  # spend_type: key path, no annex
            _U32_ZERO,  # input index
        )
    )
    return tagged_hash(b"TapSighash", sig_msg)


# --------------------------------------------------------------------------------------------
# witness (de)serialisation


class _Malformed(Exception):
    """Internal: the decoded bytes are not a consensus-encoded witness stack."""


def _read_compact_size(raw: bytes, pos: int) -> tuple[int, int]:
    """Canonical CompactSize at ``pos`` -> (value, new position), as Core's range-checked reader."""
    if pos >= len(raw):
        raise _Malformed("truncated CompactSize")
    first = raw[pos]
    if first < 0xFD:
        return first, pos + 1
    width, smallest = _COMPACT_SIZE_FORMS[first]
    if pos + 1 + width > len(raw):
        raise _Malformed("truncated CompactSize")
    value = int.from_bytes(raw[pos + 1 : pos + 1 + width], "little")
    if value < smallest:
        raise _Malformed("non-canonical CompactSize")
    if value > _MAX_COMPACT_SIZE:
        raise _Malformed("CompactSize too large")
    return value, pos + 1 + width


def _compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def encode_witness(items: Sequence[bytes]) -> bytes:
    """Consensus encoding of a witness stack: CompactSize count, then CompactSize-prefixed items."""
    return _compact_size(len(items)) + b"".join(varstr(item) for item in items)


def decode_witness(raw: bytes) -> list[bytes] | None:
    """Parse a consensus-encoded witness stack; ``None`` if malformed or followed by extra bytes."""
    try:
        return _decode_witness(raw)
    except _Malformed:
        return None


def _decode_witness(raw: bytes) -> list[bytes]:
    count, pos = _read_compact_size(raw, 0)
    items: list[bytes] = []
    for _ in range(count):
        size, pos = _read_compact_size(raw, pos)
        if pos + size > len(raw):
            raise _Malformed("truncated witness item")
        items.append(raw[pos : pos + size])
        pos += size
    if pos != len(raw):
        raise _Malformed(f"{len(raw) - pos} trailing bytes after the witness stack")
    return items


# --------------------------------------------------------------------------------------------
# ECDSA encoding rules (Core's script/interpreter.cpp)


def is_strict_der(sig: bytes) -> bool:
    """BIP-66 strict DER for ``DER || hashtype`` (Core's ``IsValidSignatureEncoding``)."""
    if not 9 <= len(sig) <= 73:
        return False
    if sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= len(sig):
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != len(sig):
        return False
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    if len_s > 1 and sig[len_r + 6] == 0x00 and not sig[len_r + 7] & 0x80:
        return False
    return True


def is_low_s_der(sig: bytes) -> bool:
    """S <= n/2 for a strict-DER ``DER || hashtype`` signature (Core's ``IsLowDERSignature``)."""
    len_r = sig[3]
    len_s = sig[5 + len_r]
    s = int.from_bytes(sig[6 + len_r : 6 + len_r + len_s], "big")
    return s <= _HALF_N


# --------------------------------------------------------------------------------------------
# verification


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error (bad character or padding), or non-ASCII text
        raise EncodingError(f"BIP-322 signature is not base64: {exc}") from None


def _verify_p2wpkh(key_hash: bytes, message: bytes, stack: list[bytes]) -> tuple[bool, str]:
    if len(stack) != 2:
        return False, f"P2WPKH witness has {len(stack)} items, expected 2 (signature, public key)"
    sig, pubkey = stack
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        return False, f"P2WPKH public key is {len(pubkey)} bytes, expected a 33-byte compressed key"
    if hash160(pubkey) != key_hash:
        return False, f"public key {pubkey.hex()} does not hash to the address's key hash"
    if not sig:
        return False, "empty ECDSA signature"
    if not is_strict_der(sig):
        return False, "ECDSA signature is not strict DER (BIP-66)"
    if not is_low_s_der(sig):
        return False, "ECDSA signature has a high S value (Core's LOW_S rule)"
    if sig[-1] != SIGHASH_ALL:
        return False, f"ECDSA hash type 0x{sig[-1]:02x}, BIP-322 requires SIGHASH_ALL (0x01)"
    try:
        valid = PublicKey(pubkey).verify(sig[:-1], sighash_p2wpkh(key_hash, message), hasher=None)
    except ValueError as exc:  # key not on the curve, DER the library will not parse
        return False, f"ECDSA verification failed: {exc}"
    if not valid:
        return False, "ECDSA signature does not verify for this message and key"
    return True, f"P2WPKH ECDSA signature by {pubkey.hex()}"


def _verify_p2tr(output_key: bytes, message: bytes, stack: list[bytes]) -> tuple[bool, str]:
    if len(stack) >= 2 and stack[-1][:1] == bytes((_ANNEX_TAG,)):
        return False, "taproot witness carries an annex (not supported)"
    if len(stack) != 1:
        return False, f"taproot witness has {len(stack)} items: only key-path spends (1 item) are supported"
    sig = stack[0]
    if len(sig) == 64:
        hash_type = SIGHASH_DEFAULT
    elif len(sig) == 65:
        hash_type = sig[64]
        if hash_type != SIGHASH_ALL:  # 0x00 is invalid when explicit (BIP-341); others: not ALL
            return False, f"Schnorr hash type 0x{hash_type:02x}, BIP-322 requires SIGHASH_DEFAULT or SIGHASH_ALL"
    else:
        return False, f"Schnorr signature is {len(sig)} bytes, expected 64 or 65"
    try:
        key = PublicKeyXOnly(output_key)
    except ValueError:
        return False, "taproot output key is not a valid x-only public key"
    if not key.verify(sig[:64], sighash_p2tr(output_key, message, hash_type)):
        return False, "Schnorr signature does not verify for this message and output key"
    name = "SIGHASH_DEFAULT" if hash_type == SIGHASH_DEFAULT else "SIGHASH_ALL"
    return True, f"P2TR key-path Schnorr signature ({name}) by {output_key.hex()}"


def verify_simple(
    witness_program_version: int, witness_program: bytes, message: bytes, signature_b64: str
) -> tuple[bool, str]:
    """Verify a BIP-322 simple signature for a P2WPKH (v0, 20 bytes) or P2TR (v1, 32 bytes) output.

    ``message`` is the exact signed bytes (UTF-8 for text). ``signature_b64`` is the base64
    witness stack, optionally prefixed ``smp``. Returns ``(ok, detail)``. Raises
    :class:`EncodingError` only when the signature text is not base64; every other problem,
    including an unsupported output type, is ``(False, reason)``.
    """
    verify: Callable[[bytes, bytes, list[bytes]], tuple[bool, str]]
    if witness_program_version == 0 and len(witness_program) == 20:
        verify = _verify_p2wpkh
    elif witness_program_version == 1 and len(witness_program) == 32:
        verify = _verify_p2tr
    elif witness_program_version == 0 and len(witness_program) == 32:
        return False, "P2WSH is not supported by the single-key BIP-322 verifier"
    else:
        return False, f"witness v{witness_program_version} program of {len(witness_program)} bytes is not supported"

    variant = _OTHER_PREFIXES.get(signature_b64[:3])
    if variant is not None:
        return False, f"BIP-322 {variant} signatures are not supported (only simple)"
    if signature_b64.startswith(_SIMPLE_PREFIX):
        signature_b64 = signature_b64[len(_SIMPLE_PREFIX) :]
    raw = _b64decode(signature_b64)
    if not raw:
        return False, "empty signature"
    stack = decode_witness(raw)
    if stack is None:
        return False, "signature is not a consensus-encoded witness stack (full-format signatures are not supported)"
    return verify(witness_program, message, stack)
