"""Every liabilities proof found under a path, checked by porscan's own code (``porscan liabilities
verify`` and ``porscan scan --liabilities``).

Proofs are recognised by their content, not their file names, so a month OKX names differently is
still found:

* a folder holding ``trunk/sum_proof.json`` (and ``batches/*/sum_proof.json``): an OKX zk-STARK v1 sum
  proof set, verified in full (``stark``); its trunk and batch roots bind the v1 inclusion proofs;
* JSON with ``batch_inclusion_proof``: an OKX v1 user inclusion proof (``inclusion``), bound to the
  roots of a sum proof set found beside it (the one whose trunk root it names); one whose roots are
  those of no set given fails when a set lies in a folder above it, else is ``not_verified``;
* JSON with ``proof.public_inputs``: an OKX v2 sum proof: circuit digest pinned, the plonky2 proof
  itself only with ``--zk-verifier`` (``okx_v2_global``), else ``not_verified``; its root binds:
* JSON with ``sum_tree_siblings``: an OKX v2 user inclusion proof (Poseidon, ``inclusion``);
* OKX Merkle v1 proof files and Merkle v2 full trees: every node's hash recomputed (``merkle``);
* an OKX Merkle v2 user file (``user_info_file.json``): its hashes and sums recomputed, and each of its
  leaves found, balances and all, among the leaves of a full tree given with it that rebuilds;
* Binance's ``CexAssetsInfo``: ``not_verified`` (porscan has no verifier for its zk proofs).

Other files are passed over. ``file`` in each record is relative to the path given (the report
never carries the scanning machine's folders).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError
from .model import (SELF_REPORTED, ZK_PUBLISHED, ZK_VERIFIED, LiabilitiesError, LiabilitySet,
                    parse_json)
from .merkle import looks_like_v2_user
from .proofs import FAILED, NOT_VERIFIED, VERIFIED, ProofCheck

_SNIFF = 4096
MAX_JSON_BYTES = 512 * 1024 * 1024  # a proof file larger than this is not read whole (a v2 proof is ~1-10 MB)
SET_KIND = "okx-zk-stark-v1-sum-set"
# what a v1 set's trunk/ and batches/*/ hold: the proof, its sums, and the prover's own tree files
_SET_FILES = frozenset({"sum_proof.json", "sum_values.json", "mtree.json", "mtree_entries_data.json"})


def _json_head(path: Path) -> str:
    """The first bytes of a file as text (OSError when it cannot be read: the caller says so)."""
    with open(path, "rb") as fh:
        return fh.read(_SNIFF).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def _v1_sets(root: Path) -> list[Path]:
    """Folders of v1 sum proof sets under ``root`` (the folder itself, or any below it).

    A ``trunk/`` with sum values but no proof, or beside ``batches/``, is a set too: checked as one,
    its missing trunk proof fails it (found only by ``trunk/sum_proof.json``, a set whose trunk proof
    was left out passed as a handful of lone batches while its trunk sums went unchecked)."""
    if root.is_file():
        return []
    found = {p.parent.parent for name in ("sum_proof.json", "sum_values.json") for p in root.rglob(f"trunk/{name}")}
    found |= {t.parent for t in root.rglob("trunk") if t.is_dir() and (t.parent / "batches").is_dir()}
    return sorted(found)


def _relative(path: Path, base: Path) -> str:
    try:
        rel = path.relative_to(base)
        return str(Path(base.name) / rel) if str(rel) != "." else base.name
    except ValueError:
        return path.name


def check_proofs(path: str | Path, *, zk_verifier: str | Path | None = None, workers: int | None = None) -> list[ProofCheck]:
    """Every proof under ``path`` (a file or a folder), checked. ``InputError`` when ``path`` cannot be
    read at all; a proof file that cannot be read is a failed check naming it."""
    from .inclusion import v1_roots, v2_sum_proof_root, verify_v1_inclusion, verify_v2_inclusion
    from .okx_v2_global import check_v2_global
    from .stark import load_config, verify_sum_proof_set

    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    if not os.access(root, os.R_OK):
        raise InputError(f"{root}: cannot read")
    base = root.parent if root.is_file() else root
    out: list[ProofCheck] = []

    def rel(p: Path | str) -> str:
        return _relative(Path(p), base)

    def bare(reason: str) -> str:  # a reason quoting a path as given names it below the path given
        return reason.replace(str(base) + os.sep, "")

    def bare_values(value: Any) -> Any:  # the same in a record's detail (a zk verifier's command line)
        if isinstance(value, str):
            return bare(value)
        if isinstance(value, list):
            return [bare_values(v) for v in value]
        if isinstance(value, dict):
            return {k: bare_values(v) for k, v in value.items()}
        return value

    def named(check: ProofCheck) -> ProofCheck:
        return dataclasses.replace(check, file=rel(check.file), reason=bare(check.reason),
                                   detail=bare_values(dict(check.detail)))

    sets = _v1_sets(root)
    set_roots: list[tuple[Path, Any]] = []
    set_failed: dict[Path, ProofCheck] = {}  # a set whose own check failed: its roots bind nothing proven
    for s in sets:
        set_checks = [named(c) for c in verify_sum_proof_set(s, workers=workers)]
        out.extend(set_checks)
        bad = next((c for c in set_checks if c.kind == SET_KIND and c.status == FAILED), None)
        if bad is not None:
            set_failed[s] = bad
        try:
            set_roots.append((s, v1_roots(s)))
        except LiabilitiesError as exc:
            out.append(ProofCheck(file=rel(s), kind=SET_KIND, status=FAILED, reason=str(exc).replace(str(base) + os.sep, "")))
    inside_sets = {p for s in sets for p in (s / "trunk", s / "batches")}

    v2_sums: list[Path] = []
    v1_incl: list[tuple[Path, dict[str, Any]]] = []
    v2_incl: list[Path] = []
    trees: list[tuple[Path, ProofCheck]] = []  # Merkle v2 full trees and their checks
    merkle_users: list[tuple[Path, dict[str, Any]]] = []
    for p in _walk(root):
        if p.name in _SET_FILES and any(part in inside_sets for part in p.parents):
            continue  # a set's own files: checked with the set (any other file there is looked at like all others)
        if not p.is_file() and not p.is_symlink():
            continue  # a FIFO, socket or device: opening it could block, and it holds no published file
        try:
            head = _json_head(p)
        except OSError as exc:
            # recognised by content, a file that cannot be read could be any proof: passing over it
            # silently gave "no liabilities proof found" and exit 0 for a folder of unreadable proofs
            out.append(ProofCheck(file=rel(p), kind="unknown", status=FAILED,
                                  reason=f"cannot read ({exc.strerror or exc}): porscan cannot tell whether it holds a proof"))
            continue
        if not head:
            continue
        if head[:1] not in "{[":
            found = _text_proof(p, head, rel, bare)
            trees.extend((p, c) for c in found)
            out.extend(found)
            continue
        try:
            if p.stat().st_size > MAX_JSON_BYTES:
                continue
            data = parse_json(p)
        except (LiabilitiesError, OSError) as exc:
            if p.suffix.lower() == ".json":
                out.append(ProofCheck(file=rel(p), kind="unknown", status=FAILED, reason=bare(f"cannot read: {exc}")))
            continue
        if not isinstance(data, dict):
            continue
        if "low_degree_proof" in data:  # a v1 sum proof outside a complete set: a batch on its own
            out.append(_lone_sum_proof(p, base, named, rel))
        elif "batch_inclusion_proof" in data:
            v1_incl.append((p, data))
        elif "sum_tree_siblings" in data:
            v2_incl.append(p)
        elif isinstance(data.get("proof"), dict) and "public_inputs" in data["proof"]:
            v2_sums.append(p)
        elif "self" in data and "path" in data:
            out.extend(_merkle(p, rel, bare))
        elif looks_like_v2_user(data):
            merkle_users.append((p, data))
        elif "CexAssetsInfo" in data:
            out.append(ProofCheck(file=rel(p), kind="binance-zk", status=NOT_VERIFIED,
                                  reason="porscan has no verifier for Binance's zk proofs: the figures are the proof's "
                                         "published outputs"))

    for p, data in v1_incl:
        trunk = data.get("trunk_inclusion_proof")
        named_root = str((trunk if isinstance(trunk, dict) else {}).get("trunk_mtree_root") or "").lower().removeprefix("0x")
        chosen = next(((s, r) for s, r in set_roots if r.trunk_root == named_root), None)
        if chosen is None:
            out.append(_unbound_v1(named(verify_v1_inclusion(p)), [s for s in sets if s.parent in p.parents], rel,
                                   given=len(sets)))
        else:
            s, r = chosen
            try:
                coins: Any = list(load_config(s).coins)
            except (LiabilitiesError, ValueError):
                coins = None  # the set's own check names its config problem; the proof's embedded list is used
            check = named(verify_v1_inclusion(p, config=coins, trunk_root=r.trunk_root, batch_roots=r.batch_roots))
            out.append(_of_failed_root(check, rel(s), set_failed.get(s)))
    out.extend(_merkle_users(merkle_users, trees, rel, bare))
    roots: list[tuple[Path, Any]] = []
    global_failed: dict[Path, ProofCheck] = {}
    for p in v2_sums:
        global_check = named(check_v2_global(p, zk_verifier))
        out.append(global_check)
        if global_check.status == FAILED:
            global_failed[p] = global_check
        try:
            roots.append((p, v2_sum_proof_root(p)))
        except LiabilitiesError as exc:
            out.append(ProofCheck(file=rel(p), kind="okx-v2-inclusion", status=FAILED, reason=bare(str(exc))))
    for p in v2_incl:
        if not roots:
            out.append(ProofCheck(file=rel(p), kind="okx-v2-inclusion", status=NOT_VERIFIED,
                                  reason="no OKX v2 sum proof (sum_proof_data.json) given beside it: no root to "
                                         "verify the path against"))
            continue
        checks = [(s, verify_v2_inclusion(p, r)) for s, r in roots]
        s, check = next(((s, c) for s, c in checks if c.status == VERIFIED), checks[0])
        if check.status == VERIFIED:  # which sum proof (round) the path reaches: several may be given
            check = dataclasses.replace(check, reason=f"{check.reason} (the root of {rel(s)})",
                                        detail={**check.detail, "sum_proof": rel(s)})
        out.append(_of_failed_root(named(check), rel(s), global_failed.get(s)))
    return out


def _of_failed_root(check: ProofCheck, source: str, source_failed: ProofCheck | None) -> ProofCheck:
    """An inclusion proof whose path holds to the roots of a sum proof that failed its own check:
    the path proves inclusion in liabilities nothing stands behind (its 'verified' sat beside the sum
    proof's 'failed' in one listing), so it fails too, naming the sum proof's failure."""
    if check.status != VERIFIED or source_failed is None:
        return check
    return dataclasses.replace(check, status=FAILED, reason=(
        f"{check.file}: the path holds to the root of {source}, but that sum proof failed porscan's check "
        f"({source_failed.reason}): it proves inclusion in nothing verified"))


def _merkle_users(users: list[tuple[Path, dict[str, Any]]], trees: list[tuple[Path, ProofCheck]], rel,
                  bare) -> list[ProofCheck]:
    """OKX Merkle v2 user files: their own hashes, then their leaves among a full tree's leaves. Passed
    over before, a folder of them read "no liabilities proof found"."""
    from .merkle import V2_USER_KIND, tree_leaves, v2_user_leaves

    checked: list[tuple[Path, dict[str, tuple[str, ...]] | None, str]] = []
    for p, data in users:
        try:
            checked.append((p, v2_user_leaves(data, str(p)), ""))
        except LiabilitiesError as exc:
            checked.append((p, None, bare(str(exc))))
    wanted = {h for _, leaves, _ in checked if leaves for h in leaves}
    found: list[tuple[Path, ProofCheck, dict[str, tuple[str, ...]]]] = []
    for t, tree_check in trees:
        try:
            found.append((t, tree_check, tree_leaves(t, wanted)))
        except (LiabilitiesError, OSError):
            continue  # the tree's own record names what is wrong with it
    out = []
    for p, leaves, problem in checked:
        def record(status: str, reason: str, detail: dict[str, Any] | None = None, p: Path = p) -> ProofCheck:
            return ProofCheck(file=rel(p), kind=V2_USER_KIND, status=status, reason=reason, detail=detail or {})

        if leaves is None:
            out.append(record(FAILED, problem))
            continue
        holding = [(t, c) for t, c, held in found if all(held.get(h) == v for h, v in leaves.items())]
        if not found:
            out.append(record(NOT_VERIFIED, f"{rel(p)}: its hashes and sums hold, but no Merkle v2 full tree "
                                            "(full-liabilities-merkle-tree.txt) was given with it: its leaves are bound "
                                            "to nothing porscan checked"))
        elif not holding:
            out.append(record(FAILED, f"{rel(p)}: $.nodes: its {len(leaves)} leaves (hash and balances) are not all "
                                      f"among the leaves of {', '.join(rel(t) for t, *_ in found)}"))
        elif not any(c.status == VERIFIED for _, c in holding):
            out.append(record(FAILED, f"{rel(p)}: its leaves are in {rel(holding[0][0])}, whose tree does not rebuild"))
        else:
            t = next(t for t, c in holding if c.status == VERIFIED)
            out.append(record(VERIFIED, f"user hash from nonce and totalBalances, {len(leaves)} leaf hash(es) and their "
                                        f"sum recomputed; every leaf is a leaf of {rel(t)}, whose tree rebuilds",
                              {"leaves": len(leaves), "tree": rel(t)}))
    return out


def _unbound_v1(check: ProofCheck, beside: list[Path], rel, given: int = 0) -> ProofCheck:
    """A v1 inclusion proof whose trunk root is that of no sum proof set given. A path that folds to
    roots nothing binds proves no inclusion in any liabilities (anyone can build such a tree), so it
    is not ``verified``: ``failed`` when a set lies beside it (the proof is of another round or its
    roots were changed), else ``not_verified``."""
    if check.status != VERIFIED:
        return check
    root = check.detail.get("trunk_root", "")
    if beside:
        return dataclasses.replace(check, status=FAILED, reason=(
            f"{check.file}: $.trunk_inclusion_proof: field trunk_mtree_root: {root} is not the trunk root of the "
            f"sum proof set beside it ({', '.join(rel(s) for s in beside)}): the path holds, but to other roots"))
    where = (f"none of the {given} zk-STARK v1 sum proof set(s) given has that trunk root, and none lies in a folder "
             "above it" if given else "no zk-STARK v1 sum proof set (sum_proof_data/ with trunk/ and batches/) was given "
             "with it")
    return dataclasses.replace(check, status=NOT_VERIFIED, reason=(
        f"{check.file}: the path folds to trunk root {root}, but {where}: the roots are bound to nothing porscan checked"))


def _lone_sum_proof(p: Path, base: Path, named, rel) -> ProofCheck:
    from .stark import KIND, verify_sum_proof

    for folder in p.parents:
        if (folder / "config.json").is_file() or (folder / "config.derived.json").is_file():
            return named(verify_sum_proof(p.parent, folder))
        if folder == base:
            break
    return ProofCheck(file=rel(p), kind=KIND, status=NOT_VERIFIED,
                      reason="no config.json (coin list and main_coins_num) in its folder or above: the proof "
                             "cannot be checked without the coin order it was made with")


def _merkle(p: Path, rel, bare) -> list[ProofCheck]:
    from . import load_liabilities

    try:
        s = load_liabilities(p)
    except LiabilitiesError as exc:
        return [ProofCheck(file=rel(p), kind="okx-merkle", status=FAILED, reason=bare(str(exc)))]
    if s.liabilities and all(item.verified for item in s.liabilities):
        # a v1 proof file holds one user's path: the siblings' subtrees are not in it, so not every node
        what = ("the user's leaf and every node on its path to the root recomputed (the siblings' subtrees are "
                "not in the file)" if s.liabilities[0].source == "okx-merkle-v1-proof" else "every node hash recomputed")
        return [ProofCheck(file=rel(p), kind="okx-merkle", status=VERIFIED,
                           reason=f"{what}; {len(s.liabilities)} asset root sum(s)")]
    return [ProofCheck(file=rel(p), kind="okx-merkle", status=FAILED,
                       reason=bare("; ".join(s.warnings[:3]) or "a node hash does not match its children"))]


def _text_proof(p: Path, head: str, rel, bare) -> list[ProofCheck]:
    from .merkle import is_tree_line

    first = next((line for line in head.splitlines() if line.strip() and not line.startswith("#")), "")
    return _merkle(p, rel, bare) if is_tree_line(first) else []


# ------------------------------------------------------------------------------- figures relabelled

def _set_of(liab: LiabilitySet, checks: list[ProofCheck]) -> ProofCheck | None:
    """The verified v1 sum proof set the figures were read from: the one whose trunk proof's
    mtree_root is that of the trunk/sum_proof.json beside the sum values (another set in the same
    folder, verified or not, proves nothing about these figures)."""
    root = str(liab.meta.get("mtree_root") or "").lower().removeprefix("0x")
    if not root:
        return None
    return next((c for c in checks if c.kind == SET_KIND and c.status == VERIFIED
                 and c.detail.get("trunk_mtree_root") == root), None)


def apply_checks(liab: LiabilitySet, checks: list[ProofCheck]) -> LiabilitySet:
    """The set with what the checks established: a zk figure whose proof porscan verified is
    zk-verified; one whose proof failed is self-reported, with a warning naming the failure (a number
    a broken proof stands behind is only the exchange's word)."""
    failed = [c for c in checks if c.status == FAILED]
    warnings = list(liab.warnings)
    verified_set = _set_of(liab, checks)
    v2_verified = any(c.kind == "okx-v2-global" and c.status == VERIFIED for c in checks)
    # the coins the verified proofs constrain one by one, by the config porscan verified them with:
    # the parser's own reading of main_coins_num (from whichever config it found) does not decide
    proven = {str(c).upper() for c in verified_set.detail.get("proven_coins", ())} if verified_set else set()
    items = []
    for item in liab.liabilities:
        if item.provenance == ZK_PUBLISHED and failed:
            item = dataclasses.replace(item, provenance=SELF_REPORTED, verified=False,
                                       detail=f"{item.detail}; its proof failed: {failed[0].file}")
        elif item.provenance == ZK_PUBLISHED and item.source == "okx-zk-stark-v1" and verified_set:
            if item.asset in proven:
                item = dataclasses.replace(item, provenance=ZK_VERIFIED, verified=True)
            else:
                item = dataclasses.replace(item, provenance=SELF_REPORTED, verified=False,
                                           detail=f"{item.detail}; not among the {len(proven)} coins the verified "
                                                  f"proofs constrain one by one ({verified_set.file}: main_coins_num "
                                                  f"{verified_set.detail.get('main_coins_num')})")
        items.append(item)
    if failed:
        warnings.insert(0, f"{len(failed)} liabilities proof(s) failed porscan's check (first: {failed[0].file}: "
                           f"{failed[0].reason}): their figures are labelled self-reported")
    # the v1 parser's caveat ("porscan does not verify the STARK sum proof itself") no longer holds once
    # porscan checked the set, whichever way it went: a failed set has its own warning above
    if verified_set or any(c.kind == SET_KIND and c.status == FAILED for c in checks):
        warnings = [w for w in warnings if "does not verify the STARK sum proof" not in w]
    meta = dict(liab.meta)
    if meta.get("totals_provenance") == ZK_PUBLISHED:
        meta["totals_provenance"] = SELF_REPORTED if failed else ZK_VERIFIED if v2_verified else ZK_PUBLISHED
    return dataclasses.replace(liab, liabilities=tuple(items), warnings=tuple(warnings), meta=meta, proofs=tuple(checks))


__all__ = ["check_proofs", "apply_checks"]
