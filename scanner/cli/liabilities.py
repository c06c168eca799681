"""``porscan liabilities verify PATH``: every liabilities proof under PATH, checked by porscan itself."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .args import bounded_int
from .common import consoles

SCHEMA = "porscan.liabilities-verify/1"

LIABILITIES_HELP = """\
Verify the liabilities proofs an exchange publishes, with porscan's own code.

PATH is a file or a folder; proofs are recognised by their content:
  OKX zk-STARK v1 sum proof sets (sum_proof_data/ with trunk/ and batches/): proof of work, FRI,
    Merkle branches, trace constraints, every batch and the trunk, batch sums = trunk sums
  OKX v1 user inclusion proofs (Keccak), bound to the roots of the sum proof set beside them (a path to
    other roots fails; without a set, not_verified: its roots are bound to nothing)
  OKX v2 sum_proof_data.json: the circuit digest against the pinned one; the plonky2 proof itself only
    with --zk-verifier (OKX's zk-por-cli), else not_verified, said plainly
  OKX v2 user inclusion proofs (Poseidon over Goldilocks), bound to the v2 proof's root
  an inclusion proof (v1 or v2) whose path holds to the roots of a sum proof that failed its own
    check fails too: it places the user in liabilities nothing proves
  OKX Merkle v2 full trees (every node hash recomputed) and Merkle v1 proof files (the user's leaf
    and every node on its path to the root)
  OKX Merkle v2 user files (user_info_file.json): hashes and sums, and each leaf among the leaves of
    a full tree given with it
  Binance's CexAssetsInfo: not_verified (no verifier for its proofs here)

statuses: verified (porscan recomputed what the proof binds and it held), failed (the reason names the
file and the check), not_verified (porscan cannot check this kind here; not a failure)

examples:
  porscan liabilities verify sum_proof_data/
  porscan liabilities verify okx-por-2024-06/ --json proofs.json
  porscan liabilities verify sum_proof_data.json --zk-verifier ./zk-por-cli

exit codes: 0 = no proof failed, 1 = a proof failed, 2 = usage error, unreadable PATH or no proof under it
"""


def add_command(sub, fmt) -> None:
    group = sub.add_parser("liabilities", help="verify liabilities proofs (zk-STARK, inclusion, Merkle)",
                           description=LIABILITIES_HELP, formatter_class=fmt)
    inner = group.add_subparsers(dest="liabilities_command", metavar="ACTION")
    v = inner.add_parser("verify", help="verify every proof found under PATH", description=LIABILITIES_HELP,
                         formatter_class=fmt)
    v.add_argument("path", metavar="PATH", help="a proof file or a folder of them")
    v.add_argument("--json", metavar="OUT", help=f'write the results as JSON ("schema": "{SCHEMA}")')
    v.add_argument("--zk-verifier", metavar="PATH", help="a zk-por-cli binary to run on OKX v2 sum proofs")
    v.add_argument("--workers", type=bounded_int(1, 4096), default=None, metavar="N",
                   help="processes for the zk-STARK batches (default: all cores for large sets)")
    v.set_defaults(func=cmd_liabilities_verify)
    group.set_defaults(func=lambda args: (group.print_help(), EXIT_USAGE)[1])


def cmd_liabilities_verify(args: argparse.Namespace) -> int:
    from ..pipeline.liabilities.check import check_proofs

    out, err = consoles()
    checks = check_proofs(args.path, zk_verifier=args.zk_verifier, workers=args.workers)
    counts = Counter(c.status for c in checks)
    if args.json:
        doc = {"schema": SCHEMA, "tool": {"name": "porscan", "version": __version__}, "path": Path(args.path).name,
               "counts": {k: counts.get(k, 0) for k in ("verified", "failed", "not_verified")},
               "proofs": [c.to_json() for c in checks]}
        try:
            Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        except OSError as exc:
            err.print(f"porscan liabilities: cannot write {args.json}: {exc.strerror or exc}", markup=False)
            return EXIT_USAGE
    by_kind = Counter((c.kind, c.status) for c in checks)
    for kind in sorted({k for k, _ in by_kind}):
        parts = ", ".join(f"{status} {by_kind[(kind, status)]}" for status in ("verified", "failed", "not_verified")
                          if by_kind[(kind, status)])
        out.print(f"{kind}: {parts}", markup=False)
    for c in checks:
        if c.status != "verified":
            out.print(f"  {c.status}: {c.file}: {c.reason}", markup=False, overflow="fold")
    if not checks:
        # nothing checked is no pass: exit 0 here let a mistyped folder (or an empty download) read as
        # "no proof failed" to a script
        raise InputError(f"{args.path}: no liabilities proof found (nothing was checked)")
    out.print(f"proofs: {len(checks)} checked, {counts.get('verified', 0)} verified, {counts.get('failed', 0)} failed, "
              f"{counts.get('not_verified', 0)} not verified by porscan", markup=False)
    return EXIT_FAILED if counts.get("failed") else EXIT_OK
