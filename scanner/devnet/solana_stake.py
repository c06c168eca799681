"""Solana stake accounts made by the real Stake program, for the FAKE Solana JSON-RPC (tests, bench).

No validator runs here, but ``solders.litesvm`` runs Solana's own Stake and Vote programs in process:
every stake account the FAKE node serves is created, delegated and deactivated by those programs'
instructions, so its bytes are the chain's ``StakeStateV2`` and not porscan's idea of that layout.
The instruction encodings are bincode enums (``StakeInstruction``: 0 Initialize, 2 DelegateStake,
5 Deactivate; ``VoteInstruction``: 0 InitializeAccount).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.account import Account
from solders.clock import Clock
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction

STAKE_PROGRAM = Pubkey.from_string("Stake11111111111111111111111111111111111111")
VOTE_PROGRAM = Pubkey.from_string("Vote111111111111111111111111111111111111111")
_SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
_RENT = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
_CLOCK = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
_STAKE_HISTORY = Pubkey.from_string("SysvarStakeHistory1111111111111111111111111")
_STAKE_CONFIG = Pubkey.from_string("StakeConfig11111111111111111111111111111111")
STAKE_SPACE = 200
VOTE_SPACE = 3762  # VoteState::size_of()


@dataclass(frozen=True, slots=True)
class MadeStakeAccount:
    address: str
    lamports: int
    data: bytes  # StakeStateV2 as the Stake program wrote it


class StakeMaker:
    """Stake accounts of any withdrawer, in any state, written by the Stake program in a LiteSVM."""

    def __init__(self, seed: bytes = b"porscan-stake-maker") -> None:
        self.svm = LiteSVM()
        self.payer = Keypair.from_seed(_seed32(seed + b"/payer"))
        self._refill()
        self._n = 0
        self._seed = seed
        node, self.vote = self._key("node"), self._key("vote")
        init = (struct.pack("<I", 0) + bytes(node.pubkey()) * 3 + b"\x00")
        self._send([create_account(CreateAccountParams(
            from_pubkey=self.payer.pubkey(), to_pubkey=self.vote.pubkey(),
            lamports=self.svm.minimum_balance_for_rent_exemption(VOTE_SPACE), space=VOTE_SPACE, owner=VOTE_PROGRAM)),
            Instruction(VOTE_PROGRAM, init, [AccountMeta(self.vote.pubkey(), False, True), AccountMeta(_RENT, False, False),
                                             AccountMeta(_CLOCK, False, False), AccountMeta(node.pubkey(), True, False)])],
            self.vote, node)

    def _refill(self) -> None:
        """A payer rich enough for any reserve (the faucet's airdrop is capped), topped up when low."""
        self.svm.set_account(self.payer.pubkey(), Account(lamports=2**63, data=b"", owner=_SYSTEM, executable=False))

    def _key(self, label: str) -> Keypair:
        return Keypair.from_seed(_seed32(self._seed + b"/" + label.encode()))

    def _send(self, ixs: list[Instruction], *signers: Keypair) -> None:
        tx = Transaction.new_signed_with_payer(ixs, self.payer.pubkey(), [self.payer, *signers], self.svm.latest_blockhash())
        result = self.svm.send_transaction(tx)
        if type(result).__name__ == "FailedTransactionMetadata":
            raise RuntimeError(f"stake program refused: {result.err()} {result.meta().logs()}")  # type: ignore[union-attr]
        self.svm.expire_blockhash()

    def _at_epoch(self, epoch: int) -> None:
        c = self.svm.get_clock()
        self.svm.set_clock(Clock(slot=c.slot, epoch_start_timestamp=c.epoch_start_timestamp, epoch=epoch,
                                 leader_schedule_epoch=epoch + 1, unix_timestamp=c.unix_timestamp))

    def make(self, withdrawer: str, lamports: int, *, delegate_at: int | None = None,
             deactivate_at: int | None = None, staker_key: Keypair | None = None) -> MadeStakeAccount:
        """A stake account holding ``lamports`` (rent reserve included), withdrawable by ``withdrawer``:
        initialized only, delegated in epoch ``delegate_at``, and deactivated in ``deactivate_at``.
        The stake authority is ``staker_key`` (default: the maker's payer)."""
        self._n += 1
        if (self.svm.get_balance(self.payer.pubkey()) or 0) < lamports + 10**12:
            self._refill()
        stake = self._key(f"stake/{self._n}")
        signers = [staker_key] if staker_key else []
        staker = staker_key.pubkey() if staker_key else self.payer.pubkey()
        init = struct.pack("<I", 0) + bytes(staker) + bytes(Pubkey.from_string(withdrawer)) + bytes(48)
        self._send([create_account(CreateAccountParams(from_pubkey=self.payer.pubkey(), to_pubkey=stake.pubkey(),
                                                       lamports=lamports, space=STAKE_SPACE, owner=STAKE_PROGRAM)),
                    Instruction(STAKE_PROGRAM, init, [AccountMeta(stake.pubkey(), False, True),
                                                      AccountMeta(_RENT, False, False)])], stake)
        if delegate_at is not None:
            self._at_epoch(delegate_at)
            self._send([Instruction(STAKE_PROGRAM, struct.pack("<I", 2), [
                AccountMeta(stake.pubkey(), False, True), AccountMeta(self.vote.pubkey(), False, False),
                AccountMeta(_CLOCK, False, False), AccountMeta(_STAKE_HISTORY, False, False),
                AccountMeta(_STAKE_CONFIG, False, False), AccountMeta(staker, True, False)])], *signers)
        if deactivate_at is not None:
            self._at_epoch(deactivate_at)
            self._send([Instruction(STAKE_PROGRAM, struct.pack("<I", 5), [
                AccountMeta(stake.pubkey(), False, True), AccountMeta(_CLOCK, False, False),
                AccountMeta(staker, True, False)])], *signers)
        acct = self.svm.get_account(stake.pubkey())
        assert acct is not None and acct.owner == STAKE_PROGRAM
        return MadeStakeAccount(str(stake.pubkey()), acct.lamports, bytes(acct.data))


def _seed32(label: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(label).digest()


@dataclass(frozen=True, slots=True)
class StakeTruth:
    """What an owner's stake accounts add: all their lamports, and the non-liquid parts of them."""

    lamports: int
    staked: int
    unbonding: int


def stake_world(fake, owners: list[str], maker: StakeMaker | None = None) -> dict[str, StakeTruth]:
    """Stake accounts in every state for most of ``owners`` on a FakeSolana (at the fake's current
    epoch), plus accounts the owners only stake for (another withdrawer): those are never theirs."""
    import random

    maker = maker or StakeMaker()
    epoch = fake.epoch()
    rng = random.Random("stake-world")
    truth: dict[str, StakeTruth] = {}
    program = str(STAKE_PROGRAM)
    for i, owner in enumerate(owners):
        lamports = staked = unbonding = 0
        if i % 5 == 4:  # no stake accounts at all
            truth[owner] = StakeTruth(0, 0, 0)
            continue
        states = [("active", {"delegate_at": epoch - 30})]
        if i % 2 == 0:
            states.append(("deactivating", {"delegate_at": epoch - 20, "deactivate_at": epoch}))
        if i % 3 == 0:
            states.append(("inactive", {"delegate_at": epoch - 20, "deactivate_at": epoch - 2}))
            states.append(("initialized", {}))
        if i % 4 == 1:
            states.append(("activating", {"delegate_at": epoch}))
        for state, kw in states:
            amount = rng.randrange(2_282_880 + 10**9, 10**16) + (2**62 if i == 0 and state == "active" else 0)
            made = maker.make(owner, amount, **kw)
            fake.add_program_account(made.address, program, made.lamports, made.data)
            lamports += made.lamports
            if state in ("active", "activating"):
                staked += made.lamports
            elif state == "deactivating":
                unbonding += made.lamports
        truth[owner] = StakeTruth(lamports, staked, unbonding)
    other = str(Keypair.from_seed(_seed32(b"someone-else")).pubkey())
    made = maker.make(other, 7 * 10**9, delegate_at=epoch - 5)
    fake.add_program_account(made.address, program, made.lamports, made.data)
    return truth
