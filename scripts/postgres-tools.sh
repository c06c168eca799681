# Source me: makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) the storage tests
# and benchmarks start privately are there, and exports their folder as PORSCAN_PG_BIN.
# Looks at $PORSCAN_PG_BIN, then the newest /usr/lib/postgresql/*/bin (Debian), then initdb on PATH.
# Missing and root with apt-get: installs Debian's `postgresql` package (log in .cache/postgres-install.log).
# Otherwise it says why, and the PostgreSQL tests skip with that reason. Never fails the caller.
PORSCAN_ROOT="${PORSCAN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
_pg_find() {
    local d
    for d in "${PORSCAN_PG_BIN:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr) \
             "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"; do
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}
if ! PORSCAN_PG_BIN="$(_pg_find)"; then
    PORSCAN_PG_BIN=""
    _pg_log="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}/postgres-install.log"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "porscan: installing PostgreSQL server (apt-get install postgresql) ..." >&2
        mkdir -p "$(dirname "$_pg_log")"
        { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
          || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }
        } >"$_pg_log" 2>&1 || true
        PORSCAN_PG_BIN="$(_pg_find)" \
            || { PORSCAN_PG_BIN=""; echo "porscan: PostgreSQL install failed (see $_pg_log); its tests will be skipped" >&2; }
    else
        echo "porscan: PostgreSQL server binaries not found and not root: install the 'postgresql' package" \
             "(or set PORSCAN_PG_BIN); the PostgreSQL tests will be skipped" >&2
    fi
    unset _pg_log
fi
unset -f _pg_find
export PORSCAN_PG_BIN
