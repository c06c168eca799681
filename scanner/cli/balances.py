"""``porscan balances``: every row's balance at its snapshot height against the published amount."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..exitcodes import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from .common import stdout_console, INPUT_HELP, add_display_options, add_network_options, on_input, split_multi

if TYPE_CHECKING:
    from ..pipeline.inputs import Input

BALANCES_HELP = """\
Read the balance of every row at its snapshot height and compare it with the published amount,
exactly, in base units (after the coin's decimals).

EVM chains are read through raw JSON-RPC batches: porscan's own reader contract injected with an
eth_call state override at the snapshot block (thousands of addresses per call), Multicall3, or
plain batched calls, chosen per endpoint by a probe. Endpoints, rate limits and API keys (as
${ENV_VAR} references) live in scanner/config/networks.toml; coin keys map to networks and token
contracts in scanner/config/coins.toml. A read that fails is reported as unread, never as zero, and
every figure names the block (number and hash) it was read at.

Bitcoin-family nodes keep only their tip's UTXO set. To read at an older snapshot, porscan asks
Bitcoin Knots for a UTXO dump at that height (dump_dir), or, only on an endpoint that sets
allow_rollback = true, rolls the node back (invalidateblock, scan, reconsiderblock). The rollback
takes the node off the network while it runs and EMPTIES THE NODE'S MEMPOOL: never set it on a node
that relays or mines. It is off unless set per endpoint (scanner/config/networks.toml, docs/bitcoin.md).

examples:
  porscan balances okx_por.csv --coin USDT-ERC20 --json balances.json
  ALCHEMY_API_KEY=... porscan balances okx_por.csv --network ethereum --cross-check 50
  porscan balances reserves.csv --rpc ethereum=http://127.0.0.1:8545

exit codes: 0 = every supported row read and matched, 1 = a mismatch or an unreadable row, 2 = usage error,
  3 = nothing failed but a balance could not be read (an incomplete verdict)
"""



def add_command(sub, fmt) -> None:
    b = sub.add_parser("balances", help="read balances at the snapshot heights and compare with the file",
                       description=BALANCES_HELP, formatter_class=fmt)
    b.add_argument("file", metavar="FILE", help=INPUT_HELP)
    b.add_argument("--json", metavar="PATH", help='write the full report as JSON ("schema": "porscan.balances/1")')
    b.add_argument("--coin", action="append", metavar="COIN", help="only these coin keys (repeat or comma-separate)")
    b.add_argument("--network", action="append", metavar="NET", help="only rows of these networks (network ids or file labels)")
    add_network_options(b)
    add_display_options(b)
    b.set_defaults(func=cmd_balances)



def cmd_balances(args: argparse.Namespace) -> int:
    return on_input("balances", args, _balances)


def _balances(args: argparse.Namespace, source: Input) -> int:
    import asyncio
    import json
    from pathlib import Path

    from rich.console import Console

    from ..pipeline.balances import check_balances
    from ..pipeline.ingest import IngestError, iter_rows, read_head
    from ..config.assets import default_book
    from ..config.networks import NetConfigError, check_coins, load_coins, load_networks, with_overrides
    from ..report.checks import render_balances, tool_info

    console = stdout_console()
    err = Console(stderr=True, highlight=False)
    try:
        head = read_head(source.path)
        networks = with_overrides(load_networks(Path(args.config) if args.config else None), args.rpc)
        coins = load_coins(Path(args.coins) if args.coins else None)
        check_coins(coins, networks, default_book(), Path(args.coins) if args.coins else None)
    except (IngestError, NetConfigError) as exc:
        err.print(f"porscan balances: {source.relabel(str(exc))}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    coin_filter, net_filter = split_multi(args.coin), split_multi(args.network, "--network")

    def wanted(row) -> bool:
        if coin_filter and row.coin.upper() not in coin_filter:
            return False
        if net_filter:
            target = coins.get(coins.key_for(row.coin, row.network, head.layout.keyed_by_network))
            names = {row.network.upper()} | ({target.network.upper()} if target else set())
            return bool(names & net_filter)
        return True

    rows = (r for r in iter_rows(source.path, head) if wanted(r))  # streamed: check_balances reads it once
    options = {"force_strategy": args.strategy, "cross_check": args.cross_check}
    show = not (args.no_progress or args.quiet) and err.is_terminal
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(TextColumn("reading balances"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err)
        task = progress.add_task("balances", total=None)
        with progress:
            checks, summaries = asyncio.run(check_balances(
                rows, coins, networks, adapter_options=options, file_heights=head.heights,
                keyed_by_network=head.layout.keyed_by_network,
                on_plan=lambda n: progress.update(task, total=n),
                on_progress=lambda n: progress.update(task, advance=n)))
    else:
        checks, summaries = asyncio.run(check_balances(rows, coins, networks, adapter_options=options,
                                                       file_heights=head.heights,
                                                       keyed_by_network=head.layout.keyed_by_network))
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    if args.json:
        report = {"schema": "porscan.balances/1", "tool": tool_info(),
                  "input": {"path": source.original, "bytes": head.size, "layout": head.layout.name if head.layout else None,
                            "compressed": source.compressed, "source_sha256": source.source_sha256},
                  "summary": {"rows": len(checks), "by_status": counts},
                  "networks": [summaries[k].as_json() for k in sorted(summaries)],
                  "rows": [c.to_json() for c in checks]}
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.quiet:
        console.print(f"{len(checks)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), markup=False)
    else:
        render_balances(summaries, counts, console)
    # the shared table: a check that failed on what was read (or a row that cannot be read) is 1; a
    # balance that could not be read is an incomplete verdict, 3, not a failed one
    if counts.get("mismatch", 0) + counts.get("invalid_row", 0):
        return EXIT_FAILED
    return EXIT_INCOMPLETE if counts.get("unread", 0) else EXIT_OK
