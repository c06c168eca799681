// SPDX-License-Identifier: MIT
// Minimal ERC-20 for porscan's tests (state: name, symbol, totalSupply, balanceOf at slot 3).
pragma solidity ^0.8.20;

contract TestToken {
    string public name;
    string public symbol;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    uint8 public immutable decimals;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(string memory n, string memory s, uint8 d) {
        name = n;
        symbol = s;
        decimals = d;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }
}

/// A token whose balanceOf always reverts: a read of it must be an error, never a zero.
contract RevertingToken {
    uint8 public constant decimals = 6;

    function balanceOf(address) external pure returns (uint256) {
        revert("nope");
    }
}

/// Test double with Multicall3's ABI (aggregate3, getEthBalance), placed at Multicall3's address
/// on anvil with anvil_setCode, so the multicall3 read path runs against a real EVM.
contract Multicall3Compatible {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
        returnData = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = calls[i].target.call(calls[i].callData);
            require(ok || calls[i].allowFailure, "Multicall3: call failed");
            returnData[i] = Result(ok, ret);
        }
    }

    function getEthBalance(address addr) external view returns (uint256) {
        return addr.balance;
    }
}
