# Source me: makes Debian's Chromium available for the browser tests (HTML report, dashboard).
# When /usr/bin/chromium is missing and we run as root, installs the `chromium` package with apt-get
# (apt-get update first when the package lists do not know it). Never stops the suite: on failure it
# prints why (full output in .cache/browser/install.log) and the browser tests skip with that reason.
# Exports PORSCAN_CHROMIUM (the binary, empty when unavailable) and PORSCAN_CHROMIUM_WHY (the reason).
# PORSCAN_SKIP_BROWSER_TOOLS=1 skips the install attempt.
PORSCAN_ROOT="${PORSCAN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
_br_dir="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}/browser"
_br_log="$_br_dir/install.log"
mkdir -p "$_br_dir"
PORSCAN_CHROMIUM_WHY=""

_br_find() { command -v chromium 2>/dev/null || { [ -x /usr/bin/chromium ] && echo /usr/bin/chromium; } || true; }

_br_install() {
    [ -n "$(_br_find)" ] && return 0   # another test run installed it while we waited for the lock
    if [ "$(id -u)" != 0 ]; then
        PORSCAN_CHROMIUM_WHY="chromium is not installed and installing it needs root (apt-get install chromium)"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        PORSCAN_CHROMIUM_WHY="chromium is not installed and there is no apt-get to install it"
        return 1
    fi
    echo "porscan: installing chromium (apt-get, ~100 MB, once) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show chromium >/dev/null 2>&1; then
        apt-get update -q >> "$_br_log" 2>&1
    fi
    if ! apt-get install -y -q --no-install-recommends chromium >> "$_br_log" 2>&1; then
        # stale package lists give 404s: refresh once and retry
        apt-get update -q >> "$_br_log" 2>&1
        if ! apt-get install -y -q --no-install-recommends chromium >> "$_br_log" 2>&1; then
            PORSCAN_CHROMIUM_WHY="apt-get install chromium failed: $(grep -E '^(E|Err):' "$_br_log" | tail -n 1)"
            return 1
        fi
    fi
    [ -n "$(_br_find)" ] || { PORSCAN_CHROMIUM_WHY="apt-get installed chromium but no chromium binary was found"; return 1; }
}

PORSCAN_CHROMIUM="$(_br_find)"
if [ -z "$PORSCAN_CHROMIUM" ]; then
    if [ "${PORSCAN_SKIP_BROWSER_TOOLS:-}" = 1 ]; then
        PORSCAN_CHROMIUM_WHY="chromium is not installed (PORSCAN_SKIP_BROWSER_TOOLS=1)"
    else
        # one installer at a time (parallel test runs share .cache); the reason crosses the subshell in a file
        ( flock 9; _br_install || { printf '%s\n' "$PORSCAN_CHROMIUM_WHY" > "$_br_dir/status"; exit 1; } ) \
            9> "$_br_dir/.install.lock" && rm -f "$_br_dir/status"
        PORSCAN_CHROMIUM="$(_br_find)"
        [ -n "$PORSCAN_CHROMIUM" ] || PORSCAN_CHROMIUM_WHY="$(cat "$_br_dir/status" 2>/dev/null || echo "chromium could not be installed")"
    fi
    [ -z "$PORSCAN_CHROMIUM_WHY" ] || echo "porscan: $PORSCAN_CHROMIUM_WHY (details: $_br_log); browser tests will be skipped" >&2
fi
export PORSCAN_CHROMIUM PORSCAN_CHROMIUM_WHY
