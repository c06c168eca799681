"""BIP-322 simple signatures (signatures/bip322.py).

Vectors come from bitcoin/bips: ``bip-0322.mediawiki`` (message hashes, to_spend/to_sign txids,
the two P2WPKH signatures per message), ``bip-0322/basic-test-vectors.json`` (adds a UTF-8
message, the ``smp`` prefix, an unprefixed P2TR "no prefix fallback" vector and error cases),
``bip-0322/generated-test-vectors.json`` (P2WPKH / P2TR simple vectors and their wrong-message /
wrong-signer errors), plus the P2TR SIGHASH_ALL vector from Bitcoin Core PR #24058's
``util_tests.cpp`` that every implementation reuses.

The signer helpers below are for tests only: they build fixtures from our own keys, and the
independent Rust verifier on PyPI (``bip322``) must accept what they produce.
"""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass

import pytest
from coincurve import PrivateKey
from coincurve.keys import PublicKeyXOnly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signatures.bip322 import (
    SECP256K1_N,
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    decode_witness,
    encode_witness,
    is_low_s_der,
    is_strict_der,
    message_hash,
    script_pubkey,
    sighash_p2tr,
    sighash_p2wpkh,
    tagged_hash,
    to_sign_tx,
    to_sign_txid,
    to_spend_txid,
    verify_simple,
)
from signatures.encoding import EncodingError, b58check_decode, segwit_decode, segwit_encode
from signatures.hashing import hash160, sha256d

try:  # the independent Rust verifier (PyPI ``bip322``); only the cross-checks need it
    import bip322 as ref
except ImportError:  # pragma: no cover
    ref = None

# --------------------------------------------------------------------------------------------
# test-only signer


def key_from_wif(wif: str) -> PrivateKey:
    payload = b58check_decode(wif)
    assert payload[0] == 0x80 and len(payload) == 34 and payload[33] == 0x01, "compressed mainnet WIF"
    return PrivateKey(payload[1:33])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def p2wpkh_program(key: PrivateKey) -> bytes:
    return hash160(key.public_key.format(compressed=True))


def sign_p2wpkh_witness(key: PrivateKey, message: bytes) -> list[bytes]:
    """[DER || SIGHASH_ALL, compressed pubkey]; coincurve signs RFC 6979 and low-S."""
    der = key.sign(sighash_p2wpkh(p2wpkh_program(key), message), hasher=None)
    return [der + bytes((SIGHASH_ALL,)), key.public_key.format(compressed=True)]


def sign_p2wpkh(key: PrivateKey, message: bytes) -> str:
    return b64(encode_witness(sign_p2wpkh_witness(key, message)))


def taproot_output_key(key: PrivateKey) -> PrivateKey:
    """BIP-86 key-path tweak: Q = P + H_TapTweak(P.x)*G, with P the even-Y lift of the internal key."""
    internal = key.public_key.format(compressed=True)
    secret = key.to_int()
    if internal[0] == 0x03:  # odd Y: BIP-340 uses the negated key
        secret = SECP256K1_N - secret
    tweak = tagged_hash(b"TapTweak", internal[1:])
    return PrivateKey.from_int(secret).add(tweak)


def p2tr_program(key: PrivateKey) -> bytes:
    return taproot_output_key(key).public_key.format(compressed=True)[1:]


def sign_p2tr_witness(
    key: PrivateKey, message: bytes, hash_type: int = SIGHASH_DEFAULT, aux: bytes | None = None
) -> list[bytes]:
    tweaked = taproot_output_key(key)
    program = tweaked.public_key.format(compressed=True)[1:]
    sig = tweaked.sign_schnorr(sighash_p2tr(program, message, hash_type), aux if aux is not None else b"")
    return [sig if hash_type == SIGHASH_DEFAULT else sig + bytes((hash_type,))]


