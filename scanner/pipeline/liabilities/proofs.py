"""What porscan concluded about one liabilities proof: the record every proof checker returns.

``status``: ``verified`` (porscan recomputed everything the proof binds and it held), ``failed`` (a
check did not hold: ``reason`` names the first one, with the file and the JSON path or batch), or
``not_verified`` (porscan cannot check this kind of proof here, said plainly; not a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

VERIFIED = "verified"
FAILED = "failed"
NOT_VERIFIED = "not_verified"
STATUSES = (VERIFIED, FAILED, NOT_VERIFIED)


@dataclass(frozen=True, slots=True)
class ProofCheck:
    file: str  # the proof file (or folder) as given
    kind: str  # e.g. okx-zk-stark-v1-sum, okx-zk-stark-v1-inclusion, okx-v2-inclusion, okx-v2-global
    status: str  # verified | failed | not_verified
    reason: str = ""  # why failed / not verified; what was checked when verified
    detail: Mapping[str, Any] = field(default_factory=dict)  # kind-specific figures (JSON-ready values only)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"proof status {self.status!r} is not one of {STATUSES}")

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "kind": self.kind, "status": self.status, "reason": self.reason,
                **({"detail": dict(self.detail)} if self.detail else {})}
