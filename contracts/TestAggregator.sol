// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Test-only Chainlink-style aggregator (AggregatorV3Interface's read side): rounds set by
/// transactions, each with its own answer and updatedAt, so that latestRoundData() read at an older
/// block gives that block's round. Answers may be zero or negative, to test that readers refuse them.
contract TestAggregator {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    uint8 public immutable decimals;
    string public description;
    uint80 public latestRound;
    mapping(uint80 => Round) private rounds;

    constructor(uint8 decimals_, string memory description_) {
        decimals = decimals_;
        description = description_;
    }

    /// A new round: ``updatedAt`` is given (not block.timestamp) so tests can make a stale answer.
    function setRound(int256 answer, uint256 updatedAt) external {
        latestRound += 1;
        rounds[latestRound] = Round(answer, updatedAt, updatedAt);
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        require(roundId != 0 && roundId <= latestRound, "No data present");
        Round memory r = rounds[roundId];
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }

    function version() external pure returns (uint256) {
        return 4;
    }
}