def sign_p2tr(key: PrivateKey, message: bytes, hash_type: int = SIGHASH_DEFAULT) -> str:
    return b64(encode_witness(sign_p2tr_witness(key, message, hash_type)))


def der_parts(der: bytes) -> tuple[int, int]:
    len_r = der[3]
    r = int.from_bytes(der[4 : 4 + len_r], "big")
    s = int.from_bytes(der[6 + len_r :], "big")
    return r, s


def der_integer(n: int) -> bytes:
    """Minimal DER INTEGER body (a 0x00 pad only when the top bit would read as negative)."""
    body = n.to_bytes(33, "big").lstrip(b"\x00") or b"\x00"
    return b"\x00" + body if body[0] & 0x80 else body


def der_sequence(r_body: bytes, s_body: bytes) -> bytes:
    seq = b"\x02" + bytes((len(r_body),)) + r_body + b"\x02" + bytes((len(s_body),)) + s_body
    return b"\x30" + bytes((len(seq),)) + seq


def der_encode(r: int, s: int) -> bytes:
    return der_sequence(der_integer(r), der_integer(s))


def ref_accepts(version: int, program: bytes, message: str, signature: str) -> bool:
    """The PyPI ``bip322`` verifier: returns None when valid, raises VerificationError otherwise."""
    if ref is None:
        pytest.skip("PyPI bip322 (independent verifier) not installed")
    try:
        result = ref.verify_simple_encoded(segwit_encode("bc", version, program), message, signature)
    except ref.VerificationError:
        return False
    assert result is None
    return True


def address_verify(address: str, message: bytes, signature: str) -> tuple[bool, str]:
    version, program = segwit_decode("bc", address)
    return verify_simple(version, program, message, signature)


# --------------------------------------------------------------------------------------------
# official vectors

VECTOR_WIF = "L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k"
VECTOR_P2WPKH = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l"
VECTOR_P2TR = "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3"  # same key, BIP-86
UTF8_MESSAGE = "UTF-8 support: öäüéàè 测试文本 \U0001f604"


@pytest.mark.parametrize(
    ("message", "msg_hash", "to_spend", "to_sign"),
    [
        (
            "",
            "c90c269c4f8fcbe6880f72a721ddfbf1914268a794cbb21cfafee13770ae19f1",
            "c5680aa69bb8d860bf82d4e9cd3504b55dde018de765a91bb566283c545a99a7",
            "1e9654e951a5ba44c8604c4de6c67fd78a27e81dcadcfe1edf638ba3aaebaed6",
        ),
        (
            "Hello World",
            "f0eb03b1a75ac6d9847f55c624a99169b5dccba2a31f5b23bea77ba270de0a7a",
            "b79d196740ad5217771c1098fc4a4b51e0535c32236c71f1ea4d61a2d603352b",
            "88737ae86f2077145f93cc4b153ae9a1cb8d56afa511988c149c5c8c9d93bddf",
        ),
        (
            UTF8_MESSAGE,
            "43936b237ea38c7794eb5d755e0d220b6db92ebfc5c8f482759d22b1286376d7",
            "c8f4f525fe8afb1bc09b44175bd2096f079c98425e8a1be676b712add1fb62f0",
            "8f488e06b89eafd019ec528109eafaf7f1d1811fd617aa1eeb9658f1c1be6586",
        ),
    ],
)
def test_message_hash_and_virtual_txids(message: str, msg_hash: str, to_spend: str, to_sign: str) -> None:
    spk = script_pubkey(*segwit_decode("bc", VECTOR_P2WPKH))
    assert message_hash(message.encode()).hex() == msg_hash
    assert to_spend_txid(spk, message.encode())[::-1].hex() == to_spend  # txids display reversed
    assert to_sign_txid(spk, message.encode())[::-1].hex() == to_sign


