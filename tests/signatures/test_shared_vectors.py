"""Conformance: every vector in ../shared/vectors/okx meets its expected outcome, and every valid
vector, mutated (flipped signature byte, other address, other message, swapped signer), is rejected.

Skips cleanly when ../shared is absent; tests/signatures/test_own_fixtures.py covers each family with
the project's own keys.
"""

from __future__ import annotations

import base64
import copy

import pytest

from support.common import (bip137_headers_of_other_types, load_vectors, one_letter_in_other_case, other_chain_coins,
                            shared_path)
from signatures import Claim, Status, verify_claim
from signatures.utxo import PARAMS, recover_signer
from signatures.secp256k1 import compress

SIG = load_vectors("signature_vectors.json")
ROWS = load_vectors("csv_row_vectors.json")
NEG = load_vectors("negative_vectors.json")

PROVEN = {Status.VERIFIED, Status.KEY_ONLY, Status.OWNER_ONLY}


def claim_of(v: dict) -> Claim:
    return Claim(v["coin"], v["network"], v["address"], v["message"], v["signature1"], v["signature2"],
                 v["script_or_pubkey"], v["eoa1"], v["eoa2"], v["type"])


def keyed_by_network(v: dict) -> bool:
    return bool(v.get("digital_asset")) or v["id"].startswith("test.csv:")


def run(v: dict):
    return verify_claim(claim_of(v), keyed_by_network(v))


def _ids(vs):
    return [v["id"] for v in vs]


CURRENT = [v for v in SIG if not v.get("historical") and v.get("assertion") != "recover_pubkey"]
RECOVER = [v for v in SIG if v.get("assertion") == "recover_pubkey"]
HISTORICAL = [v for v in SIG if v.get("historical")]


def test_shared_vectors_present_or_skipped():
    shared_path("okx", "signature_vectors.json")
    assert len(CURRENT) + len(RECOVER) == 75
    assert len(ROWS) == 50 and len(NEG) == 339


@pytest.mark.parametrize("v", CURRENT, ids=_ids(CURRENT))
def test_signature_vector(v):
    verdict = run(v)
    if v["expect"] == "valid":
        assert verdict.status in PROVEN, verdict
    else:
        assert verdict.status not in PROVEN, verdict


@pytest.mark.parametrize("v", ROWS, ids=_ids(ROWS))
def test_csv_row_vector(v):
    verdict = run(v)
    assert verdict.status in PROVEN, verdict


@pytest.mark.parametrize("v", NEG, ids=_ids(NEG))
def test_negative_vector(v):
    verdict = run(v)
    assert verdict.status not in PROVEN, verdict
    assert verdict.status is not Status.VERIFIED


@pytest.mark.parametrize("v", RECOVER, ids=_ids(RECOVER))
def test_recover_pubkey_vector(v):
    params = PARAMS.get(v["coin"].upper().replace("BCHN", "BCH"), PARAMS["BTC"])
    rec = recover_signer(v["signature1"], v["message"], params)
    assert rec is not None and compress(rec.pubkey).hex() == v["expected_pubkey"]


@pytest.mark.parametrize("v", HISTORICAL, ids=_ids(HISTORICAL))
def test_historical_vectors_follow_current_rules(v):
    """Historical vectors verify exactly when the independent check says so under today's rules."""
    expected = v.get("expect_current_rules", v["expect"])
    if v.get("assertion") in ("recover_pubkey", "p2wsh_script_hash"):
        expected = v.get("expect_current_rules", expected)
    verdict = run(v)
    assert (verdict.status in PROVEN) == (expected == "valid"), verdict


def test_specific_statuses():
    """What each kind of row proves, on the real fixtures."""
    by_id = {v["id"]: v for v in ROWS + SIG}
    if not by_id:
        pytest.skip("shared vectors not available")
    assert run(by_id["okx_por_example.csv:16"]).status is Status.VERIFIED
    assert run(by_id["okx_por_example.csv:18"]).status is Status.OWNER_ONLY  # contract wallet
    assert run(by_id["okx_por_example.csv:20"]).status is Status.OWNER_ONLY  # APTOS placeholder address
    ton = run(by_id["okx_por_example.csv:19"])
    assert ton.status is Status.VERIFIED and "highload-v3" in ton.scheme
    assert run(by_id["okx_por_staking_example.csv:6"]).status is Status.OWNER_ONLY
    assert run(by_id["okx_por_staking_example.csv:7"]).status is Status.OWNER_ONLY
    assert run(by_id["test.csv:10"]).status is Status.KEY_ONLY  # EOS account
    assert run(by_id["test.csv:3"]).status is Status.KEY_ONLY  # StarkNet account contract


# ----------------------------------------------------------------------------- mutations

def _flip_signature(sig: str) -> str:
    """Change one byte inside r (not the header/V), keeping the encoding valid."""
    if sig.startswith("SIG_K1_"):
        return sig[:10] + ("2" if sig[10] != "2" else "3") + sig[11:]
    if sig[:2] in ("0x", "0X") or all(c in "0123456789abcdefABCDEF" for c in sig):
        body = sig[2:] if sig[:2] in ("0x", "0X") else sig
        pos = 10
        nib = "0" if body[pos] != "0" else "1"
        return (sig[:2] if sig[:2] in ("0x", "0X") else "") + body[:pos] + nib + body[pos + 1:]
    raw = bytearray(base64.b64decode(sig))
    raw[5] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


