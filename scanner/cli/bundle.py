"""``porscan bundle RUN_ID OUT.zip`` and ``porscan bundle verify OUT.zip``: evidence bundles."""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError
from ..exitcodes import EXIT_FAILED, EXIT_OK
from .args import RUN_ID, bounded_int
from .common import add_db_option, consoles, run_async

BUNDLE_HELP = """\
Keep a stored scan's conclusion checkable after the exchange deletes its files: one zip with the
report, every row's ownership verdict, every balance check (block number and hash), and with
--with-inputs the reserve and liabilities files themselves (when they still exist and still have the
SHA-256 the run stored). manifest.json ("schema": "porscan.bundle/1") names the tool version, run,
exchange, snapshot date, the inputs and their SHA-256, and the SHA-256 of every other member.

`porscan bundle verify OUT.zip` re-checks a bundle OFFLINE, with no node and no database:
  every member's SHA-256 against the manifest;
  the report's row counts by status, balance statuses and per-asset and per-network figures
    (published, on-chain by ownership status, unread, blocks) recomputed from the rows and balances
    it carries, by the scan's own aggregation;
  with the reserve file inside: every signature verified again, each row's status compared with
    its bundled verdict.

examples:
  porscan bundle 12 okx-2024-06.zip --with-inputs
  porscan bundle verify okx-2024-06.zip

exit codes: 0 = written / verified; 1 = verify found a mismatch (one line each, naming the member and
  the field); 2 = usage error, unknown or unfinished run, unreadable bundle
"""


def add_command(sub, fmt) -> None:
    b = sub.add_parser("bundle", help="write or verify an evidence bundle of a stored scan",
                       description=BUNDLE_HELP, formatter_class=fmt)
    b.add_argument("target", metavar="RUN_ID|verify", help="the stored run to bundle, or `verify`")
    b.add_argument("zip", metavar="OUT.zip", help="the bundle to write (or to verify)")
    add_db_option(b)
    b.add_argument("--with-inputs", action="store_true",
                   help="put the reserve and liabilities files in the bundle (when unchanged since the scan)")
    b.add_argument("--workers", type=bounded_int(1, 4096), metavar="N",
                   help="verify: processes re-verifying the signatures (default: all cores)")
    b.add_argument("--json", action="store_true", help="verify: print the result as JSON")
    b.set_defaults(func=cmd_bundle)


def cmd_bundle(args: argparse.Namespace) -> int:
    if args.target == "verify":
        if args.with_inputs or args.db:
            raise UsageError("bundle verify reads only the bundle: --db and --with-inputs do not apply")
        return _verify(args)
    try:
        run_id = RUN_ID(args.target)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{exc}: give a run id (see `porscan runs`) or `verify`") from None
    return _write(args, run_id)


def _write(args: argparse.Namespace, run_id: int) -> int:
    from ..pipeline.bundle import write_bundle
    from .scan import _with_store

    out, _err = consoles()
    manifest = run_async(_with_store(args.db, lambda s: write_bundle(s, run_id, args.zip, args.with_inputs)))
    out.print(f"run {run_id} ({manifest['exchange']}): {manifest['rows']} rows, {manifest['balances']} balance checks "
              f"-> {args.zip}", markup=False)
    for entry in manifest["inputs"]:
        state = f"included as {entry['member']}" if entry["member"] else entry["note"]
        out.print(f"  {entry['role']} {entry['name']} (sha256 {entry['sha256']}): {state}", markup=False)
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from ..pipeline.bundle import verify_bundle

    out, _err = consoles()
    check = verify_bundle(args.zip, workers=args.workers)
    run = check.manifest.get("run") or {}
    if args.json:
        print(json.dumps({"schema": "porscan.bundle-verify/1", "bundle": args.zip, "run_id": run.get("id"),
                          "verified": check.ok, "checked": check.checked, "mismatches": check.mismatches}, indent=1))
    else:
        for line in check.mismatches:
            out.print(f"mismatch: {line}", markup=False, overflow="fold")
        for line in check.checked:
            out.print(f"checked: {line}", markup=False, overflow="fold")
        out.print(f"run {run.get('id')} ({check.manifest.get('exchange')}): "
                  + ("verified" if check.ok else f"{len(check.mismatches)} mismatch(es)"), markup=False)
    return EXIT_OK if check.ok else EXIT_FAILED
