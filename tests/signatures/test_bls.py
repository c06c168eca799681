"""BLS proof-of-possession (BETH validator keys): the native (arkworks) verifier against py_ecc, the reference.

The real row is OKX's own BETH test vector (../shared/vectors/okx, skipped when absent); the other
rows are signed here with py_ecc. Each valid row, mutated (a flipped bit in the key, the signature or
the message, another key, points at infinity in canonical and other encodings, curve points outside
the prime-order subgroup), must be rejected by both, and both must give the same answer on every row.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import pytest
from py_ecc.bls import G2ProofOfPossession as Ref
from py_ecc.bls.point_compression import compress_G1, compress_G2, modular_squareroot_in_FQ2
from py_ecc.optimized_bls12_381 import FQ, FQ2, G1, b, b2, curve_order, field_modulus, is_inf, is_on_curve, multiply

from support.common import load_vectors
from signatures import Claim, Status, verify_claim
from signatures.bls import bls_pop_verify
from signatures.evm import okx_evm_digest

REAL = [v for v in load_vectors("signature_vectors.json") if v["coin"] == "BETH" and v.get("family") == "bls"]
REAL_NEG = [v for v in load_vectors("negative_vectors.json") if v["coin"] == "BETH" and v.get("family") == "bls"]

INF_G1 = bytes.fromhex("c0" + "00" * 47)
INF_G2 = bytes.fromhex("c0" + "00" * 95)
INF_G1_LOOSE = bytes.fromhex("c0" + "00" * 46 + "01")  # infinity flag with x bits set: not canonical
INF_G2_LOOSE = bytes.fromhex("c0" + "00" * 94 + "01")


@lru_cache(maxsize=None)
def off_subgroup_points() -> tuple[bytes, bytes]:
    """Compressed G1 and G2 points on the curves but outside the prime-order subgroup (the first x
    with a square root: the cofactors are large, so such a point is almost never in the subgroup)."""
    x = 1
    while True:
        rhs = (x ** 3 + 4) % field_modulus
        y = pow(rhs, (field_modulus + 1) // 4, field_modulus)
        if y * y % field_modulus == rhs:
            break
        x += 1
    p1 = (FQ(x), FQ(y), FQ(1))
    x2 = FQ2([1, 0])
    while (y2 := modular_squareroot_in_FQ2(x2 ** 3 + b2)) is None:
        x2 = x2 + FQ2([1, 0])
    p2 = (x2, y2, FQ2([1, 0]))
    assert is_on_curve(p1, b) and is_on_curve(p2, b2)
    assert not is_inf(multiply(p1, curve_order)) and not is_inf(multiply(p2, curve_order))
    z1, z2 = compress_G2(p2)
    return compress_G1(p1).to_bytes(48, "big"), z1.to_bytes(48, "big") + z2.to_bytes(48, "big")


def reference(pub: bytes, message: str, sig: bytes) -> bool:
    """py_ecc's Verify, an exception (bad point) counted as a rejection."""
    try:
        return bool(Ref.Verify(pub, okx_evm_digest(message.encode()), sig))
    except Exception:
        return False


def _claim(pub: bytes, message: str, sig: bytes) -> Claim:
    return Claim(coin="BETH", network="", address="0x" + pub.hex(), message=message, signature1="0x" + sig.hex())


@lru_cache(maxsize=None)
def own_row(seed: int, message: str = "I am an OKX address") -> tuple[bytes, str, bytes]:
    sk = (seed * 0x9E3779B97F4A7C15 + 12345) % curve_order
    return Ref.SkToPk(sk), message, Ref.Sign(sk, okx_evm_digest(message.encode()))


def real_rows() -> list[tuple[bytes, str, bytes]]:
    return [(bytes.fromhex(v["address"][2:]), v["message"], bytes.fromhex(v["signature1"][2:])) for v in REAL]


def _flip(b: bytes, i: int, bit: int = 1) -> bytes:
    out = bytearray(b)
    out[i] ^= bit
    return bytes(out)


def mutations(pub: bytes, message: str, sig: bytes, other_pub: bytes) -> list[tuple[str, tuple[bytes, str, bytes]]]:
    return [
        ("sig-bit-low", (pub, message, _flip(sig, 95))),
        ("sig-bit-mid", (pub, message, _flip(sig, 40, 0x10))),
        ("sig-second-half", (pub, message, _flip(sig, 60))),
        ("key-bit", (_flip(pub, 47), message, sig)),
        ("key-bit-high", (_flip(pub, 5, 0x40), message, sig)),
        ("message-changed", (pub, message + "!", sig)),
        ("message-case", (pub, message.swapcase(), sig)),
        ("other-key", (other_pub, message, sig)),
        ("key-at-infinity", (INF_G1, message, sig)),
        ("both-at-infinity", (INF_G1, message, INF_G2)),
        ("sig-at-infinity", (pub, message, INF_G2)),
        ("sig-uncompressed-flag", (pub, message, bytes((sig[0] & 0x7F,)) + sig[1:])),
        ("sig-sign-flag", (pub, message, bytes((sig[0] ^ 0x20,)) + sig[1:])),
        ("key-sign-flag", (bytes((pub[0] ^ 0x20,)) + pub[1:], message, sig)),
        ("key-infinity-loose", (INF_G1_LOOSE, message, sig)),
        ("sig-infinity-loose", (pub, message, INF_G2_LOOSE)),
        ("key-off-subgroup", (off_subgroup_points()[0], message, sig)),
        ("sig-off-subgroup", (pub, message, off_subgroup_points()[1])),
        ("key-is-generator", (compress_G1(G1).to_bytes(48, "big"), message, sig)),
    ]


