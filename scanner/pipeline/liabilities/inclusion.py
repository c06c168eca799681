"""OKX user inclusion proofs: zk-STARK v1 (Keccak, two-level) and v2 (Poseidon-Goldilocks, plonky2 tree).

Each check recomputes the user's leaf from the values shown in the file and folds the path to a root;
it returns a ``ProofCheck`` (``proofs.py``): ``verified`` when every binding held, else ``failed`` with
the first binding that did not (file, JSON path, what differed). Nothing here touches the network.

**v1** (spec 4.3; OKX's ``zk_STARK`` validator ``verify_single_inclusion_proof``): a leaf is
``keccak(total_value ‖ keccak(coin values mod p, config order) ‖ user_id ‖ random_number)``, 32-byte
big-endian fields, p = 2^251 + 17·2^192 + 1; it must equal ``merkle_path[0]``. Its trace position is
``(uts·(index+1) + uts − 2)·16``, permuted ("permute4") over the tree's L = 2^(len(path)−1) leaves; the
bits of the permuted index order each Keccak pair. Batch level first (user index, the proof's ``uts``),
then trunk level (batch index, uts 32), and ``batch_id == batch_mtree_root``. porscan also checks what
the validator leaves out: the trunk root against the trunk sum proof's ``mtree_root`` and the batch root
against the batch sum proofs' roots when they are given, that the index fits in the path (else some
index bits would be ignored), that every coin value shown is one the leaf commits to, and that
``total_value`` is the sum of the coin values (mod p).

**v2** (spec 4.4; OKX's ``MerkleProof::verify_merkle_proof`` in ``crates/zk-por-core/src/merkle_proof.rs``):
leaf = ``hash_no_pad(id as 5 elements, Σequity, Σdebt)`` (id hex 0..14, 14..28, 28..42, 42..56, 56..64);
per batch sibling, index bit 0 puts the running hash left, 1 right; per recursive level
``hash_no_pad(left_hashes ‖ running ‖ right_hashes)``; the result must equal the global proof's root
(``public_inputs[2..6]`` reduced mod 2^64 − 2^32 + 1). porscan also checks that the number of left
siblings at each recursive level is the batch index's digit there, so the proof's ``index`` is bound
to the path it takes (OKX's verifier uses the index only for the batch levels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from signatures.hashing import keccak256

from . import poseidon
from .model import LiabilitiesError, jpath, json_int, parse_json, show
from .proofs import FAILED, VERIFIED, ProofCheck

V1_KIND = "okx-zk-stark-v1-inclusion"
V2_KIND = "okx-v2-inclusion"

STARK_P = 2**251 + 17 * 2**192 + 1  # the v1 field
EXTENSION_FACTOR = 16
UTS_TRUNK = 32
GOLDILOCKS_P = poseidon.P

_HEX32 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_V1_BATCH_FIELDS = frozenset({"batch_mtree_root", "user_id", "total_value", "random_number", "user_index",
                              "batch_index", "uts", "merkle_path"})
_V1_TRUNK_FIELDS = frozenset({"trunk_mtree_root", "batch_id", "total_value", "random_number", "merkle_path"})


class _Failed(Exception):
    """A binding that did not hold; the message is the ProofCheck reason (without the file)."""


def _hex32(value: Any, where: str, field: str) -> bytes:
    m = _HEX32.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise _Failed(f"{where}: field {field}: {show(value)} is not 32 bytes of hex")
    return bytes.fromhex(m.group(1))


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Failed(f"{where}: missing or not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Failed(f"{where}: missing or not a list")
    return value


def _int(value: Any, where: str, field: str, *, signed: bool = False) -> int:
    try:
        return json_int(value, "", where, field, signed=signed)
    except LiabilitiesError as exc:
        raise _Failed(f"{where}: field {field}: {exc.message}") from None


def _result(file: str, kind: str, body: Any) -> ProofCheck:
    """Run a check body; a broken binding or unreadable input becomes a failed ProofCheck naming the file."""
    try:
        reason, detail = body()
    except _Failed as exc:
        return ProofCheck(file=file, kind=kind, status=FAILED, reason=f"{file}: {exc}")
    except LiabilitiesError as exc:
        reason = str(exc) if exc.file == file else f"{file}: {exc}"
        return ProofCheck(file=file, kind=kind, status=FAILED, reason=reason)
    return ProofCheck(file=file, kind=kind, status=VERIFIED, reason=reason, detail=detail)


def _read(path: Path) -> Any:
    if not path.is_file():
        raise _Failed("no such file")
    try:
        return parse_json(path)
    except OSError as exc:
        raise _Failed(f"cannot read: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------------------- v1 (Keccak)

@dataclass(frozen=True, slots=True)
class V1Roots:
    """The Merkle roots a v1 sum-proof set publishes: the trunk's and each batch's (folder name -> root)."""

    trunk_root: str
    batch_roots: Mapping[str, str]


def v1_roots(sum_proof_data: str | Path) -> V1Roots:
    """``mtree_root`` of ``trunk/sum_proof.json`` and of every ``batches/*/sum_proof.json`` of a v1 set."""
    folder = Path(sum_proof_data)

    def root_of(path: Path) -> str:
        data = parse_json(path)
        root = data.get("mtree_root") if isinstance(data, dict) else None
        if not isinstance(root, str) or not _HEX32.fullmatch(root):
            raise LiabilitiesError(str(path), "$", "mtree_root", f"{show(root)} is not 32 bytes of hex")
        return root.lower().removeprefix("0x")

    trunk = folder / "trunk" / "sum_proof.json"
    if not trunk.is_file():
        raise LiabilitiesError(str(folder), None, None, "no trunk/sum_proof.json: not a zk-STARK v1 sum_proof_data folder")
    batches = {p.parent.name: root_of(p) for p in sorted((folder / "batches").glob("*/sum_proof.json"))}
    return V1Roots(trunk_root=root_of(trunk), batch_roots=batches)


