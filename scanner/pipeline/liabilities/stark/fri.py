"""FRI low-degree test of OKX's v1 sum proofs (the construction of Vitalik Buterin's mimc_stark).

The committed polynomial f is evaluated on the domain <g> of size N (the l_mtree). Each layer:
``[column_root, column_branches, poly_branches]``. With special_x = (current root as an integer)
mod p, the column is c(y) = the degree < 4 polynomial through the row f(g^y · w^j) (w = g^(N/4),
j = 0..3), evaluated at special_x; it lives on <g^4> (size N/4) and must have degree < d/4 if f
has degree < d. The verifier opens 16 rows (pseudo-random from the first column root, skipping
multiples of 16, then folded ``y mod N/4`` layer after layer), checks both Merkle openings and that
each opened column value lies on its row's polynomial. The last element lists the final layer's
values in full: their root must be the last column root, and the values at positions that are not
multiples of 16 must fit one polynomial of degree < d_final.

OKX's validator collects the rows but never appends them before interpolating, so its per-row check
is vacuous (only the Merkle openings and the final layer are checked); this one does the check.
"""

from __future__ import annotations

from typing import Sequence

from . import merkle
from .field import P, Interpolant, inverse, root_of_unity
from .merkle import MerkleError
from signatures.hashing import keccak256

SAMPLES = 16
FINAL_MAX_DEGREE = 16  # the prover stops folding once the degree bound is at most 16
_INV4 = inverse(4)


class FriError(ValueError):
    """The low-degree test does not hold; the message says at which layer and why."""


def pseudorandom_indices(seed: bytes, modulus: int, count: int, exclude_multiples_of: int = 0) -> list[int]:
    """OKX's sampler: 4-byte big-endian words from seed ‖ keccak(last 32 bytes)..., reduced."""
    if modulus >= 2**24:
        raise FriError(f"domain of {modulus} points is beyond the sampler's 2^24")
    data = seed
    while len(data) < 4 * count:
        data += keccak256(data[-32:])
    words = [int.from_bytes(data[i:i + 4], "big") for i in range(0, 4 * count, 4)]
    if not exclude_multiples_of:
        return [w % modulus for w in words]
    real = modulus * (exclude_multiples_of - 1) // exclude_multiples_of
    return [x + 1 + x // (exclude_multiples_of - 1) for x in (w % real for w in words)]


def layer_count(max_degree: int) -> int:
    """How many folding layers the prover writes for a degree bound (it folds while the bound > 16)."""
    layers = 0
    while max_degree > FINAL_MAX_DEGREE:
        max_degree //= 4
        layers += 1
    return layers


def _values(leaves: Sequence[bytes]) -> list[int]:
    return [int.from_bytes(v, "big") % P for v in leaves]


def verify_low_degree(root: bytes, domain_size: int, proof: object, max_degree: int, exclude_multiples_of: int) -> None:
    """Raise FriError unless ``proof`` shows the values under ``root`` (on the size-``domain_size``
    power-of-two domain) are those of a polynomial of degree < ``max_degree``."""
    layers = layer_count(max_degree)
    if not isinstance(proof, list) or len(proof) != layers + 1:
        # counted as the list is: the layers plus the final values (a doubled steps read "expected 4, got 4")
        raise FriError(f"low_degree_proof: expected {layers + 1} entries ({layers} layers and the final values, "
                       f"degree bound {max_degree}), got {len(proof) if isinstance(proof, list) else 'no list'}")
    size = domain_size
    g = root_of_unity(size)
    samples: list[int] = []
    for n in range(layers):
        layer = proof[n]
        where = f"low_degree_proof[{n}]"
        if not isinstance(layer, list) or len(layer) != 3 or not isinstance(layer[0], str):
            raise FriError(f"{where}: expected [column_root, column_branches, poly_branches]")
        try:
            column_root = bytes.fromhex(layer[0])
        except ValueError:
            raise FriError(f"{where}[0]: column root is not hex") from None
        quarter = size // 4
        depth = size.bit_length() - 1
        special_x = int.from_bytes(root, "big") % P
        if not samples:
            samples = pseudorandom_indices(column_root, quarter, SAMPLES, exclude_multiples_of)
        else:
            samples = [y % quarter for y in samples]
        positions = [y + quarter * j for y in samples for j in range(4)]
        try:
            column_branches = merkle.decode_branches(layer[1], SAMPLES, depth - 2, f"{where}[1]")
            poly_branches = merkle.decode_branches(layer[2], 4 * SAMPLES, depth, f"{where}[2]")
            column = _values(merkle.verify_multi_branch(column_root, samples, column_branches, depth - 2, f"{where}[1]"))
            rows = _values(merkle.verify_multi_branch(root, positions, poly_branches, depth, f"{where}[2]"))
        except MerkleError as exc:
            raise FriError(str(exc)) from exc
        w = pow(g, quarter, P)  # primitive 4th root of unity: w^2 = -1
        for s, y in enumerate(samples):
            y0, y1, y2, y3 = rows[4 * s: 4 * s + 4]
            # coefficients of q(z) = row polynomial at x = g^y · z, from its values at z = 1, w, -1, -w
            c0 = y0 + y1 + y2 + y3
            c2 = y0 - y1 + y2 - y3
            c1 = y0 - y2 - w * (y1 - y3)
            c3 = y0 - y2 + w * (y1 - y3)
            z = special_x * pow(g, size - y, P) % P  # special_x / g^y
            value = (c0 + z * (c1 + z * (c2 + z * c3))) * _INV4 % P
            if value != column[s]:
                raise FriError(f"{where}: column value at row {y} is not on the row's degree < 4 polynomial "
                               "(failed low-degree test)")
        root, size, max_degree, g = column_root, quarter, max_degree // 4, pow(g, 4, P)
    _verify_final(root, size, proof[layers], max_degree, g, exclude_multiples_of, f"low_degree_proof[{layers}]")


def _verify_final(root: bytes, size: int, raw: object, max_degree: int, g: int, exclude: int, where: str) -> None:
    if not isinstance(raw, list) or len(raw) != size or not all(isinstance(v, str) for v in raw):
        raise FriError(f"{where}: expected the {size} values of the last layer")
    try:
        leaves = [bytes.fromhex(v) for v in raw]
    except ValueError:
        raise FriError(f"{where}: a value is not hex") from None
    if any(len(v) != 32 for v in leaves):
        raise FriError(f"{where}: a value is not 32 bytes")
    if merkle.root_of(leaves) != root:
        raise FriError(f"{where}: the last layer's values do not hash to the last column root")
    data = _values(leaves)
    points = [i for i in range(size) if not exclude or i % exclude]
    powers = [1] * size
    for i in range(1, size):
        powers[i] = powers[i - 1] * g % P
    basis = points[:max_degree]
    poly = Interpolant([powers[i] for i in basis], [data[i] for i in basis])
    for i in points[max_degree:]:
        if poly(powers[i]) != data[i]:
            raise FriError(f"{where}: the last layer is not of degree < {max_degree} (failed low-degree test)")
