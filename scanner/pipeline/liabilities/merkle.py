"""OKX Merkle-sum liabilities trees (Nov 2022 - Apr 2023): root per-asset sums, recomputed.

Two files carry a root (spec section 4):

* **v1 proof file** (``merkle_proof_file.json``): ``{"self": leaf, "path": [sibling, ..., root]}``.
  porscan recomputes the user's leaf hash, then every parent up the path
  (``SHA256(left ‖ right ‖ BTC ‖ ETH ‖ USDT ‖ height)`` over ASCII, balances = child sums truncated to
  8 decimals and printed minimally) and compares hash, balances and height with the last element.
  This binds the root to one user's path; the siblings' own subtrees are taken as given.
* **v2 full tree** (``full-liabilities-merkle-tree.txt``): lines ``hash,height,{balances}``, root first,
  then each level down to the leaves, nodes right-to-left within a level; a level of odd length is
  padded by a zero-balance copy of its rightmost node, listed first. porscan rebuilds **every** parent
  from its two children in one streaming pass with two cursors over the file (constant memory: the
  children of the parents read in order are the lines read in order by the second cursor).

The root's balances become the liabilities. They are ``merkle-sum`` (``verified=True``) only when the
recomputation matches; otherwise each gets ``self-reported`` and the set carries warnings saying why.
Negative node balances (the classic Merkle-sum-tree cheat, a negative leaf lowering the root) also
downgrade the figures.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from scanner.amounts import fmt, round_to

from .model import (COIN, MERKLE_SUM, SELF_REPORTED, Liability, LiabilitiesError, Parsed, asset_symbol,
                    decimal_text, jpath, show)

_HASH = re.compile(r"[0-9a-fA-F]{64}")
_MAX_MISMATCHES_SHOWN = 5


def _node_sum(a: Decimal, b: Decimal) -> Decimal:
    """Parent balance: exact sum truncated to 8 decimals (the OKX Go rule)."""
    return round_to(a + b, 8, truncate=True)


def _node_text(value: Decimal) -> str:
    return fmt(value)


def _parent_hash(left: str, right: str, balances: list[str], height: int) -> str:
    text = left + right + "".join(balances) + str(height)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _signed_balance(raw: Any, file: str, where, key: str) -> Decimal:
    if not isinstance(raw, str):
        raise LiabilitiesError(file, where, key, f"{show(raw)} is not a decimal string")
    return decimal_text(raw, file, where, key, signed=True)


# ------------------------------------------------------------------ v1: one user's path to the root

def parse_v1_proof(data: dict, file: str) -> Parsed:
    warnings: list[str] = []
    self_node = data.get("self")
    path = data.get("path")
    if not isinstance(self_node, dict):
        raise LiabilitiesError(file, "$.self", None, "missing or not an object")
    if not isinstance(path, list) or not path:
        raise LiabilitiesError(file, "$.path", None, "missing or empty")
    nodes = [("$.self", self_node)] + [(jpath("$.path", i), n) for i, n in enumerate(path)]
    parsed = [_v1_node(where, node, file) for where, node in nodes]
    keys = list(parsed[-1]["balances"])
    for (where, _), node in zip(nodes, parsed):
        if list(node["balances"]) != keys:
            raise LiabilitiesError(file, jpath(where, "balances"), None,
                                   f"assets {list(node['balances'])} differ from the root's {keys}")
    root_where, root = nodes[-1][0], parsed[-1]
    if root["type"] != 3:
        raise LiabilitiesError(file, root_where, "type", f"{root['type']} (the last path element must be the root, type 3)")

    for k, (value, text) in root["balances"].items():
        if value < 0:
            raise LiabilitiesError(file, jpath(root_where, "balances"), k, f"root balance {text} is negative")
    problems = _check_v1_path(parsed, self_node, keys)
    negatives = [w for (w, _), n in zip(nodes, parsed) if any(v < 0 for v, _ in n["balances"].values())]
    if negatives:
        problems.append(f"negative balances at {', '.join(negatives[:_MAX_MISMATCHES_SHOWN])}")
    ok = not problems
    for p in problems:
        warnings.append(f"Merkle v1 root not confirmed: {p}; root balances are self-reported")
    detail_base = f"root {root['hash']} (height {root['height']}), recomputed from the path of one user" \
        if ok else f"root {root['hash']} as published (recomputation failed)"
    liabilities = [
        Liability(asset_symbol(k, file, jpath(root_where, "balances"), k), value,
                  MERKLE_SUM if ok else SELF_REPORTED, "okx-merkle-v1-proof", file,
                  f"{detail_base}; balances.{k}={text}", COIN, ok)
        for k, (value, text) in root["balances"].items()
    ]
    if ok:
        warnings.append("Merkle v1 proof file: the root is recomputed along one user's path; "
                        "the siblings' subtrees (and so the leaves' non-negativity) are not checked")
    meta = {"root_hash": root["hash"], "root_height": str(root["height"]), "path_length": str(len(path))}
    return Parsed(items=liabilities, warnings=warnings, meta=meta)


def _v1_node(where: str, node: Any, file: str) -> dict:
    if not isinstance(node, dict):
        raise LiabilitiesError(file, where, None, "not an object")
    h = node.get("hash")
    if not isinstance(h, str) or not _HASH.fullmatch(h):
        raise LiabilitiesError(file, where, "hash", f"{show(h)} is not 64 hex digits")
    height, typ = node.get("height"), node.get("type")
    if not isinstance(height, int) or isinstance(height, bool) or height < 1:
        raise LiabilitiesError(file, where, "height", f"{show(height)} is not a height >= 1")
    if not isinstance(typ, int) or isinstance(typ, bool) or typ not in (1, 2, 3, 4):
        raise LiabilitiesError(file, where, "type", f"{show(typ)} is not a node type 1..4")
    bal = node.get("balances")
    if not isinstance(bal, dict) or not bal:
        raise LiabilitiesError(file, where, "balances", "missing or not an object")
    bwhere = jpath(where, "balances")
    balances = {k: (_signed_balance(v, file, bwhere, k), v) for k, v in bal.items()}
    return {"hash": h.lower(), "height": height, "type": typ, "balances": balances}


def _check_v1_path(parsed: list[dict], self_node: dict, keys: list[str]) -> list[str]:
    problems: list[str] = []
    me = parsed[0]
    nonce = self_node.get("nonce")
    if isinstance(nonce, str):
        leaf_json = "{" + ",".join(f'"{k}":"{t}"' for k, (_, t) in me["balances"].items()) + "}"
        if hashlib.sha256((nonce + leaf_json).encode()).hexdigest() != me["hash"]:
            problems.append("the user's leaf hash does not match SHA256(nonce || balances)")
    else:
        problems.append("the user's leaf has no nonce, its hash cannot be checked")
    if me["type"] not in (1, 2):
        problems.append(f"self has type {me['type']} (1 or 2 expected)")
    siblings, root = parsed[1:-1], parsed[-1]
    if siblings and siblings[0]["type"] == me["type"]:
        problems.append("self and its first sibling have the same side")
    cur_hash, cur_bal, height = me["hash"], [v for v, _ in me["balances"].values()], 1
    for i, sib in enumerate(siblings):
        height = 2 if i == 0 else sib["height"] + 1
        sib_bal = [v for v, _ in sib["balances"].values()]
        if sib["type"] == 3:
            problems.append(f"path[{i}] is a root (type 3) before the end")
            return problems
        left, right = (sib["hash"], cur_hash) if sib["type"] == 1 else (cur_hash, sib["hash"])
        cur_bal = [_node_sum(a, b) for a, b in zip(cur_bal, sib_bal)]
        cur_hash = _parent_hash(left, right, [_node_text(v) for v in cur_bal], height)
    if cur_hash != root["hash"]:
        problems.append(f"recomputed root hash {cur_hash[:16]}... differs from {root['hash'][:16]}...")
    texts = [t for _, t in root["balances"].values()]
    if [_node_text(v) for v in cur_bal] != texts:
        problems.append("recomputed root balances differ from the published ones")
    if height != root["height"]:
        problems.append(f"recomputed root height {height} differs from {root['height']}")
    return problems


# ---------------------------------------------------------------- v2: the full tree, streamed twice

def is_tree_line(line: str) -> bool:
    return bool(re.match(r"\s*[0-9a-fA-F]{64},\s*\d+,\s*\{", line))


def _tree_nodes(path: Path, file: str) -> Iterator[tuple[int, str, int, dict[str, tuple[Decimal, str]]]]:
    """(line number, hash, height, {asset: (value, text)}) per non-blank line, streamed."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            h, sep1, rest = line.partition(",")
            height_text, sep2, bal_text = rest.partition(",")
            if not (sep1 and sep2):
                raise LiabilitiesError(file, lineno, None, "expected 'hash,height,{balances}'")
            if not _HASH.fullmatch(h.strip()):
                raise LiabilitiesError(file, lineno, "hash", f"{show(h)} is not 64 hex digits")
            if not height_text.strip().isdigit() or int(height_text) < 1:
                raise LiabilitiesError(file, lineno, "height", f"{show(height_text)} is not a height >= 1")
            try:
                bal = json.loads(bal_text, object_pairs_hook=list)
            except (ValueError, RecursionError):
                raise LiabilitiesError(file, lineno, "balances", f"{show(bal_text)} is not a JSON object") from None
            if not isinstance(bal, list) or not bal:
                raise LiabilitiesError(file, lineno, "balances", "not a non-empty JSON object")
            balances = {}
            for k, v in bal:
                if k in balances:
                    raise LiabilitiesError(file, lineno, "balances", f"duplicate key {k!r}")
                balances[k] = (_signed_balance(v, file, lineno, k), v)
            yield lineno, h.strip().lower(), int(height_text), balances


