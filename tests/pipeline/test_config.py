"""The data in config/ is consistent: coin keys, assets, decimals, networks, checksummed contracts."""

from __future__ import annotations

import pytest
from eth_utils import is_checksum_address

from chains.jsonrpc import Endpoint
from scanner.config.assets import AssetBook
from scanner.config.networks import load_coins, load_networks


def test_coins_agree_with_assets_and_networks():
    book = AssetBook.load()
    coins = load_coins()
    networks = load_networks()
    assert len(coins) >= 40
    for key, t in coins.items():
        assert book.asset_of(key) == t.asset, key
        assert book.decimals(key) == t.decimals, key
        assert t.network in networks, key
        if t.contract:
            assert _valid_contract(networks[t.network].kind, t.contract), key


def _valid_contract(kind: str, contract: str) -> bool:
    """A token contract in its chain's own address format."""
    import base58

    if kind == "evm":
        return is_checksum_address(contract)
    if kind == "tron":  # base58check of 0x41 + 20 bytes
        raw = base58.b58decode_check(contract)
        return len(raw) == 21 and raw[0] == 0x41
    if kind == "solana":  # a 32-byte public key (the mint)
        return len(base58.b58decode(contract)) == 32
    if kind == "ton":  # a jetton master, user-friendly form (CRC16 checked)
        from chains.ton import ton_address

        return ton_address(contract) is not None
    if kind == "aptos":  # a coin type, or a fungible asset's metadata address
        from chains.aptos import holding
        from chains.protocol import Asset

        return holding(Asset("aptos", "X", 0, contract)) is not None
    if kind == "sui":  # a coin type
        from chains.sui import sui_coin_type

        return sui_coin_type(contract) is not None
    if kind == "substrate":  # an Assets pallet id (u32) on an Asset Hub
        return contract.isdigit() and int(contract) < 2**32
    if kind == "antelope":  # the token contract's account name
        import re

        return re.fullmatch(r"[a-z1-5.]{1,12}", contract) is not None
    if kind == "xrp":  # an issued currency, ISSUER.CURRENCY (issuer checksum checked)
        from chains.xrp import parse_issued

        return parse_issued(contract) is not None
    return False  # no token contracts expected on other kinds


def test_networks_have_known_kinds_and_labels():
    from scanner.pipeline.adapters import supported_kinds

    networks = load_networks()
    kinds = supported_kinds()
    for nid, n in networks.items():
        assert n.kind in kinds, nid
        if n.kind == "evm":
            assert isinstance(n.chain_id, int), nid
        for ep in n.endpoints:
            assert ep.label and "${" not in ep.label


def test_unset_api_key_leaves_endpoint_out(monkeypatch, tmp_path):
    monkeypatch.delenv("PORSCAN_NO_SUCH_KEY", raising=False)
    p = tmp_path / "n.toml"
    p.write_text('''
[networks.x]
kind = "evm"
chain_id = 1
[[networks.x.endpoints]]
label = "keyed"
url = "https://example.invalid/${PORSCAN_NO_SUCH_KEY}"
[[networks.x.endpoints]]
label = "public"
url = "https://example.invalid/rpc"
[networks.t]
kind = "tron"
[[networks.t.endpoints]]
label = "own"
url = "https://tron.example.invalid"
jsonrpc_url = "https://tron.example.invalid/${PORSCAN_NO_SUCH_KEY}/jsonrpc"
''')
    n = load_networks(p)["x"]
    assert [e.label for e in n.endpoints] == ["public"]
    assert "PORSCAN_NO_SUCH_KEY" in n.skipped_endpoints[0]
    t = load_networks(p)["t"]  # a TRON endpoint's JSON-RPC URL too
    assert t.endpoints == () and "PORSCAN_NO_SUCH_KEY" in t.skipped_endpoints[0]
    assert "jsonrpc_url" in t.skipped_endpoints[0]
    monkeypatch.setenv("PORSCAN_NO_SUCH_KEY", "k")
    assert [e.label for e in load_networks(p)["x"].endpoints] == ["keyed", "public"]
    assert [e.label for e in load_networks(p)["t"].endpoints] == ["own"]
    assert isinstance(load_networks(p)["x"].endpoints[0], Endpoint)


def test_config_mistakes_are_all_reported_at_once_with_file_and_key(tmp_path, capsys):
    """Each became a normal-looking run before (an endpoint dropped, a network guessed)."""
    from scanner.cli.main import main

    nets = tmp_path / "networks.toml"
    nets.write_text('''
[networks.a]
kind = "evmx"
chain_id = 1
[networks.b]
kind = "evm"
chain_id = "one"
[[networks.b.endpoints]]
label = "old"
url = "ftp://example.invalid/"
[networks.c]
kind = "evm"
chain_id = 5
native_decimals = -3
[networks.t]
kind = "tron"
[[networks.t.endpoints]]
label = "own"
url = "https://tron.example.invalid"
jsonrpc_url = "tron.example.invalid:50545/jsonrpc"
''')
    reserves = tmp_path / "r.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\nETH,0x" + "ab" * 20 + ",1,1,-,-\n")
    assert main(["balances", str(reserves), "--config", str(nets), "-q"]) == 2
    err = capsys.readouterr().err
    for fragment in ("network a: kind: 'evmx'", "network b: chain_id: 'one'", "endpoint old: url: 'ftp://'",
                     "network c: native_decimals: -3",
                     "network t: endpoint own: jsonrpc_url: 'tron.example.invalid:50545/jsonrpc' is not an http"):
        assert fragment in err and str(nets) in err, (fragment, err)
    assert "Traceback" not in err


