"""Money around a snapshot height H on a real anvil chain, for the snapshot-window tests: with 12 s
between blocks, A is funded at H-2 and drained at H+2 (3 ETH), B funded at H-50 and spent at H+50
(7 ETH), C holds 1 ETH before, 5 from H-3 and 2 from H+2, D is funded at H-3 (4 ETH) and keeps it.
The chain runs to H+60. Balances are set with anvil's cheat code and sealed by mining one block."""

from __future__ import annotations

ETH = 10**18
AMOUNTS_AT_H = {"a": 3 * ETH, "b": 7 * ETH, "c": 5 * ETH, "d": 4 * ETH}


def evm_network_toml(url: str, nid: str = "ethereum") -> str:
    return f'''[networks.{nid}]
kind = "evm"
chain_id = 31337
native_symbol = "ETH"
native_decimals = 18
endpoints = [{{ label = "local-anvil", url = "{url}", archive = true }}]
'''


def move_money(node, wallets: dict[str, str]) -> int:
    """Run the story on ``node`` (an Anvil) for ``wallets`` (a, b, c, d -> address); returns H."""
    node.call("anvil_setBlockTimestampInterval", 12)

    def head() -> int:
        return int(node.call("eth_blockNumber"), 16)

    def set_and_mine(**balances: int) -> int:
        for who, value in balances.items():
            node.call("anvil_setBalance", wallets[who], hex(value))
        node.call("evm_mine")
        return head()

    def mine_to(n: int) -> None:
        while head() < n:
            node.call("evm_mine")

    mine_to(10)
    H = set_and_mine(b=7 * ETH, c=1 * ETH) + 50
    mine_to(H - 4)
    set_and_mine(c=5 * ETH, d=4 * ETH)  # H - 3
    assert set_and_mine(a=3 * ETH) == H - 2
    mine_to(H + 1)
    assert set_and_mine(a=0, c=2 * ETH) == H + 2
    mine_to(H + 49)
    assert set_and_mine(b=0) == H + 50
    mine_to(H + 60)
    return H
