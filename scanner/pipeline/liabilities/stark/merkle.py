"""Keccak-256 Merkle trees in OKX's "permute4" leaf order, and their compressed multi-branches.

A tree over N values (N a power of two) stores value i at leaf ``permute4(i)``:
``i // (N/4) + 4 · (i mod N/4)``, so that the 4 values an FRI row needs (i, i + N/4, i + N/2,
i + 3N/4) are adjacent leaves. Node n (root 1, leaves N..2N-1) = Keccak(node 2n ‖ node 2n+1).

A multi-branch is one list per opened index: ``[leaf, sibling at depth 1, ..., sibling below the
root]``, where a sibling the verifier can compute (from leaves or other branches) is sent as ``""``.
The verifier here fills every path bottom-up, one level at a time, so that each node is hashed once,
and a sibling that was sent *and* can be computed must agree with the computed one.
"""

from __future__ import annotations

from typing import Sequence

from signatures.hashing import keccak256


class MerkleError(ValueError):
    """A branch that does not lead to its root, or is malformed; the message says which."""


def permute4_index(i: int, n: int) -> int:
    quarter = n // 4
    return i // quarter + 4 * (i % quarter)


def root_of(values: Sequence[bytes]) -> bytes:
    """The root of the permute4 tree over 32-byte values (a power-of-two count >= 4)."""
    n = len(values)
    quarter = n // 4
    level = [values[i // 4 + quarter * (i % 4)] for i in range(n)]  # leaf order
    while len(level) > 1:
        level = [keccak256(level[k] + level[k + 1]) for k in range(0, len(level), 2)]
    return level[0]


def decode_branches(raw: object, count: int, depth: int, what: str) -> list[list[bytes | None]]:
    """JSON branches (lists of hex strings, ``""`` for an elided sibling) as bytes, shape checked."""
    if not isinstance(raw, list) or len(raw) != count:
        raise MerkleError(f"{what}: expected {count} branches, got "
                          f"{len(raw) if isinstance(raw, list) else type(raw).__name__}")
    out: list[list[bytes | None]] = []
    for b, branch in enumerate(raw):
        if not isinstance(branch, list) or len(branch) != depth + 1:
            raise MerkleError(f"{what}[{b}]: expected a leaf and {depth} siblings (tree of 2^{depth} leaves)")
        decoded: list[bytes | None] = []
        for k, node in enumerate(branch):
            if not isinstance(node, str):
                raise MerkleError(f"{what}[{b}][{k}]: not a hex string")
            if node == "" and k > 0:
                decoded.append(None)
                continue
            try:
                value = bytes.fromhex(node)
            except ValueError:
                raise MerkleError(f"{what}[{b}][{k}]: not hex") from None
            if len(value) != 32:
                raise MerkleError(f"{what}[{b}][{k}]: {len(value)} bytes, not 32")
            decoded.append(value)
        out.append(decoded)
    return out


def verify_multi_branch(root: bytes, indices: Sequence[int], branches: Sequence[Sequence[bytes | None]],
                        depth: int, what: str) -> list[bytes]:
    """The opened leaves (in ``indices`` order) if every branch leads to ``root``; MerkleError if not.

    ``indices`` are value positions; they are permuted here. ``branches`` come from decode_branches.
    """
    n = 1 << depth
    known: dict[int, bytes] = {}  # node id -> value sent in the proof

    def put(node: int, value: bytes, where: str) -> None:
        if known.setdefault(node, value) != value:
            raise MerkleError(f"{where}: disagrees with another branch of the same tree")

    paths: set[int] = set()
    for b, (i, branch) in enumerate(zip(indices, branches)):
        node = n + permute4_index(i, n)
        leaf = branch[0]
        assert leaf is not None  # decode_branches never elides a leaf
        put(node, leaf, f"{what}[{b}][0]")
        paths.add(node)
        for k in range(1, depth + 1):
            sibling = branch[k]
            if sibling is not None:
                put(node ^ 1, sibling, f"{what}[{b}][{k}]")
            node >>= 1
    computed = {node: known[node] for node in paths}
    for level in range(depth, 0, -1):
        parents: dict[int, bytes] = {}
        for node in sorted(paths):
            parent = node >> 1
            if parent in parents:
                continue
            left, right = node & ~1, node | 1
            lv = computed.get(left) or known.get(left)
            rv = computed.get(right) or known.get(right)
            if lv is None or rv is None:
                raise MerkleError(f"{what}: a sibling at depth {level} is neither sent nor computable")
            value = keccak256(lv + rv)
            sent = known.get(parent)
            if sent is not None and sent != value:
                raise MerkleError(f"{what}: a sibling at depth {level - 1} does not match the hash of its children")
            parents[parent] = value
        computed = parents
        paths = set(parents)
    if computed.get(1) != root:
        raise MerkleError(f"{what}: the branches do not lead to the root {root.hex()}")
    return [leaf for leaf in (branch[0] for branch in branches) if leaf is not None]
