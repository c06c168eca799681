"""BNB Chain StakeHub delegations on a real anvil node: state at a snapshot block, then changes after it.

TestStakeHub (tests/support/contracts/TestStakeHub.sol: StakeHub's getValidators ABI and paging) is
put at the system address 0x...2002 with ``anvil_setCode``; one TestStakeCredit per validator is
deployed by a real transaction. Delegations, undelegations (unbond requests) and claims are real
transactions, so a read at the snapshot block sees the state of that block and nothing later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from scanner.devnet.localnodes import rpc, rpc_batch, send_transaction
from support.evm_world import ARTIFACTS as EVM_ARTIFACTS
from support.evm_world import MULTICALL3

STAKEHUB = "0x0000000000000000000000000000000000002002"
ARTIFACTS = json.loads((Path(__file__).resolve().parents[1] / "data" / "test_stakehub.json").read_text())["contracts"]


def _data(signature: str, types: list[str], args: list) -> str:
    return "0x" + (keccak(text=signature)[:4] + abi_encode(types, args)).hex()


def _tx(url: str, sender: str, to: str, signature: str, types: list[str], args: list) -> None:
    send_transaction(url, {"from": sender, "to": to, "data": _data(signature, types, args), "gas": hex(3_000_000)})


def view(url: str, to: str, signature: str, types: list[str], args: list, block: int) -> int:
    """One uint256 view call at ``block``, straight from the node (the tests' independent truth)."""
    res = rpc(url, "eth_call", [{"to": to, "data": _data(signature, types, args)}, hex(block)])
    return abi_decode(["uint256"], bytes.fromhex(res[2:]))[0]


def delegator(i: int, tag: str = "d") -> str:
    return to_checksum_address(keccak(text=f"porscan-stakehub/{tag}/{i}")[12:])


@dataclass
class StakeHubWorld:
    url: str
    credits: list[str] = field(default_factory=list)
    delegators: list[str] = field(default_factory=list)
    snapshot: int = 0
    native: dict[str, int] = field(default_factory=dict)  # wei at the snapshot
    changed_after: list[str] = field(default_factory=list)  # delegations changed after the snapshot
    late_credit: str = ""  # a validator created after the snapshot

    def truth(self, block: int | None = None) -> dict[str, tuple[int, int]]:
        """(staked, unbonding) per delegator at ``block`` (default: the snapshot), asked of every credit."""
        block = self.snapshot if block is None else block
        out = {}
        for d in self.delegators:
            staked = sum(view(self.url, c, "getPooledBNB(address)", ["address"], [d], block) for c in self.credits)
            unbonding = sum(view(self.url, c, "lockedBNBs(address,uint256)", ["address", "uint256"], [d, 0], block)
                            for c in self.credits)
            out[d] = (staked, unbonding)
        return out


def deploy_credit(url: str, sender: str, pooled: int, supply: int) -> str:
    code = ARTIFACTS["TestStakeCredit"]["bytecode"] + abi_encode(["uint256", "uint256"], [pooled, supply]).hex()
    r = send_transaction(url, {"from": sender, "data": code, "gas": hex(3_000_000)})
    return to_checksum_address(r["contractAddress"])


def add_validator(url: str, sender: str, i: int, credit: str) -> None:
    _tx(url, sender, STAKEHUB, "addValidator(address,address)", ["address", "address"],
        [delegator(i, "operator"), credit])


def build_stakehub_world(url: str, n_validators: int = 5, n_delegators: int = 24) -> StakeHubWorld:
    w = StakeHubWorld(url)
    dev = rpc(url, "eth_accounts")[0]
    rpc(url, "anvil_setCode", [STAKEHUB, ARTIFACTS["TestStakeHub"]["runtime"]])
    rpc(url, "anvil_setCode", [MULTICALL3, EVM_ARTIFACTS["Multicall3Compatible"]["runtime"]])  # for that strategy
    for v in range(n_validators):
        # pools with rewards: BNB per share above 1, and not a round rate
        credit = deploy_credit(url, dev, 10**24 + 7 * 10**21 * (v + 1) + 13, 10**24)
        add_validator(url, dev, v, credit)
        w.credits.append(credit)
    w.delegators = [delegator(i) for i in range(n_delegators)]
    w.native = {d: 10**17 * (i + 1) + i for i, d in enumerate(w.delegators)}
    rpc_batch(url, [("anvil_setBalance", [d, hex(v)]) for d, v in w.native.items()])
    for i, d in enumerate(w.delegators):
        if i % 6 == 5:
            continue  # no delegations: all liquid, a known split
        for v, credit in enumerate(w.credits):
            if (i + v) % 3 == 0:
                shares = 10**18 * (i + 1) + 10**15 * v + 1 + (2**70 if i == 0 else 0)
                _tx(url, dev, credit, "delegate(address,uint256)", ["address", "uint256"], [d, shares])
                if i % 4 == 1:  # part of it on its way out: an unbond request
                    _tx(url, dev, credit, "undelegate(address,uint256)", ["address", "uint256"], [d, shares // 3])
    rpc(url, "evm_mine")
    w.snapshot = int(rpc(url, "eth_blockNumber"), 16)
    rpc(url, "evm_mine")
    # after the snapshot: more delegated, some undelegated, a claim, new native balances, a new validator
    for i in (0, 1, 2, 6):
        d = w.delegators[i]
        credit = w.credits[(3 - i % 3) % len(w.credits)]
        _tx(url, dev, credit, "delegate(address,uint256)", ["address", "uint256"], [d, 5 * 10**18])
        _tx(url, dev, credit, "undelegate(address,uint256)", ["address", "uint256"], [d, 10**18])
        w.changed_after.append(d)
    _tx(url, dev, w.credits[1], "claimAll(address)", ["address"], [w.delegators[1]])
    rpc_batch(url, [("anvil_setBalance", [d, hex(v + 10**16)]) for d, v in w.native.items()])
    w.late_credit = deploy_credit(url, dev, 10**24, 10**24)
    add_validator(url, dev, n_validators, w.late_credit)
    _tx(url, dev, w.late_credit, "delegate(address,uint256)", ["address", "uint256"], [w.delegators[3], 10**20])
    return w