class _Peek:
    def __init__(self, it):
        self._it, self._buf = it, []

    def peek(self):
        if not self._buf:
            self._buf.append(next(self._it, None))
        return self._buf[0]

    def next(self):
        return self._buf.pop() if self._buf else next(self._it, None)


def parse_v2_tree(path: Path, file: str) -> Parsed:
    parents = _Peek(_tree_nodes(path, file))
    children = _tree_nodes(path, file)
    root = parents.next()
    if root is None:
        raise LiabilitiesError(file, None, None, "empty tree file")
    next(children)
    r_line, r_hash, r_height, r_bal = root
    keys = list(r_bal)
    problems: list[str] = []
    for k, (value, text) in r_bal.items():
        if value < 0:
            raise LiabilitiesError(file, r_line, k, f"root balance {text} is negative")
    checked = padding = 0
    leaves = 1 if r_height == 1 else 0  # a one-node tree: the root is the only leaf
    negatives: list[int] = []
    prev_height, p = r_height + 1, root
    while p is not None and p[2] > 1:
        line, h, height, bal = p
        if list(bal) != keys:
            raise LiabilitiesError(file, line, "balances", f"assets {list(bal)} differ from the root's {keys}")
        first_of_level = height != prev_height
        if height > prev_height or (height < prev_height - 1):
            problems.append(f"line {line}: height {height} out of order after {prev_height}")
            break
        prev_height = height
        nxt = parents.peek()
        if first_of_level and nxt is not None and nxt[2] == height and nxt[1] == h \
                and all(v == 0 for v, _ in bal.values()):
            padding += 1  # zero-balance copy of the level's rightmost node: no children of its own
            p = parents.next()
            continue
        right, left = next(children, None), next(children, None)
        if left is None or right is None:
            problems.append(f"line {line}: the file ends before this node's children")
            break
        for c in (right, left):
            leaves += c[2] == 1
            if any(v < 0 for v, _ in c[3].values()):
                negatives.append(c[0])
            if c[2] != height - 1:
                problems.append(f"line {line}: child on line {c[0]} has height {c[2]}, expected {height - 1}")
            if list(c[3]) != keys:
                raise LiabilitiesError(file, c[0], "balances", f"assets {list(c[3])} differ from the root's {keys}")
        sums = [_node_sum(a[0], b[0]) for a, b in zip(left[3].values(), right[3].values())]
        texts = [_node_text(v) for v in sums]
        if texts != [t for _, t in bal.values()]:
            problems.append(f"line {line}: balances are not the sum of lines {left[0]} and {right[0]}")
        elif _parent_hash(left[1], right[1], texts, height) != h:
            problems.append(f"line {line}: hash is not SHA256 of lines {left[0]} and {right[0]}")
        checked += 1
        if len(problems) > _MAX_MISMATCHES_SHOWN:
            break
        p = parents.next()
    if not problems:
        for line, _h, height, _bal in children:  # every node was consumed as a child: nothing may remain
            problems.append(f"line {line}: node (height {height}) is nobody's child")
            break
    if negatives:
        problems.append(f"negative balances on line(s) {', '.join(map(str, negatives[:_MAX_MISMATCHES_SHOWN]))}")
    ok = not problems
    warnings = [f"Merkle v2 tree not confirmed: {p}" for p in problems[:_MAX_MISMATCHES_SHOWN]]
    if not ok:
        warnings.append("Merkle v2 root balances are self-reported (the tree does not rebuild)")
    detail_base = (f"root {r_hash} (height {r_height}); {checked} parents recomputed, {padding} padding nodes"
                   if ok else f"root {r_hash} as published (recomputation failed)")
    liabilities = [
        Liability(asset_symbol(k, file, r_line, k), value, MERKLE_SUM if ok else SELF_REPORTED,
                  "okx-merkle-v2-tree", file, f"{detail_base}; {k}={text}", COIN, ok)
        for k, (value, text) in r_bal.items()
    ]
    meta = {"root_hash": r_hash, "root_height": str(r_height), "parents_checked": str(checked),
            "padding_nodes": str(padding), "leaves": str(leaves)}
    return Parsed(items=liabilities, warnings=warnings, meta=meta)


