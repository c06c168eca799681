"""``porscan sample``: a signed sample reserve file made with porscan's own keys."""

from __future__ import annotations

import argparse
import sys

from ..exitcodes import EXIT_OK, EXIT_USAGE
from .args import COUNT
from .common import require_extra


def add_command(sub, fmt) -> None:
    s = sub.add_parser("sample", help="write a signed sample reserve file (porscan's own keys)",
                       description="Write a realistic sample reserve file in OKX's 11-column layout, signed with "
                                   "porscan's own deterministic keys: EVM EOAs and a contract wallet, TRON, Bitcoin "
                                   "single-key and 2-of-3 multisig, Litecoin, Solana, plus a few bad rows.",
                       formatter_class=fmt)
    s.add_argument("out", metavar="OUT", help="where to write the CSV")
    s.add_argument("--seed", type=COUNT, default=7, help="key seed (default 7)")
    s.add_argument("--clean", action="store_true", help="leave out the deliberately bad rows")
    s.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    require_extra("demo")
    from ..devnet.sample_exchange import write_sample

    try:
        info = write_sample(args.out, seed=args.seed, with_bad_rows=not args.clean)
    except OSError as exc:
        print(f"porscan sample: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out}: {info['rows']} rows ({info['bad_rows']} deliberately bad)")
    return EXIT_OK
