"""StarkNet ownership proofs: typed-data revision 0 (Pedersen) message hash + STARK-curve ECDSA.

OKX's ``VerifyStarknetEIP712`` (spec section 2.9) signs a fixed typed-data document with
``okx/go-wallet-sdk`` ``GetMessageHashWithJson``::

    types:       StarkNetDomain(name:felt,version:felt,chainId:felt), Message(contents:felt)
    primaryType: Message
    domain:      name "OKX POR MESSAGE" (short string), version 1, chainId 0x534e5f4d41494e (SN_MAIN)
    message:     {"contents": <the CSV message>}

    hash = H(["StarkNet Message", H([type_hash(StarkNetDomain), name, version, chainId]),
              account, H([type_hash(Message), contents])])

where ``H`` is :func:`compute_hash_on_elements` (Pedersen chain + length) and ``type_hash`` is
:func:`starknet_keccak` of the encoded type string. The signature ``(r, s)`` is checked against the
x coordinate of the public key with STARK-curve ECDSA, accepting either y root.

Pure Python, no I/O. All constants are public StarkWare parameters:

- ``FIELD_PRIME``, ``ALPHA``, ``EC_ORDER``, ``BETA``: starkware-libs/cairo-lang
  ``src/starkware/crypto/signature/nothing_up_my_sleeve_gen.py`` (commit 0e4dab8a, which asserts
  ``BETA == 0x6F21...E89``); also docs.starknet.io "Hash functions" (beta = pi digits + 379).
- ``SHIFT_POINT`` and ``EC_GEN``: cairo-lang ``fast_pedersen_hash.py`` (asserted there) =
  ``pedersen_params.json`` ``CONSTANT_POINTS[0]``, ``[1]``.
- ``PEDERSEN_P0..P3``: ``CONSTANT_POINTS[2]``, ``[2+248]``, ``[2+252]``, ``[2+252+248]`` as
  published in hex by pathfinder-crypto ``src/hash/pedersen/gens.rs`` (docs.rs) and as Montgomery
  limbs by xJonathanLEI/starknet-rs ``starknet-curve/src/curve_params.rs`` (``PEDERSEN_P0..P3``).

``tests/signatures/test_starknet.py`` re-derives all of them from the digits of pi with the generation rule of
``nothing_up_my_sleeve_gen.py`` and checks published hash/signature vectors.

Why one file: the curve, the Pedersen hash and the typed-data encoding are used only together, by
one scheme; most of the length is the published constant table."""

from __future__ import annotations

import re
from functools import lru_cache

from .encoding import EncodingError, parse_hex
from .hashing import keccak256

__all__ = [
    "FIELD_PRIME",
    "ALPHA",
    "BETA",
    "EC_ORDER",
    "EC_GEN",
    "SHIFT_POINT",
    "PEDERSEN_P0",
    "PEDERSEN_P1",
    "PEDERSEN_P2",
    "PEDERSEN_P3",
    "OKX_DOMAIN_NAME",
    "OKX_DOMAIN_VERSION",
    "OKX_DOMAIN_CHAIN_ID",
    "pedersen_hash",
    "compute_hash_on_elements",
    "starknet_keccak",
    "encode_shortstring",
    "encode_message_contents",
    "typed_data_message_hash_rev0",
    "ec_mul",
    "private_to_public_key",
    "lift_x",
    "verify_stark_signature",
    "verify_starknet_row",
]

Point = tuple[int, int]
_Jacobian = tuple[int, int, int]  # (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z == 0 is infinity

# --------------------------------------------------------------------------------------------
# curve parameters: y^2 = x^3 + ALPHA*x + BETA over GF(FIELD_PRIME)

FIELD_PRIME = 2**251 + 17 * 2**192 + 1
ALPHA = 1
BETA = 0x6F21413EFBE40DE150E596D72F7A8C5609AD26C15C915C1F4CDFCB99CEE9E89
EC_ORDER = 0x800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F
FIELD_GEN = 3  # generator of GF(p)^*, hence a quadratic non-residue

