#!/usr/bin/env bash
# Runs the browser test (ui.test.mjs) against a real otelite binary.
#
#   tests/browser/run.sh [path/to/otelite]
#
# Without an argument it uses target/release/otelite, building it first if it is missing. The
# server runs on free loopback ports with a throw-away data directory and is stopped at the end.
# Needs Node 20+ and Chromium at /usr/bin/chromium (Debian: apt-get install -y chromium), or
# CHROMIUM=/path/to/chrome. The screenshot goes to $OTELITE_SCREENSHOT or
# tests/browser/screenshot.png.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ $# -ge 1 ]]; then
  bin="$1"
  [[ -x "$bin" ]] || { echo "run.sh: $bin is not an executable otelite binary" >&2; exit 2; }
else
  bin="$root/target/release/otelite"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: building otelite (cargo build --release -p otelite)" >&2
    (cd "$root" && cargo build --release -p otelite)
  fi
fi

chromium="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$chromium" ]] || {
  echo "run.sh: no Chromium at $chromium; install it (apt-get install -y chromium) or set CHROMIUM" >&2
  exit 2
}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
ui_port="$(free_port)"
http_port="$(free_port)"
grpc_port="$(free_port)"
while [[ "$http_port" == "$ui_port" ]]; do http_port="$(free_port)"; done
while [[ "$grpc_port" == "$ui_port" || "$grpc_port" == "$http_port" ]]; do grpc_port="$(free_port)"; done

data_dir="$(mktemp -d)"
log="$data_dir.log"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir" "$log"
}
trap cleanup EXIT

"$bin" --data "$data_dir" --bind 127.0.0.1 \
  --ui-port "$ui_port" --http-port "$http_port" --grpc-port "$grpc_port" >"$log" 2>&1 &
server_pid=$!

ui_url="http://127.0.0.1:$ui_port"
ready=""
for _ in $(seq 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: otelite exited during startup; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  if node -e 'fetch(process.argv[1]).then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' \
    "$ui_url/readyz"; then
    ready=1
    break
  fi
  sleep 0.2
done
if [[ -z "$ready" ]]; then
  echo "run.sh: otelite did not become ready at $ui_url/readyz within 30 s; its output:" >&2
  cat "$log" >&2
  exit 1
fi

cd "$here"
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi

status=0
OTELITE_UI_URL="$ui_url" \
OTELITE_OTLP_HTTP_URL="http://127.0.0.1:$http_port" \
CHROMIUM="$chromium" \
  node --test ui.test.mjs || status=$?

if [[ $status -ne 0 ]]; then
  echo "run.sh: browser test failed; otelite's output:" >&2
  cat "$log" >&2
fi
exit "$status"
