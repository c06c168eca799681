// SPDX-License-Identifier: MIT
// porscan's balance reader: supplied to eth_call as a state override at the snapshot block, so it
// works at any historical height without being deployed. Read-only.
//
// The loops are in assembly so that each iteration reuses one scratch buffer: the Solidity form
// (abi.encodeWithSelector + bytes memory per call) grows memory with every holder, which made
// large batches several times slower to execute.
pragma solidity ^0.8.20;

contract BalanceReader {
    /// Native balances of many accounts in one call.
    function nativeBalances(address[] calldata accounts) external view returns (uint256[] memory out) {
        out = new uint256[](accounts.length);
        assembly {
            let src := accounts.offset
            let dst := add(out, 0x20)
            for { let end := add(src, mul(accounts.length, 0x20)) } lt(src, end) { src := add(src, 0x20) } {
                mstore(dst, balance(and(calldataload(src), 0xffffffffffffffffffffffffffffffffffffffff)))
                dst := add(dst, 0x20)
            }
        }
    }

    /// ERC-20 balanceOf of many holders. A call that reverts or returns fewer than 32 bytes gives
    /// type(uint256).max, which the caller reports as an unread balance (never as zero).
    function tokenBalances(address token, address[] calldata holders) external view returns (uint256[] memory out) {
        out = new uint256[](holders.length);
        assembly {
            let buf := mload(0x40) // scratch: [0x00..0x24) call data, [0x40..0x60) return word
            mstore(0x40, add(buf, 0x60))
            mstore(buf, shl(224, 0x70a08231))
            let src := holders.offset
            let dst := add(out, 0x20)
            for { let end := add(src, mul(holders.length, 0x20)) } lt(src, end) { src := add(src, 0x20) } {
                mstore(add(buf, 4), and(calldataload(src), 0xffffffffffffffffffffffffffffffffffffffff))
                let ok := staticcall(gas(), token, buf, 0x24, add(buf, 0x40), 0x20)
                let v := not(0)
                if and(ok, gt(returndatasize(), 0x1f)) { v := mload(add(buf, 0x40)) }
                mstore(dst, v)
                dst := add(dst, 0x20)
            }
        }
    }
}
