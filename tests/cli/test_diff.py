"""``porscan diff`` on two real scans (anvil + Knots) of two reserve files: the sample world's and a
copy with rows removed, one row's address changed and one EVM address re-spelt in lower case."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from decimal import Decimal

import pytest

from scanner.amounts import exact_sum
from scanner.cli.main import main
from support.common import need_anvil

NEW_ADDRESS = "0x" + "aB" * 20  # a mixed-case spelling nobody funded
ASSET_OF = {"ETH": "ETH", "ETH-ARBITRUM": "ETH", "BTC": "BTC", "USDT-ERC20": "USDT"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path_factory.mktemp("diffworld"), seed=11, litecoin=False, tron_solana=False)
    yield w
    w.stop()


def _split(text: str) -> tuple[str, list[str]]:
    """The reserve file's summary block (up to the blank line) and its row lines."""
    head, _, rows = text.partition("\n\n")
    return head + "\n\n", rows.splitlines()


def _plain_rows(lines: list[str]) -> dict[str, list[tuple[int, list[str]]]]:
    """Rows a test may touch, per coin: a well-formed address listed once, a plain amount."""
    cells = [(i, next(csv.reader([line]))) for i, line in enumerate(lines[1:], start=1)]
    count: dict[str, int] = {}
    for _, c in cells:
        if len(c) > 3:
            count[c[3].lower()] = count.get(c[3].lower(), 0) + 1
    out: dict[str, list[tuple[int, list[str]]]] = {}
    for i, c in cells:
        if len(c) < 5 or c[0] not in ASSET_OF or count[c[3].lower()] != 1:
            continue
        good = re.fullmatch(r"0x[0-9a-fA-F]{40}", c[3]) if c[0] != "BTC" else re.fullmatch(r"bc1[0-9a-z]+|[13][1-9A-HJ-NP-Za-km-z]{25,34}", c[3])
        if good and re.fullmatch(r"[0-9]+\.[0-9]+", c[4]):
            out.setdefault(c[0], []).append((i, c))
    return out


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def _args(w, reserves, db: str, exchange: str = "Sample") -> list[str]:
    return ["scan", str(reserves), "--liabilities", str(w.liabilities), "--config", str(w.networks),
            "--coins", str(w.coins), "--db", db, "--exchange", exchange, "--no-progress", "--quiet"]


def _report(db: str, run_id: int, tmp_path) -> dict:
    out = tmp_path / f"report{run_id}.json"
    main(["report", str(run_id), "--db", db, "--json", str(out)])
    return {a["asset"]: a for a in json.loads(out.read_text())["assets"]}


