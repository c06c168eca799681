"""Bitcoin-family basics shared by the UTXO adapters, as pure functions (no I/O).

* network parameters per coin and chain (mainnet / testnet / regtest address prefixes),
* address -> scriptPubKey (P2PKH, P2SH, segwit v0/v1+, CashAddr), Electrum script hashes,
* a raw-transaction decoder (legacy and segwit serialization) that also checks the txid,
* exact BTC-decimal -> satoshi conversion for JSON amounts.

Address decoding reuses :func:`signatures.utxo.decode_address` (the same rules the ownership
check applies), with prefixes for the test chains added here.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable

from signatures.encoding import EncodingError
from signatures.hashing import sha256, sha256d
from signatures.utxo import PARAMS as _SIG_PARAMS
from signatures.utxo import UtxoParams, decode_address

from .protocol import AdapterError, Asset

COIN = 100_000_000  # satoshis per coin, for every coin here (8 decimals)


@dataclass(frozen=True, slots=True)
class ChainParams:
    coin: str  # BTC, LTC, DOGE, BCH, DASH
    chain: str  # main | test | regtest
    address: UtxoParams  # prefixes used to decode addresses
    header_hash: str = "sha256d"  # how a block hash is computed from its header ("" = not computable here)

    @property
    def key(self) -> str:
        return f"{self.coin}/{self.chain}"


def _p(coin: str, p2pkh: bytes, p2sh: tuple[bytes, ...], hrp: str = "", cash: tuple[str, ...] = ()) -> UtxoParams:
    return UtxoParams(coin, _SIG_PARAMS[coin].magic, (p2pkh,), p2sh, hrp, cash)


_TEST = b"\x6f"
_TEST_P2SH = b"\xc4"
CHAINS: dict[tuple[str, str], ChainParams] = {
    ("BTC", "main"): ChainParams("BTC", "main", _SIG_PARAMS["BTC"]),
    ("BTC", "test"): ChainParams("BTC", "test", _p("BTC", _TEST, (_TEST_P2SH,), "tb")),  # testnet3/4, signet
    ("BTC", "regtest"): ChainParams("BTC", "regtest", _p("BTC", _TEST, (_TEST_P2SH,), "bcrt")),
    ("LTC", "main"): ChainParams("LTC", "main", _SIG_PARAMS["LTC"]),
    ("LTC", "test"): ChainParams("LTC", "test", _p("LTC", _TEST, (b"\x3a", _TEST_P2SH), "tltc")),
    ("LTC", "regtest"): ChainParams("LTC", "regtest", _p("LTC", _TEST, (b"\x3a", _TEST_P2SH), "rltc")),
    ("DOGE", "main"): ChainParams("DOGE", "main", _SIG_PARAMS["DOGE"]),
    ("DOGE", "test"): ChainParams("DOGE", "test", _p("DOGE", b"\x71", (_TEST_P2SH,))),
    ("DOGE", "regtest"): ChainParams("DOGE", "regtest", _p("DOGE", _TEST, (_TEST_P2SH,))),
    ("BCH", "main"): ChainParams("BCH", "main", _SIG_PARAMS["BCH"]),
    ("BCH", "test"): ChainParams("BCH", "test", _p("BCH", _TEST, (_TEST_P2SH,), "", ("bchtest",))),
    ("BCH", "regtest"): ChainParams("BCH", "regtest", _p("BCH", _TEST, (_TEST_P2SH,), "", ("bchreg",))),
    # Dash block hashes are X11, not sha256d: the Electrum adapter cannot derive them from a header
    ("DASH", "main"): ChainParams("DASH", "main", _SIG_PARAMS["DASH"], header_hash=""),
    ("DASH", "test"): ChainParams("DASH", "test", _p("DASH", b"\x8c", (b"\x13",)), header_hash=""),
    ("DASH", "regtest"): ChainParams("DASH", "regtest", _p("DASH", b"\x8c", (b"\x13",)), header_hash=""),
}
# what Bitcoin Core / Litecoin Core call their chains in getblockchaininfo
CORE_CHAIN_NAMES = {"main": {"main"}, "test": {"test", "testnet4", "signet"}, "regtest": {"regtest"}}
# Genesis block hash (display hex) of each chain a node or server of that coin may run, from the
# consensus.hashGenesisBlock asserts in each project's chainparams.cpp (Bitcoin Core kernel/chainparams.cpp,
# Litecoin Core, Dogecoin Core 1.14, Bitcoin Cash Node, Dash Core). "test" accepts every public test chain
# the addresses of "test" are valid on (Bitcoin: testnet3, testnet4, signet; Bitcoin Cash: testnet3,
# testnet4/chipnet). BCH mainnet and regtest share Bitcoin's genesis: they forked from it.
_BTC_MAIN = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
_BTC_TESTNET3 = "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"
_BTC_REGTEST = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_HASHES: dict[tuple[str, str], tuple[str, ...]] = {
    ("BTC", "main"): (_BTC_MAIN,),
    ("BTC", "test"): (_BTC_TESTNET3,
                      "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",  # testnet4
                      "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),  # signet
    ("BTC", "regtest"): (_BTC_REGTEST,),
    ("LTC", "main"): ("12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",),
    ("LTC", "test"): ("4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0",),
    ("LTC", "regtest"): ("530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",),
    ("DOGE", "main"): ("1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691",),
    ("DOGE", "test"): ("bb0a78264637406b6360aad926284d544d7049f45189db5664f3c4d07350559e",),
    ("DOGE", "regtest"): ("3d2160a3b5dc4a9d62e7e66a295f70313ac808440ef7400d6c0772171ce973a5",),
    ("BCH", "main"): (_BTC_MAIN,),
    ("BCH", "test"): (_BTC_TESTNET3,
                      "000000001dd410c49a788668ce26751718cc797474d3152a5fc073dd44fd9f7b"),  # testnet4, chipnet
    ("BCH", "regtest"): (_BTC_REGTEST,),
    # X11 block hashes: an Electrum client cannot hash a Dash header itself (server.features says it)
    ("DASH", "main"): ("00000ffd590b1485b3caadc19b22e6379c733355108f107a430458cdf3407ab6",),
    ("DASH", "test"): ("00000bafbc94add76cb75e2ec92894837288a481e5c005f6563d91623bf8bc2c",),
    ("DASH", "regtest"): ("000008ca1832a4baf228eb1553c03d3a2c8e02399550dd6ea8d65cec3ef23d2e",),
}


def chain_params(coin: str, chain: str = "main") -> ChainParams:
    coin = coin.upper()
    coin = {"BCHN": "BCH", "XBT": "BTC"}.get(coin, coin)
    try:
        return CHAINS[(coin, chain)]
    except KeyError:
        known = ", ".join(sorted({f"{c}/{n}" for c, n in CHAINS}))
        raise ValueError(f"no UTXO chain parameters for {coin}/{chain} (known: {known})") from None


def require_native(asset: Asset, network: str) -> None:
    """UTXO adapters read the chain's own coin; a token asset is a configuration error."""
    if not asset.native:
        raise AdapterError(f"{asset.symbol} on {network}: only the native coin has UTXO balances here")