SIMPLE_VECTORS: list[tuple[str, str, str]] = [
    # bip-0322.mediawiki / basic-test-vectors.json: low-R (Core, R-grinding) and high-R forms
    (
        VECTOR_P2WPKH,
        "",
        "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z46TSDtS40"
        "ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
    ),
    (
        VECTOR_P2WPKH,
        "",
        "AkgwRQIhAPkJ1Q4oYS0htvyuSFHLxRQpFAY56b70UvE7Dxazen0ZAiAtZfFz1S6T6I23MWI2lK/pcNTWncuyL8UL+oMdydVg"
        "zAEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ),
    (
        VECTOR_P2WPKH,
        "Hello World",
        "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/s"
        "ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
    ),
    (
        VECTOR_P2WPKH,
        "Hello World",
        "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYabHyR8eGh"
        "owEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ),
    # Bitcoin Core PR #24058 util_tests.cpp: P2TR key path, explicit SIGHASH_ALL (65-byte signature)
    (
        VECTOR_P2TR,
        "Hello World",
        "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ==",
    ),
    # generated-test-vectors.json
    (
        "bc1qkntwc3c4dzxh9xh6875l03fn3vkk023jgak3u7",
        "ESHJI7MWUL64AXHBI42L3UR4QA",
        "AkcwRAIgCYHF/vn67iZX5WBimh84kqD6pTME6eNCMGhfFnnwCNECIAF3nMCk/RfLit+uv8a8FgfQIw0f0ASE21GSz7rX17Ps"
        "ASEDTA2vM8bOtUFgvenSDUmvkq7aWNwoTB0CMiM6carHY1s=",
    ),
    (
        "bc1p9cyuceaazr8cz46mvgkzl94wy397mwpqsrk84su37t72jvkg6wzqv52nfp",
        "TPIZPITUIHEUHO5ACOL6W6MBVD",
        "AUBay6NwR4LEYedkTG+vE9F7C0RTOCB5NH6ZAqf+3hudjHIkOzSZk1jW/5Kt0wRKX3llJ25os+0qktdou4/Y8516",
    ),
    # basic-test-vectors.json (2026 revision): unprefixed P2TR, "No prefix fallback"
    (
        "bc1pss0zhytly75awhm6x2hhvd5lnzv3vssgrf9axfheq8ldyzn88ges79fler",
        "No prefix fallback",
        "AUCJYOwOjxYAvatTAGYaVlNXBVyFuc4MwNQkOuK2tl8xhfKDONd0NjfYyNSYcRqeCp8hsAnCEPHAVEkO9h6vbQ/R",
    ),
]


@pytest.mark.parametrize(("address", "message", "signature"), SIMPLE_VECTORS)
def test_official_simple_vectors_verify(address: str, message: str, signature: str) -> None:
    ok, detail = address_verify(address, message.encode(), signature)
    assert ok, detail
    assert address_verify(address, message.encode(), "smp" + signature)[0]  # 2026 prefix form
    version, program = segwit_decode("bc", address)
    assert ref_accepts(version, program, message, signature)  # the vector is valid for both verifiers


@pytest.mark.parametrize(("address", "message", "signature"), SIMPLE_VECTORS)
def test_official_vectors_rejected_for_other_message(address: str, message: str, signature: str) -> None:
    ok, _ = address_verify(address, (message + "!").encode(), signature)
    assert not ok


@pytest.mark.parametrize(
    ("address", "message", "signature"),
    [
        # basic-test-vectors.json "error" cases (P2WSH ones are P2WSH: unsupported here, so False anyway)
        (VECTOR_P2WPKH, "Wrong message that was not signed", SIMPLE_VECTORS[0][2]),
        ("bc1qp0ahvfh83088w49k405szqgg4f3pptr7p2g06tdxfjcd40z4lh4q95lsz9", "", SIMPLE_VECTORS[0][2]),
        (VECTOR_P2WPKH, "", "AA=="),  # empty witness stack
        (VECTOR_P2WPKH, "", ""),  # empty signature
        (VECTOR_P2WPKH, "", "smpAA=="),
        # generated-test-vectors.json "error" cases: wrong message / wrong signer
        ("bc1qkntwc3c4dzxh9xh6875l03fn3vkk023jgak3u7", "OVKTTPEFKLUOTAOJSPCKIHCQZW", SIMPLE_VECTORS[5][2]),
        ("bc1qx3f9s3scavc92s3g2fhwzqzn7qucd37ez03jpf", "ESHJI7MWUL64AXHBI42L3UR4QA", SIMPLE_VECTORS[5][2]),
        (
            "bc1p9cyuceaazr8cz46mvgkzl94wy397mwpqsrk84su37t72jvkg6wzqv52nfp",
            "IHUVDIXOZV7EE7RU6CP7JUS57N",
            SIMPLE_VECTORS[6][2],
        ),
        (
            "bc1pr72av8sh7qc2ssxs8w0hlj0cl82g2q2dvypngzgsrmd4plml84ksmfyv0q",
            "TPIZPITUIHEUHO5ACOL6W6MBVD",
            SIMPLE_VECTORS[6][2],
        ),
        # Core's P2TR vector against another P2TR address (bip322-js's "wrong address")
        ("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "Hello World", SIMPLE_VECTORS[4][2]),
    ],
)
def test_official_error_vectors_rejected(address: str, message: str, signature: str) -> None:
    ok, detail = address_verify(address, message.encode(), signature)
    assert not ok and detail


def test_invalid_base64_raises_encoding_error() -> None:
    program = segwit_decode("bc", VECTOR_P2WPKH)[1]
    for text in ("not-valid-base64!!!", "AkcwRAI", "Akcw RAIg", "AA", "smp!!", "ünïcode"):
        with pytest.raises(EncodingError):
            verify_simple(0, program, b"", text)


def test_full_and_proof_of_funds_prefixes_unsupported() -> None:
    program = segwit_decode("bc", VECTOR_P2TR)[1]
    for prefix in ("ful", "pof"):
        ok, detail = verify_simple(1, program, b"Hello World", prefix + SIMPLE_VECTORS[4][2])
        assert not ok and "not supported" in detail


def test_signer_reproduces_the_bip_p2wpkh_signatures() -> None:
    """coincurve's RFC 6979 signature is the BIP's second (high-R, un-ground) form, byte for byte."""
    key = key_from_wif(VECTOR_WIF)
    assert segwit_encode("bc", 0, p2wpkh_program(key)) == VECTOR_P2WPKH
    assert sign_p2wpkh(key, b"") == SIMPLE_VECTORS[1][2]
    assert sign_p2wpkh(key, b"Hello World") == SIMPLE_VECTORS[3][2]


def test_signer_taproot_tweak_matches_the_vector_address() -> None:
    key = key_from_wif(VECTOR_WIF)
    assert segwit_encode("bc", 1, p2tr_program(key)) == VECTOR_P2TR
    internal = key.public_key.format(compressed=True)[1:]
    tweaked = PublicKeyXOnly(internal)
    tweaked.tweak_add(tagged_hash(b"TapTweak", internal))  # in place
    assert tweaked.format() == p2tr_program(key)  # public-side tweak agrees with the secret-side one


def test_to_sign_serialisation_with_witness_roundtrips() -> None:
    key = key_from_wif(VECTOR_WIF)
    spk = script_pubkey(0, p2wpkh_program(key))
    witness = sign_p2wpkh_witness(key, b"Hello World")
    full = to_sign_tx(spk, b"Hello World", witness)
    assert full[4:6] == b"\x00\x01" and encode_witness(witness) in full
    assert sha256d(to_sign_tx(spk, b"Hello World")) == to_sign_txid(spk, b"Hello World")
    assert decode_witness(encode_witness(witness)) == witness


# --------------------------------------------------------------------------------------------
# our signer vs the independent verifier (and back)


@dataclass(frozen=True)
class Fixture:
    version: int
    program: bytes
    message: str
    signature: str


def _fixtures(seed: int, count: int) -> list[Fixture]:
    rng = random.Random(seed)
    out: list[Fixture] = []
    for i in range(count):
        key = PrivateKey(rng.randbytes(32))
        message = rng.choice(["", "Hello World", UTF8_MESSAGE, f"porscan reserve proof #{i} {rng.random()}"])
        raw = message.encode()
        out.append(Fixture(0, p2wpkh_program(key), message, sign_p2wpkh(key, raw)))
        out.append(Fixture(1, p2tr_program(key), message, sign_p2tr(key, raw)))
        out.append(Fixture(1, p2tr_program(key), message, sign_p2tr(key, raw, SIGHASH_ALL)))
    return out


FIXTURES = _fixtures(seed=322, count=20)


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: f"v{fx.version}-{fx.signature[:8]}")
def test_own_signatures_accepted_by_both_verifiers(fx: Fixture) -> None:
    ok, detail = verify_simple(fx.version, fx.program, fx.message.encode(), fx.signature)
    assert ok, detail
    assert ref_accepts(fx.version, fx.program, fx.message, fx.signature)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    message=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=64),
    kind=st.sampled_from(["p2wpkh", "p2tr-default", "p2tr-all"]),
)
def test_random_keys_and_messages_agree_with_reference(secret: int, message: str, kind: str) -> None:
    key = PrivateKey.from_int(secret)
    raw = message.encode()
    if kind == "p2wpkh":
        version, program, sig = 0, p2wpkh_program(key), sign_p2wpkh(key, raw)
    else:
        hash_type = SIGHASH_DEFAULT if kind == "p2tr-default" else SIGHASH_ALL
        version, program, sig = 1, p2tr_program(key), sign_p2tr(key, raw, hash_type)
    assert verify_simple(version, program, raw, sig)[0]
    assert ref_accepts(version, program, message, sig)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(FIXTURES) - 1), data=st.data())
