"""TON wallet derivation and address parsing (signatures/ton.py)."""

from __future__ import annotations

import base64
import json

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signatures.encoding import EncodingError
from signatures.hashing import crc16_xmodem
from signatures.ton import (
    HIGHLOAD_V3_CODE_BOC,
    HIGHLOAD_V3_CODE_HASH,
    WALLET_V3R2_CODE_BOC,
    WALLET_V3R2_CODE_HASH,
    TonAddress,
    _boc_root,
    read_boc,
    format_ton_address,
    match_ton_address,
    parse_ton_address,
    wallet_candidates,
)
from support.common import SHARED_VECTORS as VECTORS

TON_COINS = {"TON", "TONCOIN-NEW", "TONCOIN_NEW", "USDT-TON", "TONCOIN"}

# Fixed key: Ed25519 seed 00 01 02 ... 1f.
SEED = bytes(range(32))
SEED_PUBKEY = bytes(nacl.signing.SigningKey(SEED).verify_key)
# Expected addresses of SEED_PUBKEY, computed with independent implementations, not this module:
# wallet V3R2 with tonsdk 1.0.15 (Wallets.ALL[WalletVersionEnum.v3r2](public_key=..., wc=0));
# highload-v3 with pytoniq-core 0.2.1 (StateInit(code=HighloadWalletV3 code BOC, data=
# pubkey|4269:32|0:1|0:1|0:64|43200:22).serialize().hash), which also gave the V3R2 one.
SEED_V3R2_EQ = "EQDk-73OzZiv_ffXAbZVEGZOcjbIwBA-6CzHu9U46xUjmnZY"
SEED_V3R2_UQ = "UQDk-73OzZiv_ffXAbZVEGZOcjbIwBA-6CzHu9U46xUjmiud"
SEED_V3R2_RAW = "0:e4fbbdcecd98affdf7d701b65510664e7236c8c0103ee82cc7bbd538eb15239a"
SEED_HIGHLOAD_EQ = "EQCk3llR5IPe43CiUZtcOhDRYkz00O9LeeqkcEvvaSe6DM9v"
SEED_HIGHLOAD_UQ = "UQCk3llR5IPe43CiUZtcOhDRYkz00O9LeeqkcEvvaSe6DJKq"

# Published vector: toncenter/tonweb src/contract/wallet/wallet-contract.test.ts, entry 'v3R2'
# (its test key pair; the public key is the one in that entry's deploy BOC data cell).
TONWEB_PUBKEY = bytes.fromhex("6e405efc651ae460c2b9cd55683cc22f185e34e811419a57bcf087011eee9807")
TONWEB_V3R2_UQ = "UQCU89Iml8w3kH99CfW6C0cN78h3AqGuOYs3CK-5fdfagR6C"
TONWEB_V3R2_RAW = "0:94f3d22697cc37907f7d09f5ba0b470defc87702a1ae398b3708afb97dd7da81"


