// SPDX-License-Identifier: MIT
// porscan's balance reader: supplied to eth_call as a state override at the snapshot block, so it
// works at any historical height without being deployed. Read-only.
pragma solidity ^0.8.20;

contract BalanceReader {
    /// Native balances of many accounts in one call.
    function nativeBalances(address[] calldata accounts) external view returns (uint256[] memory out) {
        out = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            out[i] = accounts[i].balance;
        }
    }

    /// ERC-20 balanceOf of many holders. A call that reverts or returns fewer than 32 bytes gives
    /// type(uint256).max, which the caller reports as an unread balance (never as zero).
    function tokenBalances(address token, address[] calldata holders) external view returns (uint256[] memory out) {
        out = new uint256[](holders.length);
        for (uint256 i = 0; i < holders.length; ++i) {
            (bool ok, bytes memory data) = token.staticcall(abi.encodeWithSelector(0x70a08231, holders[i]));
            out[i] = (ok && data.length >= 32) ? abi.decode(data, (uint256)) : type(uint256).max;
        }
    }
}
