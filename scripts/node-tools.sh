# Source me: installs the npm tools the EVM tests and benchmarks need into .cache/npm (once):
# anvil (a real EVM node, shipped as a binary inside the npm package) and solc-js (offline compiler);
# chopsticks (a Substrate node running a chain's own runtime) with @substrate/connect-known-chains, whose
# Rococo Asset Hub chain spec carries a whole genesis, runtime included, so it runs offline.
# Sets ANVIL_BIN, CHOPSTICKS_BIN and PORSCAN_NPM.
PORSCAN_ROOT="${PORSCAN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PORSCAN_NPM="${PORSCAN_CACHE:-$PORSCAN_ROOT/.cache}/npm"
ANVIL_BIN="$PORSCAN_NPM/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
CHOPSTICKS_BIN="$PORSCAN_NPM/node_modules/.bin/chopsticks"
if [ ! -x "$ANVIL_BIN" ] || [ ! -d "$PORSCAN_NPM/node_modules/solc" ] || [ ! -x "$CHOPSTICKS_BIN" ] \
   || [ ! -d "$PORSCAN_NPM/node_modules/@substrate/connect-known-chains" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "porscan: installing anvil and solc-js into $PORSCAN_NPM ..." >&2
        mkdir -p "$PORSCAN_NPM"
        ( cd "$PORSCAN_NPM" && { [ -f package.json ] || npm init -y >/dev/null; } \
          && npm install --silent --no-audit --no-fund @foundry-rs/anvil-linux-amd64@1.7.1 solc@0.8.37 \
               @acala-network/chopsticks@1.5.1 @substrate/connect-known-chains@1.10.3 >&2 ) \
          || echo "porscan: npm install failed; EVM node tests will be skipped" >&2
    else
        echo "porscan: npm not found; EVM node tests will be skipped" >&2
    fi
fi
export ANVIL_BIN CHOPSTICKS_BIN PORSCAN_NPM
