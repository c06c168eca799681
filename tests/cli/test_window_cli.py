"""``porscan scan --window`` and ``porscan window RUN_ID``: a signed reserve file whose wallets live on
anvil through the story of support/window_world.py (A funded at H-2 and drained at H+2, B held from
H-50 to H+50, C 1 -> 5 -> 2, D arriving at H-3 and staying), scanned for real; the window is in the
report (JSON, terminal, HTML), stored with the run, and its criterion grades the run."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from scanner.cli.main import main
from support.common import need_anvil
from support.window_world import AMOUNTS_AT_H, ETH, evm_network_toml, move_money

COINS = '''[ETH]
network = "ethereum"
asset = "ETH"
decimals = 18
'''


@pytest.fixture(scope="module")
def signed_world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localnodes import Anvil
    from scanner.devnet.sample_exchange import build_rows, write_sample

    folder = tmp_path_factory.mktemp("window-cli")
    rows = [r for r in build_rows(3, evm=40, tron=0, btc=0) if r.coin == "ETH" and not r.eoa1][:4]
    assert len(rows) == 4
    rows = [dataclasses.replace(r, amount=str(AMOUNTS_AT_H[who] // ETH)) for r, who in zip(rows, "abcd")]
    wallets = {who: r.address for r, who in zip(rows, "abcd")}
    node = Anvil.start()
    try:
        H = move_money(node, wallets)
        write_sample(folder / "reserves.csv", 3, with_bad_rows=False, heights={"ETH": H}, rows=rows)
        (folder / "networks.toml").write_text(evm_network_toml(node.url))
        (folder / "coins.toml").write_text(COINS)
        yield {"folder": folder, "H": H, **wallets}
    finally:
        node.stop()


def _config(w) -> list[str]:
    return ["--config", str(w["folder"] / "networks.toml"), "--coins", str(w["folder"] / "coins.toml")]


def test_scan_with_a_window_reports_the_dressed_wallets(signed_world, tmp_path, capsys):
    w = signed_world
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    code = main(["scan", str(w["folder"] / "reserves.csv"), *_config(w), "--db", str(tmp_path / "s.db"), "--exchange",
                 "W", "--no-progress", "--window", "5", "--window-top", "1", "--json", str(out), "--html", str(html)])
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["balances"]["by_status"] == {"match": 4}, text
    assert code == 0
    window = report["window"]
    (eth,) = window["assets"]
    # A 3 + C (5 - max(1, 2)) = 6 ETH dressed; B (held) and D (kept after H) not
    assert (Decimal(eth["dressed"]), Decimal(eth["arrived"]), Decimal(eth["left"])) == (6, 3 + 4 + 4, 3 + 3)
    assert (eth["addresses"], eth["addresses_read"], eth["complete"]) == (4, 4, True)
    assert len(eth["top"]) == 1 and eth["top"][0]["dressed_base_units"] == str(3 * ETH)  # --window-top 1
    assert eth["top"][0]["address"].lower() in {w["a"].lower(), w["c"].lower()}
    assert [(h["before"], h["snapshot"], h["after"]) for h in window["heights"]] == [(w["H"] - 5, w["H"], w["H"] + 5)]
    grade = {c["name"]: c for c in report["rubric"]["criteria"]}["window"]
    assert grade["grade"] == "D" and "ETH 31.57" in grade["value"]  # 6 of 19 ETH proven
    assert "snapshot window, w = 5 blocks" in text and "ETH: window-dressed 6," in text
    page = html.read_text()
    assert 'id="window"' in page and "Window-dressed" in page


def test_window_command_on_a_stored_run_stores_it_in_the_report(signed_world, tmp_path, capsys):
    w = signed_world
    db = str(tmp_path / "w.db")
    main(["scan", str(w["folder"] / "reserves.csv"), *_config(w), "--db", db, "--exchange", "W", "-q"])
    capsys.readouterr()
    assert main(["report", "1", "--db", db, "--json", str(tmp_path / "before.json")]) == 0
    assert "window" not in json.loads((tmp_path / "before.json").read_text())
    capsys.readouterr()
    # 60 s at 12 s a block: the same 5 blocks, placed by block timestamps
    assert main(["window", "1", "--window", "60s", "--db", db, *_config(w), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["schema"] == "porscan.window/1" and printed["seconds"] == 60
    assert [(h["before"], h["after"], h["how"]) for h in printed["heights"]] == [
        (w["H"] - 5, w["H"] + 5, "block timestamps")]
    assert Decimal(printed["assets"][0]["dressed"]) == 6
    assert main(["report", "1", "--db", db, "--json", str(tmp_path / "after.json")]) == 0
    stored = json.loads((tmp_path / "after.json").read_text())
    before = json.loads((tmp_path / "before.json").read_text())
    assert stored["window"] == printed
    assert stored["run"]["finished_at"] == before["run"]["finished_at"]  # the run keeps its finishing instant
    assert {c["name"]: c["grade"] for c in stored["rubric"]["criteria"]}["window"] == "D"
    # beyond the head: unread, not zero; exit 3 (incomplete)
    assert main(["window", "1", "--window", "500", "--db", db, *_config(w), "--no-store"]) == 3
    text = capsys.readouterr().out
    assert "0 of 4 wallets read" in text and "beyond the chain head" in text
    assert main(["report", "1", "--db", db, "--json", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["window"]["window"] == "60s"  # --no-store kept it


def test_window_usage_errors(signed_world, tmp_path, capsys):
    w = signed_world
    db = str(tmp_path / "e.db")
    main(["scan", str(w["folder"] / "reserves.csv"), *_config(w), "--db", db, "--exchange", "W", "-q"])
    with pytest.raises(SystemExit) as exc:
        main(["window", "1", "--window", "0", "--db", db])
    assert exc.value.code == 2
    assert main(["window", "7", "--window", "5", "--db", db, *_config(w)]) == 2
    assert "run 7" in capsys.readouterr().err


def test_html_window_section_in_chromium(signed_world, tmp_path):
    """The page `scan --window --html` writes, loaded in headless Chromium, names the dressed wallets
    with their three balances and the blocks read."""
    from support.browser import chromium_or_skip, dump_dom

    chromium_or_skip()
    w = signed_world
    html = tmp_path / "r.html"
    main(["scan", str(w["folder"] / "reserves.csv"), *_config(w), "--db", str(tmp_path / "h.db"), "--exchange", "W",
          "-q", "--window", "5", "--html", str(html)])
    dom = dump_dom(html).stdout
    section = dom[dom.index('id="window"'):dom.index('id="rubric"')]
    assert f"{w['H'] - 5} .. {w['H']} .. {w['H'] + 5}" in section
    for who, cells in (("a", ("3", "0", "3", "0")), ("c", ("3", "1", "5", "2"))):
        row = next(r for r in section.split("<tr>") if w[who] in r)
        assert [c.split(">", 1)[1].split("<", 1)[0] for c in row.split('class="num"')[1:]] == list(cells)
    assert w["b"] not in section and w["d"] not in section  # not dressed: not named
