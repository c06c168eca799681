# Source me: makes sure the project's virtualenv exists and is current; sets PORSCAN_PY.
# Cached under .cache/ (git-ignored); re-installs when pyproject.toml changes.
PORSCAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORSCAN_CACHE="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}"
PORSCAN_VENV="$PORSCAN_CACHE/venv"
PORSCAN_PY="$PORSCAN_VENV/bin/python"
_stamp="$PORSCAN_VENV/.porscan-installed"
_want="$(sha256sum "$PORSCAN_ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -x "$PORSCAN_PY" ] || [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "porscan: setting up the Python environment in $PORSCAN_VENV ..." >&2
    python3 -m venv "$PORSCAN_VENV"
    "$PORSCAN_PY" -m pip install --quiet --disable-pip-version-check -e "$PORSCAN_ROOT[test]" >&2
    echo "$_want" > "$_stamp"
fi
export PORSCAN_PY PORSCAN_VENV PORSCAN_CACHE PORSCAN_ROOT
export PATH="$PORSCAN_VENV/bin:$PATH"
