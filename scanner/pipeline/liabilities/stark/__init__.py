"""OKX zk-STARK v1 sum proofs (Apr 2023 - Aug 2024), verified in full by porscan's own code.

``verify_sum_proof(folder_or_file, config) -> ProofCheck`` checks one batch or the trunk;
``verify_sum_proof_set(sum_proof_data_dir, workers=None) -> list[ProofCheck]`` checks every
``batches/*/`` and ``trunk/`` (in a process pool) and adds the set's record: all verified and the
batch sums equal the trunk's (mod p). The config (coin order, ``main_coins_num``) comes from the set's
``config.json`` (else porscan's ``config.derived.json``): the first ``main_coins_num`` coins are
individually proven, the others only through ``total_value`` (the set record lists both).

Beyond OKX's validator: ``uts`` must be the size OKX uses (16 for ``a*`` batches, 32 for ``b*`` and
the trunk; a larger uts would let a user's net value range up to 4^(uts-2), and the validator accepts
any); the FRI per-row check is really done (the validator's is vacuous); entries, branches and the
number of FRI layers are shape-checked against the config instead of being sliced blindly.

Modules: ``field`` (p, inverses, interpolation), ``merkle`` (permute4 Keccak trees), ``fri``,
``verify`` (one proof), ``proofset`` (a folder).
"""

from .proofset import SET_KIND, verify_sum_proof_set, verify_sum_proofs
from .verify import KIND, StarkV1Config, load_config, verify_sum_proof

__all__ = ["verify_sum_proof", "verify_sum_proof_set", "verify_sum_proofs", "load_config", "StarkV1Config", "KIND", "SET_KIND"]