def test_diff_of_two_scans_gives_exact_sets_and_changes(world, tmp_path, capsys):
    head, lines = _split(world.reserves.read_text())
    plain = _plain_rows(lines)
    removed_rows = [plain[coin][0] for coin in ("ETH", "ETH-ARBITRUM", "BTC", "USDT-ERC20")] + [plain["BTC"][1]]
    changed_i, changed = plain["ETH"][1]
    respelt_i, respelt = plain["ETH"][2]
    drop = {i for i, _ in removed_rows}
    edited = list(lines)
    edited[changed_i] = _line([*changed[:3], NEW_ADDRESS, *changed[4:]])
    edited[respelt_i] = _line([*respelt[:3], respelt[3].lower(), *respelt[4:]])
    assert respelt[3] != respelt[3].lower()  # the re-spelling is a real change of text
    copy = tmp_path / "reserves_b.csv"
    copy.write_text(head + "\n".join(x for i, x in enumerate(edited) if i not in drop) + "\n")

    db = str(tmp_path / "runs.db")
    assert main(_args(world, world.reserves, db)) in (0, 1, 3)
    assert main(_args(world, copy, db)) in (0, 1, 3)
    capsys.readouterr()

    out = tmp_path / "diff.json"
    assert main(["diff", "1", "2", "--db", db, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d["schema"] == "porscan.diff/1" and d["same_exchange"] and "different exchanges" not in text

    exp_removed: dict[str, dict[str, Decimal]] = {}
    for _, c in [*removed_rows, (changed_i, changed)]:
        exp_removed.setdefault(ASSET_OF[c[0]], {})[c[3]] = Decimal(c[4])
    exp_added = {"ETH": {NEW_ADDRESS: Decimal(changed[4])}}
    assets = {a["asset"]: a for a in d["assets"]}
    for asset in set(assets) | set(exp_removed):
        nets = assets[asset]["networks"]
        got_removed = {w["address"]: Decimal(w["published"]) for n in nets for w in n["removed"]}
        got_added = {w["address"]: Decimal(w["published"]) for n in nets for w in n["added"]}
        assert got_removed == exp_removed.get(asset, {}), asset
        assert got_added == exp_added.get(asset, {}), asset
        a = assets[asset]
        assert (a["removed_count"], a["added_count"]) == (len(got_removed), len(got_added))
        assert Decimal(a["moved_out"]) == exact_sum(got_removed.values())
        assert Decimal(a["moved_in"]) == exact_sum(got_added.values())
        if got_removed or got_added:
            assert f"{asset}: +{len(got_added)} / -{len(got_removed)} addresses" in text
    # the Arbitrum row is removed on its own network, not mixed with Ethereum's
    eth_nets = {n["network"]: n for n in assets["ETH"]["networks"]}
    arb = plain["ETH-ARBITRUM"][0][1][3]
    assert len([n for n in eth_nets.values() if any(w["address"] == arb for w in n["removed"])]) == 1
    assert len([n for n in eth_nets.values() if n["removed"]]) == 2
    # wallet counts per network: B has as many wallets as A, less removed, plus added
    for n in eth_nets.values():
        assert n["wallets_b"] == n["wallets_a"] - n["removed_count"] + n["added_count"]

    # reserves, liabilities and ratios: both runs' stored figures and their change, exact
    ra, rb = _report(db, 1, tmp_path), _report(db, 2, tmp_path)
    for asset, a in assets.items():
        for side, rep in (("a", ra), ("b", rb)):
            for key in ("proven", "onchain", "liabilities"):
                assert a[side][key] == rep[asset][key], (asset, side, key)
            assert a[side]["proven_ratio"] == rep[asset]["proven_ratio"]  # the one shown form
            assert a[side]["proven_ratio_exact"] == rep[asset]["proven_ratio_exact"]
        for key in ("proven", "onchain"):
            if not (ra[asset]["complete"] and rb[asset]["complete"]):  # read in part: no change of reserves
                assert a["change"][key] is None, (asset, key)
            elif ra[asset][key] is not None and rb[asset][key] is not None:
                assert Decimal(a["change"][key]) == Decimal(rb[asset][key]) - Decimal(ra[asset][key])
    # the removed BTC rows were funded: run B's on-chain BTC is lower
    assert Decimal(assets["BTC"]["change"]["onchain"]) < 0


def test_diff_refuses_an_unfinished_run_and_names_other_exchanges(world, tmp_path, capsys):
    from scanner.storage import open_store
    from scanner.storage.model import RunSpec

    db = str(tmp_path / "runs.db")
    assert main(_args(world, world.reserves, db)) in (0, 1, 3)
    assert main(_args(world, world.reserves, db, exchange="Other")) in (0, 1, 3)

    async def unfinished() -> int:
        store = await open_store(db)
        try:
            run = await store.start_run(RunSpec(exchange="Sample", input_path="x.csv", input_sha256="00" * 32,
                                                liabilities_path=None, liabilities_sha256=None, params={},
                                                tool_version="test"))
            return run.id
        finally:
            await store.close()

    running = asyncio.run(unfinished())
    capsys.readouterr()
    assert main(["diff", "1", str(running), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"run {running} is running" in err

    assert main(["diff", "1", "2", "--db", db]) == 0
    text = capsys.readouterr().out
    assert [x for x in text.splitlines() if "different exchanges" in x] == [
        "note: the runs are of different exchanges (Sample and Other)"]
    assert "+0 / -0 addresses" in text  # the same file twice: no churn