# ---------------------------------------------------- v2: a user's file, bound to the full tree's leaves

V2_USER_KIND = "okx-merkle-v2-user"


def looks_like_v2_user(data: Any) -> bool:
    return isinstance(data, dict) and {"hash", "nodes", "nonce", "totalBalances"} <= data.keys()


def v2_user_leaves(data: dict, file: str) -> dict[str, tuple[str, ...]]:
    """Check an OKX Merkle v2 ``user_info_file.json`` on its own (spec 4.2) and return its leaves
    (node hash -> balance texts, the tree's asset order). ``LiabilitiesError`` names the first rule
    that does not hold: the user hash is ``SHA256(nonce ‖ compact JSON of totalBalances)``, each
    node's ``SHA256(user hash ‖ balances)``, and the nodes add up to ``totalBalances``."""
    user_hash, nonce, total = data.get("hash"), data.get("nonce"), data.get("totalBalances")
    if not isinstance(user_hash, str) or not _HASH.fullmatch(user_hash):
        raise LiabilitiesError(file, "$", "hash", f"{show(user_hash)} is not 64 hex digits")
    if not isinstance(nonce, str) or not nonce:
        raise LiabilitiesError(file, "$", "nonce", f"{show(nonce)} is not a nonce string")
    if not isinstance(total, dict) or not total:
        raise LiabilitiesError(file, "$", "totalBalances", "missing or not an object")
    keys = list(total)
    sums = {k: _signed_balance(v, file, "$.totalBalances", k) for k, v in total.items()}
    # OKX's Go code hashes the marshalled struct: compact JSON, strings as written, in this order
    text = "{" + ",".join(f'"{k}":"{total[k]}"' for k in keys) + "}"
    if hashlib.sha256((nonce + text).encode()).hexdigest() != user_hash.lower():
        raise LiabilitiesError(file, "$", "hash", "is not SHA256(nonce || totalBalances as written)")
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise LiabilitiesError(file, "$", "nodes", "missing or empty")
    leaves: dict[str, tuple[str, ...]] = {}
    added = dict.fromkeys(keys, Decimal(0))
    for i, node in enumerate(nodes):
        where = jpath("$.nodes", i)
        bal = node.get("balances") if isinstance(node, dict) else None
        h = node.get("hash") if isinstance(node, dict) else None
        if not isinstance(bal, dict) or list(bal) != keys:
            raise LiabilitiesError(file, where, "balances", f"not an object with the assets {keys} of totalBalances")
        if not isinstance(h, str) or not _HASH.fullmatch(h):
            raise LiabilitiesError(file, where, "hash", f"{show(h)} is not 64 hex digits")
        for k in keys:
            added[k] += _signed_balance(bal[k], file, jpath(where, "balances"), k)
        texts = tuple(bal[k] for k in keys)
        if hashlib.sha256((user_hash.lower() + "".join(texts)).encode()).hexdigest() != h.lower():
            raise LiabilitiesError(file, where, "hash", "is not SHA256(user hash || its balances)")
        leaves[h.lower()] = texts
    for k in keys:
        if added[k] != sums[k]:
            raise LiabilitiesError(file, "$.totalBalances", k, f"{total[k]} is not the sum of the nodes' {k} ({added[k]})")
    return leaves


def tree_leaves(path: Path, wanted: set[str]) -> dict[str, tuple[str, ...]]:
    """The full tree's height-1 lines whose hash is in ``wanted``: hash -> balance texts (streamed)."""
    found: dict[str, tuple[str, ...]] = {}
    for _line, h, height, bal in _tree_nodes(path, str(path)):
        if height == 1 and h in wanted:
            found[h] = tuple(t for _, t in bal.values())
    return found