def test_coin_map_mistakes(tmp_path, capsys):
    from scanner.cli.main import main

    coins = tmp_path / "coins.toml"
    coins.write_text('[ETH]\nnetwork = "ethereum"\nasset = "BTC"\ndecimals = 18\n'
                     '[BTC]\nnetwork = "bitcoinn"\nasset = "BTC"\ndecimals = 8\n')
    reserves = tmp_path / "r.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\nETH,0x" + "ab" * 20 + ",1,1,-,-\n")
    assert main(["balances", str(reserves), "--coins", str(coins), "-q"]) == 2
    err = capsys.readouterr().err
    assert "coin ETH: asset: 'BTC', but scanner/config/assets.toml counts ETH towards ETH" in err
    assert "coin BTC: network: 'bitcoinn' is no network" in err
    coins.write_text('[ETH]\nnetwork = "ethereum"\nasset = "ETH"\ndecimals = -3\n')
    assert main(["balances", str(reserves), "--coins", str(coins), "-q"]) == 2
    assert "coin ETH: decimals: -3" in capsys.readouterr().err


def test_rpc_overrides_that_cannot_work_are_usage_errors(tmp_path, capsys, monkeypatch):
    from scanner.cli.main import main

    monkeypatch.delenv("PORSCAN_NO_SUCH_KEY", raising=False)
    reserves = tmp_path / "r.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\nETH,0x" + "ab" * 20 + ",1,1,-,-\n")
    assert main(["balances", str(reserves), "--rpc", "etherium=http://127.0.0.1:8545", "-q"]) == 2
    assert "no network 'etherium'" in capsys.readouterr().err
    assert main(["balances", str(reserves), "--rpc", "ethereum=https://x.invalid/${PORSCAN_NO_SUCH_KEY}", "-q"]) == 2
    err = capsys.readouterr().err
    assert "PORSCAN_NO_SUCH_KEY" in err and "Traceback" not in err
    assert main(["scan", str(reserves), "--rpc", "ethereum=ftp://x", "--db", str(tmp_path / "d.db"), "-q"]) == 2


def test_every_network_kind_config_accepts_has_an_adapter():
    from scanner.config.networks import all_kinds
    from scanner.pipeline.adapters import supported_kinds

    assert supported_kinds() == all_kinds()


@pytest.mark.parametrize("url", ["http://user:LITERALSECRETPW@[::1/", "http://", "http://x:99999", "http://[::1"])
def test_malformed_rpc_urls_stop_the_scan_before_it_starts(tmp_path, capsys, url):
    """Each passed --dry (exit 0) and made a scan retry six times and exit 3, the password in the
    note, the JSON, the debug log and the store."""
    from scanner.cli.main import main

    reserves = _reserves(tmp_path)
    db = tmp_path / "d.db"
    for extra in (["--dry"], ["--json", str(tmp_path / "r.json")]):
        assert main(["scan", str(reserves), "--rpc", f"ethereum={url}", "--db", str(db), "-q", *extra]) == 2
        out, err = capsys.readouterr()
        (line,) = err.strip().splitlines()
        assert line.startswith("porscan scan: --rpc ethereum=...: "), line
        assert "LITERAL" not in out + err
    assert not db.exists() and not (tmp_path / "r.json").exists()


def test_malformed_url_in_a_networks_file_names_file_and_endpoint(tmp_path, capsys):
    from scanner.cli.main import main

    nets = tmp_path / "networks.toml"
    nets.write_text('[networks.ethereum]\nkind = "evm"\nchain_id = 1\n[[networks.ethereum.endpoints]]\n'
                    'label = "mine"\nurl = "http://user:LITERALSECRETPW@[::1/"\n'
                    '[[networks.ethereum.endpoints]]\nlabel = "other"\nurl = "http://h.example:70000/"\n')
    reserves = _reserves(tmp_path)
    assert main(["scan", str(reserves), "--config", str(nets), "--dry"]) == 2
    err = capsys.readouterr().err
    assert f"{nets}: network ethereum: endpoint mine: url: the IPv6 host's bracket is not closed" in err
    assert f"{nets}: network ethereum: endpoint other: url: its port is not a number" in err
    assert "LITERAL" not in err