EC_GEN: Point = (
    0x1EF15C18599971B7BECED415A40F0C7DEACFD9B0D1819E03D723D8BC943CFCA,
    0x5668060AA49730B7BE4801DF46EC62DE53ECD11ABE43A32873000C36E8DC1F,
)
SHIFT_POINT: Point = (
    0x49EE3EBA8C1600700EE1B87EB599F16716B0B1022947733551FDE4050CA6804,
    0x3CA0CFE4B3BC6DDF346D49D06EA0ED34E621062C0E056C1D0405D266E10268A,
)
PEDERSEN_P0: Point = (
    0x234287DCBAFFE7F969C748655FCA9E58FA8120B6D56EB0C1080D17957EBE47B,
    0x3B056F100F96FB21E889527D41F4E39940135DD7A6C94CC6ED0268EE89E5615,
)
PEDERSEN_P1: Point = (
    0x4FA56F376C83DB33F9DAB2656558F3399099EC1DE5E3018B7A6932DBA8AA378,
    0x3FA0984C931C9E38113E0C0E47E4401562761F92A7A23B45168F4E80FF5B54D,
)
PEDERSEN_P2: Point = (
    0x4BA4CC166BE8DEC764910F75B45F74B40C690C74709E90F3AA372F0BD2D6997,
    0x40301CF5C1751F4B971E46C4EDE85FCAC5C59A5CE5AE7C48151F27B24B219C,
)
PEDERSEN_P3: Point = (
    0x54302DCB0E6CC1C6E44CCA8F61A63BB2CA65048D53FB325D36FF12C49A58202,
    0x1B77B3E37D13504B348046268D8AE25CE98AD783C25561A879DCC77E99C2426,
)

N_ELEMENT_BITS_ECDSA = 251  # r, w and the message hash must be < 2**251
_ECDSA_BOUND = 1 << N_ELEMENT_BITS_ECDSA
_LOW_BITS = 248
_LOW_MASK = (1 << _LOW_BITS) - 1

# OKX's fixed typed-data domain (spec 2.9)
OKX_DOMAIN_NAME = "OKX POR MESSAGE"
OKX_DOMAIN_VERSION = 1
OKX_DOMAIN_CHAIN_ID = 0x534E5F4D41494E  # "SN_MAIN"
_DOMAIN_TYPE = "StarkNetDomain(name:felt,version:felt,chainId:felt)"
_MESSAGE_TYPE = "Message(contents:felt)"
_STARKNET_MESSAGE_PREFIX = "StarkNet Message"

# --------------------------------------------------------------------------------------------
# field helpers

_P = FIELD_PRIME


def _inv(a: int, m: int = _P) -> int:
    return pow(a, -1, m)


