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


# ---------------------------------------------------------------------------------------------------
# Coin names by rule. Exchanges write a coin name as an asset plus, often, a chain hint: HTX's
# ``HT-ETH``, ``USDT-Avalanche C-Chain``, ``BTC-TRC20``; others ``ERC20-USDT``, ``USDT_BEP20``. A
# name the table above does not know is split at a separator into (asset, hint); the hint names a
# chain (table below), and the chain gives the scheme. The address's format must agree with it. A
# name that carries no hint resolves by the address's format alone, and says so.
# ---------------------------------------------------------------------------------------------------

# network id (scanner/config/networks.toml vocabulary), family, address type, native asset, aliases. Aliases
# are matched lower-case with everything but letters and digits removed ("Avalanche C-Chain" ->
# "avalanchecchain").
_CHAIN_TABLE = """
ethereum evm ETH ETH eth erc20 ethereum ether
arbitrum evm ETH ETH arbitrum arb arbitrumone arbitrum1
optimism evm ETH ETH optimism op
base evm ETH ETH base
linea evm ETH ETH linea
zksync evm ETH ETH zksync zksyncera zksync2 era
polygon evm ETH MATIC polygon matic pol polygonpos
bsc evm ETH BNB bsc bep20 bnbchain bnbsmartchain binancesmartchain
avalanche evm ETH AVAX avalanche avaxc avalanchec avalanchecchain cchain avax
xlayer evm ETH OKB xlayer x1
heco evm ETH HT heco hrc20 hecochain
bttc evm ETH BTT bttc bittorrent bittorrentchain
ethereum-classic evm ETH ETC etc ethereumclassic
fantom evm ETH FTM fantom ftm opera
tron tron TRX TRX tron trc20 trc10 trx
bitcoin utxo BTC BTC btc bitcoin omni brc20
solana ed25519 SOL SOL sol solana spl
algorand ed25519 ALGO ALGO algo algorand asa
stellar ed25519 STELLAR XLM xlm stellar
eos eos EOS EOS eos vaulta
"""


@dataclass(frozen=True, slots=True)
class Chain:
    id: str  # network id, as in scanner/config/networks.toml
    scheme: SchemeRef
    native: str  # the chain's own coin


def _parse_chains(table: str) -> dict[str, Chain]:
    out: dict[str, Chain] = {}
    for raw in table.strip("\n").splitlines():
        nid, family, addr, native, *aliases = raw.split()
        chain = Chain(nid, SchemeRef(family, addr), native)
        for alias in aliases:
            if alias in out:
                raise ValueError(f"chain alias {alias} listed twice")
            out[alias] = chain
    return out


CHAIN_ALIASES: dict[str, Chain] = _parse_chains(_CHAIN_TABLE)
CHAINS: dict[str, Chain] = {c.id: c for c in CHAIN_ALIASES.values()}