def script_pubkey(address: str, params: ChainParams) -> bytes:
    """The output script an address stands for; raises ``EncodingError`` (a ValueError) if it is not one."""
    a = decode_address(address, params.address)
    if a.kind == "p2pkh":
        return b"\x76\xa9\x14" + a.payload + b"\x88\xac"
    if a.kind == "p2sh":
        return b"\xa9\x14" + a.payload + b"\x87"
    # segwit: OP_0 / OP_1..OP_16, then the program as one push
    op = 0 if a.version == 0 else 0x50 + a.version
    return bytes((op, len(a.payload))) + a.payload


def electrum_scripthash(spk: bytes) -> str:
    """Electrum protocol script hash: sha256 of the scriptPubKey, byte-reversed, hex."""
    return sha256(spk)[::-1].hex()


def block_hash_from_header(header: bytes, params: ChainParams) -> str | None:
    if params.header_hash != "sha256d" or len(header) < 80:
        return None
    return sha256d(header[:80])[::-1].hex()


def btc_to_sats(value: Decimal | int | str) -> int:
    """A JSON amount in coins (parse JSON with ``parse_float=Decimal``) -> satoshis, exactly."""
    if isinstance(value, float):
        raise TypeError("amount parsed as float: parse the JSON with parse_float=decimal.Decimal")
    d = Decimal(value) if not isinstance(value, Decimal) else value
    sats = d * COIN
    if sats != sats.to_integral_value():
        raise ValueError(f"amount {value} has more than 8 decimals")
    return int(sats)


# ------------------------------------------------------------------------------------------ raw transactions


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int  # satoshis
    script: bytes