def _coins_from(config: Any, where: str) -> list[str]:
    if isinstance(config, Mapping):
        config = config.get("coins")
    if isinstance(config, (str, bytes)) or not isinstance(config, Sequence) or not config:
        raise _Failed(f"{where}: the coin list is missing or empty")
    coins = list(config)
    if not all(isinstance(c, str) and c for c in coins) or len(set(coins)) != len(coins):
        raise _Failed(f"{where}: the coin list must be distinct coin names")
    return coins


def _v1_coins(data: dict[str, Any], config: Any) -> tuple[list[str], str]:
    """The coin order the leaf commits to: the given config, else the file's ``config``, else its key order."""
    if config is not None:
        if isinstance(config, (str, Path)):
            cfg_path = Path(config)
            return _coins_from(parse_json(cfg_path), str(cfg_path)), f"coin list of {cfg_path}"
        return _coins_from(config, "config"), "coin list given"
    if "config" in data:
        return _coins_from(data["config"], "$.config"), "coin list embedded in the proof ($.config)"
    batch = data.get("batch_inclusion_proof")
    keys = [k for k in batch if k not in _V1_BATCH_FIELDS] if isinstance(batch, dict) else []
    return keys, "no coin list given: the proof's own key order"


def _v1_values(level: dict[str, Any], where: str, coins: list[str], fixed: frozenset[str]) -> tuple[int, bytes]:
    """``total_value`` and the keccak of the coin values (mod p, 32 bytes each, in coin order)."""
    missing = [c for c in coins if c not in level]
    if missing:
        raise _Failed(f"{where}: coin {missing[0]!r} of the coin list is missing ({len(missing)} missing)")
    extra = [k for k in level if k not in fixed and k not in coins]
    if extra:
        raise _Failed(f"{where}: field {extra[0]!r} is not in the coin list, so the leaf does not commit to it "
                      f"({len(extra)} such)")
    total = _int(level.get("total_value"), where, "total_value")
    if total >= STARK_P:
        raise _Failed(f"{where}: field total_value: {total} is not below the field modulus")
    values = [_int(level[c], where, c, signed=True) % STARK_P for c in coins]
    if sum(values) % STARK_P != total:
        # the leaf commits to both as shown, so the path can hold while they disagree; the sum proof's
        # constraints make a user's total the sum of their coin values
        raise _Failed(f"{where}: field total_value: {total} is not the sum of the {len(coins)} coin values "
                      f"({sum(values) % STARK_P} mod p)")
    return total, keccak256(b"".join(v.to_bytes(32, "big") for v in values))