def _folded(text: str) -> str:
    """How hints compare: lower case, letters and digits only ("Avalanche C-Chain" -> "avalanchecchain")."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def chain_alias(text: str) -> Chain | None:
    return CHAIN_ALIASES.get(_folded(text))


_B58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_B32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def address_shape(address: str) -> str:
    """A coarse, cheap reading of an address's format: which family's it can be, without checksums
    (the verifier checks those). ``evm`` (0x + 40), ``bls`` (0x + 96: a validator key), ``hex``
    (other 0x), ``tron`` (T + 33, or 41 + 40 hex), ``bitcoin`` (1/3 base58, bc1),
    ``algorand`` (58 base32), ``stellar`` (G + 55 base32), ``base58`` (32-44 base58: a 32-byte key
    such as Solana's), else ``other``."""
    a = address.strip()
    n = len(a)
    head = a[:2]
    # by prefix and length alone for the formats of most rows (it runs once per row): the verifier
    # rejects a bad character anyway, and a misread shape can only pick a rule that then fails
    if head in ("0x", "0X"):
        return "evm" if n == 42 else "bls" if n == 98 else "hex"
    first = a[:1]
    if first == "T" and n == 34:
        return "tron"
    if head == "41" and n == 42 and _HEXDIGITS.issuperset(a):
        return "tron"
    if first in ("1", "3") and 26 <= n <= 35 and _B58.issuperset(a):
        return "bitcoin"
    if a[:3].lower() == "bc1":
        return "bitcoin"
    if n == 58 and _B32.issuperset(a):
        return "algorand"
    if first == "G" and n == 56 and _B32.issuperset(a):
        return "stellar"
    if 32 <= n <= 44 and _B58.issuperset(a):
        return "base58"
    return "other"


# Shapes that settle the family: a row whose table scheme is of another family is resolved again
# by rule (HTX's ``BETH`` rows hold 0x-addresses of ERC-20 BETH, not validator keys). Owner-mode
# EVM rows carry a validator key (``bls``) as their address.
_SHAPE_FAMILIES: dict[str, frozenset[str]] = {
    "evm": frozenset({"evm", "okx_ecdsa", "ed25519", "starknet"}),
    "bls": frozenset({"bls", "evm"}),
    "tron": frozenset({"tron"}),
}
# The chain a shape alone implies, when the name gives none.
_SHAPE_SCHEMES: dict[str, tuple[SchemeRef, str]] = {
    "evm": (SchemeRef("evm", "ETH"), ""),  # any EVM chain: the signature does not say which
    "tron": (SchemeRef("tron", "TRX"), "tron"),
    "bitcoin": (SchemeRef("utxo", "BTC"), "bitcoin"),
    "algorand": (SchemeRef("ed25519", "ALGO"), "algorand"),
    "stellar": (SchemeRef("ed25519", "STELLAR"), "stellar"),
}
_SEPARATORS = frozenset("-_ /.:")
# Families whose table keys name a validator's key, not a chain's wallet: the same name is also a
# token's on other chains (HTX's BETH rows hold ERC-20 BETH at 0x-addresses), so an address of
# another format resolves by rule instead of failing the validator rule.
_ALSO_TOKEN_NAMES = frozenset({"bls"})


def fits(scheme: SchemeRef, shape: str) -> bool:
    families = _SHAPE_FAMILIES.get(shape)
    return families is None or scheme.family in families


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a coin name (with its network column and the address's shape) means."""

    scheme: SchemeRef | None
    asset: str  # upper-case asset symbol the name counts towards ("USDT" for "USDT-Avalanche C-Chain")
    chain: str  # network id when the name or address tells it, else ""
    how: str  # "table" | "name" | "address" | "" (unresolved)
    note: str = ""  # said on every row resolved this way
    reason: str = ""  # why unresolved


# Hints that may stand *before* the asset ("ERC20-USDT", "TRC20_USDT"): token standards only. A
# chain's coin in front ("ETH-BUY-BACK") names the asset, not the chain.
_PREFIX_HINTS = frozenset({"erc20", "trc20", "trc10", "bep20", "hrc20", "spl", "omni", "brc20", "asa"})


def _split_name(name: str) -> list[tuple[str, str]]:
    """(asset, hint) candidates: a chain hint after a separator first, then a token standard before one."""
    cuts = [i for i, ch in enumerate(name) if ch in _SEPARATORS]
    out = [(name[:i].strip(), name[i + 1:].strip()) for i in cuts]
    out += [(name[i + 1:].strip(), name[:i].strip()) for i in cuts
            if _folded(name[:i]) in _PREFIX_HINTS]
    return [(a, h) for a, h in out if a and h]


def _hints(name: str) -> list[tuple[str, Chain | None, SchemeRef]]:
    """(asset, chain, scheme) for each split of the name whose other part names a chain: by the
    chain table (which also gives the network), else by the scheme table (the scheme only)."""
    out = []
    for asset, hint in _split_name(name):
        chain = chain_alias(hint)
        scheme = chain.scheme if chain else SCHEMES.get(hint.upper())
        if scheme is not None:
            out.append((asset, chain, scheme))
    return out


def resolve_name(coin: str, network: str, address: str, keyed_by_network: bool = False) -> Resolution:
    """Resolve a row's coin name: the table first, then the name's chain hint, then the address's
    format. Pure; the same answer for the same (coin, network, shape of address)."""
    shape = address_shape(address)
    name = coin.strip()
    scheme, key = resolve(coin, network, keyed_by_network)
    hints = _hints(name)
    fitting = [h for h in hints if fits(h[2], shape)]
    # The table's rule stands when the address fits it, and for the names the table calls
    # ambiguous (bare USDT, ETH, ...): there the network column decides, never a guess from the
    # address, so a bare ``USDT`` row with a 0x-address fails on the table's Omni rule as before.
    if scheme is not None and (fits(scheme, shape) or key in AMBIGUOUS_COINS):
        chain = chain_alias(key) if key else None
        asset, hinted_chain = (fitting[0][0], fitting[0][1]) if fitting else (name, None)
        chain = chain or hinted_chain or (chain_alias(network) if network else None)
        return Resolution(scheme=scheme, asset=asset.upper(), chain=chain.id if chain else "", how="table")
    if fitting:
        asset, chain, hinted = fitting[0]
        return Resolution(scheme=hinted, asset=asset.upper(), chain=chain.id if chain else "", how="name",
                          note="" if chain else f"chain of {name!r} known by its signature rule only, not as a network")
    # A name that names a chain (a key of the table: TON, LTC, TRX, USDT-TRC20; or a chain hint in
    # the name), on an address of another format, is a contradiction, not a name to guess from the
    # network column or the address: the named chain's rule is applied, and it fails on the address.
    # Guessing would verify a Tron key for a row that claims TON while its balance is read on TON.
    if scheme is not None and scheme.family not in _ALSO_TOKEN_NAMES:
        chain = chain_alias(key)
        return Resolution(scheme=scheme, asset=name.upper(), chain=chain.id if chain else "", how="table")
    if hints:
        asset, chain, hinted = hints[0]
        return Resolution(scheme=hinted, asset=asset.upper(), chain=chain.id if chain else "", how="name")
    if network:
        chain = chain_alias(network)
        if chain is not None and fits(chain.scheme, shape):
            return Resolution(scheme=chain.scheme, asset=name.upper(), chain=chain.id, how="name")
    by_shape = _SHAPE_SCHEMES.get(shape)
    if by_shape is not None:
        shape_scheme, chain_id = by_shape
        where = f"chain {chain_id}" if chain_id else "an EVM chain; the name does not say which"
        return Resolution(scheme=shape_scheme, asset=name.upper(), chain=chain_id, how="address",
                          note=f"coin name {name!r} names no chain; resolved by address format only ({where})")
    return Resolution(scheme=None, asset=name.upper(), chain="", how="",
                      reason=f"coin name {name!r} names no chain porscan knows and the address format does not tell one")