@pytest.mark.parametrize("make, what", [
    (lambda d: d, "is a folder, not a file"),
    (lambda d: _file(d / "n.toml", b"networks = [1, 2]\n"), "networks: expected [networks.ID] tables, got list"),
    (lambda d: _file(d / "n.toml", b"\xff\xfe[networks]\n"), "cannot read: not UTF-8 text"),
    (lambda d: _file(d / "n.toml", b"[networks\n"), "not valid TOML"),
])
def test_a_networks_file_that_cannot_be_read_is_one_line(tmp_path, capsys, make, what):
    """Each was a traceback (IsADirectoryError, AttributeError, UnicodeDecodeError), exit 1."""
    from scanner.cli.main import main

    reserves = _reserves(tmp_path)
    config = make(tmp_path)
    assert main(["scan", str(reserves), "--dry", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"porscan scan: {config}: ") and what in line, line


def test_a_config_dir_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    from scanner.cli.main import main

    reserves = _reserves(tmp_path)
    monkeypatch.setenv("PORSCAN_CONFIG_DIR", str(reserves))
    assert main(["scan", str(reserves), "--dry"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"porscan scan: PORSCAN_CONFIG_DIR={reserves}: not a folder (it holds networks.toml, coins.toml " \
                   "and assets.toml)"


def _reserves(tmp_path):
    """A one-row HTX-style reserve file: enough for a command to reach its config."""
    return _file(tmp_path / "r.csv", b"coin,address,snapshot height,balance,message,signature\nETH,0x"
                 + b"ab" * 20 + b",1,1,-,-\n")


def _file(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("text, said", [
    ('[networks.x]\nkind = "evm"\nchain_id = 1\n[[networks.x.endpoints]]\nlabel = "a"\nurl = "http://h.example/"\n'
     'requests_per_secnd = 5\n', "network x: endpoint a: requests_per_secnd: unknown key (did you mean requests_per_second?)"),
    ('[networks.x]\nkind = "evm"\nchain_id = 1\nmulticall = "0x00"\n', "network x: multicall: unknown key (did you mean multicall3?)"),
    ('[networks.x]\nkind = "evm"\nchain_id = 1\nendpoints = 5\n', "network x: endpoints: expected [[networks.x.endpoints]] tables"),
    ('[networks.x]\nkind = "evm"\nchain_id = 1\n[[networks.x.endpoints]]\nlabel = "a"\nurl = "http://h.example/"\n'
     'archive = "yes"\n', "network x: endpoint a: archive: 'yes' is not true or false"),
    ('[networks.x]\nkind = "evm"\nchain_id = 1\n[[networks.x.endpoints]]\nlabel = "a"\nurl = "http://h.example/"\n'
     '[[networks.x.endpoints]]\nlabel = "a"\nurl = "http://other.example/"\n',
     "network x: endpoint a: label: also the label of endpoint 0"),
])
def test_network_keys_that_would_be_ignored_or_crash_are_named(tmp_path, capsys, text, said):
    """Each was ignored (a typo ran without a rate limit, "yes" read as true, two endpoints one
    label) or a TypeError repr."""
    from scanner.cli.main import main

    nets = _file(tmp_path / "networks.toml", text.encode())
    reserves = _reserves(tmp_path)
    assert main(["scan", str(reserves), "--dry", "--config", str(nets)]) == 2
    err = capsys.readouterr().err
    assert f"{nets}: {said}" in err and "Error(" not in err, err


@pytest.mark.parametrize("text, said", [
    ('[ETH]\nnetwork = "ethereum"\ndecimals = 18\n', "coin ETH: asset: missing"),
    ('[ETH]\nnetwork = "ethereum"\nasset = "ETH"\ndecimals = 18\ncontrct = "0x00"\n',
     "coin ETH: contrct: unknown key (did you mean contract?)"),
    ('[ETH]\nnetwrk = "ethereum"\nasset = "ETH"\ndecimals = 18\n', "coin ETH: network: missing"),
])
def test_coin_keys_that_would_be_ignored_or_crash_are_named(tmp_path, capsys, text, said):
    """A missing asset was KeyError('asset'); a table without network was skipped, silently."""
    from scanner.cli.main import main

    coins = _file(tmp_path / "coins.toml", text.encode())
    reserves = _reserves(tmp_path)
    assert main(["scan", str(reserves), "--dry", "--coins", str(coins)]) == 2
    err = capsys.readouterr().err
    assert f"{coins}: {said}" in err and "Error(" not in err, err


def test_a_liabilities_format_without_liabilities_or_unknown_is_refused(tmp_path, capsys):
    from scanner.cli.main import main

    reserves = _reserves(tmp_path)
    assert main(["scan", str(reserves), "--dry", "--liabilities-format", "simple"]) == 2
    assert "--liabilities-format 'simple': there is no liabilities file" in capsys.readouterr().err
    assert main(["scan", str(reserves), "--dry", "--liabilities-format", "nope"]) == 2
    assert "--liabilities-format 'nope': not a liabilities format porscan reads" in capsys.readouterr().err
