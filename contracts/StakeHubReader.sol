// SPDX-License-Identifier: MIT
// porscan's BNB Chain StakeHub reader: supplied to eth_call as a state override at the snapshot block
// (never deployed), like BalanceReader. Read-only.
//
// For each delegator, over the given StakeCredit contracts (one per validator, from StakeHub's
// getValidators): the BNB it has delegated (getPooledBNB: shares at the pool's rate, rewards included)
// and the BNB in its unbond queue (lockedBNBs(delegator, 0): every request not yet claimed).
// A credit call that reverts or returns fewer than 32 bytes marks the delegator type(uint256).max in
// both arrays, which the caller reports as unknown (never as zero). One scratch buffer is reused for
// every call so memory does not grow with the number of calls; a sum that overflows is marked too.
pragma solidity ^0.8.20;

contract StakeHubReader {
    function stakes(address[] calldata credits, address[] calldata delegators)
        external
        view
        returns (uint256[] memory staked, uint256[] memory unbonding)
    {
        staked = new uint256[](delegators.length);
        unbonding = new uint256[](delegators.length);
        assembly {
            let buf := mload(0x40) // [0x00..0x44) call data, [0x60..0x80) return word
            mstore(0x40, add(buf, 0x80))
            for { let i := 0 } lt(i, delegators.length) { i := add(i, 1) } {
                let d := and(calldataload(add(delegators.offset, mul(i, 0x20))), 0xffffffffffffffffffffffffffffffffffffffff)
                let s := 0
                let u := 0
                let bad := 0
                for { let j := 0 } and(lt(j, credits.length), iszero(bad)) { j := add(j, 1) } {
                    let c := and(calldataload(add(credits.offset, mul(j, 0x20))), 0xffffffffffffffffffffffffffffffffffffffff)
                    mstore(buf, shl(224, 0x0913db47)) // getPooledBNB(address)
                    mstore(add(buf, 4), d)
                    let ok := staticcall(gas(), c, buf, 0x24, add(buf, 0x60), 0x20)
                    if iszero(and(ok, gt(returndatasize(), 0x1f))) { bad := 1 }
                    let v := mload(add(buf, 0x60))
                    if lt(add(s, v), s) { bad := 1 } // a sum that wraps is no sum
                    s := add(s, v)
                    mstore(buf, shl(224, 0xa9664feb)) // lockedBNBs(address,uint256)
                    mstore(add(buf, 4), d)
                    mstore(add(buf, 0x24), 0)
                    ok := staticcall(gas(), c, buf, 0x44, add(buf, 0x60), 0x20)
                    if iszero(and(ok, gt(returndatasize(), 0x1f))) { bad := 1 }
                    v := mload(add(buf, 0x60))
                    if lt(add(u, v), u) { bad := 1 }
                    u := add(u, v)
                }
                if bad {
                    s := not(0)
                    u := not(0)
                }
                mstore(add(add(staked, 0x20), mul(i, 0x20)), s)
                mstore(add(add(unbonding, 0x20), mul(i, 0x20)), u)
            }
        }
    }
}
