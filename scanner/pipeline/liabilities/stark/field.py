"""The STARK field of OKX's v1 proofs and the few operations the verifier needs.

p = 2^251 + 17·2^192 + 1 (StarkWare's prime): p - 1 = 2^192 · k, so power-of-two evaluation domains
up to 2^192 exist; 3 is a generator of the multiplicative group (OKX's ``NONRESIDUE``). Python's big
integers do the arithmetic; the verifier's cost is a few thousand multiplications a proof, so the
work here is to avoid inversions (``pow(x, -1, P)`` once per batch, not per check) rather than to
vectorise.
"""

from __future__ import annotations

from typing import Sequence

P = 2**251 + 17 * 2**192 + 1
GENERATOR = 3


def root_of_unity(order: int) -> int:
    """A primitive ``order``-th root of unity (``order`` a power of two dividing p - 1)."""
    return pow(GENERATOR, (P - 1) // order, P)


def inverse(x: int) -> int:
    return pow(x, -1, P)


def batch_inverse(values: Sequence[int]) -> list[int]:
    """Inverses of non-zero field elements with one exponentiation (Montgomery's trick)."""
    prefix = [1] * (len(values) + 1)
    acc = 1
    for i, v in enumerate(values):
        acc = acc * v % P
        prefix[i + 1] = acc
    inv = pow(acc, -1, P)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = prefix[i] * inv % P
        inv = inv * values[i] % P
    return out


class Interpolant:
    """The polynomial of degree < n through n points, evaluated anywhere without its coefficients.

    Lagrange form: f(x) = Σ_j w_j · y_j · Π_{k≠j} (x - x_k), with w_j = 1 / Π_{k≠j} (x_j - x_k)
    computed once (one batch inversion); each evaluation is then O(n) multiplications.
    """

    __slots__ = ("xs", "scaled")

    def __init__(self, xs: Sequence[int], ys: Sequence[int]) -> None:
        if len(set(xs)) != len(xs):
            raise ValueError("interpolation points must be distinct")
        denominators = []
        for j, xj in enumerate(xs):
            d = 1
            for k, xk in enumerate(xs):
                if k != j:
                    d = d * (xj - xk) % P
            denominators.append(d)
        self.xs = list(xs)
        self.scaled = [y * w % P for y, w in zip(ys, batch_inverse(denominators))]

    def __call__(self, x: int) -> int:
        n = len(self.xs)
        diffs = [(x - xk) % P for xk in self.xs]
        if 0 in diffs:  # x is one of the nodes: the value is the node's own y
            j = diffs.index(0)
            others = 1
            for k in range(n):
                if k != j:
                    others = others * (self.xs[j] - self.xs[k]) % P
            return self.scaled[j] * others % P
        suffix = [1] * (n + 1)
        for k in range(n - 1, -1, -1):
            suffix[k] = suffix[k + 1] * diffs[k] % P
        total, prefix = 0, 1
        for j in range(n):
            total += self.scaled[j] * prefix % P * suffix[j + 1]
            prefix = prefix * diffs[j] % P
        return total % P
