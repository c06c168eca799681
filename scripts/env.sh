# Source me: makes sure the project's virtualenv exists and is current; sets PORSCAN_PY.
# Cached under .cache/ (git-ignored). Dependencies come from requirements.lock (exact versions with
# hashes: runtime + demo + test + bench extras, made from pyproject.toml; DEVELOPERS.md says how to
# regenerate it), then porscan itself is installed editable without dependencies. Re-installs when
# pyproject.toml or requirements.lock changes.
PORSCAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORSCAN_CACHE="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}"
PORSCAN_VENV="$PORSCAN_CACHE/venv"
PORSCAN_PY="$PORSCAN_VENV/bin/python"
_stamp="$PORSCAN_VENV/.porscan-installed"
_want="$(cat "$PORSCAN_ROOT/pyproject.toml" "$PORSCAN_ROOT/requirements.lock" | sha256sum | cut -c1-16)"
if [ ! -x "$PORSCAN_PY" ] || [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "porscan: setting up the Python environment in $PORSCAN_VENV from requirements.lock ..." >&2
    # --require-hashes: every package, direct or not, must be pinned in the lock with its hash.
    # The stamp is written only when both installs succeed, so a failed one is retried next time.
    if python3 -m venv "$PORSCAN_VENV" \
       && "$PORSCAN_PY" -m pip install --quiet --disable-pip-version-check --require-hashes \
              -r "$PORSCAN_ROOT/requirements.lock" >&2 \
       && "$PORSCAN_PY" -m pip install --quiet --disable-pip-version-check --no-deps -e "$PORSCAN_ROOT" >&2; then
        echo "$_want" > "$_stamp"
    else
        echo "porscan: installing the Python environment failed (see above)" >&2
        unset _stamp _want
        return 1
    fi
fi
unset _stamp _want
export PORSCAN_PY PORSCAN_VENV PORSCAN_CACHE PORSCAN_ROOT
export PATH="$PORSCAN_VENV/bin:$PATH"
