"""Coin names by rule on the balance side, rows with no height or amount, and summary families.

Pure parts only (no chain): what porscan reads a name as, at which height a row with none is read,
and how a summary block is set against its detail rows.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from scanner.amounts import rounding_slack
from scanner.config.assets import default_book
from scanner.pipeline.balances import Job, fill_heights, one_height
from scanner.pipeline.ingest import ReserveRow, RowError, SummaryRow, parse_detail_line, read_head
from scanner.config.networks import CoinTarget, CoinTargets, RuleDecimals, load_coins
from scanner.pipeline.reconcile import check_summary
from signatures.registry import address_shape

EVM = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def coins() -> CoinTargets:
    return load_coins()


# ------------------------------------------------------------------------------- address shapes

@pytest.mark.parametrize("address,shape", [
    (EVM, "evm"), ("0X" + "AB" * 20, "evm"), ("0x" + "ab" * 48, "bls"), ("0x" + "ab" * 32, "hex"),
    ("0x" + "zz" * 20, "evm"), ("TDToUxX8sH4z6moQpK3ZLAN24eupu2ivA4", "tron"), ("41" + "ab" * 20, "tron"),
    ("143gLvWYUojXaWZRrxquRKpVNTkhmr415B", "bitcoin"), ("3EpyhpDRu2wz5LtS4sPAmXaGozuxYWdRkN", "bitcoin"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bitcoin"),
    ("J4AEINCSSLDA7LNBNWM4ZXFCTLTOZT5LG3F5BLMFPJYGFWVCMU37EZI2AM", "algorand"),
    ("GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7", "stellar"),
    ("88xZ2ADy6H5h3rW1vHyjoA5Eo3NjjAmLRgdGHHLumHzv", "base58"), ("rAnything", "other"), ("", "other"),
])
def test_address_shape(address, shape):
    assert address_shape(address) == shape


# ------------------------------------------------------------------------ names on the balance side

@pytest.mark.parametrize("name,network,asset,contract_of", [
    ("USDT-ETH", "ethereum", "USDT", "USDT-ERC20"),
    ("USDT-Avalanche C-Chain", "avalanche", "USDT", "USDT-AVAXC"),
    ("ERC20-USDT", "ethereum", "USDT", "USDT-ERC20"),
    ("USDT-SOL", "solana", "USDT", "USDT-SPL"),
    ("USDT (Arbitrum)", "arbitrum", "USDT", "USDT-ARBITRUM"),
])
def test_a_name_reads_the_entry_of_its_asset_on_its_chain(coins, name, network, asset, contract_of):
    target = coins.get(name)
    assert target is not None, coins.why_not(name)
    assert (target.network, target.asset) == (network, asset)
    assert (target.contract, target.decimals) == (coins[contract_of].contract, coins[contract_of].decimals)
    assert "by its name" in coins.notes[name.upper()]


def test_a_chains_own_coin_by_name(coins):
    target = coins.get("ETH-Optimism")  # in coins.toml as ETH-OPTIMISM: exact, case-insensitive
    assert (target.network, target.contract) == ("optimism", None)
    target = coins.get("AVAX-Avalanche")
    assert target is not None and (target.network, target.asset, target.contract) == ("avalanche", "AVAX", None)


def test_unresolved_names_say_why(coins):
    assert coins.get("USDC-Polygon") is None  # two USDC tokens on polygon: porscan does not pick one
    assert "several tokens" in coins.why_not("USDC-Polygon") and "POLY-USDC" in coins.why_not("USDC-Polygon")
    assert coins.get("FOO-ETH") is None and "no token contract for FOO on ethereum" in coins.why_not("FOO-ETH")
    assert coins.get("ETH-BTTC") is None and "bttc" in coins.why_not("ETH-BTTC")
    assert coins.get("NOTHING") is None and "NOTHING" in coins.why_not("NOTHING")


def test_network_column_says_the_chain_of_address_lists(coins):
    assert coins.key_for("USDT", "ETH", keyed_by_network=True) == "USDT@ETH"
    assert coins.get("USDT@ETH").contract == coins["USDT-ERC20"].contract
    assert coins.get(coins.key_for("BNB", "BSC", True)).network == "bsc"
    # ETH on BSC is a token, not Ethereum's coin: the network column wins over the coin key
    key = coins.key_for("ETH", "BSC", True)
    assert key == "ETH@BSC" and (coins.get(key) is None or coins.get(key).network == "bsc")
    # a token on a chain named by its new name: Tether's USDT on EOS, whose network is now called Vaulta
    assert coins.get(coins.key_for("USDT", "Vaulta", True)).contract == coins["USDT-EOS"].contract
    # files keyed by coin keep their coin keys
    assert coins.key_for("USDT-TRC20", "TRON", False) == "USDT-TRC20"
    assert coins.key_for("ETH", "", True) == "ETH"


def _read_on(coins, coin: str, network: str):
    target = coins.get(coins.key_for(coin, network, keyed_by_network=True))
    return None if target is None else (target.network, target.asset, target.contract)


@pytest.mark.parametrize("coin,network,chain", [
    ("ETH", "Arbitrum One", "arbitrum"),  # a chain's alias, not a coins.toml key
    ("ETH", "ZKSYNCERA", "zksync"),
    ("ETH", "OPTIMISM", "optimism"),
    ("DOT", "DOT", "polkadot"),  # auditor files name a chain by its own coin's key
    ("ADA", "ADA", "cardano"),
    ("DOGE", "DOGE", "dogecoin"),
    ("XRP", "XRP", "xrp"),
    ("LTC", "LTC", "litecoin"),
    ("EOS", "Vaulta", "eos"),  # the EOS network renamed itself Vaulta in 2025; OKX's files say so
])
def test_the_network_column_decides_the_chain_never_the_coin(coins, coin, network, chain):
    assert _read_on(coins, coin, network) == (chain, coin, None), coins.why_not(coins.key_for(coin, network, True))
    assert "by its network" in coins.notes[coins.key_for(coin, network, True)]


@pytest.mark.parametrize("coin,network,why", [
    # each coin names a chain of its own, but the network column says where the wallet is: reading the
    # coin's chain would count another chain's balance as this row's reserves
    ("BTC", "BSC", "no token contract for BTC on bsc"),
    ("MATIC", "ETH", "no token contract for MATIC on ethereum"),
    ("TRX", "BSC", "no token contract for TRX on bsc"),
    ("ETC", "OKC", "no token contract for ETC on oktc"),
    ("ETH", "STARKNET", "network 'STARKNET' names no chain porscan can read"),
    ("WAXP", "WAX", "network 'WAX' names no chain porscan can read"),  # WAX is its own chain, not EOS
    ("USDT-TRC20", "ETH", "names chain tron, its network column 'ETH' names ethereum"),
])
def test_a_coin_the_network_column_does_not_carry_is_not_read_elsewhere(coins, coin, network, why):
    assert _read_on(coins, coin, network) is None
    assert why in coins.why_not(coins.key_for(coin, network, True))


def test_decimals_follow_the_key(coins):
    dec = RuleDecimals(default_book().decimals_map(), coins)
    assert dec.get("USDT-ETH") == 6
    assert dec.for_row("USDT", "MATIC", True) == coins["USDT-POLY"].decimals
    assert dec.for_row("USDT", "", False) == 6  # the asset's decimals when no chain is named


def test_coin_targets_survive_pickling_for_worker_processes(coins):
    import pickle

    copy = pickle.loads(pickle.dumps(RuleDecimals({}, coins)))
    assert copy.get("USDT-ETH") == 6


# ---------------------------------------------------------------------------- rows with no height

def _jobs(*lines: int) -> list[Job]:
    return [Job(n, "x", f"a{n}", None, "") for n in lines]


def test_rows_without_height_get_their_networks_one_height():
    coins = CoinTargets({"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18),
                         "HT-ETH": CoinTarget("HT-ETH", "ethereum", "HT", "0xht", 18),
                         "TRX": CoinTarget("TRX", "tron", "TRX", None, 6)})
    groups = {("ETH", 100): _jobs(1, 2), ("HT-ETH", None): _jobs(3), ("TRX", None): _jobs(4)}
    out, notes = fill_heights(groups, coins)
    assert set(out) == {("ETH", 100), ("HT-ETH", 100), ("TRX", None)}
    assert "read at 100" in notes["ethereum"] and "latest block" in notes["tron"]
    # the summary block may give the height
    out, notes = fill_heights(groups, coins, {"TRX": 7})
    assert ("TRX", 7) in out and "read at 7" in notes["tron"]


def test_two_heights_for_a_network_leave_the_row_at_latest_and_say_so():
    coins = CoinTargets({"ETH": CoinTarget("ETH", "ethereum", "ETH", None, 18)})
    out, notes = fill_heights({("ETH", 1): _jobs(1), ("ETH", 2): _jobs(2), ("ETH", None): _jobs(3)}, coins)
    assert out[("ETH", None)][0].line == 3 and "several (1, 2)" in notes["ethereum"]
    assert one_height({5}) == 5 and one_height({5, 6}) is None and one_height(None) is None


# -------------------------------------------------------------------------- '-' in published files

HTX_HEADER = "coin,address,snapshot height,balance,message,signature"


def test_dash_means_not_published(write_csv):
    head = read_head(write_csv(f"{HTX_HEADER}\nETH,{EVM},1,1,m,\n"))
    row = parse_detail_line(f"HT-ETH,{EVM},-,-,King will be back!,-", 2, head.layout)
    assert isinstance(row, ReserveRow)
    assert (row.amount, row.amount_text, row.snapshot_height, row.signature1) == (None, "", None, "")
    # an empty amount is not "left out on purpose": it stays an unreadable row
    bad = parse_detail_line(f"ETH,{EVM},1,,m,", 3, head.layout)
    assert isinstance(bad, RowError) and bad.field == "amount"


# ------------------------------------------------------------------------------ summary families

def _summary(*rows: tuple[str, str]) -> list[SummaryRow]:
    out = []
    for i, (coin, amount) in enumerate(rows, 2):
        agg = coin.endswith("(ALL)")
        out.append(SummaryRow(i, coin[:-5] if agg else coin, agg, None, Decimal(amount), amount))
    return out


def test_all_row_against_the_rows_listed_under_it():
    summary = _summary(("ETH(ALL)", "30.00"), ("ETH", "10.00"), ("stETH", "20.00"), ("USDT(ALL)", "5"), ("USDT-ETH", "5"))
    sums = {"ETH": (Decimal("10.001"), 2), "STETH": (Decimal("20"), 1), "USDT-ETH": (Decimal("5"), 1)}
    checks = {c.coin: c for c in check_summary(summary, sums, default_book(), slack={"ETH": Decimal("0.001")})}
    assert checks["ETH(ALL)"].status == "match" and "stETH" in checks["ETH(ALL)"].note
    assert checks["USDT(ALL)"].status == "match"  # by asset: USDT-ETH counts towards USDT


def test_listed_rows_that_do_not_add_up_are_not_taken_as_the_family():
    """OKX lists every network row after its (ALL) rows: they do not add up to USDT(ALL), so the
    family is the asset's coins."""
    summary = _summary(("ETH(ALL)", "6"), ("USDT(ALL)", "100"), ("USDT-TRC20", "60.0000"), ("ETH", "6.5000"),
                       ("USDT-ERC20", "40.0000"))
    sums = {"USDT-TRC20": (Decimal("60"), 1), "USDT-ERC20": (Decimal("40"), 1), "ETH": (Decimal("6.5"), 1)}
    checks = {c.coin: c for c in check_summary(summary, sums, default_book())}
    assert checks["USDT(ALL)"].status == "match" and "as the summary lists it" not in checks["USDT(ALL)"].note
    assert checks["ETH(ALL)"].status == "match"  # truncated: OKX's integer part


