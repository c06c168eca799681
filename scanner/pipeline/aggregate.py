"""Per-asset and per-network totals of a scan, from its stored rows and balance reads. Pure.

Coin keys map to assets (USDT-ERC20 + USDT-TRC20 + ... -> USDT). Sums are kept as integers in each
coin key's base units and turned into exact Decimal coin units only at the end. On-chain amounts
are split by the row's ownership status, never silently merged:

  proven      read on chain, ownership ``verified``
  owner_only  read on chain, owners of a contract wallet proven, not the link
  key_only    read on chain, a key proven, not the address
  unverified  read on chain, ownership failed / unsupported / not checked
  unread_published  the published amount of rows whose balance could not be read (not a zero)

Across those categories the on-chain amount is also split by what the chain says of it: ``staked``
(bonded, validator balances) and ``unbonding`` (leaving the stake) as read; liquid is the rest, over
the rows whose split is known. A row whose split could not be read (``staked``/``unbonding`` None) is
counted in ``split_unknown_rows`` with its amount in ``split_unknown``: it is never passed as liquid.

A wallet (asset, network, token, address) listed twice is counted once on chain, in its best
status, whatever coin key, spelling or height lists it; the published sum keeps every row, as
published, and the duplicates are reported. Listed at two heights, it is counted at the first and
the conflicting heights are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ..amounts import EXACT, exact_sum, from_base_units, parse_amount, shown_places
from ..records import AssetTotal, BalanceRecord, RowRecord, TallyRow

CATEGORIES = ("proven", "owner_only", "key_only", "unverified")
_CATEGORY_OF = {"verified": 0, "owner_only": 1, "key_only": 2}  # anything else: unverified (3)
NOT_AGGREGATED = frozenset({"invalid_row", "skipped"})
UNCONFIGURED = "unconfigured"  # the network of a coin on no configured chain (CoinPlace.network)


@dataclass(frozen=True, slots=True)
class CoinPlace:
    """Where a coin key's amounts go: its asset, network id and decimals (None if unknown)."""

    asset: str
    network: str
    decimals: int | None
    contract: str | None = None  # token contract; coin keys that are aliases share it


_CASE_FREE_PREFIXES = ("bc1", "tb1", "bcrt1", "ltc1", "tltc1", "rltc1", "bitcoincash:", "bchtest:", "bchreg:")


# Case is folded for ASCII letters only: every address format it applies to is ASCII, and it is the
# fold both stores apply when they look for repeated wallets (Store.repeated_wallet_lines), so the two
# never disagree on a stray character (Python folds the Kelvin sign to "k")
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_FOLD)


def canonical_address(address: str) -> str:
    """The form under which two spellings of one address compare equal: EVM hex and bech32 /
    CashAddr addresses are case-insensitive (a single-case spelling is valid either way); base58
    and other encodings are case-sensitive and stay as written."""
    a = address.strip()
    if a[:2] in ("0x", "0X"):
        return _fold(a)
    low = _fold(a)
    if low.startswith(_CASE_FREE_PREFIXES) and (a == low or a == a.upper()):
        return low
    return a


@dataclass(slots=True)
class _CoinAcc:
    rows: int = 0
    rows_read: int = 0
    published_units: int = 0
    published_text: Decimal = Decimal(0)  # coin units, for rows without base units (decimals unknown)
    published_rows: int = 0
    unread_units: int = 0
    unread_text: Decimal = Decimal(0)
    onchain: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # per CATEGORIES, base units
    blocks: set[tuple[int, str | None, bool]] = field(default_factory=set)
    # of onchain, base units: staked, unbonding, amount of unknown split; and the rows of unknown split
    parts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])


