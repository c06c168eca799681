"""Text encodings of keys, addresses and signatures: hex, base58(check), bech32(m), CashAddr.

Every decoder raises :class:`EncodingError` (a ``ValueError``) on malformed input; none of them
guesses or silently truncates.
"""

from __future__ import annotations

import binascii
from typing import Iterable, Sequence

from .hashing import sha256d


class EncodingError(ValueError):
    """Input is not a valid instance of the expected encoding."""


# --------------------------------------------------------------------------------------------
# hex


def parse_hex(text: str) -> bytes:
    """Hex with or without ``0x``/``0X``; odd length or non-hex characters raise."""
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if len(text) & 1:
        raise EncodingError("odd-length hex")
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("not hex") from exc


# --------------------------------------------------------------------------------------------
# base58

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}


_B58_PAIRS = {a + b: _B58_INDEX[a] * 58 + _B58_INDEX[b] for a in B58_ALPHABET for b in B58_ALPHABET}


def b58decode(text: str) -> bytes:
    n = 0
    pairs = _B58_PAIRS
    odd = len(text) & 1
    try:
        if odd:
            n = _B58_INDEX[text[0]]
        for i in range(odd, len(text), 2):  # two digits per step: half the big-int work
            n = n * 3364 + pairs[text[i:i + 2]]
    except KeyError as exc:
        bad = next((c for c in exc.args[0] if c not in _B58_INDEX), exc.args[0])
        raise EncodingError(f"invalid base58 character {bad!r}") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * pad + body


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    alphabet = B58_ALPHABET
    while n:
        n, r = divmod(n, 58)
        out.append(alphabet[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def b58check_decode(text: str) -> bytes:
    raw = b58decode(text)
    if len(raw) < 5:
        raise EncodingError("base58check payload too short")
    payload, checksum = raw[:-4], raw[-4:]
    if sha256d(payload)[:4] != checksum:
        raise EncodingError("base58check checksum mismatch")
    return payload


def b58check_encode(payload: bytes) -> str:
    return b58encode(payload + sha256d(payload)[:4])


# --------------------------------------------------------------------------------------------
# bech32 / bech32m (BIP-173 / BIP-350)

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}
_BECH32_TRANSLATE = bytes(_BECH32_INDEX.get(chr(b), 255) for b in range(256))
BECH32_CONST = 1
BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _gen_table() -> tuple[int, ...]:
    table = []
    for b in range(32):
        x = 0
        for i in range(5):
            if (b >> i) & 1:
                x ^= _GEN[i]
        table.append(x)
    return tuple(table)


_GEN_TABLE = _gen_table()  # XOR of the generators selected by each 5-bit top value


def _gen_table_steps(steps: int) -> tuple[int, ...]:
    """``steps`` polymod steps at once: the effect of the top 5*steps bits of the checksum state."""
    shift = 30 - 5 * steps
    out = []
    for top in range(1 << (5 * steps)):
        chk = top << shift
        for _ in range(steps):
            chk = ((chk & 0x1FFFFFF) << 5) ^ _GEN_TABLE[chk >> 25]
        out.append(chk)
    return tuple(out)


_GEN_TABLE3: tuple[int, ...] = ()  # built on first use (17 ms): most commands never decode bech32


def _gen_table3() -> tuple[int, ...]:
    global _GEN_TABLE3
    if not _GEN_TABLE3:
        _GEN_TABLE3 = _gen_table_steps(3)
    return _GEN_TABLE3


def _polymod(values: Sequence[int], chk: int = 1) -> int:
    """BIP-173 checksum state from ``chk`` over ``values``; three symbols per step (the step is
    linear over GF(2), so the top bits' effect is one table lookup)."""
    table, table3 = _GEN_TABLE, _GEN_TABLE3 or _gen_table3()
    n = len(values)
    i = 0
    while i + 2 < n:
        chk = table3[chk >> 15] ^ ((chk & 0x7FFF) << 15) ^ (values[i] << 10) ^ (values[i + 1] << 5) ^ values[i + 2]
        i += 3
    while i < n:
        chk = (((chk & 0x1FFFFFF) << 5) ^ values[i]) ^ table[chk >> 25]
        i += 1
    return chk


_HALVES6: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # built on first use (8-10 ms)


def _halves6() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Six polymod steps over zero symbols, as two tables of the state's top and low 15 bits: six
    steps are linear over GF(2), so their effect on a 30-bit state is the XOR of the two halves'."""
    global _HALVES6
    if not _HALVES6[0]:
        basis = [_polymod(bytes(6), 1 << bit) for bit in range(30)]  # six steps from each one-bit state
        top, low = [0] * 32768, [0] * 32768
        for x in range(1, 32768):
            rest, bit = x & (x - 1), (x & -x).bit_length() - 1
            top[x] = top[rest] ^ basis[bit + 15]
            low[x] = low[rest] ^ basis[bit]
        _HALVES6 = (tuple(top), tuple(low))
    return _HALVES6


def _polymod_text(symbols: str, chk: int) -> int:
    """:func:`_polymod` over bech32 symbols given as their (lowercase, checked) characters: read as
    one base-32 integer by ``int(.., 32)`` (C speed), then six symbols (30 bits) per step, the state
    through :func:`_halves6`. 3.0 us against 5.4 for a 62-character P2WSH address."""
    n = len(symbols)
    value = int(symbols.translate(_TO_BASE32_DIGITS), 32) if n else 0
    top, low = _HALVES6 if _HALVES6[0] else _halves6()
    shift = 5 * n - 30
    while shift >= 0:
        chk = top[chk >> 15] ^ low[chk & 0x7FFF] ^ ((value >> shift) & 0x3FFFFFFF)
        shift -= 30
    table = _GEN_TABLE
    shift += 25  # the last n % 6 symbols, one step each
    while shift >= 0:
        chk = (((chk & 0x1FFFFFF) << 5) ^ ((value >> shift) & 31)) ^ table[chk >> 25]
        shift -= 5
    return chk


_HRP_STATE: dict[str, int] = {}


def _hrp_state(hrp: str) -> int:
    """Checksum state after the expanded human-readable part (constant per hrp)."""
    st = _HRP_STATE.get(hrp)
    if st is None:
        st = _polymod(_hrp_expand(hrp))
        if len(_HRP_STATE) < 256:
            _HRP_STATE[hrp] = st
    return st


_HRP_CACHE: dict[str, list[int]] = {}


def _hrp_expand(hrp: str) -> list[int]:
    out = _HRP_CACHE.get(hrp)
    if out is None:
        out = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
        if len(_HRP_CACHE) < 256:
            _HRP_CACHE[hrp] = out
    return out


def convertbits(data: Iterable[int], frombits: int, tobits: int, pad: bool = True) -> list[int]:
    acc = 0
    bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise EncodingError("value out of range in convertbits")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise EncodingError("invalid padding in convertbits")
    return ret


def from_5bit(data: Sequence[int]) -> bytes:
    """5-bit groups -> bytes with strict (zero, < 5 bits) padding; the fast path of convertbits."""
    n = 0
    for d in data:
        n = (n << 5) | d
    bits = 5 * len(data)
    pad = bits & 7
    if pad >= 5 or n & ((1 << pad) - 1):
        raise EncodingError("invalid padding in convertbits")
    return (n >> pad).to_bytes(bits >> 3, "big")


# bech32 symbol -> the digit of the same value in base 32 ("0".."9", "a".."v"), for int(text, 32)
_TO_BASE32_DIGITS = str.maketrans(BECH32_CHARSET + BECH32_CHARSET.upper(), "0123456789abcdefghijklmnopqrstuv" * 2)


def _b32_program(text: str, data: Sequence[int]) -> bytes:
    """Witness program bytes of a checked segwit address: the 5-bit symbols read as one base-32
    integer by ``int(.., 32)`` (C speed), strict zero padding."""
    n = len(data) - 1  # 5-bit groups after the witness version
    if n == 0:
        return b""
    bits = 5 * n
    pad = bits & 7
    if pad >= 5 or data[-1] & ((1 << pad) - 1):
        raise EncodingError("invalid padding in witness program")
    value = int(text[len(text) - 6 - n: len(text) - 6].translate(_TO_BASE32_DIGITS), 32)
    return (value >> pad).to_bytes(bits >> 3, "big")


def bech32_encode(hrp: str, data5: list[int], const: int = BECH32_CONST) -> str:
    values = _hrp_expand(hrp) + list(data5)
    polymod = _polymod(values + [0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in list(data5) + checksum)


def bech32_decode(text: str, max_length: int = 90) -> tuple[str, bytes, int]:
    """Decode bech32 or bech32m; returns ``(hrp, data5 without checksum, const)`` (one 5-bit value
    per byte)."""
    if len(text) > max_length:
        raise EncodingError("bech32 string too long")
    low = text.lower()
    if low != text and text.upper() != text:
        raise EncodingError("mixed-case bech32")
    pos = low.rfind("1")
    if pos < 1 or pos + 7 > len(low):
        raise EncodingError("no bech32 separator")
    hrp = low[:pos]
    if hrp not in _HRP_STATE and (not (hrp.isascii() and hrp.isprintable()) or " " in hrp):  # 33..126 only
        raise EncodingError("invalid bech32 hrp")
    try:
        data = low[pos + 1 :].encode("ascii").translate(_BECH32_TRANSLATE)  # bytes: indexing gives ints
    except UnicodeEncodeError:
        data = b"\xff"
    if 255 in data:
        bad = next(c for c in low[pos + 1:] if c not in _BECH32_INDEX)
        raise EncodingError(f"invalid bech32 character {bad!r}")
    const = _polymod_text(low[pos + 1:], _hrp_state(hrp))
    if const not in (BECH32_CONST, BECH32M_CONST):
        raise EncodingError("bech32 checksum mismatch")
    return hrp, data[:-6], const


def one_case(text: str) -> str:
    """Text of a one-case encoding (bech32, base32, CIP-37), lower-cased for comparison with a derived
    address. Such text is written all lower or all upper, never mixed (BIP-173: decoders must not
    accept mixed case), so mixed-case text comes back unchanged and equals no derived address."""
    low = text.lower()
    return low if text.upper() == text or low == text else text


def bech32_encode_bytes(hrp: str, payload: bytes, const: int = BECH32_CONST) -> str:
    """bech32 of raw bytes (cosmos, OKC ``ex1``, LAT, ADA, EGLD): no witness version."""
    return bech32_encode(hrp, convertbits(payload, 8, 5), const)


def bech32_decode_bytes(text: str, max_length: int = 1023) -> tuple[str, bytes]:
    hrp, data, const = bech32_decode(text, max_length)
    if const != BECH32_CONST:
        raise EncodingError("expected bech32, got bech32m")
    return hrp, bytes(convertbits(data, 5, 8, pad=False))


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    const = BECH32_CONST if version == 0 else BECH32M_CONST
    return bech32_encode(hrp, [version] + convertbits(program, 8, 5), const)


def segwit_decode(hrp_expected: str, text: str) -> tuple[int, bytes]:
    """Decode a segwit address for ``hrp_expected``; returns ``(witness version, program)``."""
    hrp, data, const = bech32_decode(text)
    if hrp != hrp_expected:
        raise EncodingError(f"segwit hrp {hrp!r}, expected {hrp_expected!r}")
    if not data:
        raise EncodingError("empty segwit data")
    version = data[0]
    program = _b32_program(text, data)
    if version > 16 or not 2 <= len(program) <= 40:
        raise EncodingError("invalid witness program")
    if version == 0 and len(program) not in (20, 32):
        raise EncodingError("invalid v0 witness program length")
    if (version == 0) != (const == BECH32_CONST):
        raise EncodingError("wrong bech32 variant for witness version")
    return version, program


# --------------------------------------------------------------------------------------------
# CashAddr (Bitcoin Cash / eCash)

_CASH_GEN = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)


def cashaddr_polymod(values: Iterable[int]) -> int:
    c = 1
    for d in values:
        c0 = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        for i in range(5):
            if (c0 >> i) & 1:
                c ^= _CASH_GEN[i]
    return c ^ 1


def cashaddr_decode(text: str, default_prefix: str = "bitcoincash") -> tuple[str, int, bytes]:
    """Decode CashAddr (``prefix:q...``/``p...`` or bare); returns ``(prefix, type, hash)``.

    ``type`` is 0 for P2PKH and 1 for P2SH. The checksum is verified.
    """
    if text.lower() != text and text.upper() != text:
        raise EncodingError("mixed-case cashaddr")
    text = text.lower()
    if ":" in text:
        prefix, payload = text.split(":", 1)
    else:
        prefix, payload = default_prefix, text
    try:
        data = [_BECH32_INDEX[c] for c in payload]
    except KeyError as exc:
        raise EncodingError(f"invalid cashaddr character {exc.args[0]!r}") from None
    if len(data) < 9:
        raise EncodingError("cashaddr too short")
    if cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data) != 0:
        raise EncodingError("cashaddr checksum mismatch")
    raw = bytes(convertbits(data[:-8], 5, 8, pad=False))
    version = raw[0]
    addr_type = (version >> 3) & 0x0F
    size_code = version & 7
    sizes = (20, 24, 28, 32, 40, 48, 56, 64)
    body = raw[1:]
    if len(body) != sizes[size_code]:
        raise EncodingError("cashaddr hash length mismatch")
    return prefix, addr_type, body