def test_tolerance_comes_from_the_published_precision():
    summary = _summary(("ETH", "3484.26"))
    three_rows = {"ETH": (Decimal("3484.27"), 3)}
    slack = {"ETH": rounding_slack({2: 3})}  # three detail figures of 2 decimals: 0.015
    assert check_summary(summary, three_rows, default_book(), slack=slack)[0].status == "match"
    assert check_summary(summary, three_rows, default_book())[0].status == "mismatch"  # exact rows: no slack
    far = _summary(("ETH", "3484.24"))  # 0.03 > 0.005 + 0.015
    assert check_summary(far, three_rows, default_book(), slack=slack)[0].status == "mismatch"


def test_summary_row_spelt_otherwise_than_its_detail_rows():
    summary = _summary(("USDT-ERC20", "37932861.01"))
    sums = {"USDT-ETH": (Decimal("37932861.02"), 2)}
    check = check_summary(summary, sums, default_book(), slack={"USDT-ETH": rounding_slack({2: 2})})[0]
    assert check.status == "match" and "USDT-ETH" in check.note


def test_no_detail_rows_is_still_a_mismatch():
    check = check_summary(_summary(("jUSDT-TRC20", "11700532.98")), {}, default_book())[0]
    assert check.status == "mismatch" and "no detail rows" in check.note