@dataclass(slots=True)
class Aggregation:
    """Fed row by row (``add``), in any order; ``totals()`` gives the per-asset records."""

    place_of: Callable[[str], CoinPlace]
    base_unit_file: bool = False  # amounts published in base units (OKX's 7-column era)
    # (coin, network as written) -> the key the coin is summed under (scan: CoinTargets.key_for)
    key_of: Callable[[str, str], str] = field(default=lambda coin, _network: coin.strip().upper())
    coins: dict[str, _CoinAcc] = field(default_factory=dict)
    # (asset, network, contract, canonical address) -> (category, units, coin accumulator, height counted)
    seen: dict[tuple[str, str, str, str], tuple[int, int, "_CoinAcc", int | None]] = field(default_factory=dict)
    duplicates: int = 0
    # wallets listed at more than one height: (asset, network, address) -> heights (counted at the first)
    height_conflicts: dict[tuple[str, str, str], list[int | None]] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    invalid_by_coin: dict[str, int] = field(default_factory=dict)
    # coin -> [{decimals: base units}, Decimal coin units (rows without base units), rows, some amount
    # not in coin units]: summed as integers per row, put in coin units once (``coin_sums``)
    _sums: dict[str, list] = field(default_factory=dict)
    coin_places: dict[str, dict[int, int]] = field(default_factory=dict)  # coin -> decimals shown -> amounts
    # asset -> third-party custodian -> rows, rows_read, published and on-chain amounts (coin units)
    custodians: dict[str, dict[str, dict]] = field(default_factory=dict)
    no_decimals: set[str] = field(default_factory=set)  # base-unit coins whose decimals are unknown: left out of sums
    excess_decimals: int = 0  # rows publishing more decimals than their coin has (summed exactly, not as base units)
    _coins_of: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    read_places: dict[str, CoinPlace] = field(default_factory=dict)  # routed keys -> where they were read
    # lines that may repeat a wallet (Store.repeated_wallet_lines); None: any line may. Every other read
    # row is a wallet's only listing and is counted without remembering it: 10^7 remembered wallets
    # are gigabytes
    repeated: set[int] | None = None

    def add(self, row: RowRecord, bal: BalanceRecord | None) -> None:
        self.add_tally(TallyRow.of(row, bal))

    def add_tally(self, t: TallyRow) -> None:
        """One row with its balance read (``t.balance_status`` None: no balance record)."""
        status = t.status
        self.by_status[status] = self.by_status.get(status, 0) + 1
        coin = self.key_of(t.coin, t.network)
        if status == "invalid_row":
            self.invalid_by_coin[coin] = self.invalid_by_coin.get(coin, 0) + 1
            if self._place(coin).network != UNCONFIGURED:
                # a row of a coin porscan reads that could not be read (its amount or address is not
                # one): expected and not read, so its asset's coverage says so; no amount to sum
                acc = self.coins.get(coin)
                if acc is None:
                    acc = self.coins[coin] = _CoinAcc()
                acc.rows += 1
            return
        if status in NOT_AGGREGATED:
            return
        read_as = coin if t.read_coin is None or "@" not in t.read_coin else self._read_as(coin, t)
        acc = self.coins.get(read_as)
        if acc is None:
            acc = self.coins[read_as] = _CoinAcc()
        acc.rows += 1
        place = self._place(read_as)
        text = t.amount_text
        has_text = bool(text) and not text.isspace()
        published_units = t.amount_base_units
        published_text = None
        if place.decimals is None:
            published_units = None  # base units of unknown size cannot be put in coin units
            if self.base_unit_file:
                self.no_decimals.add(coin)
            elif has_text:
                try:
                    published_text = parse_amount(text)
                except ValueError:
                    published_text = None
        elif published_units is None and not self.base_unit_file and has_text:
            try:  # more decimals than the coin has: no base units, but the published figure still counts
                published_text = parse_amount(text)
                self.excess_decimals += 1
            except ValueError:
                published_text = None
        if published_units is not None:
            acc.published_units += published_units
            acc.published_rows += 1
        elif published_text is not None:
            acc.published_text = EXACT.add(acc.published_text, published_text)
            acc.published_rows += 1
        if has_text:  # a row that publishes no amount is not in the summary's sums
            self._summary_sum(coin, published_units, published_text, place.decimals)
        if not self.base_unit_file and (published_units is not None or published_text is not None):
            shown = self.coin_places.get(coin)
            if shown is None:
                shown = self.coin_places[coin] = {}
            p = shown_places(text)
            shown[p] = shown.get(p, 0) + 1
        onchain = t.onchain_base_units
        if t.custodian:  # held by a third party for the exchange: its own line per asset
            self._custodian(place, t.custodian, published_units, published_text, onchain)
        if onchain is None:  # not read, or no balance record at all
            if published_units is not None:
                acc.unread_units += published_units
            elif published_text is not None:
                acc.unread_text = EXACT.add(acc.unread_text, published_text)
            return
        acc.rows_read += 1
        if t.block_number is not None:
            acc.blocks.add((t.block_number, t.block_hash, bool(t.at_snapshot)))
        category = _CATEGORY_OF.get(status, 3)
        if self.repeated is not None and t.line not in self.repeated:
            acc.onchain[category] += onchain
            self._split(acc, t, onchain)
            return
        # one wallet of one asset on one network counts once, whatever coin key (alias), spelling or
        # height lists it: at two heights it would be the same coins counted twice
        address = canonical_address(t.address or "")
        key = (place.asset, place.network, place.contract or "", address)
        before = self.seen.get(key)
        if before is None:
            self.seen[key] = (category, onchain, acc, t.snapshot_height)
            acc.onchain[category] += onchain
            self._split(acc, t, onchain)
            return
        self.duplicates += 1
        first_category, units, first_acc, height = before
        if t.snapshot_height != height:
            heights = self.height_conflicts.setdefault((place.asset, place.network, address), [height])
            if t.snapshot_height not in heights:
                heights.append(t.snapshot_height)
        if category < first_category:  # the same balance, now with a better proof: move it
            first_acc.onchain[first_category] -= units
            first_acc.onchain[category] += units
            self.seen[key] = (category, units, first_acc, height)

    @staticmethod
    def _split(acc: _CoinAcc, t: TallyRow, onchain: int) -> None:
        if t.staked is not None and t.unbonding is not None:
            acc.parts[0] += t.staked
            acc.parts[1] += t.unbonding
        elif onchain:  # a zero balance has no split to know
            acc.parts[2] += onchain
            acc.parts[3] += 1

    def _read_as(self, coin: str, t: TallyRow) -> str:
        """The key a row is summed under when its balance record says it was read as a ``COIN@NETWORK``
        key (a row routed by its address's shape, plan.route_by_shape), placed where it was read. The
        published summary keeps the row's own coin."""
        key = (t.read_coin or "").strip().upper()
        if key != coin and key not in self.read_places:
            self.read_places[key] = CoinPlace(t.asset or "", t.read_network or "", t.decimals)
        return key

    def _place(self, coin: str) -> CoinPlace:
        return self.read_places.get(coin) or self.place_of(coin)

    def _custodian(self, place: CoinPlace, name: str, units: int | None, text: Decimal | None,
                   onchain: int | None) -> None:
        held = self.custodians.setdefault(place.asset, {}).get(name)
        if held is None:
            held = self.custodians[place.asset][name] = {"rows": 0, "rows_read": 0, "published": Decimal(0),
                                                         "onchain": Decimal(0)}
        held["rows"] += 1
        if units is not None and place.decimals is not None:
            held["published"] = EXACT.add(held["published"], from_base_units(units, place.decimals))
        elif text is not None:
            held["published"] = EXACT.add(held["published"], text)
        if onchain is not None and place.decimals is not None:
            held["rows_read"] += 1
            held["onchain"] = EXACT.add(held["onchain"], from_base_units(onchain, place.decimals))

    def _summary_sum(self, coin: str, units: int | None, text: Decimal | None, decimals: int | None) -> None:
        entry = self._sums.get(coin)
        if entry is None:
            entry = self._sums[coin] = [{}, Decimal(0), 0, False]
        entry[2] += 1
        if units is not None and decimals is not None:
            by_decimals = entry[0]
            by_decimals[decimals] = by_decimals.get(decimals, 0) + units
        elif text is not None:
            entry[1] = EXACT.add(entry[1], text)
        else:
            entry[3] = True  # some amount of this coin cannot be put in coin units

    @property
    def coin_sums(self) -> dict[str, tuple[Decimal | None, int]]:
        """coin -> (its published rows' sum in coin units, None if some amount cannot be put in coin
        units; rows): what the file's summary block is checked against."""
        out: dict[str, tuple[Decimal | None, int]] = {}
        for coin, (by_decimals, text, rows, unknown) in self._sums.items():
            total = text
            for decimals, units in by_decimals.items():
                total = EXACT.add(total, from_base_units(units, decimals))
            out[coin] = (None if unknown else total, rows)
        return out

    def totals(self) -> list[AssetTotal]:
        """One record per (asset, network) and one per asset with network ``*``, sorted."""
        groups: dict[tuple[str, str], list] = {}
        coins_of: dict[tuple[str, str], list[str]] = {}
        for coin, acc in self.coins.items():
            place = self._place(coin)
            for key in ((place.asset, place.network), (place.asset, "*")):
                g = groups.get(key)
                if g is None:
                    g = groups[key] = [0, 0, Decimal(0), [Decimal(0)] * 4, Decimal(0), set(), [Decimal(0)] * 3, 0]
                    coins_of[key] = []
                coins_of[key].append(coin)
                g[0] += acc.rows
                g[1] += acc.rows_read
                g[2] = EXACT.add(g[2], EXACT.add(_units(acc.published_units, place.decimals), acc.published_text))
                g[3] = [EXACT.add(a, _units(b, place.decimals)) for a, b in zip(g[3], acc.onchain)]
                g[4] = EXACT.add(g[4], EXACT.add(_units(acc.unread_units, place.decimals), acc.unread_text))
                g[5] |= acc.blocks
                g[6] = [EXACT.add(a, _units(b, place.decimals)) for a, b in zip(g[6], acc.parts[:3])]
                g[7] += acc.parts[3]
        out = []
        for (asset, network), (rows, read, published, cats, unread, blocks, parts, unknown) in sorted(groups.items()):
            onchain = exact_sum(cats)
            out.append(AssetTotal(
                asset=asset, network=network, rows=rows, rows_expected=rows, rows_read=read,
                published=published, onchain=onchain, proven=cats[0], owner_only=cats[1], key_only=cats[2],
                unverified=cats[3], unread_published=unread,
                blocks=[{"number": n, "hash": h, "at_snapshot": s} for n, h, s in sorted(blocks, key=lambda b: (b[0], str(b[1])))],
                staked=parts[0], unbonding=parts[1], split_unknown=parts[2], split_unknown_rows=unknown))
        self._coins_of = coins_of
        return out

    def coins_in(self, asset: str, network: str) -> list[str]:
        """Coin keys that fed one (asset, network) total (after ``totals()``)."""
        return sorted(self._coins_of.get((asset, network), []))


def _units(units: int, decimals: int | None) -> Decimal:
    # decimals None: only zero can reach here (published units are dropped for such coins); on-chain
    # reads always come with the coin's configured decimals
    return Decimal(units) if decimals is None else from_base_units(units, decimals)