def test_mutated_signatures_verdicts_match_reference(index: int, data: st.DataObject) -> None:
    """Differential: random edits of valid witnesses; both verifiers must agree (and reject).

    Known, deliberate divergence excluded here: the Rust verifier ignores bytes trailing the
    witness stack, which Core (and we) reject; see test_trailing_bytes_rejected.
    """
    fx = FIXTURES[index]
    raw = bytearray(base64.b64decode(fx.signature))
    op = data.draw(st.sampled_from(["flip", "set", "truncate"]))
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    if op == "flip":
        raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    elif op == "set":
        raw[pos] = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != raw[pos]))
    else:
        del raw[pos:]
    mutated = b64(bytes(raw))
    ours, detail = verify_simple(fx.version, fx.program, fx.message.encode(), mutated)
    theirs = ref_accepts(fx.version, fx.program, fx.message, mutated)
    stack = decode_witness(bytes(raw))
    if stack is None and theirs:
        return  # bytes left over after the stack: the documented divergence
    assert ours == theirs, detail
    assert not ours


# --------------------------------------------------------------------------------------------
# mutations that must be rejected

KEY = PrivateKey(bytes(range(1, 33)))
OTHER_KEY = PrivateKey(bytes(range(2, 34)))
MESSAGE = b"porscan: proof of reserves 2026-01-01"


