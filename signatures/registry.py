"""Which scheme checks which coin: the coin-key map of OKX's published files, as data.

Keys are OKX ``coin`` keys (PoR files) and ``network`` labels (auditor files). The table follows
Appendix A of the OKX PoR spec (``PorCoinTypeMap``/``PorCoinAddressTypeMap``); porscan adds
address types the OKX tool lacks (ZEN, ALGO, XTZ, EGLD, NEAR implicit accounts, ...).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SchemeRef:
    family: str  # evm | tron | utxo | okx_ecdsa | ed25519 | eos | starknet | bls
    addr_type: str  # address rule inside the family ("" = none known)


# family, address type, coin keys (whitespace separated). Keys are matched upper-cased.
_TABLE = """
evm ETH AAC_NEW ABSTRACT ACE ACE_MAIN APE_APECHAIN ARBITRUM ARBITRUM_NOVA ASTR_ASTAREVM AVAXC
 BABYDOGE-BSC BASE BERA BLUR BNB_BSC BSC CELO CFX_EVM CHILIZ CHZ CMT CORE CRONOS CTXC DYM DYM_TEST
 ETC ETH ETH-ARBITRUM ETH-BASE ETH-LINEA ETH-OPTIMISM ETH-ZKSYNC2 ETHF ETHW ETH_ARBITRUM ETH_BLAST
 ETH_KATANA ETH_LINEA ETH_LSK ETH_MEGA ETH_MODE ETH_OPTIMISM ETH_UNICHAIN ETH_WORLD ETH_ZKSYNC EVMOS
 FAN FITFI_STEP FLARE FLR FRAX_EVM FSN FTM_OPERA G GLRM GUSDT_STABLE G_GRAVITY HOO HT_HECO HYPEREVM
 INT_NEW IOTX IP_STORY ISLM KAIA KCC KLAY LINK LINKEYE LTK MANTA2 MATIC MERLIN MERLIN_BTC METIS
 METIS_MAINNET MONAD MOONBEAM MOVR MXC_MXC OAS OASYS OKB OKB-X1 OKB-X1-ETH OKB-X1-USDC OKB-X1-USDT
 OKB_X1 OKB_X1_TEST OMN OPTIMISM OP_BNB OVER PEOPLE PLS POLY-USDC POLY-USDC-3359 POLYGON
 POLYGON_ZKEVM POLY_OPERA RON RONIN SCROLL SEI_EVM SENTIENT SHIB SONIC SOPHON STC_EVM STORY S_SONIC
 TAIKO TFUEL THETA TRUE UNI UNICHAIN USDC USDC-ARBITRUM USDC-ARBITRUM-NATIVE USDC-AVAXC USDC-BASE
 USDC-OPTIMISM USDC-OPTIMISM-FF85 USDG-ERC20 USDG-XLAYER USDT-ARBITRUM USDT-AVAXC USDT-ERC20
 USDT-OPTIMISM USDT-POLY VNT WEMIX3 WIN WTC XETA XLAYER XPL YOU ZETA ZKSYNC2
 X-LAYER X_LAYER ETHEREUM ERC20 BNB AVAX-C AVALANCHE ARBITRUM-ONE LINEA ZKSYNC
evm FIL FEVM FIL-EVM FIL_EVM
evm LAT LAT
bls BETH BETH
tron TRX TRON TRX USDC-TRC USDT-TRC20 TRC20
utxo BTC BTC USDT-OMNI BSV BCHSV OMNI
utxo BCH BCH BCHN XEC BCHA
utxo BCD BCD
utxo BTG BTG
utxo DASH DASH
utxo DCR DCR
utxo DGB DGB
utxo DOGE DOGE
utxo LTC LTC
utxo QTUM QTUM
utxo RVN RVN
utxo ZEC ZEC ZCASH
utxo ZEN ZEN
okx_ecdsa - NULS RIPPLE XRP AVAX-X
okx_ecdsa ATOM ATOM COSMOS
okx_ecdsa CFX CFX
okx_ecdsa CRO CRO
okx_ecdsa DORA DORA
okx_ecdsa DYDX DYDX
okx_ecdsa ELF ELF
okx_ecdsa ETH BABYDOGE-KIP20 BCHK-KIP20 DOTK-OKC20 ETCK-KIP20 ETHK-OKC20 FILK-OKC20 LINKK-OKC20
 LTCK-OKC20 OKB-OKC20 OKC OKT SHIBK-KIP20 TRXK-KIP20 UNIK-OKC20 USDC-OKC20 USDT-OKC20 XRPK-KIP20
