"""Pure ownership-signature verification: bytes in, verdicts out, no I/O.

>>> from signatures import Claim, verify_claim
>>> verify_claim(Claim(coin="ETH", network="ETH", address="0x..", message="I am an OKX address",
...                    signature1="0x..")).status
"""

from .dispatch import verify_claim
from .model import Claim, Status, Verdict
from .registry import SCHEMES, SchemeRef, resolve

__all__ = ["Claim", "Status", "Verdict", "verify_claim", "resolve", "SCHEMES", "SchemeRef"]