@dataclass(frozen=True, slots=True)
class Tx:
    txid: str  # hex, display order
    inputs: tuple[tuple[str, int], ...]  # (previous txid hex, vout); coinbase inputs are left out
    outputs: tuple[TxOut, ...]
    by_script: dict[bytes, list[tuple[int, int]]] = field(default_factory=dict, compare=False, repr=False)  # script -> [(vout, value)]

    def outputs_to(self, spk: bytes) -> list[tuple[int, int]]:
        """(vout, value) of the outputs paying ``spk`` (indexed once: payout transactions have thousands)."""
        if not self.by_script and self.outputs:
            for n, o in enumerate(self.outputs):
                self.by_script.setdefault(o.script, []).append((n, o.value))
        return self.by_script.get(spk, [])


class TxDecodeError(ValueError):
    pass


def read_compact_size(raw: "bytes | bytearray | memoryview | mmap.mmap", i: int) -> tuple[int, int]:
    """Bitcoin's CompactSize at ``raw[i]``: (value, next index)."""
    if i >= len(raw):
        raise TxDecodeError("truncated")
    b = raw[i]
    if b < 0xFD:
        return b, i + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[b]
    if i + 1 + size > len(raw):
        raise TxDecodeError("truncated varint")
    return int.from_bytes(raw[i + 1:i + 1 + size], "little"), i + 1 + size


def decode_tx(raw: bytes, expected_txid: str | None = None) -> Tx:
    """Decode a serialized transaction (legacy or BIP-144 segwit). Extra bytes after the lock time
    (Dash special-transaction payloads) are allowed. With ``expected_txid`` the txid is checked."""
    try:
        n = len(raw)
        if n < 10:
            raise TxDecodeError("too short")
        i = 4
        segwit = raw[4] == 0 and raw[5] == 1
        if segwit:
            i = 6
        start_in = i
        n_in, i = read_compact_size(raw, i)
        inputs = []
        for _ in range(n_in):
            prev = raw[i:i + 32]
            vout = int.from_bytes(raw[i + 32:i + 36], "little")
            slen, j = read_compact_size(raw, i + 36)
            i = j + slen + 4
            if i > n:
                raise TxDecodeError("truncated input")
            if not (prev == bytes(32) and vout == 0xFFFFFFFF):
                inputs.append((prev[::-1].hex(), vout))
        n_out, i = read_compact_size(raw, i)
        outputs = []
        for _ in range(n_out):
            if i + 8 > n:
                raise TxDecodeError("truncated output")
            value = int.from_bytes(raw[i:i + 8], "little")
            slen, j = read_compact_size(raw, i + 8)
            if j + slen > n:
                raise TxDecodeError("truncated output script")
            outputs.append(TxOut(value, raw[j:j + slen]))
            i = j + slen
        end_out = i
        if segwit:
            for _ in range(n_in):
                items, i = read_compact_size(raw, i)
                for _ in range(items):
                    ln, i = read_compact_size(raw, i)
                    i += ln
        if i + 4 > n:
            raise TxDecodeError("truncated lock time")
        stripped = raw[:4] + raw[start_in:end_out] + raw[i:] if segwit else raw
    except (IndexError, KeyError) as exc:
        raise TxDecodeError(f"malformed transaction: {exc}") from None
    txid = sha256d(stripped)[::-1].hex()
    if expected_txid is not None and txid != expected_txid.lower():
        raise TxDecodeError(f"transaction data hashes to {txid}, not {expected_txid}")
    return Tx(txid, tuple(inputs), tuple(outputs))


def balance_from_history(spk: bytes, txs: Iterable[Tx]) -> int:
    """What ``spk`` holds after ``txs`` (all transactions touching it up to some height): its outputs
    that no input among ``txs`` spends. Every spend of such an output is itself in the history."""
    funded: dict[tuple[str, int], int] = {}
    spent: set[tuple[str, int]] = set()
    for tx in txs:
        for vout, value in tx.outputs_to(spk):
            funded[(tx.txid, vout)] = value
        spent.update(tx.inputs)
    return sum(v for k, v in funded.items() if k not in spent)


__all__ = ["COIN", "CHAINS", "CORE_CHAIN_NAMES", "ChainParams", "EncodingError", "Tx", "TxDecodeError", "TxOut",
           "balance_from_history", "block_hash_from_header", "btc_to_sats", "chain_params", "decode_tx",
           "electrum_scripthash", "read_compact_size", "script_pubkey"]