okx_ecdsa FIL FIL
okx_ecdsa FLOW FLOW
okx_ecdsa ICX ICX
okx_ecdsa INJ INJ
okx_ecdsa LUNC LUNC
okx_ecdsa ONE HARMONY_ONE ONE
okx_ecdsa STX STX
okx_ecdsa TERRA LUNA_TERRA TERRA
okx_ecdsa TIA TIA
ed25519 ADA ADA CARDANO
ed25519 ALGO ALGO USDT-ALGO ALGORAND
ed25519 APTOS APTOS APTOS-FA USDC-APTOS USDT-APTOS APT
ed25519 SS58:0 ASSET-HUB ASSET_HUB DOT POLKADOT
ed25519 SS58:2 ASSET_HUB_KSM KSM KUSAMA
ed25519 SS58:2135 ENJIN
ed25519 SS58:30 PHALA PHA_KHA
ed25519 SS58:42 CLV AVAIL
ed25519 SS58:5 SDN
ed25519 SS58:36 CFG_DOT
ed25519 SS58:1110 EFI_DOT
ed25519 SS58:8 KARU
ed25519 EGLD EGLD ERD
ed25519 NEAR NEAR
ed25519 SOL FOGO SOL USDC-SPL USDG USDT-SPL SOLANA SPL
ed25519 STELLAR STELLAR XLM PI
ed25519 SUI SUI USDC-SUI
ed25519 TON TON TONCOIN-NEW TONCOIN_NEW USDT-TON TONCOIN
ed25519 XTZ TEZOS XTZ
ed25519 - ACA ASTR CC_CANTON CSPR ENJ HBAR HEDERA ICP IOST IOTA IOTA_NEW IOTA_STARDUST KDA KLY LSK
 POKT SC VENOM
eos EOS EOS A WAXP VAULTA WAX
starknet - STARK STARKNET STARKNET-ETH
"""


def _parse(table: str) -> dict[str, SchemeRef]:
    out: dict[str, SchemeRef] = {}
    family = addr = ""
    for raw in table.strip("\n").splitlines():
        if raw.startswith(" "):
            keys = raw.split()
        else:
            family, addr, *keys = raw.split()
            if addr == "-":
                addr = ""
        for key in keys:
            key = key.upper()
            if key in out:
                raise ValueError(f"coin key {key} listed twice in the scheme table")
            out[key] = SchemeRef(family, addr)
    return out


SCHEMES: dict[str, SchemeRef] = _parse(_TABLE)

# Coin keys that name an asset on several chains: the network column decides.
AMBIGUOUS_COINS = frozenset({"USDT", "USDC", "ETH", "USDG", "OKB", "BNB"})


def resolve(coin: str, network: str, keyed_by_network: bool = False) -> tuple[SchemeRef | None, str]:
    """Find the scheme of a row; returns ``(scheme or None, the key that matched)``.

    PoR files are keyed by ``coin`` (as OKX's tool does), falling back to ``network``; for coins
    that name an asset rather than a chain (``USDT``, ``USDC``, ...) a known network decides.
    Auditor files are keyed by ``network``, falling back to ``coin``.
    """
    c = coin.strip().upper()
    n = network.strip().upper()
    order = (n, c) if keyed_by_network or (c in AMBIGUOUS_COINS and n in SCHEMES) else (c, n)
    for key in order:
        if key and key in SCHEMES:
            return SCHEMES[key], key
    if c == "USDT":  # historical OKX files: bare USDT is Omni on Bitcoin
        return SchemeRef("utxo", "BTC"), "USDT"
    return None, ""
