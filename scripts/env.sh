# Source me: makes sure the project's virtualenv exists and is current; sets PORSCAN_PY.
# Cached under .cache/ (git-ignored). Dependencies come from requirements.lock (exact versions with
# hashes: runtime + demo + test + bench extras, made from pyproject.toml; DEVELOPERS.md says how to
# regenerate it), then porscan itself is installed editable without dependencies. Re-installs when
# pyproject.toml, requirements.lock or the interpreter it is made from changes.
PORSCAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORSCAN_CACHE="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}"
PORSCAN_VENV="$PORSCAN_CACHE/venv"
PORSCAN_PY="$PORSCAN_VENV/bin/python"
_stamp="$PORSCAN_VENV/.porscan-installed"
# The interpreter the virtualenv is made from: $PORSCAN_PYTHON when set; else the distribution's
# /usr/bin/python3, then python3 on PATH: the first that is 3.11 (the version requirements.lock is
# compiled for) and can make a virtualenv with pip, else the first that is newer and can. The
# distribution's comes first because distributions build CPython with profile-guided and link-time
# optimisation and pyenv's default build has neither: on pyenv's 3.11 a scan costs ~14 % more CPU
# (bench/scan, 600k rows, four runs each: 81 against 70 core-seconds).
_base=""
if [ -n "${PORSCAN_PYTHON:-}" ]; then
    _base="$(command -v "$PORSCAN_PYTHON" 2>/dev/null || true)"
    if [ -z "$_base" ]; then
        echo "porscan: PORSCAN_PYTHON=$PORSCAN_PYTHON is not a program on this machine" >&2
        unset _stamp _base
        return 1
    fi
else
    _newer=""
    # shellcheck disable=SC2086 # the candidates are words; tests name their own
    for _c in ${PORSCAN_PYTHON_CANDIDATES:-/usr/bin/python3 python3}; do
        _c="$(command -v "$_c" 2>/dev/null)" || continue
        _v="$("$_c" -c 'import sys, venv, ensurepip; v = sys.version_info[:2]
print("lock" if v == (3, 11) else "newer" if v > (3, 11) else "old")' 2>/dev/null)" || continue
        if [ "$_v" = lock ]; then
            _base="$_c"
            break
        fi
        if [ "$_v" = newer ] && [ -z "$_newer" ]; then
            _newer="$_c"
        fi
    done
    _base="${_base:-${_newer:-python3}}"  # none fits: python3 says why when it fails below
    unset _c _v _newer
fi
# the interpreter is part of the stamp: another one makes a new virtualenv
_want="$( { cat "$PORSCAN_ROOT/pyproject.toml" "$PORSCAN_ROOT/requirements.lock"; echo "$_base"; } | sha256sum | cut -c1-16)"
if [ ! -x "$PORSCAN_PY" ] || [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "porscan: setting up the Python environment in $PORSCAN_VENV from requirements.lock with $_base ..." >&2
    # --clear: nothing of a previous interpreter or lock is left behind. --require-hashes: every
    # package, direct or not, must be pinned in the lock with its hash. --use-pep517: an sdist is
    # built the same way by every pip (an older one would run its setup.py install instead).
    # The stamp is written only when both installs succeed, so a failed one is retried next time.
    if "$_base" -m venv --clear "$PORSCAN_VENV" \
       && "$PORSCAN_PY" -m pip install --quiet --disable-pip-version-check --require-hashes --use-pep517 \
              -r "$PORSCAN_ROOT/requirements.lock" >&2 \
       && "$PORSCAN_PY" -m pip install --quiet --disable-pip-version-check --no-deps -e "$PORSCAN_ROOT" >&2; then
        echo "$_want" > "$_stamp"
    else
        echo "porscan: installing the Python environment failed (see above)" >&2
        unset _stamp _want _base
        return 1
    fi
fi
unset _stamp _want _base
export PORSCAN_PY PORSCAN_VENV PORSCAN_CACHE PORSCAN_ROOT
export PATH="$PORSCAN_VENV/bin:$PATH"
