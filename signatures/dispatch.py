"""One entry point: pick the scheme for a row's (coin, network) and run it, never raising."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from .encoding import EncodingError
from .model import Claim, Status, Verdict, failed, has_signature, key_only, unsigned, unsupported
from .registry import Resolution, SchemeRef, resolve_name


def _starknet(claim: Claim, addr_type: str) -> Verdict:
    from .starknet import verify_starknet_row  # local: pure-Python curve maths, rare rows

    if not claim.script_or_pubkey:
        return failed("starknet-typed-data-rev0", "no public key given")
    if not verify_starknet_row(claim.address, claim.message, claim.signature1, claim.script_or_pubkey):
        return failed("starknet-typed-data-rev0", "STARK signature does not verify under the given key")
    return key_only("starknet-typed-data-rev0", "signature proves the key; the account contract's signer is on-chain state, not checked")


def _family(name: str) -> Verifier:
    if name == "evm":
        from .evm import verify_evm as f
    elif name == "tron":
        from .tron import verify_tron as f
    elif name == "utxo":
        from .utxo import verify_utxo as f
    elif name == "okx_ecdsa":
        from .okx_ecdsa import verify_okx_ecdsa as f
    elif name == "ed25519":
        from .ed25519 import verify_ed25519 as f
    elif name == "eos":
        from .eos import verify_eos as f
    elif name == "bls":
        from .bls import verify_bls as f
    elif name == "starknet":
        f = _starknet
    else:  # pragma: no cover - table and code are kept in step by tests
        raise KeyError(name)
    return f


# The modules of this package that are imported inside functions (a family on its first row, the
# rare helpers): import_all imports every one. A test keeps the list complete.
LAZY_MODULES = ("evm", "tron", "utxo", "okx_ecdsa", "ed25519", "eos", "bls", "starknet", "bip322", "ton")


def import_all() -> None:
    """Import now every module verification may import on first use (~35 ms).

    For a process about to fork verify workers while its other threads may be importing: a module
    half-imported at the fork stays locked in the child for ever (the thread importing it is not
    there), and a worker that needs it hangs. Importing it in the forking thread first waits for the
    other thread's import to end, so no worker inherits one half-done."""
    for name in LAZY_MODULES:
        importlib.import_module(f"{__package__}.{name}")


Verifier = Callable[[Claim, str], Verdict]  # one scheme family: (claim, address type) -> verdict
_FAMILIES: dict[str, Verifier] = {}


def _unknown_coin(claim: Claim, why: str = "") -> Verdict:
    """No scheme for the coin: a secp256k1 key in the key column still allows OKX-ECDSA key mode."""
    why = why or f"no signature scheme known for coin {claim.coin!r} network {claim.network!r}"
    if claim.script_or_pubkey and claim.signature1[:2] in ("0x", "0X"):
        from .okx_ecdsa import verify_okx_ecdsa

        try:
            verdict = verify_okx_ecdsa(claim, "")
        except EncodingError:
            verdict = None
        if verdict is not None and verdict.status is Status.KEY_ONLY:
            return key_only(verdict.scheme, f"{why}; {verdict.reason}")
        return unsupported("unknown", f"{why}; the signature is not OKX-ECDSA by the given key either")
    return unsupported("unknown", why)


def verify_claim(claim: Claim, keyed_by_network: bool = False, scheme: SchemeRef | None = None) -> Verdict:
    """Check one row's ownership claim. Pure; returns a Verdict for any input, never raises.

    ``claim`` is a :class:`Claim` or any object with the same attributes (the ingest's
    ``ReserveRow`` is passed as is, saving a copy per row on the hot path). Without ``scheme`` the
    coin name is resolved with the row's address (:func:`signatures.registry.resolve_name`).
    """
    if scheme is not None:
        return _run(_family_fn(scheme.family), claim, scheme)
    return verify_claims([claim], keyed_by_network, resolve_name(claim.coin, claim.network, claim.address, keyed_by_network))[0]


def verify_claims(claims: Sequence[Claim], keyed_by_network: bool, how: Resolution | SchemeRef | None) -> list[Verdict]:
    """:func:`verify_claim` over many claims of one resolution (same coin, network and address
    format): the family is looked up once, and running one scheme after another keeps its code and
    curve tables hot. A resolution's note (e.g. "resolved by address format only") is added to the
    reason of every verdict it gives."""
    if isinstance(how, Resolution):
        scheme, note, why = how.scheme, how.note, how.reason
    else:
        scheme, note, why = how, "", ""
    if scheme is None:
        return [_unresolved(c, why) for c in claims]
    fn = _family_fn(scheme.family)
    verdicts = [_run(fn, c, scheme) for c in claims]
    if note:
        verdicts = [v if v.status is Status.UNSIGNED else Verdict(v.status, v.scheme, f"{v.reason}; {note}" if v.reason else note)
                    for v in verdicts]
    return verdicts


def _unresolved(claim: Claim, why: str) -> Verdict:
    if not has_signature(claim):
        return _UNSIGNED
    try:
        return _unknown_coin(claim, why)
    except Exception as exc:  # same promise as _run: never raise, never pass
        return unsupported("unknown", f"no scheme for coin {claim.coin!r}; verifier error {type(exc).__name__}")


def _family_fn(family: str) -> Verifier:
    fn = _FAMILIES.get(family)
    if fn is None:
        fn = _FAMILIES[family] = _family(family)
    return fn


_UNSIGNED = unsigned()


def _run(fn: Verifier, claim: Claim, scheme: SchemeRef) -> Verdict:
    if not (claim.signature1 or claim.signature2):  # has_signature, inlined: once per row
        return _UNSIGNED
    try:
        return fn(claim, scheme.addr_type)
    except EncodingError as exc:
        return failed(scheme.family, f"malformed input: {exc}")
    except Exception as exc:  # a verifier bug must not stop the run, and must not pass the row
        return failed(scheme.family, f"verifier error {type(exc).__name__}: {exc}")
