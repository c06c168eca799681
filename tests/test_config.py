"""The data in config/ is consistent: coin keys, assets, decimals, networks, checksummed contracts."""

from __future__ import annotations

from eth_utils import is_checksum_address

from chains.jsonrpc import Endpoint
from scanner.assets import AssetBook
from scanner.netconfig import load_coins, load_networks


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
    return False  # no token contracts expected on other kinds


def test_networks_have_known_kinds_and_labels():
    from scanner.adapters import supported_kinds

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
''')
    n = load_networks(p)["x"]
    assert [e.label for e in n.endpoints] == ["public"]
    assert "PORSCAN_NO_SUCH_KEY" in n.skipped_endpoints[0]
    monkeypatch.setenv("PORSCAN_NO_SUCH_KEY", "k")
    assert [e.label for e in load_networks(p)["x"].endpoints] == ["keyed", "public"]
    assert isinstance(load_networks(p)["x"].endpoints[0], Endpoint)