def test_summary_and_detail_names_in_either_order():
    summary = _summary(("USDC(ALL)", "2906000"), ("SOL-USDC", "2906000"))
    sums = {"USDC-SOL": (Decimal("2906000"), 1)}
    checks = {c.coin: c for c in check_summary(summary, sums, default_book())}
    assert checks["SOL-USDC"].status == "match" and "USDC-SOL" in checks["SOL-USDC"].note
    assert checks["USDC(ALL)"].status == "match"


def test_the_summarys_grouping_counts_even_when_a_listed_row_is_stale():
    """ETH(All) = ETH + Morpho-ETH + stETH by their detail rows, though the summary's own ETH row is
    stale: the family agrees, the stale row does not."""
    summary = _summary(("ETH(ALL)", "117301.06"), ("ETH", "9529.23"), ("Morpho-ETH", "100000.00"), ("stETH", "7632.32"))
    sums = {"ETH": (Decimal("9668.74"), 3), "MORPHO-ETH": (Decimal("100000.00"), 1), "STETH": (Decimal("7632.32"), 1)}
    slack = {k: rounding_slack({2: n}) for k, (_, n) in sums.items()}
    checks = {c.coin: c for c in check_summary(summary, sums, default_book(), slack=slack)}
    assert checks["ETH(ALL)"].status == "match" and "Morpho-ETH" in checks["ETH(ALL)"].note
    assert checks["ETH"].status == "mismatch"