def _p2wpkh_ok(witness: list[bytes], message: bytes = MESSAGE, program: bytes | None = None) -> tuple[bool, str]:
    return verify_simple(0, program or p2wpkh_program(KEY), message, b64(encode_witness(witness)))


def _p2tr_ok(witness: list[bytes], message: bytes = MESSAGE, program: bytes | None = None) -> tuple[bool, str]:
    return verify_simple(1, program or p2tr_program(KEY), message, b64(encode_witness(witness)))


def test_baselines_valid() -> None:
    assert _p2wpkh_ok(sign_p2wpkh_witness(KEY, MESSAGE))[0]
    assert _p2tr_ok(sign_p2tr_witness(KEY, MESSAGE))[0]
    assert _p2tr_ok(sign_p2tr_witness(KEY, MESSAGE, SIGHASH_ALL))[0]


@pytest.mark.parametrize("kind", ["p2wpkh", "p2tr-default", "p2tr-all"])
def test_every_single_bit_flip_rejected(kind: str) -> None:
    if kind == "p2wpkh":
        raw, version, program = encode_witness(sign_p2wpkh_witness(KEY, MESSAGE)), 0, p2wpkh_program(KEY)
    else:
        hash_type = SIGHASH_DEFAULT if kind == "p2tr-default" else SIGHASH_ALL
        raw, version, program = encode_witness(sign_p2tr_witness(KEY, MESSAGE, hash_type)), 1, p2tr_program(KEY)
    for pos in range(len(raw)):
        for bit in range(8):
            mutated = bytearray(raw)
            mutated[pos] ^= 1 << bit
            ok, detail = verify_simple(version, program, MESSAGE, b64(bytes(mutated)))
            assert not ok, (pos, bit, detail)