def _cases() -> list[tuple[str, tuple[bytes, str, bytes]]]:
    rows = [(f"real{i}", r) for i, r in enumerate(real_rows())] + [("own0", own_row(0)), ("own1", own_row(1, "hello world"))]
    return rows


@pytest.mark.parametrize("name,row", _cases(), ids=[c[0] for c in _cases()])
def test_valid_rows_verify_with_both(name, row) -> None:
    pub, message, sig = row
    assert reference(pub, message, sig), "py_ecc rejects a row it should accept: the fixture is wrong"
    assert bls_pop_verify(pub, okx_evm_digest(message.encode()), sig)
    verdict = verify_claim(_claim(pub, message, sig))
    assert verdict.status is Status.VERIFIED and verdict.scheme == "bls-pop", verdict


def _mutated_cases() -> list[tuple[str, tuple[bytes, str, bytes]]]:
    out = []
    for name, (pub, message, sig) in _cases():
        other = own_row(2)[0]
        out.extend((f"{name}:{m}", r) for m, r in mutations(pub, message, sig, other))
    return out


@pytest.mark.parametrize("name,row", _mutated_cases(), ids=[c[0] for c in _mutated_cases()])
def test_every_mutation_is_rejected_by_both(name, row) -> None:
    pub, message, sig = row
    native = bls_pop_verify(pub, okx_evm_digest(message.encode()), sig)
    assert native == reference(pub, message, sig)
    assert native is False
    verdict = verify_claim(_claim(pub, message, sig))
    assert verdict.status is Status.FAILED and verdict.scheme == "bls-pop", verdict


@pytest.mark.parametrize("v", REAL_NEG, ids=[v["id"] for v in REAL_NEG])
def test_shared_negative_vectors_are_rejected_by_both(v) -> None:
    pub, sig = bytes.fromhex(v["address"][2:]), bytes.fromhex(v["signature1"][2:])
    assert reference(pub, v["message"], sig) is False
    assert verify_claim(_claim(pub, v["message"], sig)).status is Status.FAILED


def test_real_vector_present_or_skipped() -> None:
    if not REAL:
        pytest.skip("shared vectors not available")
    assert len(REAL) >= 1 and all(v["expect"] == "valid" for v in REAL)


def test_signature_of_another_key_is_rejected() -> None:
    """A valid signature by key A over the message, presented with key B's address (both valid points)."""
    pub_a, message, sig_a = own_row(3)
    pub_b, _, sig_b = own_row(4)
    assert bls_pop_verify(pub_a, okx_evm_digest(message.encode()), sig_a)
    assert not bls_pop_verify(pub_b, okx_evm_digest(message.encode()), sig_a)
    assert not bls_pop_verify(pub_a, okx_evm_digest(message.encode()), sig_b)


@pytest.mark.parametrize("field,value,reason", [
    ("address", "0x" + "ab" * 47, "47 bytes"),
    ("signature1", "0x" + "ab" * 95, "95 bytes"),
    ("signature1", "", ""),
])
def test_wrong_lengths_fail_with_a_reason(field, value, reason) -> None:
    pub, message, sig = own_row(0)
    verdict = verify_claim(dataclasses.replace(_claim(pub, message, sig), **{field: value}))
    assert verdict.status is not Status.VERIFIED
    assert reason in verdict.reason


def test_garbage_bytes_never_raise_and_agree_with_reference() -> None:
    """Bytes of the right length that are no curve point (or not in the subgroup): both reject."""
    pub, message, sig = own_row(0)
    digest = okx_evm_digest(message.encode())
    for bad_pub in (b"\x00" * 48, b"\xff" * 48, b"\x80" + b"\x01" * 47, b"\xa0" + b"\x00" * 47):
        assert bls_pop_verify(bad_pub, digest, sig) is False
        assert reference(bad_pub, message, sig) is False
    for bad_sig in (b"\x00" * 96, b"\xff" * 96, b"\x80" + b"\x01" * 95, b"\xe0" + b"\x00" * 95):
        assert bls_pop_verify(pub, digest, bad_sig) is False
        assert reference(pub, message, bad_sig) is False
