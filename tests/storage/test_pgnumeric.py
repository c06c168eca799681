"""porscan's binary numeric codec (the writers' COPY) against PostgreSQL's own numeric: every value
stored through it reads back, in PostgreSQL's text form, as the value itself, for ints of every
length a base-unit column holds and Decimals of every scale; and it decodes the values asyncpg does."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import asyncpg
import pytest

from scanner.storage.pgnumeric import decode_numeric, encode_numeric


def _ints() -> list[int]:
    rnd = random.Random(78)
    out = [0, 1, -1, 9999, 10_000, 10**4 - 1, 10**8, 10**18, 10**77, 10**78 - 1, -(10**78 - 1)]
    for k in range(1, 79):  # every length of a numeric(78,0), each with its digit groups cut differently
        out += [rnd.randrange(10 ** (k - 1), 10**k), -rnd.randrange(10 ** (k - 1), 10**k), 10 ** (k - 1)]
    return out


def _decimals() -> list[Decimal]:
    rnd = random.Random(4)
    out = [Decimal("0"), Decimal("0.00"), Decimal("-0.5"), Decimal("1.50"), Decimal("1E+5"), Decimal("-12E+3"),
           Decimal("1E-20"), Decimal("0.0001"), Decimal("0.00010"), Decimal("123456789.123456789"),
           Decimal("-99999999999999999999999999999.000001"), Decimal("0E-7"), Decimal("-0"), Decimal("-0.000")]
    for scale in range(0, 40):
        for k in (1, 3, 4, 5, 9, 30):
            coeff = rnd.randrange(10**k) * rnd.choice((1, -1))
            out.append(Decimal(coeff).scaleb(-scale))
    return out


def test_every_value_round_trips_through_the_codec_alone():
    for v in _ints():
        got = decode_numeric(encode_numeric(v))
        assert got == v and got.as_tuple().exponent == 0, v
    for d in _decimals():
        got = decode_numeric(encode_numeric(d))
        assert got == d and got.as_tuple().exponent == min(d.as_tuple().exponent, 0), d  # type: ignore[operator]


def test_values_that_are_not_amounts_are_refused():
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(ValueError):
            encode_numeric(bad)
    for bad in (1.5, "12", True, None):
        with pytest.raises(TypeError):
            encode_numeric(bad)  # type: ignore[arg-type]


def test_the_writers_encoder_gives_each_amount_its_own_encoding_when_one_repeats_the_last():
    from scanner.storage.base import StoreError
    from scanner.storage.postgres import _encode_units

    ints = [v for v in _ints() if v >= 0]
    for v in [x for v in ints for x in (v, v, v + 1, v)]:  # repeats, a neighbour, the value again
        assert _encode_units(v) == encode_numeric(v), v
    for v in (1, 0, 1):
        _encode_units(v)
        with pytest.raises(StoreError):  # equal to the last amount, and still not an int
            _encode_units(True if v else False)  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            _encode_units(Decimal(v))  # type: ignore[arg-type]


def test_postgresql_stores_what_was_sent_and_asyncpg_reads_it_alike(postgres_db):
    ints, decimals = _ints(), _decimals()

    async def run() -> None:
        writer = await asyncpg.connect(postgres_db)
        plain = await asyncpg.connect(postgres_db)
        try:
            await writer.set_type_codec("numeric", encoder=encode_numeric, decoder=decode_numeric,
                                        schema="pg_catalog", format="binary")
            await plain.execute("CREATE TABLE u (i integer, v numeric(78,0)); CREATE TABLE d (i integer, v numeric)")
            await writer.copy_records_to_table("u", records=list(enumerate(ints)))
            await writer.copy_records_to_table("d", records=list(enumerate(decimals)))
            # PostgreSQL's own text of each stored value, against its text of the value sent as text
            stored = await plain.fetch("SELECT i, v::text FROM u ORDER BY i")
            assert [r[1] for r in stored] == [str(v) for v in ints]
            stored = await plain.fetch("SELECT i, v::text AS got, ($1::text[])[i + 1]::numeric::text AS want "
                                       "FROM d ORDER BY i", [str(d) for d in decimals])
            assert [r["got"] for r in stored] == [r["want"] for r in stored]
            assert len(stored) == len(decimals)
            # read back: the writer's decoder gives the values asyncpg's own gives (which may write an
            # integer's trailing zeros as an exponent: 10000 as 1E+4), with the places PostgreSQL shows
            for table, sent in (("u", ints), ("d", decimals)):
                mine = [r[0] for r in await writer.fetch(f"SELECT v FROM {table} ORDER BY i")]
                theirs = [r[0] for r in await plain.fetch(f"SELECT v FROM {table} ORDER BY i")]
                shown = [r[0] for r in await plain.fetch(f"SELECT v::text FROM {table} ORDER BY i")]
                assert mine == theirs == sent
                assert [format(d, "f") for d in mine] == shown
            # the column's precision holds as it does for any client
            with pytest.raises(asyncpg.NumericValueOutOfRangeError):
                await writer.copy_records_to_table("u", records=[(0, 10**78)])
        finally:
            await writer.close()
            await plain.close()

    asyncio.run(run())
