"""Domain records of ownership verification: what a row claims and what porscan concluded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    """Outcome of one row. Only ``VERIFIED`` means "the signature proves control of the address"."""

    VERIFIED = "verified"  # signature(s) prove control of the published address
    FAILED = "failed"  # a check was made and did not hold (reason says which)
    UNSIGNED = "unsigned"  # the row publishes no signature: nothing to check, nothing malformed
    KEY_ONLY = "key_only"  # signature proves a key; the key->address link is not derivable offline
    OWNER_ONLY = "owner_only"  # owners' signatures hold; owner->contract/validator link not checked
    UNSUPPORTED = "unsupported"  # scheme or address kind porscan cannot check (reason says which)
    SKIPPED = "skipped"  # not checked on purpose (filtered out, reason says why)
    INVALID_ROW = "invalid_row"  # the row could not be parsed

    def __str__(self) -> str:  # so f-strings and CSV writers print the value
        return self.value


STATUS_ORDER: tuple[Status, ...] = tuple(Status)


@dataclass(frozen=True, slots=True)
class Claim:
    """The ownership claim of one reserve row, as text from the file (cells stripped, empties "")."""

    coin: str
    network: str
    address: str
    message: str
    signature1: str = ""
    signature2: str = ""
    script_or_pubkey: str = ""
    eoa1: str = ""
    eoa2: str = ""
    type: str = ""  # staking type of 12-column rows


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    scheme: str  # which construction was checked, e.g. "evm-okx-keccak", "bip137-p2wpkh"
    reason: str = ""  # why (always set unless verified with nothing to add)

    @property
    def ok(self) -> bool:
        return self.status is Status.VERIFIED


_VERIFIED: dict[tuple[str, str], Verdict] = {}


def verified(scheme: str, reason: str = "") -> Verdict:
    # verdicts are immutable: one object per (scheme, reason) serves every row (a file has few of them,
    # e.g. "2 distinct signers of 2-of-3 (keys #1, #3)"); bounded in case reasons vary per row
    v = _VERIFIED.get((scheme, reason))
    if v is None:
        if len(_VERIFIED) > 10_000:
            _VERIFIED.clear()
        v = _VERIFIED[(scheme, reason)] = Verdict(Status.VERIFIED, scheme, reason)
    return v


def failed(scheme: str, reason: str) -> Verdict:
    return Verdict(Status.FAILED, scheme, reason)


def key_only(scheme: str, reason: str) -> Verdict:
    return Verdict(Status.KEY_ONLY, scheme, reason)


def owner_only(scheme: str, reason: str) -> Verdict:
    return Verdict(Status.OWNER_ONLY, scheme, reason)


def unsupported(scheme: str, reason: str) -> Verdict:
    return Verdict(Status.UNSUPPORTED, scheme, reason)


def unsigned(scheme: str = "", reason: str = "the row publishes no signature") -> Verdict:
    return Verdict(Status.UNSIGNED, scheme, reason)


def has_signature(claim: Claim) -> bool:
    """Does the row publish any signature? (Ingest reads ``-``/``null`` cells as empty.)"""
    return bool(claim.signature1 or claim.signature2)
