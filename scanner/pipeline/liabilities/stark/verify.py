"""Verification of one OKX zk-STARK v1 sum proof (``sum_proof.json`` + ``sum_values.json``).

The construction (spec 4.3; OKX's ``por_stark.py`` at the commits that generated the published
test sets): a trace of ``steps`` rows, ``uts`` rows per user (user 0 is padding), committed at
16x blow-up (N = 16·steps points, generator g = 3^((p-1)/N)) in a permute4 Keccak tree ``mtree``.
Each leaf is Keccak(t ‖ Keccak(b_0..b_{C-1}) ‖ id ‖ Keccak(tc_0..tc_3 ‖ cc_0..cc_{2M-1})), with t the
running-sum trace, b_i the per-coin columns, tc the 4 quotients of the trace constraints and cc the
2 quotients of each of the first M = ``main_coins_num`` coins. What is checked, in this order:

1. sum values: every coin in the config, each in [0, p), their integer sum = ``total_value``;
2. shape: ``uts`` is the size OKX uses for this folder (16 for ``a*`` batches, 32 for ``b*`` and the
   trunk), ``steps`` a power of two <= 2^28 holding at least two users;
3. proof of work: the top 20 bits of Keccak(mtree_root ‖ pow_nonce) are zero;
4. FRI: the linear combination l (``l_mtree_root``) has degree < 4·steps (see ``fri.py``);
5. 16 spot checks at positions drawn from ``l_mtree_root`` (never multiples of 16), each opening the
   trace tree at x, x·g^16, x·g^(16(uts-1)), x·g^(16·uts) and the l tree at x:
   leaf hashes = the sent entries; with n = steps/uts users, x_0 = g^(16(uts-1)), x_last = g^(16(steps-1)):
   t(x) = tc_0·(x^n - 1)                         (each user's first row is 0),
   Π_{k<4}(t(x·g^16) - 4t(x) - k) = tc_1·(x^steps - 1)/((x^n - g^(16(uts-2)n))(x^n - g^(16(uts-1)n)))
                                                 (base-4 digits over uts-2 rows: 0 <= value < 4^(uts-2)),
   t(x·g^(16uts)) - t(x·g^(16(uts-1))) - t(x) = tc_2·(x^n - g^(16(uts-1)n))/(x - x_last)   (running sum),
   t(x) - I(x) = tc_3·(x - x_0)(x - x_last), I the line through (x_0, 0), (x_last, total_value),
   and the same accumulation and boundary (sum of coin i) for b_i, i < M, with cc_{2i}, cc_{2i+1};
   l(x) = Σ_j (k_{2j} + k_{2j+1}·x^(3·steps))·v_j + tc_1 over v = (t, b.., id, tc_0, tc_2, tc_3, cc..),
   k_j = Keccak(pow_nonce ‖ j as 32 bytes) mod p.

Coins from M on are bound only through ``total_value`` (their columns enter t and l, but no
constraint ties a column to its own sum). Divisions are checked multiplied out: the spot positions
are off the trace domain, where no denominator vanishes.
"""

from __future__ import annotations

import json
from operator import mul
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..proofs import FAILED, NOT_VERIFIED, VERIFIED, ProofCheck
from . import fri, merkle
from .field import P, inverse, root_of_unity
from .merkle import MerkleError
from scanner.errors import PorscanError
from signatures.hashing import keccak256

KIND = "okx-zk-stark-v1-sum"
EXTENSION_FACTOR = 16
SPOT_CHECKS = 16
POW_BITS = 20
MAX_STEPS = 2**28
TRACE_CONSTRAINTS = 4  # tc_0, tc_1 (range), tc_2, tc_3 in the generated v1 sets
UTS_BY_ROLE = {"a": 16, "b": 32, "trunk": 32}  # what OKX's prover uses (constants UTS16, UTS32, UTS_FOR_TRUNK)


class SumProofInvalid(PorscanError):
    """A check of a sum proof that does not hold; the message says which (caught into a ProofCheck)."""


class LayoutNotSupported(PorscanError):
    """A proof in a v1 layout this verifier does not implement (reported as not verified, not failed)."""