def _pubkey(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _friendly(tag: int, workchain_byte: int, hash_part: bytes) -> str:
    body = bytes((tag, workchain_byte)) + hash_part
    return base64.urlsafe_b64encode(body + crc16_xmodem(body).to_bytes(2, "big")).decode()


def _load(name: str) -> list[dict]:
    path = VECTORS / "okx" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------------
# Real OKX data


def test_toncoin_new_vectors_are_wallet_v3r2_bounceable() -> None:
    vectors = [
        v for v in _load("signature_vectors.json")
        if v["family"] == "ed25519" and v["coin"] == "TONCOIN-NEW" and not v.get("historical")
    ]
    assert len(vectors) == 2
    for v in vectors:
        assert "[v3r2_bounceable]" in v["check_detail"]
        assert match_ton_address(_pubkey(v["script_or_pubkey"]), v["address"]) == "wallet-v3r2 bounceable"


def test_usdt_ton_row_is_highload_v3_non_bounceable() -> None:
    rows = [v for v in _load("csv_row_vectors.json") if v["coin"] == "USDT-TON"]
    assert len(rows) == 1
    (row,) = rows
    assert "[highload_v3_non_bounceable]" in row["check_detail"]
    assert match_ton_address(_pubkey(row["script_or_pubkey"]), row["address"]) == "highload-v3 non-bounceable"


def test_swapped_addresses_do_not_match() -> None:
    negatives = [v for v in _load("negative_vectors.json") if v["coin"] in TON_COINS]
    valid = [v for v in _load("signature_vectors.json") if v["coin"] == "TONCOIN-NEW"]
    valid += [v for v in _load("csv_row_vectors.json") if v["coin"] == "USDT-TON"]
    assert negatives and len(valid) == 3
    cases = [(v["script_or_pubkey"], v["address"]) for v in negatives if v["mutation"].startswith("address")]
    # The file has no TON address swap (one address per TON coin), so swap the two TON keys here.
    cases += [(a["script_or_pubkey"], b["address"]) for a in valid for b in valid if a["address"] != b["address"]]
    assert len(cases) >= 4
    for key, address in cases:
        assert match_ton_address(_pubkey(key), address) is None
    # The other TON negatives break only message or signature: their address still derives.
    for v in negatives:
        if not v["mutation"].startswith("address"):
            assert match_ton_address(_pubkey(v["script_or_pubkey"]), v["address"]) is not None


# --------------------------------------------------------------------------------------------
# Derivation without shared/


def test_code_cells_hash_to_published_code_hashes() -> None:
    assert _boc_root(bytes.fromhex(WALLET_V3R2_CODE_BOC))[0] == WALLET_V3R2_CODE_HASH
    assert _boc_root(bytes.fromhex(HIGHLOAD_V3_CODE_BOC))[0] == HIGHLOAD_V3_CODE_HASH
    assert WALLET_V3R2_CODE_HASH.hex().startswith("84dafa44") and WALLET_V3R2_CODE_HASH.hex().endswith("d599")


def test_boc_crc_is_checked() -> None:
    boc = bytearray.fromhex(WALLET_V3R2_CODE_BOC)
    boc[20] ^= 1
    with pytest.raises(EncodingError):
        _boc_root(bytes(boc))


def test_one_boc_reader_for_code_cells_and_address_slices() -> None:
    """The adapter's address slices and the code cells go through the same reader: a truncated or
    padded BOC is refused by both, never read short."""
    from chains.ton import TonAccount, address_slice_boc, parse_address_cell

    acct = TonAccount(0, bytes(range(32)))
    good = address_slice_boc(acct)
    assert parse_address_cell(good) == acct
    assert read_boc(good).cells[0].bits == 267
    for bad in (good[:-1], good + b"\x00", bytes.fromhex(HIGHLOAD_V3_CODE_BOC)[:-5]):
        with pytest.raises(EncodingError):
            read_boc(bad)
        with pytest.raises(ValueError):
            parse_address_cell(bad)


def test_fixed_seed_candidates_match_independent_libraries() -> None:
    candidates = dict(wallet_candidates(SEED_PUBKEY))
    assert list(candidates) == ["wallet-v3r2", "highload-v3"]
    assert format_ton_address(0, candidates["wallet-v3r2"]) == SEED_V3R2_EQ
    assert format_ton_address(0, candidates["wallet-v3r2"], bounceable=False) == SEED_V3R2_UQ
    assert format_ton_address(0, candidates["highload-v3"]) == SEED_HIGHLOAD_EQ
    assert format_ton_address(0, candidates["highload-v3"], bounceable=False) == SEED_HIGHLOAD_UQ
    assert match_ton_address(SEED_PUBKEY, SEED_V3R2_EQ) == "wallet-v3r2 bounceable"
    assert match_ton_address(SEED_PUBKEY, SEED_V3R2_UQ) == "wallet-v3r2 non-bounceable"
    assert match_ton_address(SEED_PUBKEY, SEED_V3R2_RAW) == "wallet-v3r2 raw"
    assert match_ton_address(SEED_PUBKEY, SEED_HIGHLOAD_EQ) == "highload-v3 bounceable"
    assert match_ton_address(SEED_PUBKEY, SEED_HIGHLOAD_UQ) == "highload-v3 non-bounceable"


def test_fixed_seed_v3r2_against_tonsdk() -> None:
    wallet_mod = pytest.importorskip("tonsdk.contract.wallet")
    signing_key = nacl.signing.SigningKey(SEED)
    wallet = wallet_mod.Wallets.ALL[wallet_mod.WalletVersionEnum.v3r2](
        public_key=SEED_PUBKEY, private_key=bytes(signing_key) + SEED_PUBKEY, wc=0
    )
    assert wallet.address.to_string(True, True, True) == SEED_V3R2_EQ
    assert wallet.options["code"].bytes_hash() == WALLET_V3R2_CODE_HASH


def test_tonweb_published_v3r2_vector() -> None:
    assert match_ton_address(TONWEB_PUBKEY, TONWEB_V3R2_UQ) == "wallet-v3r2 non-bounceable"
    assert match_ton_address(TONWEB_PUBKEY, TONWEB_V3R2_RAW) == "wallet-v3r2 raw"
    assert match_ton_address(SEED_PUBKEY, TONWEB_V3R2_UQ) is None


def test_wrong_pubkey_length_rejected() -> None:
    with pytest.raises(EncodingError):
        wallet_candidates(SEED_PUBKEY[:31])


# --------------------------------------------------------------------------------------------
# Address parsing


def test_flags_parsed() -> None:
    eq = parse_ton_address(SEED_V3R2_EQ)
    uq = parse_ton_address(SEED_V3R2_UQ)
    assert eq == TonAddress(0, bytes.fromhex(SEED_V3R2_RAW[2:]), True, False)
    assert uq == TonAddress(0, eq.hash_part, False, False)
    assert (eq.form, uq.form) == ("bounceable", "non-bounceable")
    test_b = parse_ton_address(format_ton_address(0, eq.hash_part, testnet=True))
    test_nb = parse_ton_address(format_ton_address(0, eq.hash_part, bounceable=False, testnet=True))
    assert (test_b.bounceable, test_b.testnet) == (True, True)
    assert (test_nb.bounceable, test_nb.testnet) == (False, True)


def test_standard_alphabet_accepted() -> None:
    standard = format_ton_address(0, parse_ton_address(SEED_V3R2_EQ).hash_part, url_safe=False)
    assert "-" in SEED_V3R2_EQ and "+" in standard  # the two forms differ in this address
    assert parse_ton_address(standard) == parse_ton_address(SEED_V3R2_EQ)
    assert match_ton_address(SEED_PUBKEY, standard) == "wallet-v3r2 bounceable"


def test_raw_form_parsed() -> None:
    raw = parse_ton_address(SEED_V3R2_RAW)
    assert raw == TonAddress(0, bytes.fromhex(SEED_V3R2_RAW[2:]), None, False) and raw.form == "raw"
    master = parse_ton_address("-1:" + SEED_V3R2_RAW[2:].upper())
    assert (master.workchain, master.hash_part) == (-1, raw.hash_part)


def test_checksum_corruption_rejected() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(SEED_V3R2_EQ):
        other = alphabet[(alphabet.index(ch) + 1) % 64]
        with pytest.raises(EncodingError):
            parse_ton_address(SEED_V3R2_EQ[:i] + other + SEED_V3R2_EQ[i + 1 :])


def test_case_folded_address_does_not_match() -> None:
    # OKX's tool compares with EqualFold and would accept this string.
    assert match_ton_address(SEED_PUBKEY, SEED_V3R2_EQ.swapcase()) is None
    assert match_ton_address(SEED_PUBKEY, SEED_V3R2_EQ.lower()) is None


def test_wrong_workchain_rejected() -> None:
    hash_part = parse_ton_address(SEED_V3R2_EQ).hash_part
    for wc_byte in (0x01, 0x05, 0x7F, 0x80, 0xFE):
        with pytest.raises(EncodingError):
            parse_ton_address(_friendly(0x11, wc_byte, hash_part))
    for prefix in ("1:", "-2:", "00:", "+0:", "-0:", ":"):
        with pytest.raises(EncodingError):
            parse_ton_address(prefix + hash_part.hex())
    # Masterchain and testnet forms parse, but an OKX reserve is a mainnet basechain account.
    master = format_ton_address(-1, hash_part)
    assert parse_ton_address(master).workchain == -1
    assert match_ton_address(SEED_PUBKEY, master) is None
    assert match_ton_address(SEED_PUBKEY, "-1:" + hash_part.hex()) is None
    assert match_ton_address(SEED_PUBKEY, format_ton_address(0, hash_part, testnet=True)) is None


def test_unknown_tag_rejected() -> None:
    hash_part = parse_ton_address(SEED_V3R2_EQ).hash_part
    for tag in (0x00, 0x10, 0x12, 0x50, 0x91 ^ 0x01, 0xFF):
        with pytest.raises(EncodingError):
            parse_ton_address(_friendly(tag, 0, hash_part))


@pytest.mark.parametrize(
    "text",
    [
        "",
        SEED_V3R2_EQ[:-1],
        SEED_V3R2_EQ + "A",
        SEED_V3R2_EQ[:-4],
        " " + SEED_V3R2_EQ,
        SEED_V3R2_EQ + "\n",
        SEED_V3R2_EQ[:-2] + "==",
        SEED_V3R2_RAW[:-1],
        SEED_V3R2_RAW + "0",
        "0:0x" + SEED_V3R2_RAW[4:],
        "0:" + "g" * 64,
        SEED_V3R2_EQ.replace("-", "+"),  # mixed alphabets
    ],
)
def test_malformed_rejected(text: str) -> None:
    with pytest.raises(EncodingError):
        parse_ton_address(text)
    assert match_ton_address(SEED_PUBKEY, text) is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=:", min_size=40, max_size=70)))
def test_parse_raises_only_encoding_error(text: str) -> None:
    try:
        parse_ton_address(text)
    except EncodingError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.sampled_from([0, -1]), st.booleans(), st.booleans(), st.booleans())
def test_format_parse_round_trip(hash_part: bytes, workchain: int, bounceable: bool, testnet: bool, url_safe: bool) -> None:
    text = format_ton_address(workchain, hash_part, bounceable=bounceable, testnet=testnet, url_safe=url_safe)
    assert len(text) == 48
    assert parse_ton_address(text) == TonAddress(workchain, hash_part, bounceable, testnet)