def _v1_fold(path: list[Any], where: str, position: int, leaf: bytes, root: bytes) -> None:
    """Fold a permuted-index Keccak path from its leaf (``path[0]``) and compare with ``root``."""
    nodes = [_hex32(h, jpath(where, i), "merkle_path") for i, h in enumerate(path)]
    if len(nodes) < 3:
        raise _Failed(f"{where}: merkle_path has {len(nodes)} entries, too few for a tree of 4 or more leaves")
    leaves = 2 ** (len(nodes) - 1)
    if position >= leaves:
        raise _Failed(f"{where}: position {position} does not fit a path of {len(nodes) - 1} siblings ({leaves} leaves)")
    if nodes[0] != leaf:
        raise _Failed(f"{jpath(where, 0)}: the leaf recomputed from the values ({leaf.hex()}) is not "
                      f"merkle_path[0] ({nodes[0].hex()})")
    quarter = leaves // 4
    index = position // quarter + 4 * (position % quarter)  # OKX's permute4_index
    node = leaf
    for sibling in nodes[1:]:
        node = keccak256(sibling + node) if index & 1 else keccak256(node + sibling)
        index >>= 1
    if node != root:
        raise _Failed(f"{where}: the path folds to {node.hex()}, not the root {root.hex()}")


def _v1_position(uts: int, index: int) -> int:
    return (uts * (index + 1) + uts - 2) * EXTENSION_FACTOR


def verify_v1_inclusion(path: str | Path, config: Any = None, trunk_root: str | None = None,
                        batch_roots: Iterable[str] | Mapping[str, str] | None = None) -> ProofCheck:
    """Check one zk-STARK v1 ``*_inclusion_proof.json``.

    ``config``: the coin list the proof set was made with: a ``config.json`` path, a mapping with
    ``coins``, or a list of names (default: the file's embedded ``config``, else its key order).
    ``trunk_root`` / ``batch_roots``: the ``mtree_root`` of the set's trunk / batch sum proofs (see
    ``v1_roots``); when given, the proof's roots must be among them.
    """
    path = Path(path)
    file = str(path)

    def body() -> tuple[str, dict[str, Any]]:
        data = _obj(_read(path), "$")
        coins, coin_source = _v1_coins(data, config)
        if not coins:
            raise _Failed("$.batch_inclusion_proof: no coin values and no coin list")
        batch = _obj(data.get("batch_inclusion_proof"), "$.batch_inclusion_proof")
        trunk = _obj(data.get("trunk_inclusion_proof"), "$.trunk_inclusion_proof")
        bw, tw = "$.batch_inclusion_proof", "$.trunk_inclusion_proof"

        batch_root = _hex32(batch.get("batch_mtree_root"), bw, "batch_mtree_root")
        user_id = _hex32(batch.get("user_id"), bw, "user_id")
        user_nonce = _hex32(batch.get("random_number"), bw, "random_number")
        uts = _int(batch.get("uts"), bw, "uts")
        user_index = _int(batch.get("user_index"), bw, "user_index")
        batch_index = _int(batch.get("batch_index"), bw, "batch_index")
        if uts < 2:
            raise _Failed(f"{bw}: field uts: {uts} is below 2")
        total, coins_hash = _v1_values(batch, bw, coins, _V1_BATCH_FIELDS)
        leaf = keccak256(total.to_bytes(32, "big") + coins_hash + user_id + user_nonce)
        _v1_fold(_list(batch.get("merkle_path"), jpath(bw, "merkle_path")), jpath(bw, "merkle_path"),
                 _v1_position(uts, user_index), leaf, batch_root)

        root = _hex32(trunk.get("trunk_mtree_root"), tw, "trunk_mtree_root")
        batch_id = _hex32(trunk.get("batch_id"), tw, "batch_id")
        batch_nonce = _hex32(trunk.get("random_number"), tw, "random_number")
        if batch_id != batch_root:
            raise _Failed(f"{tw}: field batch_id: {batch_id.hex()} is not the batch root {batch_root.hex()}")
        batch_total, batch_coins_hash = _v1_values(trunk, tw, coins, _V1_TRUNK_FIELDS)
        batch_leaf = keccak256(batch_total.to_bytes(32, "big") + batch_coins_hash + batch_id + batch_nonce)
        _v1_fold(_list(trunk.get("merkle_path"), jpath(tw, "merkle_path")), jpath(tw, "merkle_path"),
                 _v1_position(UTS_TRUNK, batch_index), batch_leaf, root)

        bound = []
        if trunk_root is not None:
            want = _hex32(trunk_root, "trunk_root", "trunk sum proof mtree_root")
            if root != want:
                raise _Failed(f"{tw}: field trunk_mtree_root: {root.hex()} is not the trunk sum proof's "
                              f"mtree_root {want.hex()}")
            bound.append("trunk root = trunk sum proof's mtree_root")
        if batch_roots is not None:
            roots = batch_roots.values() if isinstance(batch_roots, Mapping) else batch_roots
            known = {_hex32(r, "batch_roots", "batch sum proof mtree_root") for r in roots}
            if batch_root not in known:
                raise _Failed(f"{bw}: field batch_mtree_root: {batch_root.hex()} is not the mtree_root of any "
                              f"of the {len(known)} batch sum proofs")
            bound.append("batch root = a batch sum proof's mtree_root")
        detail = {"user_id": user_id.hex(), "user_index": user_index, "batch_index": batch_index,
                  "total_value": str(total), "coins": len(coins), "coin_order": coin_source,
                  "batch_root": batch_root.hex(), "trunk_root": root.hex(),
                  "bound_to_sum_proof": trunk_root is not None}
        reason = ("leaf recomputed from its values, batch and trunk paths reach their roots, "
                  "batch_id = batch root; " + ("; ".join(bound) if bound else
                                               "roots not compared with any sum proof (none given)"))
        return reason, detail

    return _result(file, V1_KIND, body)