def test_rows_published_with_no_address_are_named():
    summary = _summary(("BTC(ALL)", "20914.70"), ("BTC", "19195.44"), ("ThirdParty", "1719.27"))
    checks = {c.coin: c for c in check_summary(summary, {"BTC": (Decimal("19195.44"), 2)}, default_book())}
    assert checks["BTC(ALL)"].status == "mismatch" and "no detail rows: ThirdParty 1719.27" in checks["BTC(ALL)"].note
    assert checks["ThirdParty"].status == "mismatch" and "no detail rows" in checks["ThirdParty"].note


@pytest.mark.parametrize("text,decimals", [("25736.87098", 5), ("308622620933812.00", 0), ("1.5", 1),
                                           ("123456789012345678", -3), ("0.356881257500858402", 15)])
def test_a_figure_is_precise_to_its_decimals_or_its_15th_significant_digit(text, decimals):
    from scanner.amounts import shown_places

    assert shown_places(text) == decimals


def test_a_double_printed_with_two_zeros_agrees_within_its_15_digits():
    summary = _summary(("HTX-TRC20", "308622620933812.00"))
    sums = {"HTX-TRC20": (Decimal("308622620933811.57"), 3)}
    assert check_summary(summary, sums, default_book())[0].status == "match"
    assert check_summary(_summary(("HTX-TRC20", "308622620933813.00")), sums, default_book())[0].status == "mismatch"


def test_underscore_height_is_no_height():
    from scanner.pipeline.ingest import parse_height

    assert parse_height("_") is None and parse_height("-") is None and parse_height("845930") == 845930
