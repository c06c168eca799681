"""Pure Bitcoin-family helpers: address -> scriptPubKey per coin and chain, Electrum script hashes,
exact satoshi amounts. Vectors from BIP-173/BIP-350, the CashAddr spec and the Electrum protocol
docs; base58 addresses of other coins built with the independent ``base58`` package."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import base58
import pytest

from chains.utxo import btc_to_sats, chain_params, electrum_scripthash, script_pubkey

H160 = hashlib.new("sha256", b"porscan").digest()[:20]


@pytest.mark.parametrize("address,script", [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"),
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
])
def test_bitcoin_mainnet_vectors(address, script):
    assert script_pubkey(address, chain_params("BTC")).hex() == script


def test_electrum_scripthash_vector():
    spk = script_pubkey("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", chain_params("BTC"))
    assert electrum_scripthash(spk) == "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"


@pytest.mark.parametrize("legacy,cash", [
    ("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
    ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC", "bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"),
])
def test_bitcoin_cash_cashaddr_and_legacy_are_the_same_script(legacy, cash):
    p = chain_params("BCHN")
    assert script_pubkey(cash, p) == script_pubkey(legacy, p) == script_pubkey(cash.split(":")[1], p)
    assert script_pubkey(cash, p)[:2] in (b"\x76\xa9", b"\xa9\x14")


@pytest.mark.parametrize("coin,chain,p2pkh,p2sh", [
    ("LTC", "main", 48, 50), ("LTC", "regtest", 0x6F, 0x3A), ("DOGE", "main", 30, 22), ("DOGE", "test", 0x71, 0xC4),
    ("DASH", "main", 76, 16), ("DASH", "test", 0x8C, 0x13), ("BTC", "regtest", 0x6F, 0xC4), ("BCH", "main", 0, 5),
])
def test_base58_prefixes(coin, chain, p2pkh, p2sh):
    p = chain_params(coin, chain)
    a = base58.b58encode_check(bytes([p2pkh]) + H160).decode()
    s = base58.b58encode_check(bytes([p2sh]) + H160).decode()
    assert script_pubkey(a, p) == b"\x76\xa9\x14" + H160 + b"\x88\xac"
    assert script_pubkey(s, p) == b"\xa9\x14" + H160 + b"\x87"


def test_wrong_network_addresses_are_rejected():
    with pytest.raises(ValueError):
        script_pubkey("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", chain_params("LTC"))
    with pytest.raises(ValueError):
        script_pubkey("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", chain_params("BTC", "regtest"))
    with pytest.raises(ValueError):
        script_pubkey("bchtest:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", chain_params("BCH"))
    with pytest.raises(ValueError):
        chain_params("XYZ")


def test_amounts_are_exact():
    assert btc_to_sats(Decimal("20999999.97690000")) == 2_099_999_997_690_000
    assert btc_to_sats(Decimal("0.00000001")) == 1 and btc_to_sats(0) == 0
    with pytest.raises(TypeError):
        btc_to_sats(0.1)
    with pytest.raises(ValueError):
        btc_to_sats(Decimal("0.000000001"))


def test_core_snapshot_amount_decompression():
    from chains.bitcoin_core import decompress_amount

    # Bitcoin Core src/test/compress_tests.cpp: CompressAmount(0/1/CENT/COIN/50 COIN/21M COIN)
    assert [decompress_amount(x) for x in (0, 1, 7, 9, 50, 21_000_000)] == [
        0, 1, 1_000_000, 100_000_000, 5_000_000_000, 2_100_000_000_000_000]


def test_truncated_dumps_are_refused(tmp_path):
    from chains.bitcoin_core import parse_dump
    from chains.protocol import AdapterError

    snap = tmp_path / "s.dat"
    snap.write_bytes(b"utxo\xff\x02\x00" + bytes(4) + bytes(32) + (5).to_bytes(8, "little") + bytes(32) + b"\x01")
    with pytest.raises((AdapterError, ValueError, IndexError)):
        parse_dump(snap, set())
    csv = tmp_path / "c.csv"
    csv.write_text("#(blockhash " + "ab" * 32 + " ) scriptPubKey,value\n0014aa,12\n0014aa,30\n0014bb,1\n")
    assert parse_dump(csv, {"0014aa", "0014cc"}) == ("ab" * 32, 3, {"0014aa": 42})