@dataclass(frozen=True, slots=True)
class StarkV1Config:
    """The coin list (the order of the columns) and how many leading coins have their own constraints."""

    coins: tuple[str, ...]
    main_coins_num: int
    source: str = ""  # the config file it was read from

    @property
    def proven_coins(self) -> tuple[str, ...]:
        return self.coins[:self.main_coins_num]

    @property
    def total_only_coins(self) -> tuple[str, ...]:
        return self.coins[self.main_coins_num:]


CONFIG_NAMES = ("config.json", "config.derived.json")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json keeps the last silently: a reader of the file may take the first
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes(), object_pairs_hook=_unique_keys)
    except FileNotFoundError:
        raise SumProofInvalid(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise SumProofInvalid(f"{path}: cannot read as JSON: {exc}") from exc


def load_config(source: StarkV1Config | Mapping[str, Any] | str | Path) -> StarkV1Config:
    """A config from a record, a ``{"coins", "main_coins_num"}`` mapping, a config file, or a
    sum_proof_data folder (its ``config.json``, else porscan's ``config.derived.json``)."""
    if isinstance(source, StarkV1Config):
        return source
    where = ""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            found = [path / name for name in CONFIG_NAMES if (path / name).is_file()]
            if not found:
                raise SumProofInvalid(f"{path}: no {' or '.join(CONFIG_NAMES)} (the coin list and main_coins_num "
                                      "must come with the proof set)")
            path = found[0]
        where = str(path)
        source = _read_json(path)
    if not isinstance(source, Mapping):
        raise SumProofInvalid(f"{where or 'config'}: not an object with coins and main_coins_num")
    coins, main = source.get("coins"), source.get("main_coins_num")
    if not isinstance(coins, list) or not coins or not all(isinstance(c, str) and c for c in coins):
        raise SumProofInvalid(f"{where or 'config'}: $.coins is not a non-empty list of coin names")
    if len(set(coins)) != len(coins) or "total_value" in coins:
        raise SumProofInvalid(f"{where or 'config'}: $.coins repeats a name or contains total_value")
    if isinstance(main, str) and main.isdigit():
        main = int(main)
    if not isinstance(main, int) or isinstance(main, bool) or not 0 <= main <= len(coins):
        raise SumProofInvalid(f"{where or 'config'}: $.main_coins_num must be an integer in [0, {len(coins)}]")
    return StarkV1Config(coins=tuple(coins), main_coins_num=main, source=where)


def expected_uts(folder: Path) -> int | None:
    """The uts OKX's prover uses for a folder: 16 for ``a*`` batches, 32 for ``b*`` and ``trunk``."""
    name = folder.name
    if name == "trunk":
        return UTS_BY_ROLE["trunk"]
    return UTS_BY_ROLE.get(name[:1])


def read_sum_values(folder: Path, config: StarkV1Config) -> list[int]:
    """The coin sums in config order, then total_value, checked: [0, p) and Σ coins = total_value."""
    file = folder / "sum_values.json"
    data = _read_json(file)
    if not isinstance(data, dict):
        raise SumProofInvalid(f"{file}: not an object {{coin: value, ..., total_value}}")
    missing = [c for c in (*config.coins, "total_value") if c not in data]
    extra = sorted(set(data) - set(config.coins) - {"total_value"})
    if missing or extra:
        raise SumProofInvalid(f"{file}: coins differ from the config {config.source or ''}: "
                              f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, not in config {extra[:5]}")
    values: list[int] = []
    for coin in (*config.coins, "total_value"):
        v = data[coin]
        if isinstance(v, str) and v.isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise SumProofInvalid(f"{file}: $.{coin} is not an integer")
        values.append(v)
    # total_value too: the proof binds it only mod p, so a total of p or more (non-main coins wrapped
    # past p, which no constraint ties one by one) is a figure the proof does not stand behind
    for coin, v in zip((*config.coins, "total_value"), values):
        if not 0 <= v < P:
            raise SumProofInvalid(f"{file}: $.{coin} = {v} is not a field element in [0, p)")
    if sum(values[:-1]) != values[-1]:
        raise SumProofInvalid(f"{file}: $.total_value = {values[-1]} but the coin sums add up to {sum(values[:-1])}")
    return values


def _hex(data: Mapping[str, Any], key: str, file: Path, size: int = 32) -> bytes:
    value = data.get(key)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise SumProofInvalid(f"{file}: $.{key} is not {size} bytes of hex")
    return raw


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True, slots=True)
class _Opened:
    """The four trace openings of one spot check, decoded."""

    t: int
    b: list[int]
    ident: int
    tc: list[int]
    cc: list[int]
    t_next: int  # t(x·g^16)
    t_prev_row: int  # t(x·g^(16(uts-1)))
    b_prev_row: list[int]
    t_next_user: int  # t(x·g^(16·uts))
    b_next_user: list[int]


def _words(data: bytes, start: int, count: int) -> list[int]:
    """``count`` 32-byte big-endian integers from word ``start`` on."""
    from_bytes = int.from_bytes
    return [from_bytes(data[i: i + 32], "big") for i in range(32 * start, 32 * (start + count), 32)]


def _open_entries(raw: object, file: Path, coins: int, main: int, leaves: Sequence[bytes]) -> list[_Opened]:
    """Decode ``mtree_entries_data`` and check each entry hashes to its opened trace leaf."""
    if not isinstance(raw, list) or len(raw) != 4 * SPOT_CHECKS:
        raise SumProofInvalid(f"{file}: $.mtree_entries_data: expected {4 * SPOT_CHECKS} entries")
    words = 1 + coins + 1 + TRACE_CONSTRAINTS + 2 * main
    out = []
    for s in range(SPOT_CHECKS):
        where = f"{file}: $.mtree_entries_data[{4 * s}]"
        try:
            full = bytes.fromhex(raw[4 * s])
            others = [[bytes.fromhex(v) for v in raw[4 * s + k]] for k in (1, 2, 3)]
        except (TypeError, ValueError):
            raise SumProofInvalid(f"{where}..[{4 * s + 3}]: not hex (or not the [t, b, id, random] lists)") from None
        if len(full) == 32 * (words + 1):
            raise LayoutNotSupported(f"{where}: the entries carry 5 trace-constraint quotients (OKX's later v1 "
                                     "prover: t = Σ coins as a 5th constraint, interpolated ids, FRI without "
                                     "exclusions); porscan verifies the 4-quotient layout of the published sets only")
        if len(full) != 32 * words:
            raise SumProofInvalid(f"{where}: {len(full)} bytes, expected {32 * words} = 32·(t + {coins} coins + id + "
                                  f"{TRACE_CONSTRAINTS} trace quotients + 2·{main} coin quotients): "
                                  "the config's coins or main_coins_num do not fit this proof")
        b_end = 32 * (1 + coins)
        leaf = keccak256(full[:32] + keccak256(full[32:b_end]) + full[b_end:b_end + 32] + keccak256(full[b_end + 32:]))
        if leaf != leaves[4 * s]:
            raise SumProofInvalid(f"{where}: entry does not hash to its opened trace leaf")
        for k, entry in enumerate(others, start=1):
            b_size = 32 if k == 1 else 32 * coins  # the x·g^16 opening sends only Keccak(b..)
            if len(entry) != 4 or [len(e) for e in entry] != [32, b_size, 32, 32]:
                raise SumProofInvalid(f"{file}: $.mtree_entries_data[{4 * s + k}]: expected [t, b, id, random] of "
                                      f"32, {b_size}, 32, 32 bytes")
            b_part = entry[1] if k == 1 else keccak256(entry[1])
            if keccak256(entry[0] + b_part + entry[2] + entry[3]) != leaves[4 * s + k]:
                raise SumProofInvalid(f"{file}: $.mtree_entries_data[{4 * s + k}]: entry does not hash to its "
                                      "opened trace leaf")
        tc0 = 2 + coins
        word = _words(full, 0, words)
        out.append(_Opened(
            t=word[0], b=word[1:1 + coins], ident=word[1 + coins], tc=word[tc0:tc0 + TRACE_CONSTRAINTS],
            cc=word[tc0 + TRACE_CONSTRAINTS:], t_next=_words(others[0][0], 0, 1)[0],
            t_prev_row=_words(others[1][0], 0, 1)[0], b_prev_row=_words(others[1][1], 0, main),
            t_next_user=_words(others[2][0], 0, 1)[0], b_next_user=_words(others[2][1], 0, main)))
    return out


def _verify(folder: Path, config: StarkV1Config) -> dict[str, Any]:
    file = folder / "sum_proof.json"
    sums = read_sum_values(folder, config)
    proof = _read_json(file)
    if not isinstance(proof, dict):
        raise SumProofInvalid(f"{file}: not a sum proof object")
    steps, uts = proof.get("steps"), proof.get("uts")
    want_uts = expected_uts(folder)
    if not isinstance(uts, int) or isinstance(uts, bool):
        raise SumProofInvalid(f"{file}: $.uts is not an integer")
    if want_uts is None:
        raise SumProofInvalid(f"{file}: folder {folder.name!r} is neither an a*/b* batch nor the trunk, so its "
                              "uts (16 for a*, 32 for b* and trunk) cannot be checked")
    if uts != want_uts:
        raise SumProofInvalid(f"{file}: $.uts = {uts}, but OKX proves {folder.name} folders with uts {want_uts} "
                              f"(a range of 4^{want_uts - 2} per user); other sizes are not accepted")
    if not isinstance(steps, int) or isinstance(steps, bool) or not _is_power_of_two(steps) or steps > MAX_STEPS:
        raise SumProofInvalid(f"{file}: $.steps = {steps!r} is not a power of two <= 2^28")
    if steps < 2 * uts:
        raise SumProofInvalid(f"{file}: $.steps = {steps} holds fewer than 2 users of {uts} rows")
    m_root, l_root = _hex(proof, "mtree_root", file), _hex(proof, "l_mtree_root", file)
    nonce = _hex(proof, "pow_nonce", file)
    if int.from_bytes(keccak256(m_root + nonce), "big") >> (256 - POW_BITS):
        raise SumProofInvalid(f"{file}: $.pow_nonce: Keccak(mtree_root ‖ pow_nonce) does not start with "
                              f"{POW_BITS} zero bits (proof of work)")
    size = steps * EXTENSION_FACTOR
    depth = size.bit_length() - 1
    try:
        fri.verify_low_degree(l_root, size, proof.get("low_degree_proof"), 4 * steps, EXTENSION_FACTOR)
    except fri.FriError as exc:
        raise SumProofInvalid(f"{file}: $.{exc}") from exc

    coins, main = len(config.coins), config.main_coins_num
    users = steps // uts
    skips = EXTENSION_FACTOR
    positions = fri.pseudorandom_indices(l_root, size, SPOT_CHECKS, EXTENSION_FACTOR)
    augmented = [(x + d) % size for x in positions for d in (0, skips, (uts - 1) * skips, uts * skips)]
    try:
        main_leaves = merkle.verify_multi_branch(
            m_root, augmented, merkle.decode_branches(proof.get("mtree_branches"), 4 * SPOT_CHECKS, depth, "mtree_branches"),
            depth, "mtree_branches")
        l_leaves = merkle.verify_multi_branch(
            l_root, positions, merkle.decode_branches(proof.get("l_mtree_branches"), SPOT_CHECKS, depth, "l_mtree_branches"),
            depth, "l_mtree_branches")
    except MerkleError as exc:
        raise SumProofInvalid(f"{file}: $.{exc}") from exc
    opened = _open_entries(proof.get("mtree_entries_data"), file, coins, main, main_leaves)

    # combination coefficients, in the prover's column order (t, b.., id, tc_0, tc_2, tc_3, cc..)
    columns = 1 + coins + 1 + (TRACE_CONSTRAINTS - 1) + 2 * main
    k = [int.from_bytes(keccak256(nonce + j.to_bytes(32, "big")), "big") % P for j in range(2 * columns)]
    k_even, k_odd = k[0::2], k[1::2]

    g = root_of_unity(size)
    x0 = pow(g, (uts - 1) * skips, P)
    x_last = pow(g, (steps - 1) * skips, P)
    line_scale = inverse((x_last - x0) % P)  # I(x) = value · (x - x0) / (x_last - x0)
    range_root_a = pow(g, (uts - 2) * skips * users, P)
    acc_root = pow(g, (uts - 1) * skips * users, P)
    total = sums[-1]
    for s, (pos, o, l_leaf) in enumerate(zip(positions, opened, l_leaves)):
        where = f"{file}: spot check {s} (position {pos})"
        x = pow(g, pos, P)
        x_n = pow(x, users, P)
        x_steps = pow(x_n, uts, P)
        if o.t != o.tc[0] * (x_n - 1) % P:
            raise SumProofInvalid(f"{where}: constraint 1 (each user's first trace row is 0) does not hold")
        d = (o.t_next - 4 * o.t) % P
        lhs = d * (d - 1) % P * (d - 2) % P * (d - 3) % P
        if lhs * ((x_n - range_root_a) * (x_n - acc_root) % P) % P != o.tc[1] * (x_steps - 1) % P:
            raise SumProofInvalid(f"{where}: constraint 2 (base-4 range decomposition over uts-2 rows) does not hold")
        acc_num = (x_n - acc_root) % P
        x_minus_last = (x - x_last) % P
        if (o.t_next_user - o.t_prev_row - o.t) * x_minus_last % P != o.tc[2] * acc_num % P:
            raise SumProofInvalid(f"{where}: constraint 3 (running sum of users' net values) does not hold")
        line = (x - x0) * line_scale % P
        z4 = (x - x0) * x_minus_last % P
        if (o.t - total * line) % P != o.tc[3] * z4 % P:
            raise SumProofInvalid(f"{where}: constraint 4 (running sum starts at 0 and ends at total_value) does not hold")
        for i in range(main):
            if (o.b_next_user[i] - o.b_prev_row[i] - o.b[i]) * x_minus_last % P != o.cc[2 * i] * acc_num % P:
                raise SumProofInvalid(f"{where}: accumulation of {config.coins[i]} does not hold")
            if (o.b[i] - sums[i] * line) % P != o.cc[2 * i + 1] * z4 % P:
                raise SumProofInvalid(f"{where}: boundary of {config.coins[i]} (its sum {sums[i]}) does not hold")
        column_values = [o.t, *o.b, o.ident, o.tc[0], o.tc[2], o.tc[3], *o.cc]
        shift = pow(x_steps, 3, P)  # x^(3·steps)
        combined = sum(map(mul, column_values, k_even)) + sum(map(mul, column_values, k_odd)) % P * shift
        if (combined + o.tc[1] - int.from_bytes(l_leaf, "big")) % P:
            raise SumProofInvalid(f"{where}: the linear combination l(x) does not match the opened trace values")
    return {"steps": steps, "uts": uts, "users": users - 1, "total_value": total,
            "coins": coins, "main_coins_num": main, "mtree_root": m_root.hex()}


def proof_folder(folder_or_file: str | Path) -> Path:
    path = Path(folder_or_file)
    return path.parent if path.is_file() or path.suffix == ".json" else path


def verify_sum_proof(folder_or_file: str | Path, config: StarkV1Config | Mapping[str, Any] | str | Path) -> ProofCheck:
    """Verify one sum proof (a batch or the trunk folder, or a file in it) against the proof set's config."""
    folder = proof_folder(folder_or_file)
    try:
        cfg = load_config(config)
        detail = _verify(folder, cfg)
    except SumProofInvalid as exc:
        return ProofCheck(file=str(folder), kind=KIND, status=FAILED, reason=str(exc))
    except LayoutNotSupported as exc:
        return ProofCheck(file=str(folder), kind=KIND, status=NOT_VERIFIED, reason=str(exc))
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # a shape no check above foresaw
        return ProofCheck(file=str(folder), kind=KIND, status=FAILED,
                          reason=f"{folder / 'sum_proof.json'}: malformed proof ({type(exc).__name__}: {exc})")
    role = "trunk" if folder.name == "trunk" else f"batch {folder.name}"
    reason = (f"{role}: proof of work, FRI low-degree test, {SPOT_CHECKS} spot checks of the trace constraints "
              f"and per-coin constraints of the first {cfg.main_coins_num} coins, linear combination; "
              f"{len(cfg.coins)} coin sums add up to total_value {detail['total_value']}")
    if folder.name == "trunk":
        detail = {**detail, "proven_coins": list(cfg.proven_coins), "total_only_coins": list(cfg.total_only_coins)}
    return ProofCheck(file=str(folder), kind=KIND, status=VERIFIED, reason=reason, detail=detail)
