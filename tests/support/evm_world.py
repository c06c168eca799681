"""A small EVM world on a real anvil node: balances at a snapshot block, then changes after it.

Built with real transactions (contract deployments, mints, transfers) plus anvil's balance cheat
code, following the recipe that keeps snapshot reads stable (write, read the head as the
snapshot, mine, then change things on later blocks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from scanner.devnet.localnodes import TEST_CONTRACTS, deploy, rpc
from scanner.devnet.localnodes import rpc_batch as batch
from scanner.devnet.localnodes import send_transaction as send

ARTIFACTS = json.loads(TEST_CONTRACTS.read_text())["contracts"]
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"


def call_data(signature: str, types: list[str], args: list) -> str:
    return "0x" + (keccak(text=signature)[:4] + abi_encode(types, args)).hex()


def addr(i: int, tag: str = "w") -> str:
    return to_checksum_address(keccak(text=f"porscan-evm-world/{tag}/{i}")[12:])


@dataclass
class EvmWorld:
    url: str
    snapshot: int = 0
    native: dict[str, int] = field(default_factory=dict)  # address -> wei at the snapshot
    token: str = ""
    token_balances: dict[str, int] = field(default_factory=dict)  # holder -> units at the snapshot
    reverting_token: str = ""
    contract_wallet: str = ""
    empty: list[str] = field(default_factory=list)  # never funded: real zeros
    moved_after: list[str] = field(default_factory=list)  # balances changed after the snapshot


def build_world(url: str, n_native: int = 40, n_holders: int = 15, multicall: bool = True) -> EvmWorld:
    w = EvmWorld(url)
    dev = rpc(url, "eth_accounts")
    a0, a1 = dev[0], dev[1]
    w.token = deploy(url, a0, "TestToken", ["string", "string", "uint8"], ["Test USD", "TUSD", 6])
    w.reverting_token = deploy(url, a0, "RevertingToken")
    w.contract_wallet = deploy(url, a0, "TestToken", ["string", "string", "uint8"], ["Wallet", "W", 0])
    if multicall:
        rpc(url, "anvil_setCode", [MULTICALL3, ARTIFACTS["Multicall3Compatible"]["runtime"]])
    # native balances: cheat code for most, real transfers for some
    for i in range(n_native):
        a = addr(i)
        w.native[a] = 10**18 + i * 10**15 + 7
    batch(url, [("anvil_setBalance", [a, hex(v)]) for a, v in w.native.items()])
    for i in range(3):
        a = addr(i, "tx")
        send(url, {"from": a1, "to": a, "value": hex(5 * 10**17 + i)})
        w.native[a] = 5 * 10**17 + i
    rpc(url, "anvil_setBalance", [w.contract_wallet, hex(123 * 10**18)])  # a contract holding ETH
    w.native[w.contract_wallet] = 123 * 10**18
    # token balances through real mint transactions
    for i in range(n_holders):
        h = addr(i, "holder")
        amount = 1_000_000 * (i + 1) + i
        send(url, {"from": a0, "to": w.token, "data": call_data("mint(address,uint256)", ["address", "uint256"], [h, amount])})
        w.token_balances[h] = amount
    w.empty = [addr(i, "empty") for i in range(5)]
    # the snapshot: the head after all writes, sealed by mining
    w.snapshot = int(rpc(url, "eth_blockNumber"), 16)
    rpc(url, "evm_mine")
    # after the snapshot: money moves
    moved = list(w.native)[:5]
    batch(url, [("anvil_setBalance", [a, hex(1)]) for a in moved])
    send(url, {"from": a1, "to": list(w.native)[5], "value": hex(10**18)})
    first_holder = next(iter(w.token_balances))
    send(url, {"from": a0, "to": w.token, "data": call_data("mint(address,uint256)", ["address", "uint256"], [first_holder, 999])})
    rpc(url, "evm_mine")
    w.moved_after = moved + [list(w.native)[5], first_holder]
    return w
