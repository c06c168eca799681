"""Bitcoin family: BIP-137 compact signatures, BIP-322 simple, OKX's MPC (0x) signatures, multisig.

Single-key rows prove control when the recovered key hashes to the address (P2PKH, P2SH-P2WPKH,
P2WPKH) or a BIP-322 witness validates (P2WPKH, P2TR). Multisig rows (P2SH, P2SH-P2WSH, P2WSH) need
the script to hash to the address and at least ``m`` DISTINCT recovered signers among its keys.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import NamedTuple

from .encoding import EncodingError, b58check_decode, cashaddr_decode, segwit_decode, parse_hex
from .hashing import hash160, keccak256, sha256, sha256d, varstr
from .model import Claim, Verdict, failed, unsupported, verified
from .secp256k1 import compress, recover


@dataclass(frozen=True, slots=True)
class UtxoParams:
    name: str
    magic: str  # signed-message header
    p2pkh: tuple[bytes, ...]  # base58 version prefixes
    p2sh: tuple[bytes, ...]
    hrp: str = ""  # segwit human-readable part ("" = no segwit)
    cashaddr_prefixes: tuple[str, ...] = ()


_BTC_MAGIC = "Bitcoin Signed Message:\n"
PARAMS: dict[str, UtxoParams] = {
    "BTC": UtxoParams("BTC", _BTC_MAGIC, (b"\x00",), (b"\x05",), "bc"),
    "BCH": UtxoParams("BCH", _BTC_MAGIC, (b"\x00",), (b"\x05",), "", ("bitcoincash", "ecash")),
    "BCD": UtxoParams("BCD", "Bitcoindiamond Signed Message:\n", (b"\x00",), (b"\x05",), "bcd"),
    "BTG": UtxoParams("BTG", "Bitcoin Gold Signed Message:\n", (bytes([38]),), (bytes([23]),), "btg"),
    "LTC": UtxoParams("LTC", "Litecoin Signed Message:\n", (bytes([48]),), (bytes([50]), b"\x05"), "ltc"),
    "DOGE": UtxoParams("DOGE", "Dogecoin Signed Message:\n", (bytes([30]),), (bytes([22]),)),
    "DASH": UtxoParams("DASH", "DarkCoin Signed Message:\n", (bytes([76]),), (bytes([16]),)),
    "DGB": UtxoParams("DGB", "DigiByte Signed Message:\n", (bytes([30]),), (bytes([63]), b"\x05"), "dgb"),
    "QTUM": UtxoParams("QTUM", "Qtum Signed Message:\n", (bytes([58]),), (bytes([50]),), "qc"),
    "RVN": UtxoParams("RVN", "Raven Signed Message:\n", (bytes([60]),), (bytes([122]),)),
    "ZEC": UtxoParams("ZEC", "Zcash Signed Message:\n", (b"\x1c\xb8",), (b"\x1c\xbd",)),
    "ZEN": UtxoParams("ZEN", _BTC_MAGIC, (b"\x20\x89",), (b"\x20\x96",)),
}
# Address types without a usable rule: the reason is reported as ``unsupported``.
UNSUPPORTED_TYPES = {"DCR": "Decred addresses use BLAKE-256 checksums and a different message hash"}

OKX_HEADER = b"OKX Signed Message:\n"


@dataclass(frozen=True, slots=True)
class UtxoAddress:
    kind: str  # p2pkh | p2sh | p2wpkh | p2wsh | p2tr | segwit
    payload: bytes  # hash160, script hash or witness program
    version: int = 0  # witness version


def decode_address(address: str, params: UtxoParams) -> UtxoAddress:
    a = address.strip()
    low = a.lower()
    if params.hrp and low.startswith(params.hrp + "1"):
        version, program = segwit_decode(params.hrp, a)
        if version == 0:
            return UtxoAddress("p2wpkh" if len(program) == 20 else "p2wsh", program, 0)
        if version == 1 and len(program) == 32:
            return UtxoAddress("p2tr", program, 1)
        return UtxoAddress("segwit", program, version)
    if params.cashaddr_prefixes and (":" in a or low[:1] in ("q", "p")):
        prefix, addr_type, body = cashaddr_decode(a, params.cashaddr_prefixes[0])
        if prefix not in params.cashaddr_prefixes:
            raise EncodingError(f"cashaddr prefix {prefix!r} is not {params.name}'s")
        if len(body) != 20 or addr_type not in (0, 1):
            raise EncodingError("unsupported cashaddr type")
        return UtxoAddress("p2pkh" if addr_type == 0 else "p2sh", body)
    raw = b58check_decode(a)
    for kind, versions in (("p2pkh", params.p2pkh), ("p2sh", params.p2sh)):
        for v in versions:
            if raw.startswith(v) and len(raw) == len(v) + 20:
                return UtxoAddress(kind, raw[len(v) :])
    raise EncodingError(f"not a {params.name} address (version bytes {raw[:2].hex()})")


_digest_cache: dict[tuple[str, str], bytes] = {}


def message_digest(magic: str, message: str) -> bytes:
    key = (magic, message)
    d = _digest_cache.get(key)
    if d is None:
        d = sha256d(varstr(magic.encode()) + varstr(message.encode()))
        if len(_digest_cache) > 4096:
            _digest_cache.clear()
        _digest_cache[key] = d
    return d


def okx_ecdsa_digest(message: str) -> bytes:
    key = ("\x00okx", message)
    d = _digest_cache.get(key)
    if d is None:
        d = keccak256(varstr(OKX_HEADER) + varstr(message.encode()))
        _digest_cache[key] = d
    return d


class Recovered(NamedTuple):
    pubkey: bytes  # SEC encoding as the signature's header implies (33 or 65 bytes)
    scheme: str  # bip137 | okx-mpc
    header: int


def recover_signer(signature: str, message: str, params: UtxoParams) -> Recovered | None:
    """Recover the key of a BIP-137 base64 signature or an OKX MPC ``0x`` R||S||V signature.

    Returns ``None`` when nothing recovers. Raises EncodingError when the text is neither form
    (BIP-322 witnesses are handled by the caller).
    """
    if signature[:2] in ("0x", "0X"):
        raw = parse_hex(signature)
        if len(raw) != 65:
            raise EncodingError(f"signature is {len(raw)} bytes, expected 65")
        v = raw[64]
        if not 27 <= v <= 34:
            raise EncodingError(f"signature V byte {v} is not 27..34")
        pub = recover(raw[:64], (v - 27) & 3, okx_ecdsa_digest(message), compressed=True)
        return None if pub is None else Recovered(pub, "okx-mpc", v)
    raw = _b64(signature)
    if len(raw) != 65:
        raise EncodingError(f"compact signature is {len(raw)} bytes, expected 65")
    header = raw[0]
    if not 27 <= header <= 42:
        raise EncodingError(f"BIP-137 header byte {header} is not 27..42")
    compressed = header >= 31
    pub = recover(raw[1:], (header - 27) & 3, message_digest(params.magic, message), compressed=compressed)
    return None if pub is None else Recovered(pub, "bip137", header)


def _b64(text: str) -> bytes:
    try:  # strict: only the base64 alphabet, padding only at the end (3x cheaper than b64decode(validate=True))
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("signature is neither 0x-hex nor base64") from exc


def parse_multisig(script: bytes) -> tuple[int, list[bytes]]:
    """``OP_m <key>... OP_n OP_CHECKMULTISIG`` -> (m, keys). Raises EncodingError otherwise."""
    if len(script) < 3 or script[-1] != 0xAE:
        raise EncodingError("script is not a bare multisig (no OP_CHECKMULTISIG)")
    m_op, n_op = script[0], script[-2]
    if not (0x51 <= m_op <= 0x60 and 0x51 <= n_op <= 0x60):
        raise EncodingError("script is not a bare multisig (bad OP_m/OP_n)")
    keys: list[bytes] = []
    i = 1
    end = len(script) - 2
    while i < end:
        size = script[i]
        if size not in (33, 65) or i + 1 + size > end:
            raise EncodingError(f"bad key push at script byte {i}")
        keys.append(script[i + 1 : i + 1 + size])
        i += 1 + size
    m, n = m_op - 0x50, n_op - 0x50
    if i != end or len(keys) != n or not 1 <= m <= n:
        raise EncodingError(f"multisig script declares {m}-of-{n} with {len(keys)} keys")
    return m, keys


def _single_key_match(pub: bytes, addr: UtxoAddress) -> str | None:
    """Which address form of ``pub`` equals ``addr`` ("p2pkh", "p2sh-p2wpkh", "p2wpkh"), if any."""
    h = hash160(pub)
    if addr.kind == "p2pkh":
        return "p2pkh" if h == addr.payload else None
    if len(pub) != 33:
        return None  # segwit forms exist only for compressed keys
    if addr.kind == "p2wpkh":
        return "p2wpkh" if h == addr.payload else None
    if addr.kind == "p2sh":
        return "p2sh-p2wpkh" if hash160(b"\x00\x14" + h) == addr.payload else None
    return None


def verify_utxo(claim: Claim, addr_type: str) -> Verdict:
    if addr_type in UNSUPPORTED_TYPES:
        return unsupported(f"utxo-{addr_type.lower()}", UNSUPPORTED_TYPES[addr_type])
    params = PARAMS.get(addr_type) or PARAMS["BTC"]
    try:
        addr = decode_address(claim.address, params)
    except EncodingError as exc:
        return failed(f"utxo-{params.name.lower()}", f"address does not decode as {params.name}: {exc}")
    if claim.script_or_pubkey and addr.kind in ("p2sh", "p2wsh"):
        try:
            script = parse_hex(claim.script_or_pubkey)
        except EncodingError as exc:
            return failed(f"multisig-{params.name.lower()}", f"redeem script: {exc}")
        if not (addr.kind == "p2sh" and len(script) == 33):  # a key, not a script: P2SH-P2WPKH
            return _verify_multisig(claim, params, addr, script)
    verdict = _verify_single(claim, params, addr)
    if verdict.ok and claim.script_or_pubkey:
        problem = _script_column_problem(parse_hex(claim.script_or_pubkey), addr, verdict)
        if problem:
            return failed(verdict.scheme, problem)
    return verdict


def _script_column_problem(cell: bytes, addr: UtxoAddress, verdict: Verdict) -> str:
    """A single-key row may repeat its scriptPubKey or key in the script column: it must agree."""
    spk = {
        "p2pkh": b"\x76\xa9\x14" + addr.payload + b"\x88\xac",
        "p2sh": b"\xa9\x14" + addr.payload + b"\x87",
        "p2wpkh": b"\x00\x14" + addr.payload,
        "p2tr": b"\x51\x20" + addr.payload,
    }.get(addr.kind)
    if cell == spk:
        return ""
    if len(cell) in (33, 65) and verdict.reason.startswith("key "):
        return "" if compress(cell).hex() in verdict.reason else "script column key is not the signer"
    return f"script column ({len(cell)} bytes) is neither this address's scriptPubKey nor the signing key"


def _verify_single(claim: Claim, params: UtxoParams, addr: UtxoAddress) -> Verdict:
    sig = claim.signature1
    if not sig:
        return failed("bip137", "no signature")
    if addr.kind in ("p2wsh", "segwit"):
        return failed("bip137", f"{addr.kind} address needs a script (redeem/witness script column is empty)")
    if sig[:2] not in ("0x", "0X"):
        raw = _b64(sig)
        if len(raw) != 65:  # a BIP-322 witness stack
            return _verify_bip322(claim, addr, params)
    if addr.kind == "p2tr":
        return failed("bip137", "taproot address needs a BIP-322 signature, not a compact one")
    rec = recover_signer(sig, claim.message, params)
    if rec is None:
        return failed("bip137", "no key recovers from the signature")
    form = _single_key_match(rec.pubkey, addr)
    scheme = f"{rec.scheme}-{params.name.lower()}"
    if form is None:
        return failed(scheme, f"recovered key {rec.pubkey.hex()} does not hash to {claim.address}")
    if rec.scheme == "bip137" and rec.header not in _HEADERS[form]:
        return failed(scheme, f"header byte {rec.header} names another address type than {form} (BIP-137)")
    return verified(f"{scheme}-{form}", f"key {compress(rec.pubkey).hex()}")


# BIP-137 header bytes by the address they are for: 27-30 P2PKH of an uncompressed key, 31-34 of a
# compressed one, 35-38 P2SH-P2WPKH, 39-42 P2WPKH. Signers that predate BIP-137 (Electrum, Bitcoin
# Core) write 31-34 for segwit addresses too, so those stand for any compressed key; a segwit header
# on a P2PKH address does not. (The key's form is already bound: it decides the hash compared.)
_HEADERS: dict[str, range | tuple[int, ...]] = {
    "p2pkh": range(27, 35),
    "p2sh-p2wpkh": range(31, 39),
    "p2wpkh": (*range(31, 35), *range(39, 43)),
}


def _verify_bip322(claim: Claim, addr: UtxoAddress, params: UtxoParams) -> Verdict:
    if addr.kind not in ("p2wpkh", "p2tr"):
        return failed("bip322-simple", f"BIP-322 simple is defined here for P2WPKH/P2TR, not {addr.kind}")
    from .bip322 import verify_simple  # local import: only rows that need it pay for it

    ok, detail = verify_simple(addr.version, addr.payload, claim.message.encode(), claim.signature1)
    scheme = f"bip322-simple-{addr.kind}"
    return verified(scheme) if ok else failed(scheme, detail or "BIP-322 witness does not validate")


def _script_matches(script: bytes, addr: UtxoAddress) -> str | None:
    if addr.kind == "p2sh":
        if hash160(script) == addr.payload:
            return "p2sh"
        if hash160(b"\x00\x20" + sha256(script)) == addr.payload:
            return "p2sh-p2wsh"
        return None
    if addr.kind == "p2wsh":
        return "p2wsh" if sha256(script) == addr.payload else None
    return None


_MULTISIG_VERIFIED: dict[tuple[object, ...], Verdict] = {}  # (scheme, m, n, signer indexes) -> Verdict (few per file)


def _verify_multisig(claim: Claim, params: UtxoParams, addr: UtxoAddress, script: bytes) -> Verdict:
    scheme = f"multisig-{params.name.lower()}"
    form = _script_matches(script, addr)
    if form is None:
        if addr.kind in ("p2pkh", "p2wpkh", "p2tr"):
            return failed(scheme, f"{addr.kind} address with a script: the script cannot hash to it")
        return failed(scheme, f"script does not hash to {claim.address}")
    scheme = f"{scheme}-{form}"
    try:
        m, keys = parse_multisig(script)
    except EncodingError as exc:
        return unsupported(scheme, f"script hashes to the address but is not bare multisig: {exc}")
    points = {compress(k): idx for idx, k in enumerate(keys, 1)}
    signers: dict[int, str] = {}
    problems = []
    for label, sig in (("signature1", claim.signature1), ("signature2", claim.signature2)):
        if not sig:
            continue
        try:
            rec = recover_signer(sig, claim.message, params)
        except EncodingError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if rec is None:
            problems.append(f"{label}: no key recovers")
            continue
        idx = points.get(compress(rec.pubkey))
        if idx is None:
            problems.append(f"{label}: signer {compress(rec.pubkey).hex()} is not a key of the script")
        elif rec.scheme == "bip137" and (rec.header > 34 or (rec.header >= 31) != (len(keys[idx - 1]) == 33)):
            # a co-signer's header says its key's form, as the script holds it; 35-42 name single-key addresses
            problems.append(f"{label}: header byte {rec.header} does not fit key #{idx} "
                            f"({'compressed' if len(keys[idx - 1]) == 33 else 'uncompressed'}) of a multisig script")
        elif idx in signers:
            problems.append(f"{label}: key #{idx} already signed (duplicate signer)")
        else:
            signers[idx] = label
    if len(signers) >= m:
        key = (scheme, m, len(keys), *sorted(signers))
        verdict = _MULTISIG_VERIFIED.get(key)
        if verdict is None:
            if len(_MULTISIG_VERIFIED) > 4096:
                _MULTISIG_VERIFIED.clear()
            verdict = _MULTISIG_VERIFIED[key] = verified(
                scheme, f"{len(signers)} distinct signers of {m}-of-{len(keys)} (keys #{', #'.join(map(str, key[3:]))})")
        return verdict
    got = f"{len(signers)} distinct valid signer(s), {m}-of-{len(keys)} needs {m}"
    return failed(scheme, got + (": " + "; ".join(problems) if problems else ""))