def test_other_message_rejected() -> None:
    assert not _p2wpkh_ok(sign_p2wpkh_witness(KEY, MESSAGE), message=MESSAGE + b" ")[0]
    assert not _p2tr_ok(sign_p2tr_witness(KEY, MESSAGE), message=b"")[0]


def test_other_program_rejected() -> None:
    ok, detail = _p2wpkh_ok(sign_p2wpkh_witness(KEY, MESSAGE), program=p2wpkh_program(OTHER_KEY))
    assert not ok and "does not hash" in detail
    assert not _p2tr_ok(sign_p2tr_witness(KEY, MESSAGE), program=p2tr_program(OTHER_KEY))[0]


def test_pubkey_not_matching_program_rejected() -> None:
    """OTHER_KEY signs and shows its own key, but the address is KEY's."""
    witness = sign_p2wpkh_witness(OTHER_KEY, MESSAGE)
    ok, detail = _p2wpkh_ok(witness)
    assert not ok and "does not hash" in detail
    # KEY's pubkey with OTHER_KEY's signature: key matches, signature does not
    ok, detail = _p2wpkh_ok([witness[0], KEY.public_key.format()])
    assert not ok and "does not verify" in detail


def test_untweaked_internal_key_signature_rejected() -> None:
    internal_sig = KEY.sign_schnorr(sighash_p2tr(p2tr_program(KEY), MESSAGE), b"")
    assert not _p2tr_ok([internal_sig])[0]


def test_wrong_item_count_rejected() -> None:
    sig, pub = sign_p2wpkh_witness(KEY, MESSAGE)
    for witness in ([], [sig], [pub], [sig, pub, b""], [b"", sig, pub]):
        ok, detail = _p2wpkh_ok(witness)
        assert not ok and detail
    (schnorr,) = sign_p2tr_witness(KEY, MESSAGE)
    for witness in ([], [schnorr, schnorr], [schnorr, b"\x51"]):
        ok, detail = _p2tr_ok(witness)
        assert not ok and detail


def test_high_s_rejected_like_core() -> None:
    """Core's BIP-322 flags include LOW_S; the Rust verifier rejects too (libsecp256k1 verify)."""
    sig, pub = sign_p2wpkh_witness(KEY, MESSAGE)
    r, s = der_parts(sig[:-1])
    high = der_encode(r, SECP256K1_N - s) + sig[-1:]
    assert is_strict_der(high) and not is_low_s_der(high)
    ok, detail = _p2wpkh_ok([high, pub])
    assert not ok and "high S" in detail
    assert not ref_accepts(0, p2wpkh_program(KEY), MESSAGE.decode(), b64(encode_witness([high, pub])))