def _is_square(a: int) -> bool:
    a %= _P
    return a == 0 or pow(a, (_P - 1) // 2, _P) == 1


# Tonelli-Shanks constants: p - 1 = 2**192 * q, q odd
_TS_S = ((_P - 1) & -(_P - 1)).bit_length() - 1
_TS_Q = (_P - 1) >> _TS_S
_TS_Z = pow(FIELD_GEN, _TS_Q, _P)


def _sqrt_mod(a: int) -> int | None:
    """The smaller square root of ``a`` mod p, or None for a non-residue."""
    a %= _P
    if a == 0:
        return 0
    if pow(a, (_P - 1) // 2, _P) != 1:
        return None
    m, c = _TS_S, _TS_Z
    t = pow(a, _TS_Q, _P)
    r = pow(a, (_TS_Q + 1) // 2, _P)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2 = t2 * t2 % _P
            i += 1
        b = pow(c, 1 << (m - i - 1), _P)
        m, c = i, b * b % _P
        t, r = t * c % _P, r * b % _P
    return min(r, _P - r)


def _on_curve(pt: Point) -> bool:
    x, y = pt
    return (y * y - (x * x * x + ALPHA * x + BETA)) % _P == 0


# --------------------------------------------------------------------------------------------
# Jacobian arithmetic (a = ALPHA = 1)

_INF: _Jacobian = (1, 1, 0)


def _to_jac(pt: Point) -> _Jacobian:
    return (pt[0], pt[1], 1)


def _to_affine(pt: _Jacobian) -> Point | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = _inv(z)
    zi2 = zi * zi % _P
    return (x * zi2 % _P, y * zi2 * zi % _P)


def _jdouble(pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INF
    yy = y * y % _P
    s = 4 * x * yy % _P
    zz = z * z % _P
    m = (3 * x * x + ALPHA * zz * zz) % _P
    x3 = (m * m - 2 * s) % _P
    y3 = (m * (s - x3) - 8 * yy * yy) % _P
    z3 = 2 * y * z % _P
    return (x3, y3, z3)


def _jadd(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % _P
    z2z2 = z2 * z2 % _P
    u1 = x1 * z2z2 % _P
    u2 = x2 * z1z1 % _P
    s1 = y1 * z2 * z2z2 % _P
    s2 = y2 * z1 * z1z1 % _P
    h = (u2 - u1) % _P
    r = (s2 - s1) % _P
    if h == 0:
        return _jdouble(p1) if r == 0 else _INF
    hh = h * h % _P
    hhh = h * hh % _P
    v = u1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    y3 = (r * (v - x3) - s1 * hhh) % _P
    z3 = h * z1 * z2 % _P
    return (x3, y3, z3)


def _jadd_affine(p1: _Jacobian, p2: Point) -> _Jacobian:
    """Jacobian + affine point (StarkNet rows are rare: the general formula is fast enough)."""
    return _jadd(p1, (p2[0], p2[1], 1))


def _jmul(k: int, pt: Point) -> _Jacobian:
    """k * pt by left-to-right double-and-add (k >= 0)."""
    if k < 0:
        raise ValueError("negative scalar")
    acc = _INF
    for bit in bin(k)[2:]:
        acc = _jdouble(acc)
        if bit == "1":
            acc = _jadd_affine(acc, pt)
    return acc


def ec_mul(k: int, point: Point) -> Point | None:
    """``k * point`` in affine coordinates (None for the point at infinity)."""
    if k < 0:
        return ec_mul(-k, (point[0], -point[1] % _P))
    return _to_affine(_jmul(k, point))


def private_to_public_key(private_key: int) -> int:
    """STARK key (x coordinate of ``private_key * EC_GEN``) for ``0 < private_key < EC_ORDER``."""
    if not 0 < private_key < EC_ORDER:
        raise ValueError("private key out of range")
    pub = ec_mul(private_key, EC_GEN)
    assert pub is not None
    return pub[0]


# --------------------------------------------------------------------------------------------
# Pedersen hash


@lru_cache(maxsize=1)
def _pedersen_tables() -> tuple[tuple[Point, ...], ...]:
    """Affine 2^i multiples of P0..P3: the ``CONSTANT_POINTS`` layout of ``pedersen_params.json``."""
    tables = []
    for base, n in ((PEDERSEN_P0, _LOW_BITS), (PEDERSEN_P1, 4), (PEDERSEN_P2, _LOW_BITS), (PEDERSEN_P3, 4)):
        pts = [base]
        x, y = base
        for _ in range(n - 1):
            m = (3 * x * x + ALPHA) * _inv(2 * y) % _P
            x3 = (m * m - 2 * x) % _P
            y = (m * (x - x3) - y) % _P
            x = x3
            pts.append((x, y))
        tables.append(tuple(pts))
    return tuple(tables)


def _accumulate(acc: _Jacobian, value: int, table: tuple[Point, ...]) -> _Jacobian:
    i = 0
    while value:
        if value & 1:
            acc = _jadd_affine(acc, table[i])
        value >>= 1
        i += 1
    return acc


def pedersen_hash(a: int, b: int) -> int:
    """StarkWare Pedersen: ``[shift + a_low*P0 + a_high*P1 + b_low*P2 + b_high*P3]_x``.

    ``low`` is the low 248 bits, ``high`` the top 4 bits; inputs must be field elements.
    """
    if not (0 <= a < _P and 0 <= b < _P):
        raise ValueError("pedersen input is not a field element")
    t0, t1, t2, t3 = _pedersen_tables()
    acc = _to_jac(SHIFT_POINT)
    acc = _accumulate(acc, a & _LOW_MASK, t0)
    acc = _accumulate(acc, a >> _LOW_BITS, t1)
    acc = _accumulate(acc, b & _LOW_MASK, t2)
    acc = _accumulate(acc, b >> _LOW_BITS, t3)
    pt = _to_affine(acc)
    if pt is None:  # pragma: no cover - would need a discrete-log relation between the points
        raise ValueError("unhashable input")
    return pt[0]


def compute_hash_on_elements(data: list[int]) -> int:
    """``pedersen(...pedersen(pedersen(0, d0), d1)..., len(data))`` (cairo-lang/starknet.js)."""
    h = 0
    for d in data:
        h = pedersen_hash(h, d)
    return pedersen_hash(h, len(data))


# --------------------------------------------------------------------------------------------
# felt encodings


def starknet_keccak(data: bytes) -> int:
    """Keccak-256 masked to its low 250 bits (``sn_keccak``, ``get_selector_from_name``)."""
    return int.from_bytes(keccak256(data), "big") & ((1 << 250) - 1)


def encode_shortstring(text: str) -> int:
    """Cairo short string: the ASCII bytes of ``text`` (at most 31) as a big-endian integer."""
    if not text.isascii():
        raise EncodingError("short string must be ASCII")
    if len(text) > 31:
        raise EncodingError("short string longer than 31 characters")
    return int.from_bytes(text.encode("ascii"), "big")


_INT64_MAX = 2**63 - 1
_DEC_RE = re.compile(r"[+-]?[0-9]+")
_HEX_BODY_RE = re.compile(r"[0-9a-fA-F]+")
_ALNUM_RE = re.compile(r"[0-9a-zA-Z]+")
# Go's regexp `^([[:graph:]]|[[:space:]]){1,31}$` (go-wallet-sdk felt.go asciiRegexp)
_GO_SHORTSTRING_RE = re.compile(r"[\x21-\x7e \t\n\v\f\r]{1,31}")
_GO_BASES = {"x": 16, "b": 2, "o": 8}


def _go_big_setstring_base0(text: str) -> int | None:
    """Value of Go's ``new(big.Int).SetString(text, 0)``, or None where Go rejects the string.

    Optional sign; prefixes 0x/0b/0o (any case) and a bare leading 0 (octal); with base 0 an
    underscore may separate digits or follow a prefix.
    """
    body = text
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    base = 10
    prefixed = False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in _GO_BASES:
        base, body, prefixed = _GO_BASES[body[1].lower()], body[2:], True
    elif len(body) >= 2 and body[0] == "0":
        base, body, prefixed = 8, body[1:], True
    if not body:
        return None
    if "_" in body:
        # "_" between digits, or right after a prefix; never leading (unless prefixed), trailing or doubled
        if body.endswith("_") or "__" in body or (body.startswith("_") and not prefixed):
            return None
        body = body.replace("_", "")
    if not _ALNUM_RE.fullmatch(body):  # keep Python's int() from accepting spaces, signs, non-ASCII digits
        return None
    try:
        return sign * int(body, base)
    except ValueError:
        return None


def encode_message_contents(message: str) -> int:
    """The ``contents`` felt exactly as go-wallet-sdk ``encodeValue`` builds it, where that is sound.

    - ``0x`` + hex digits: that number.
    - a decimal ``strconv.ParseInt(v, 10, 64)`` accepts: that number.
    - another string Go's ``big.Int.SetString(v, 0)`` reads as a number (decimal above int64, 0b/0o/0X
      prefixes, leading-zero octal, underscores): that number, as ``StrToFelt`` does.
    - otherwise 1..31 printable-ASCII/whitespace characters: the short string.

    Raises :class:`EncodingError` where the Go SDK would fail or silently hash something else:
    malformed ``0x`` strings (Go strips every "0x" substring), negative numbers (Go hashes their
    two's complement bits), values >= the field prime, and empty, longer than 31 or non-ASCII
    messages (Go encodes those as felt 0, so any such signature would "prove" every such message).
    """
    if message.startswith("0x"):
        body = message[2:]
        if not _HEX_BODY_RE.fullmatch(body):
            raise EncodingError("malformed 0x-hex message")
        value = int(body, 16)
    elif _DEC_RE.fullmatch(message) and -(2**63) <= int(message) <= _INT64_MAX:
        value = int(message)
    else:
        parsed = _go_big_setstring_base0(message)
        if parsed is not None:
            value = parsed
        elif _GO_SHORTSTRING_RE.fullmatch(message):
            return int.from_bytes(message.encode("ascii"), "big")
        else:
            raise EncodingError("message is not a number and not a 1..31 character ASCII short string")
    if value < 0:
        raise EncodingError("negative numeric message")
    if value >= _P:
        raise EncodingError("numeric message is not a field element")
    return value


# --------------------------------------------------------------------------------------------
# typed data revision 0


@lru_cache(maxsize=None)
def _type_hash(encoded_type: str) -> int:
    return starknet_keccak(encoded_type.encode("ascii"))


@lru_cache(maxsize=1)
def _okx_domain_hash() -> int:
    return compute_hash_on_elements(
        [
            _type_hash(_DOMAIN_TYPE),
            encode_shortstring(OKX_DOMAIN_NAME),
            OKX_DOMAIN_VERSION,
            OKX_DOMAIN_CHAIN_ID,
        ]
    )


def typed_data_message_hash_rev0(account_address: int, message: str) -> int:
    """Message hash of OKX's StarkNet PoR typed data (revision 0) for ``account_address``."""
    if not 0 <= account_address < _P:
        raise EncodingError("account address is not a field element")
    contents = encode_message_contents(message)
    message_struct_hash = compute_hash_on_elements([_type_hash(_MESSAGE_TYPE), contents])
    return compute_hash_on_elements(
        [
            encode_shortstring(_STARKNET_MESSAGE_PREFIX),
            _okx_domain_hash(),
            account_address,
            message_struct_hash,
        ]
    )


# --------------------------------------------------------------------------------------------
# STARK ECDSA


@lru_cache(maxsize=1024)
def lift_x(x: int) -> Point | None:
    """A curve point with x coordinate ``x`` (the smaller y root), or None if there is none."""
    if not 0 <= x < _P:
        return None
    y = _sqrt_mod(x * x * x + ALPHA * x + BETA)
    if y is None:
        return None
    return (x, y)


def verify_stark_signature(msg_hash: int, r: int, s: int, public_key_x: int) -> bool:
    """STARK-curve ECDSA check against an x-only public key (either y root accepted).

    Ranges as in cairo-lang ``signature.verify``: ``1 <= s < EC_ORDER``; ``1 <= r < 2**251``;
    ``w = s^-1 mod EC_ORDER`` with ``1 <= w < 2**251``; ``0 <= msg_hash < 2**251``. Valid iff the
    x coordinate of ``(msg_hash*w)*G + (r*w)*Q`` equals ``r`` (StarkWare compares without the
    classic ``mod n``), for ``Q`` or ``-Q``.
    """
    if not 1 <= s < EC_ORDER:
        return False
    if not 1 <= r < _ECDSA_BOUND:
        return False
    if not 0 <= msg_hash < _ECDSA_BOUND:
        return False
    w = _inv(s, EC_ORDER)
    if not 1 <= w < _ECDSA_BOUND:
        return False
    q = lift_x(public_key_x)
    if q is None:
        return False
    u1 = msg_hash * w % EC_ORDER
    u2 = r * w % EC_ORDER
    a = _jmul(u1, EC_GEN)
    b = _jmul(u2, q)
    neg_b = (b[0], -b[1] % _P, b[2])
    for candidate in (_jadd(a, b), _jadd(a, neg_b)):
        pt = _to_affine(candidate)
        if pt is not None and pt[0] == r:
            return True
    return False


# --------------------------------------------------------------------------------------------
# CSV row entry point

_FELT_HEX_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,64})")


def _parse_felt_hex(text: str, what: str) -> int:
    m = _FELT_HEX_RE.fullmatch(text.strip())
    if m is None:
        raise EncodingError(f"{what} is not hex (1..64 digits, optional 0x)")
    value = int(m.group(1), 16)
    if value >= _P:
        raise EncodingError(f"{what} is not a field element")
    return value


def verify_starknet_row(account_address: str, message: str, signature: str, public_key: str) -> bool:
    """Verify one OKX StarkNet row: address, message, 128-hex ``r||s`` signature, x-only key.

    Raises :class:`EncodingError` for malformed address, signature, public key or message; returns
    False when the inputs are well formed but the signature does not verify (including a public
    key that is not on the curve).
    """
    account = _parse_felt_hex(account_address, "account address")
    key_x = _parse_felt_hex(public_key, "public key")
    sig = parse_hex(signature.strip())
    if len(sig) != 64:
        raise EncodingError("StarkNet signature must be 64 bytes (128 hex characters)")
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    msg_hash = typed_data_message_hash_rev0(account, message)
    return verify_stark_signature(msg_hash, r, s, key_x)
