#!/usr/bin/env bash
# Install the real Mojaloop peers from the npm registry into a cache folder (idempotent):
#   @mojaloop/sdk-scheme-adapter@18.0.2 and ml-testing-toolkit@18.19.2 (the "TTK").
# Usage: scripts/real_peer_install.sh   (REAL_PEER_CACHE overrides the folder)
set -euo pipefail
CACHE="${REAL_PEER_CACHE:-$HOME/.cache/backoffice-real-peer}"
mkdir -p "$CACHE/ttk" "$CACHE/sdk"

if [ ! -f "$CACHE/ttk/node_modules/ml-testing-toolkit/src/index.js" ]; then
  echo "== installing ml-testing-toolkit@18.19.2 into $CACHE/ttk"
  # The registry lacks the shared-lib version the TTK pins: override it (see docs/partners/mojaloop-sdk.md).
  cat > "$CACHE/ttk/package.json" <<'JSON'
{
  "name": "backoffice-real-peer-ttk",
  "private": true,
  "dependencies": {"ml-testing-toolkit": "18.19.2"},
  "overrides": {"@mojaloop/ml-testing-toolkit-shared-lib": "14.3.0"}
}
JSON
  (cd "$CACHE/ttk" && npm install --no-audit --no-fund --loglevel=error)
fi

if [ ! -f "$CACHE/sdk/node_modules/@mojaloop/sdk-scheme-adapter/src/index.js" ]; then
  echo "== installing @mojaloop/sdk-scheme-adapter@18.0.2 into $CACHE/sdk"
  cat > "$CACHE/sdk/package.json" <<'JSON'
{
  "name": "backoffice-real-peer-sdk",
  "private": true,
  "dependencies": {"@mojaloop/sdk-scheme-adapter": "18.0.2"}
}
JSON
  (cd "$CACHE/sdk" && npm install --no-audit --no-fund --loglevel=error)
fi

# Both programs bind every interface and have no listen-address setting: this preload keeps
# them on loopback.
cat > "$CACHE/loopback.js" <<'JS'
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const port = args.shift();
    const rest = args.filter((a) => typeof a === "function");
    return listen.call(this, { port, host: "127.0.0.1" }, ...rest);
  }
  if (args[0] && typeof args[0] === "object" && args[0].port !== undefined && !args[0].path) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
JS
echo "== real peers installed in $CACHE"
