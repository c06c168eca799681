"""A Chainlink-style aggregator on a real anvil (contracts/TestAggregator.sol): deploy, set rounds,
read the head. Shared by the oracle reader's tests and the USD scan test."""

from __future__ import annotations

import json

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from scanner.devnet.localnodes import ROOT, rpc, send_transaction

ARTIFACT = ROOT / "chains" / "data" / "test_aggregator.json"
CODE = json.loads(ARTIFACT.read_text())["contracts"]["TestAggregator"]


def deploy_feed(url: str, sender: str, decimals: int, description: str) -> str:
    data = CODE["bytecode"] + abi_encode(["uint8", "string"], [decimals, description]).hex()
    r = send_transaction(url, {"from": sender, "data": data, "gas": hex(3_000_000)})
    return to_checksum_address(r["contractAddress"])


def set_round(url: str, sender: str, feed: str, answer: int, updated_at: int) -> None:
    data = "0x" + (keccak(text="setRound(int256,uint256)")[:4] + abi_encode(["int256", "uint256"], [answer, updated_at])).hex()
    send_transaction(url, {"from": sender, "to": feed, "data": data})


def head(url: str) -> tuple[int, int]:
    """(number, timestamp) of the latest block."""
    blk = rpc(url, "eth_getBlockByNumber", ["latest", False])
    return int(blk["number"], 16), int(blk["timestamp"], 16)
