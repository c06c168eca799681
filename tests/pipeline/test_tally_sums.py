"""The aggregation told which lines can repeat a wallet (``Aggregation.repeated``, from
``Store.repeated_wallet_lines``) sums exactly as the one that remembers every wallet: same totals,
duplicates, conflicting heights and summary sums, on rows that repeat wallets in every way the
aggregation knows (case, coin alias, height, a better proof later, unread repeats)."""

from __future__ import annotations

import random
from decimal import Decimal

from scanner.pipeline.aggregate import Aggregation, CoinPlace
from scanner.records import TallyRow

PLACES = {"ETH": CoinPlace("ETH", "ethereum", 18), "ETH-ERC20": CoinPlace("ETH", "ethereum", 18),
          "BTC": CoinPlace("BTC", "bitcoin", 8), "USDT": CoinPlace("USDT", "tron", 6, "TR7")}
STATUSES = ["verified", "verified", "failed", "key_only", "owner_only", "unsigned", "invalid_row", "skipped"]


def _tallies(n: int, seed: int) -> list[TallyRow]:
    rnd = random.Random(seed)
    pool = [f"0x{rnd.getrandbits(160):040x}" for _ in range(n // 3)] + [f"bc1q{rnd.getrandbits(64):x}" for _ in range(n // 6)]
    out = []
    for line in range(2, n + 2):
        coin = rnd.choice(list(PLACES))
        address = rnd.choice(pool) if rnd.random() < 0.3 else f"0x{rnd.getrandbits(160):040x}"
        if rnd.random() < 0.3:
            address = address.upper().replace("0X", "0x")
        units = rnd.getrandbits(70)
        read = rnd.random() < 0.9
        staked = rnd.choice([0, None, units // 2])
        out.append(TallyRow(
            line=line, coin=coin.lower() if rnd.random() < 0.2 else coin, network="", status=rnd.choice(STATUSES),
            amount_text=f"{units}.{rnd.randrange(100)}" if rnd.random() < 0.1 else str(units),
            amount_base_units=units, custodian="Ceffu" if rnd.random() < 0.05 else "",
            snapshot_height=rnd.choice([100, 100, 100, 101, None]), read_coin=coin, asset=PLACES[coin].asset,
            read_network=PLACES[coin].network, decimals=PLACES[coin].decimals, address=address,
            onchain_base_units=units + rnd.randrange(3) if read else None, block_number=100 if read else None,
            block_hash="0xh" if read else None, at_snapshot=True if read else None, staked=staked,
            unbonding=None if staked is None else 0, balance_status="match" if read else "unread"))
    return out


def _repeats(tallies: list[TallyRow]) -> set[int]:
    """What Store.repeated_wallet_lines gives: read lines whose address, case-folded, is read again."""
    lines: dict[str, list[int]] = {}
    for t in tallies:
        if t.onchain_base_units is not None:
            lines.setdefault((t.address or "").lower(), []).append(t.line)
    return {line for group in lines.values() if len(group) > 1 for line in group}


def _sum(tallies: list[TallyRow], repeated: set[int] | None) -> Aggregation:
    agg = Aggregation(lambda c: PLACES.get(c, CoinPlace(c, "unconfigured", None)), repeated=repeated,
                      key_of=lambda coin, _network: {"ETH-ERC20": "ETH-ERC20"}.get(coin.upper(), coin.upper()))
    for t in tallies:
        agg.add_tally(t)
    return agg


def test_only_the_named_lines_are_remembered_and_the_sums_are_the_same():
    for seed in range(5):
        tallies = _tallies(3000, seed)
        repeated = _repeats(tallies)
        full, light = _sum(tallies, None), _sum(tallies, repeated)
        assert full.duplicates > 20 and full.height_conflicts  # the rows do repeat wallets
        assert light.totals() == full.totals()
        assert (light.duplicates, light.height_conflicts, light.by_status, light.coin_sums, light.coin_places) == (
            full.duplicates, full.height_conflicts, full.by_status, full.coin_sums, full.coin_places)
        assert len(light.seen) < len(full.seen) / 2  # the point: most wallets are not remembered


def test_lines_left_out_of_repeated_are_counted_twice():
    """The set must name every repeat: the check above is not vacuous."""
    tallies = _tallies(3000, 7)
    full, blind = _sum(tallies, None), _sum(tallies, set())
    assert full.duplicates and not blind.duplicates

    def onchain(agg: Aggregation) -> Decimal:
        return sum((t.onchain for t in agg.totals() if t.network == "*"), Decimal(0))

    assert onchain(blind) > onchain(full)


def test_summary_sums_put_base_units_in_coin_units_once_per_decimals():
    agg = Aggregation(lambda c: PLACES[c])
    for line, (coin, units, text) in enumerate([("ETH", 10**18, "1"), ("ETH", 5 * 10**17, "0.5"),
                                                ("BTC", 1, "0.00000001"), ("USDT", None, "")], start=2):
        agg.add_tally(TallyRow(line, coin, "", "verified", text, units, "", 100, None, None, None, None, None, None,
                               None, None, None, None, None, None))
    assert agg.coin_sums == {"ETH": (Decimal("1.5"), 2), "BTC": (Decimal("0.00000001"), 1)}


def test_an_invalid_row_of_a_known_coin_is_expected_and_not_read():
    """A USDT-TRC20 row whose amount is "12..5" is a row of USDT that could not be read: it counts
    in USDT's rows expected (coverage 12 of 13), not as complete; one of an unknown coin does not."""
    from scanner.pipeline.aggregate import Aggregation, CoinPlace
    from scanner.records import TallyRow
    from scanner.storage import BalanceRecord, RowRecord

    places = {"USDT-TRC20": CoinPlace("USDT", "tron", 6)}
    agg = Aggregation(lambda c: places.get(c, CoinPlace(c, "unconfigured", None)))
    for line in range(1, 13):
        agg.add_tally(TallyRow.of(RowRecord(line, "USDT-TRC20", "TRON", f"T{line}", 7, "5", 5_000_000, "verified",
                                            "tron", ""),
                                  BalanceRecord(line, "USDT-TRC20", "tron", "USDT", f"T{line}", 7, 5_000_000,
                                                5_000_000, 6, 7, "0xh", True, "match", "", "ep")))
    agg.add_tally(TallyRow.of(RowRecord(13, "USDT-TRC20", "TRON", "T13", 7, "12..5", None, "invalid_row", "",
                                        "amount: not a number"), None))
    agg.add_tally(TallyRow.of(RowRecord(14, "NOPE", "?", "x", 7, "1", None, "invalid_row", "", "coin"), None))
    star = next(t for t in agg.totals() if t.asset == "USDT" and t.network == "*")
    assert (star.rows_read, star.rows_expected) == (12, 13) and not star.complete
    assert star.published == Decimal(60) and star.figures().difference == 0  # no amount to sum for it
    assert {t.asset for t in agg.totals()} == {"USDT"}