VALID = [v for v in CURRENT + ROWS if v["expect"] == "valid"]


def _family_pool(v: dict) -> list[dict]:
    return [w for w in VALID if w["family"] == v["family"] and w["id"] != v["id"]]


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_flipped_signature_byte_rejected(v):
    m = copy.deepcopy(v)
    m["signature1"] = _flip_signature(v["signature1"])
    assert run(m).status not in PROVEN


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_other_message_rejected(v):
    m = dict(v, message=v["message"] + "!")
    assert run(m).status not in PROVEN


def _bound_field(v: dict, verdict) -> str | None:
    """The field that carries the identity the signature is checked against."""
    if verdict.status is Status.OWNER_ONLY:
        return "eoa1"
    if verdict.status is Status.KEY_ONLY:
        return "script_or_pubkey" if v["script_or_pubkey"] else None
    return "address"


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_other_address_rejected(v):
    verdict = run(v)
    field = _bound_field(v, verdict)
    others = [w for w in _family_pool(v) if w[field or "address"] and w[field or "address"].lower() != v[field or "address"].lower()
              and (w["coin"].upper() == v["coin"].upper() or w["network"] == v["network"])]
    if field is None or not others:
        pytest.skip("no other identity of the same coin to swap in")
    m = dict(v, **{field: others[0][field]})
    mutated = run(m)
    if verdict.status is Status.VERIFIED:
        # e.g. a NEAR implicit account swapped for a named one drops to key_only: never verified
        assert mutated.status is not Status.VERIFIED, (field, others[0][field], mutated)
    else:
        assert mutated.status not in PROVEN, (field, others[0][field], mutated)


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_address_with_a_letter_in_the_other_case_not_verified(v):
    """base58, base64 and bech32 addresses are case-sensitive (bech32: one case throughout, BIP-173)."""
    changed = one_letter_in_other_case(v["address"])
    if run(v).status is not Status.VERIFIED or changed is None:
        pytest.skip("not a verified row, or a hex address")
    assert run(dict(v, address=changed)).status is not Status.VERIFIED, changed


COIN_KEYED = [v for v in VALID if not keyed_by_network(v)]


@pytest.mark.parametrize("v", COIN_KEYED, ids=_ids(COIN_KEYED))
def test_row_relabelled_to_another_chains_coin_not_proven(v):
    """The coin column, not the network column or the address's format, picks the rule (OKX's files
    are keyed by coin): a row moved to another chain's coin proves nothing there."""
    if run(v).status is not Status.VERIFIED:
        pytest.skip("not a verified row")
    for coin in other_chain_coins(v["coin"], v["network"]):
        assert run(dict(v, coin=coin)).status not in PROVEN, coin


def _identity(v: dict) -> tuple[str, str]:
    """Who must have signed: the owner if any, else the address; plus the key/script column."""
    return ((v["eoa1"] or v["address"]).lower(), v["script_or_pubkey"].lower())


def _encoding(sig: str) -> str:
    if sig.startswith("SIG_K1_"):
        return "eos"
    if sig[:2] in ("0x", "0X"):
        return "hex"
    return "hex" if all(c in "0123456789abcdefABCDEF" for c in sig) else "base64"


@pytest.mark.parametrize("v", VALID, ids=_ids(VALID))
def test_swapped_signer_rejected(v):
    """Another key's valid signature (same family and encoding) in place of signature1."""
    others = [w for w in _family_pool(v) if w["signature1"] and w["signature1"] != v["signature1"]
              and _identity(w) != _identity(v) and _encoding(w["signature1"]) == _encoding(v["signature1"])]
    if not others:
        pytest.skip("no other signer of the same family")
    m = dict(v, signature1=others[0]["signature1"])
    assert run(m).status not in PROVEN


MULTISIG = [v for v in VALID if v["family"] == "utxo_multisig" and v["signature2"]]


@pytest.mark.parametrize("v", MULTISIG, ids=_ids(MULTISIG))
def test_multisig_header_of_another_key_form_or_address_type_rejected(v):
    """A co-signer's BIP-137 header says its key's form as the script holds it (compressed: 31-34);
    27-30 and the segwit headers 35-42 passed, recovering the same point."""
    if v["signature1"][:2] in ("0x", "0X"):
        pytest.skip("an OKX MPC signature: V is not a BIP-137 header")
    for changed in bip137_headers_of_other_types(v["signature1"], range(31, 35)):
        assert run(dict(v, signature1=changed)).status not in PROVEN, changed


@pytest.mark.parametrize("v", MULTISIG, ids=_ids(MULTISIG))
def test_duplicate_signer_rejected(v):
    """OKX's tool accepts one key signing twice; porscan requires m distinct signers."""
    m = dict(v, signature2=v["signature1"])
    verdict = run(m)
    assert verdict.status is Status.FAILED and "duplicate" in verdict.reason