# ------------------------------------------------------------------------------- v2 (Poseidon/plonky2)

def _field_int(value: Any, where: str, field: str) -> int:
    """A decimal string (or integer) that is a canonical Goldilocks element, as OKX's serde reads it."""
    n = _int(value, where, field)
    if n >= GOLDILOCKS_P:
        raise _Failed(f"{where}: field {field}: {n} is not below the Goldilocks modulus")
    return n


def _v2_hash(value: Any, where: str) -> poseidon.Hash:
    raw = _hex32(value, where, "hash")
    try:
        return poseidon.hash_from_bytes(raw)
    except ValueError as exc:
        raise _Failed(f"{where}: {exc}") from exc


def v2_user_id_elements(user_id: str) -> list[int]:
    """The 5 field elements OKX makes of a 64-hex user id (4 × 56 bits, then 32 bits)."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", user_id):
        raise ValueError(f"user id {user_id!r} is not 64 hex digits")
    return [int(user_id[a:b], 16) for a, b in ((0, 14), (14, 28), (28, 42), (42, 56), (56, 64))]


def v2_leaf(user_id: str, equity: Iterable[int], debt: Iterable[int]) -> poseidon.Hash:
    """OKX v2 account hash: ``hash_no_pad(id elements, Σequity mod p, Σdebt mod p)``."""
    return poseidon.hash_no_pad([*v2_user_id_elements(user_id), sum(equity) % GOLDILOCKS_P,
                                 sum(debt) % GOLDILOCKS_P])


def v2_sum_proof_root(path: str | Path) -> poseidon.Hash:
    """The Merkle-sum root a v2 ``sum_proof_data.json`` proves: ``proof.public_inputs[2..6]`` mod p."""
    path = Path(path)
    data = parse_json(path)
    inputs = data.get("proof", {}).get("public_inputs") if isinstance(data, dict) else None
    if not isinstance(inputs, list) or len(inputs) < 6:
        raise LiabilitiesError(str(path), "$.proof.public_inputs", None, "expected at least 6 public inputs")
    e = [json_int(v, str(path), jpath("$.proof.public_inputs", i), "public_inputs") % GOLDILOCKS_P
         for i, v in enumerate(inputs[2:6], start=2)]
    return e[0], e[1], e[2], e[3]


def verify_v2_inclusion(path: str | Path, root: Sequence[int]) -> ProofCheck:
    """Check one zk-STARK v2 ``*_inclusion_proof.json`` against the global proof's root (4 elements)."""
    path = Path(path)
    file = str(path)

    def body() -> tuple[str, dict[str, Any]]:
        if len(root) != 4 or not all(isinstance(e, int) and e >= 0 for e in root):
            raise _Failed(f"the root to compare with is not 4 field elements: {root!r}")
        want = tuple(e % GOLDILOCKS_P for e in root)
        data = _obj(_read(path), "$")
        account = _obj(data.get("account"), "$.account")
        user_id = account.get("id")
        if not isinstance(user_id, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", user_id):
            raise _Failed(f"$.account: field id: {show(user_id)} is not 64 hex digits")
        equity = [_field_int(v, jpath("$.account.equity", i), "equity")
                  for i, v in enumerate(_list(account.get("equity"), "$.account.equity"))]
        debt = [_field_int(v, jpath("$.account.debt", i), "debt")
                for i, v in enumerate(_list(account.get("debt"), "$.account.debt"))]
        index = _int(data.get("index"), "$", "index")
        siblings = [_v2_hash(h, jpath("$.sum_tree_siblings", i))
                    for i, h in enumerate(_list(data.get("sum_tree_siblings"), "$.sum_tree_siblings"))]
        levels = _list(data.get("recursive_tree_siblings"), "$.recursive_tree_siblings")

        node = v2_leaf(user_id, equity, debt)
        bits = index
        for sibling in siblings:
            node = poseidon.two_to_one(node, sibling) if bits % 2 == 0 else poseidon.two_to_one(sibling, node)
            bits //= 2
        batch_index = index >> len(siblings)
        branchout = None
        for i, level in enumerate(levels):
            where = jpath("$.recursive_tree_siblings", i)
            level = _obj(level, where)
            left = [_v2_hash(h, jpath(jpath(where, "left_hashes"), j))
                    for j, h in enumerate(_list(level.get("left_hashes"), jpath(where, "left_hashes")))]
            right = [_v2_hash(h, jpath(jpath(where, "right_hashes"), j))
                     for j, h in enumerate(_list(level.get("right_hashes"), jpath(where, "right_hashes")))]
            width = len(left) + len(right) + 1
            if branchout is None:
                branchout = width
            elif width != branchout:
                raise _Failed(f"{where}: {width} children, but the first recursive level has {branchout}")
            if len(left) != batch_index % width:
                raise _Failed(f"{where}: {len(left)} left siblings, but index {index} puts this node at "
                              f"position {batch_index % width} of {width}")
            batch_index //= width
            node = poseidon.hash_no_pad([e for h in (*left, node, *right) for e in h])
        if batch_index:
            raise _Failed(f"$.index: {index} is beyond the tree the siblings describe")
        if node != want:
            raise _Failed(f"the path folds to root {list(node)}, not the global proof's root {list(want)}")
        equity_sum, debt_sum = sum(equity) % GOLDILOCKS_P, sum(debt) % GOLDILOCKS_P
        detail = {"user_id": user_id.lower(), "index": index, "equity": str(equity_sum), "debt": str(debt_sum),
                  "batch_size": 2 ** len(siblings), "recursive_levels": len(levels),
                  "root_hex": poseidon.hash_to_bytes(node).hex()}
        reason = (f"leaf recomputed from the account's equity and debt sums; {len(siblings)} batch and "
                  f"{len(levels)} recursive levels reach the global proof's root")
        return reason, detail

    return _result(file, V2_KIND, body)