def test_non_strict_der_rejected() -> None:
    sig, pub = sign_p2wpkh_witness(KEY, MESSAGE)
    r, s = der_parts(sig[:-1])
    loose = der_sequence(b"\x00" + der_integer(r), der_integer(s)) + sig[-1:]  # superfluous zero in R
    assert not is_strict_der(loose) and is_strict_der(sig)
    ok, detail = _p2wpkh_ok([loose, pub])
    assert not ok and "strict DER" in detail


@pytest.mark.parametrize("hash_type", [0x00, 0x02, 0x03, 0x81, 0x83])
def test_ecdsa_hash_type_other_than_all_rejected(hash_type: int) -> None:
    sig, pub = sign_p2wpkh_witness(KEY, MESSAGE)
    ok, detail = _p2wpkh_ok([sig[:-1] + bytes((hash_type,)), pub])
    assert not ok and "hash type" in detail


def test_schnorr_hash_type_rules() -> None:
    (default_sig,) = sign_p2tr_witness(KEY, MESSAGE)
    (all_sig,) = sign_p2tr_witness(KEY, MESSAGE, SIGHASH_ALL)
    assert not _p2tr_ok([default_sig + b"\x00"])[0]  # explicit 0x00 is invalid (BIP-341)
    assert not _p2tr_ok([default_sig + b"\x01"])[0]  # DEFAULT digest presented as ALL
    assert not _p2tr_ok([all_sig[:64]])[0]  # ALL digest presented as DEFAULT
    for hash_type in (0x02, 0x03, 0x81, 0x82, 0x83):
        ok, detail = _p2tr_ok([default_sig + bytes((hash_type,))])
        assert not ok and "hash type" in detail
    for size in (63, 66, 0):
        assert not _p2tr_ok([default_sig.ljust(size, b"\x00")[:size]])[0]


def test_annex_and_script_path_rejected() -> None:
    (sig,) = sign_p2tr_witness(KEY, MESSAGE)
    ok, detail = _p2tr_ok([sig, b"\x50"])
    assert not ok and "annex" in detail
    ok, detail = _p2tr_ok([sig, b"\x51", b"\xc0" + bytes(32)])
    assert not ok and "key-path" in detail


def test_uncompressed_and_invalid_pubkeys_rejected() -> None:
    sig, _ = sign_p2wpkh_witness(KEY, MESSAGE)
    uncompressed = KEY.public_key.format(compressed=False)
    ok, detail = verify_simple(0, hash160(uncompressed), MESSAGE, b64(encode_witness([sig, uncompressed])))
    assert not ok and "compressed" in detail
    not_on_curve = b"\x02" + bytes(32)  # x = 0 is not on secp256k1
    ok, detail = verify_simple(0, hash160(not_on_curve), MESSAGE, b64(encode_witness([sig, not_on_curve])))
    assert not ok and detail


def test_output_key_not_on_curve_rejected() -> None:
    (sig,) = sign_p2tr_witness(KEY, MESSAGE)
    bad_x = (2**256 - 1).to_bytes(32, "big")  # >= field size
    ok, detail = verify_simple(1, bad_x, MESSAGE, b64(encode_witness([sig])))
    assert not ok and "x-only" in detail


def test_unsupported_programs_rejected() -> None:
    sig = sign_p2wpkh(KEY, MESSAGE)
    assert "P2WSH" in verify_simple(0, bytes(32), MESSAGE, sig)[1]
    for version, program in ((1, bytes(20)), (2, bytes(32)), (16, bytes(2)), (0, bytes(21))):
        ok, detail = verify_simple(version, program, MESSAGE, sig)
        assert not ok and "not supported" in detail


def test_trailing_bytes_rejected() -> None:
    """Core rejects bytes after the witness stack (``!ds.empty()``); the Rust verifier ignores them."""
    raw = encode_witness(sign_p2wpkh_witness(KEY, MESSAGE)) + b"\x00"
    ok, detail = verify_simple(0, p2wpkh_program(KEY), MESSAGE, b64(raw))
    assert not ok and "witness stack" in detail
    assert ref_accepts(0, p2wpkh_program(KEY), MESSAGE.decode(), b64(raw))  # documents the divergence


