"""The 22 assets of OKX's monthly report each have an adapter, an endpoint and a stated read mode:
`porscan scan --dry` on a file with a row of each lists them, and nothing is left unread for want
of an adapter."""

from __future__ import annotations

import json
import re


from scanner.cli.main import main
from scanner.config.assets import config_dir

# the report's assets and the coin key of a row of each (OKX's keys: APTOS for APT, ...)
OKX_ASSETS = {"BTC": "BTC", "ETH": "ETH", "USDT": "USDT-ERC20", "USDC": "USDC", "XRP": "XRP", "DOGE": "DOGE",
              "SOL": "SOL", "OKB": "OKB", "APT": "APTOS", "DOT": "DOT", "ELF": "ELF", "EOS": "EOS", "ETC": "ETC",
              "FIL": "FIL", "LINK": "LINK", "LTC": "LTC", "OKT": "OKT", "PEOPLE": "PEOPLE", "TON": "TON", "TRX": "TRX",
              "UNI": "UNI", "BCH": "BCH"}


def test_dry_run_on_all_22_assets_names_an_adapter_an_endpoint_and_the_read_mode(tmp_path, monkeypatch, capsys):
    # keyed endpoints count as configured (nothing is read in a dry run): give every ${VAR} a value
    for var in set(re.findall(r"\$\{([A-Z0-9_]+)\}", (config_dir() / "networks.toml").read_text())):
        monkeypatch.setenv(var, "dry-run-placeholder")
    rows = [f"{coin},{coin},1000,addr{i},1,I am an OKX address,,,,," for i, coin in enumerate(OKX_ASSETS.values())]
    file = tmp_path / "okx_all_assets.csv"
    file.write_text("coin,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/ public key,"
                    " eoa1, eoa2\n" + "\n".join(rows) + "\n")
    out = tmp_path / "plan.json"
    assert main(["scan", str(file), "--dry", "--json", str(out), "--db", str(tmp_path / "none.db")]) == 0
    plan = json.loads(out.read_text())
    assert plan["unsupported"] == [], plan["unsupported"]  # every row has an adapter that will read it
    planned = {coin for n in plan["networks"] for coin in n["coins"]}
    assert planned >= set(OKX_ASSETS.values()), set(OKX_ASSETS.values()) - planned
    shown = capsys.readouterr().out
    for n in plan["networks"]:
        assert n["endpoints"], n["network"]
        assert n["reads"].startswith(("at snapshot", "latest")), (n["network"], n["reads"])
        assert n["network"] in shown
