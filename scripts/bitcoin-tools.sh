# Source me: installs the Bitcoin-family test nodes once, into .cache/bitcoin (git-ignored):
#   * Bitcoin Knots (Debian sid) in a debootstrap chroot   -> KNOTS_ROOT (bitcoind at $KNOTS_ROOT/usr/bin/bitcoind)
#   * litecoind 0.21 from bookworm (apt)                   -> LITECOIND_BIN
#   * ElectrumX (`e-x<2`, plyvel) in its own venv           -> ELECTRUMX_BIN
# Each step runs only when its result is missing. A failed step prints why (full output in
# .cache/bitcoin/install.log) and the tests that need it skip with that reason (read from
# .cache/bitcoin/status-<tool>); it never stops the rest of the suite. Needs root for apt and chroot
# (CI machines run as root). See ../shared/docs/test-infrastructure.md sections 4-6.
PORSCAN_ROOT="${PORSCAN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PORSCAN_BTC_CACHE="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}/bitcoin"
KNOTS_ROOT="$PORSCAN_BTC_CACHE/sidroot"
ELECTRUMX_VENV="$PORSCAN_BTC_CACHE/venv-electrumx"
ELECTRUMX_BIN="$ELECTRUMX_VENV/bin/electrumx_server"
LITECOIND_BIN="$(command -v litecoind || echo /usr/bin/litecoind)"
mkdir -p "$PORSCAN_BTC_CACHE"
_btc_log="$PORSCAN_BTC_CACHE/install.log"

_btc_status() {  # tool, message ("" = ok)
    if [ -n "$2" ]; then
        echo "porscan: $1: $2 (details: $_btc_log); its tests will be skipped" >&2
        printf '%s\n' "$2" > "$PORSCAN_BTC_CACHE/status-$1"
    else
        rm -f "$PORSCAN_BTC_CACHE/status-$1"
    fi
}

_btc_apt() {  # packages...: install what is missing; one `apt-get update` retry
    [ "$(id -u)" = 0 ] || { echo "not root: cannot apt-get install $*" >> "$_btc_log"; return 1; }
    command -v apt-get >/dev/null 2>&1 || { echo "no apt-get" >> "$_btc_log"; return 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >> "$_btc_log" 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -q >> "$_btc_log" 2>&1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >> "$_btc_log" 2>&1
}

_btc_install() {
    # litecoind (bookworm package)
    if [ ! -x "$LITECOIND_BIN" ]; then
        echo "porscan: installing litecoind (apt) ..." >&2
        if _btc_apt litecoind; then LITECOIND_BIN="$(command -v litecoind || echo /usr/bin/litecoind)"; fi
    fi
    if [ -x "$LITECOIND_BIN" ]; then _btc_status litecoind ""; else _btc_status litecoind "litecoind could not be installed with apt-get"; fi

    # Bitcoin Knots: a minimal Debian sid chroot (bookworm's glibc is too old for sid's binaries)
    if [ ! -x "$KNOTS_ROOT/usr/bin/bitcoind" ]; then
        echo "porscan: building the Bitcoin Knots chroot in $KNOTS_ROOT (debootstrap sid, ~35 s, ~300 MB) ..." >&2
        local why=""
        if [ "$(id -u)" != 0 ]; then
            why="the Knots chroot needs root (debootstrap and chroot)"
        elif ! command -v debootstrap >/dev/null 2>&1 && ! _btc_apt debootstrap; then
            why="debootstrap could not be installed with apt-get"
        else
            local tmp="$KNOTS_ROOT.partial"
            rm -rf "$tmp"
            if debootstrap --variant=minbase --include=bitcoin-knots sid "$tmp" >> "$_btc_log" 2>&1 \
               && [ -x "$tmp/usr/bin/bitcoind" ]; then
                rm -rf "$KNOTS_ROOT" && mv "$tmp" "$KNOTS_ROOT"
            else
                why="debootstrap of Debian sid with bitcoin-knots failed"
                rm -rf "$tmp"
            fi
        fi
        [ -z "$why" ] || { _btc_status knots "$why"; }
    fi
    [ -x "$KNOTS_ROOT/usr/bin/bitcoind" ] && _btc_status knots ""

    # ElectrumX 1.x (2.x refuses Knots 29) in its own venv
    if [ ! -x "$ELECTRUMX_BIN" ]; then
        echo "porscan: installing ElectrumX (e-x<2) into $ELECTRUMX_VENV ..." >&2
        rm -rf "$ELECTRUMX_VENV"
        if python3 -m venv "$ELECTRUMX_VENV" >> "$_btc_log" 2>&1 \
           && "$ELECTRUMX_VENV/bin/pip" install -q --disable-pip-version-check "e-x<2" plyvel >> "$_btc_log" 2>&1; then
            :
        else
            rm -rf "$ELECTRUMX_VENV"
        fi
    fi
    if [ -x "$ELECTRUMX_BIN" ]; then _btc_status electrumx ""; else _btc_status electrumx "ElectrumX (pip install e-x<2 plyvel) failed"; fi
}

if [ "${PORSCAN_SKIP_BITCOIN_TOOLS:-}" != 1 ]; then
    if [ ! -x "$LITECOIND_BIN" ] || [ ! -x "$KNOTS_ROOT/usr/bin/bitcoind" ] || [ ! -x "$ELECTRUMX_BIN" ]; then
        # one installer at a time (parallel test runs share .cache)
        ( flock 9; _btc_install ) 9> "$PORSCAN_BTC_CACHE/.install.lock" || true
        LITECOIND_BIN="$(command -v litecoind || echo /usr/bin/litecoind)"
    fi
fi
export KNOTS_ROOT LITECOIND_BIN ELECTRUMX_BIN PORSCAN_BTC_CACHE
