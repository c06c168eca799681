"""A realistic sample exchange reserve file, signed with porscan's own keys.

What the README's main job runs on: several signature schemes as real exchanges publish them
(EVM EOAs and a contract wallet, TRON, Bitcoin single-key and 2-of-3 multisig, Litecoin, Solana,
EOS), a summary block, and a few deliberately bad rows (wrong signer, one key signing twice, an
unreadable amount) so every status shows up. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from . import samplegen as g

HEIGHTS = {"ETH": 21_000_000, "ETH-ARBITRUM": 280_000_000, "USDT-ERC20": 21_000_000, "USDT-TRC20": 66_000_000,
           "TRX": 66_000_000, "BTC": 870_000, "LTC": 2_700_000, "SOL": 300_000_000, "EOS": 400_000_000}
DECIMALS = {"ETH": 18, "ETH-ARBITRUM": 18, "USDT-ERC20": 6, "USDT-TRC20": 6, "TRX": 6, "BTC": 8, "LTC": 8,
            "SOL": 9, "EOS": 4}


def build_rows(seed: int = 7, evm: int = 30, tron: int = 12, btc: int = 10) -> list[g.SampleRow]:
    rng = random.Random(seed)
    rows: list[g.SampleRow] = []
    key = lambda i, label: g.seeded_key(f"{seed}-{i}", label)  # noqa: E731
    for i in range(evm):
        coin = rng.choice(["ETH", "ETH", "USDT-ERC20", "ETH-ARBITRUM"])
        sign = g.evm_sign_personal if i % 10 == 9 else g.evm_sign_okx
        addr, sig = sign(key(i, "evm"))
        rows.append(g.SampleRow(coin, "ETH" if coin != "ETH-ARBITRUM" else "ARBITRUM", addr,
                                g.random_amount(rng, DECIMALS[coin]), signature1=sig))
    # a contract wallet (Safe-like) proven by its two owners
    o1, s1 = g.evm_sign_okx(key("owner1", "evm"))
    o2, s2 = g.evm_sign_okx(key("owner2", "evm"))
    contract = "0x" + g.seeded_key("safe", "contract")[:20].hex()
    rows.append(g.SampleRow("ETH", "ETH", contract, "1250.5", signature1=s1, signature2=s2, eoa1=o1, eoa2=o2))
    for i in range(tron):
        coin = "USDT-TRC20" if i % 3 else "TRX"
        addr, sig = g.tron_sign(key(i, "tron"))
        rows.append(g.SampleRow(coin, "TRON", addr, g.random_amount(rng, 6), signature1=sig))
    pool = [key(i, "btc-cosigner") for i in range(6)]
    for i in range(btc):
        trio = rng.sample(pool, 3)
        if i % 2:
            addr, sa, sb, script = g.p2wsh_multisig(trio)
        else:
            addr, sa, sb, script = g.p2sh_multisig(trio)
        rows.append(g.SampleRow("BTC", "BTC", addr, g.random_amount(rng, 8), signature1=sa, signature2=sb, script=script))
    addr, sig = g.p2pkh(key("hot", "btc"))
    rows.append(g.SampleRow("BTC", "BTC", addr, "3.25", signature1=sig))
    addr, sig = g.p2wpkh_bip137(key("hot2", "btc"))
    rows.append(g.SampleRow("BTC", "BTC", addr, "1.5", signature1=sig))
    addr, sig = g.p2pkh(key("ltc", "ltc"), version=48, magic="Litecoin Signed Message:\n")
    rows.append(g.SampleRow("LTC", "LTC", addr, "420.12345678", signature1=sig))
    for i in range(4):
        addr, sig, pub = g.sol_sign(key(i, "sol"))
        rows.append(g.SampleRow("SOL", "SOL", addr, g.random_amount(rng, 9), signature1=sig, script=pub))
    return rows


def bad_rows(seed: int = 7) -> list[tuple[g.SampleRow | str, str]]:
    """(row or raw line, what porscan should say)."""
    key = lambda i, label: g.seeded_key(f"{seed}-{i}", label)  # noqa: E731
    victim, _ = g.evm_sign_okx(key("victim", "evm"))
    _, foreign_sig = g.evm_sign_okx(key("attacker", "evm"))
    trio = [key(i, "btc-cosigner") for i in range(3)]
    addr, sa, _, script = g.p2wsh_multisig(trio)
    return [
        (g.SampleRow("ETH", "ETH", victim, "5000", signature1=foreign_sig), "failed: signed by another key"),
        (g.SampleRow("BTC", "BTC", addr, "12.5", signature1=sa, signature2=sa, script=script),
         "failed: one co-signer signed twice"),
        ("USDT-TRC20,TRON,66000000,TXYZ,12..5,I am an OKX address,0x00,,", "invalid_row: unreadable amount"),
    ]


def write_sample(path: str | Path, seed: int = 7, with_bad_rows: bool = True, heights: dict[str, int] | None = None,
                 rows: list[g.SampleRow] | None = None) -> dict[str, int]:
    """Write the sample file; ``heights`` overrides snapshot heights per coin (local chains),
    ``rows`` replaces the generated rows (bad rows are still appended)."""
    heights_of = {**HEIGHTS, **(heights or {})}
    rows = build_rows(seed) if rows is None else rows
    extra = bad_rows(seed) if with_bad_rows else []
    lines = [g.okx11_line(r, heights_of[r.coin]) for r in rows]
    for item, _ in extra:
        lines.append(item if isinstance(item, str) else g.okx11_line(item, heights_of[item.coin]))
    sums: dict[str, Decimal] = {}
    for r in rows + [i for i, _ in extra if not isinstance(i, str)]:
        sums[r.coin] = sums.get(r.coin, Decimal(0)) + Decimal(r.amount)
    assets = {"ETH": ["ETH", "ETH-ARBITRUM"], "USDT": ["USDT-ERC20", "USDT-TRC20"]}
    head = ["coin,snapshot height,amount"]
    for asset, coins in assets.items():
        total = sum((sums.get(c, Decimal(0)) for c in coins), Decimal(0))
        head.append(f"{asset}(ALL),-,{int(total)}")
    for coin in sorted(sums):
        head.append(f"{coin},{heights_of[coin]},{sums[coin].quantize(Decimal('0.0001'))}")
    text = "\n".join(head) + "\n\n" + g.OKX11_HEADER + "\n" + "\n".join(lines) + "\n"
    Path(path).write_text(text)
    return {"rows": len(lines), "bad_rows": len(extra)}
