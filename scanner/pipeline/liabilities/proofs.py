"""What porscan concluded about one liabilities proof: the record every proof checker returns
(``ProofCheck``, kept with the domain records so the scan report can carry it)."""

from __future__ import annotations

from ...records import FAILED, NOT_VERIFIED, STATUSES, VERIFIED, ProofCheck  # noqa: F401