def test_non_canonical_compact_size_rejected() -> None:
    sig, pub = sign_p2wpkh_witness(KEY, MESSAGE)
    canonical = encode_witness([sig, pub])
    assert decode_witness(canonical) == [sig, pub]
    long_count = b"\xfd\x02\x00" + canonical[1:]
    assert decode_witness(long_count) is None
    assert not verify_simple(0, p2wpkh_program(KEY), MESSAGE, b64(long_count))[0]
    huge = b"\xff" + (2**40).to_bytes(8, "little")
    assert decode_witness(huge) is None


# --------------------------------------------------------------------------------------------
# robustness (hypothesis)

PROGRAMS = st.one_of(
    st.tuples(st.just(0), st.binary(min_size=20, max_size=20)),
    st.tuples(st.just(1), st.binary(min_size=32, max_size=32)),
    st.tuples(st.integers(min_value=0, max_value=16), st.binary(min_size=2, max_size=40)),
)


@settings(max_examples=500, deadline=None)
@given(program=PROGRAMS, message=st.binary(max_size=40), text=st.text(max_size=200))
def test_arbitrary_text_only_raises_encoding_error(program: tuple[int, bytes], message: bytes, text: str) -> None:
    try:
        ok, detail = verify_simple(program[0], program[1], message, text)
    except EncodingError:
        return
    assert ok is False and isinstance(detail, str) and detail


@settings(max_examples=500, deadline=None)
@given(program=PROGRAMS, message=st.binary(max_size=40), raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_verify(program: tuple[int, bytes], message: bytes, raw: bytes) -> None:
    ok, detail = verify_simple(program[0], program[1], message, b64(raw))
    assert ok is False and detail


@settings(max_examples=500, deadline=None)
@given(
    key_hash=st.binary(min_size=20, max_size=20),
    r=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    s=st.integers(min_value=1, max_value=SECP256K1_N // 2),
    pubkey=st.tuples(st.sampled_from([b"\x02", b"\x03"]), st.binary(min_size=32, max_size=32)),
)
def test_well_shaped_random_p2wpkh_witnesses_never_verify(
    key_hash: bytes, r: int, s: int, pubkey: tuple[bytes, bytes]
) -> None:
    """Strict-DER, low-S, SIGHASH_ALL, key matching the program: only the curve check can fail."""
    pub = pubkey[0] + pubkey[1]
    sig = der_encode(r, s) + b"\x01"
    for program in (key_hash, hash160(pub)):
        ok, _ = verify_simple(0, program, MESSAGE, b64(encode_witness([sig, pub])))
        assert not ok


@settings(max_examples=500, deadline=None)
@given(output_key=st.binary(min_size=32, max_size=32), sig=st.binary(min_size=64, max_size=64), all_=st.booleans())
def test_well_shaped_random_p2tr_witnesses_never_verify(output_key: bytes, sig: bytes, all_: bool) -> None:
    witness = [sig + b"\x01" if all_ else sig]
    ok, _ = verify_simple(1, output_key, MESSAGE, b64(encode_witness(witness)))
    assert not ok


# --------------------------------------------------------------------------------------------
# speed (loose bound: catches an accidental pure-Python curve, not a regression of a few %)


def test_verify_speed() -> None:
    cases = [
        (0, p2wpkh_program(KEY), sign_p2wpkh(KEY, MESSAGE)),
        (1, p2tr_program(KEY), sign_p2tr(KEY, MESSAGE)),
    ]
    for version, program, sig in cases:
        rounds = 200
        start = time.perf_counter()
        for _ in range(rounds):
            assert verify_simple(version, program, MESSAGE, sig)[0]
        per_verify = (time.perf_counter() - start) / rounds
        assert per_verify < 0.005, f"v{version}: {per_verify * 1e6:.0f} µs per verify"
