"""The recovery memo answers a repeated signature as the curve does, and nothing else from it."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey

from signatures import secp256k1
from signatures.secp256k1 import _Memo, _recover_now, recover


def _signed(i: int, message: bytes = b"I am an OKX address") -> tuple[bytes, int, bytes, bytes]:
    key = PrivateKey(hashlib.sha256(b"memo-%d" % i).digest())
    digest = hashlib.sha256(message).digest()
    sig = key.sign_recoverable(digest, hasher=None)
    return sig[:64], sig[64], digest, key.public_key.format(compressed=False)


@pytest.fixture()
def small_memo(monkeypatch):
    memo = _Memo(4)
    monkeypatch.setattr(secp256k1, "_MEMO", memo)
    return memo


def test_repeated_signature_gives_the_same_key_as_the_curve(small_memo):
    rs, recid, digest, pub = _signed(1)
    assert recover(rs, recid, digest) == pub
    assert recover(rs, recid, digest) == pub  # from the memo
    assert recover(rs, recid, digest, compressed=True) == _recover_now(rs, recid, digest, True)
    assert len(small_memo.young) == 2  # compressed and uncompressed answers are kept apart


def test_a_mutation_is_not_answered_from_the_memo(small_memo):
    rs, recid, digest, pub = _signed(2)
    assert recover(rs, recid, digest) == pub
    other_digest = hashlib.sha256(b"I am an OKX address!").digest()
    assert recover(rs, recid, other_digest) not in (None, pub)
    flipped = rs[:10] + bytes([rs[10] ^ 1]) + rs[11:]
    assert recover(flipped, recid, digest) != pub
    assert recover(rs, recid ^ 1, digest) != pub


def test_no_key_is_remembered_as_no_key(small_memo):
    rs, recid, digest, _ = _signed(3)
    bad = b"\x00" * 32 + rs[32:]  # r = 0 recovers nothing
    assert recover(bad, recid, digest) is None
    assert recover(bad, recid, digest) is None
    assert (bad, recid, digest, False) in small_memo.young


def test_a_key_in_use_survives_any_number_of_once_only_signatures(small_memo, monkeypatch):
    calls = []
    monkeypatch.setattr(secp256k1, "_recover_now", lambda *a: calls.append(a) or _recover_now(*a))
    cold = _signed(4)
    for i in range(100, 140):  # 40 distinct signatures, a memo of 4 + 4 entries
        recover(*cold[:3])
        recover(*_signed(i)[:3])
    assert sum(1 for a in calls if a[0] == cold[0]) == 1
    assert len(calls) == 41
    assert len(small_memo.young) <= 4 and len(small_memo.old) <= 4
