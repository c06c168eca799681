// SPDX-License-Identifier: MIT
// Test-only doubles of BNB Chain's StakeHub (system contract 0x...2002) and StakeCredit with the same
// view ABI porscan reads (bnb-chain/bsc-genesis-contract contracts/BC_fusion/StakeHub.sol and
// StakeCredit.sol): getValidators(offset, limit) paginated as StakeHub does it, getPooledBNB(delegator)
// as shares * totalPooledBNB / totalSupply, lockedBNBs(delegator, number) over the unbond queue.
// The tests put TestStakeHub's runtime at the system address with anvil_setCode and change state by
// real transactions, so reads at a past block see the old state.
pragma solidity ^0.8.20;

contract TestStakeHub {
    address[] private _operators;
    address[] private _credits;

    function addValidator(address operatorAddr, address credit) external {
        _operators.push(operatorAddr);
        _credits.push(credit);
    }

    function getValidators(uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory operatorAddrs, address[] memory creditAddrs, uint256 totalLength)
    {
        totalLength = _operators.length;
        if (offset >= totalLength) {
            return (operatorAddrs, creditAddrs, totalLength);
        }
        limit = limit == 0 ? totalLength : limit;
        uint256 count = (totalLength - offset) > limit ? limit : (totalLength - offset);
        operatorAddrs = new address[](count);
        creditAddrs = new address[](count);
        for (uint256 i; i < count; ++i) {
            operatorAddrs[i] = _operators[offset + i];
            creditAddrs[i] = _credits[offset + i];
        }
    }
}

contract TestStakeCredit {
    struct UnbondRequest {
        uint256 shares;
        uint256 bnbAmount;
        uint256 unlockTime;
    }

    uint256 public totalPooledBNB;
    uint256 public totalSupply;
    bool public broken; // every view reverts (a credit contract that cannot be read)
    mapping(address => uint256) public balanceOf;
    mapping(address => UnbondRequest[]) private _queue;

    constructor(uint256 pooled, uint256 supply) {
        totalPooledBNB = pooled;
        totalSupply = supply;
    }

    function setBroken(bool value) external {
        broken = value;
    }

    function delegate(address delegator, uint256 shares) external {
        balanceOf[delegator] += shares;
        totalSupply += shares;
        totalPooledBNB += (shares * totalPooledBNB) / (totalSupply - shares);
    }

    function undelegate(address delegator, uint256 shares) external {
        uint256 bnb = getPooledBNBByShares(shares);
        balanceOf[delegator] -= shares;
        totalSupply -= shares;
        totalPooledBNB -= bnb;
        _queue[delegator].push(UnbondRequest(shares, bnb, block.timestamp + 7 days));
    }

    function claimAll(address delegator) external {
        delete _queue[delegator];
    }

    function getPooledBNBByShares(uint256 shares) public view returns (uint256) {
        require(!broken, "broken");
        return (shares * totalPooledBNB) / totalSupply;
    }

    function getPooledBNB(address account) external view returns (uint256) {
        return getPooledBNBByShares(balanceOf[account]);
    }

    function pendingUnbondRequest(address delegator) external view returns (uint256) {
        return _queue[delegator].length;
    }

    function lockedBNBs(address delegator, uint256 number) external view returns (uint256 total) {
        require(!broken, "broken");
        UnbondRequest[] storage q = _queue[delegator];
        number = (number == 0 || number > q.length) ? q.length : number;
        for (uint256 i; i < number; ++i) {
            total += q[i].bnbAmount;
        }
    }
}