def cashaddr_encode(prefix: str, addr_type: int, body: bytes) -> str:
    sizes = {20: 0, 24: 1, 28: 2, 32: 3, 40: 4, 48: 5, 56: 6, 64: 7}
    version = (addr_type << 3) | sizes[len(body)]
    data = convertbits(bytes((version,)) + body, 8, 5)
    poly = cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data + [0] * 8)
    checksum = [(poly >> 5 * (7 - i)) & 31 for i in range(8)]
    return prefix + ":" + "".join(BECH32_CHARSET[d] for d in data + checksum)


_PLAIN: dict[str, bool] = {}  # a file signs one or a few messages: decided once each


def plain_text_message(message: str) -> bool:
    """:func:`is_plain_text`, remembered per message (it is asked once per row)."""
    plain = _PLAIN.get(message)
    if plain is None:
        if len(_PLAIN) > 4096:
            _PLAIN.clear()
        plain = _PLAIN[message] = is_plain_text(message)
    return plain


def is_plain_text(message: str) -> bool:
    """May ``message`` be signed *raw* (hashed or signed as-is, with no domain prefix)?

    A raw construction is sound only when the signed bytes cannot also be something else the key
    signs in public: a transaction, a typed-data or prefixed message. So: printable text, no control
    characters (EIP-191/712 and the TRON header start with 0x19), and the first two bytes ASCII
    (an RLP transaction starts with a list prefix >= 0xc0, a typed one with a type byte and then
    such a prefix; a UTF-8 lead byte is >= 0xc2). Algorand signs transactions as ``TX``||msgpack
    and arbitrary bytes as ``MX``||bytes: text starting with either is refused too.
    """
    if not message or not message.isprintable():
        return False
    if not message[:2].isascii():
        return False
    return message[:2] not in ("TX", "MX")
