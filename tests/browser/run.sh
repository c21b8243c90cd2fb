#!/usr/bin/env bash
# Runs the browser tests against a real otelite binary: ui.test.mjs and metrics.test.mjs (the
# metric explorer and HTTP dashboard) on a server without tokens, auth.test.mjs (the token
# prompt) on a second one started with --query-token.
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
used_ports=" "
pick_port() {
  local port
  port="$(free_port)"
  while [[ "$used_ports" == *" $port "* ]]; do port="$(free_port)"; done
  used_ports+="$port "
  echo "$port"
}

server_pids=()
work_dirs=()
cleanup() {
  for pid in "${server_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for dir in "${work_dirs[@]}"; do rm -rf "$dir" "$dir.log"; done
}
trap cleanup EXIT

# start_server NAME [otelite flags...]: starts otelite on free ports and waits until it is ready;
# sets NAME_ui_port, NAME_http_port and NAME_log.
start_server() {
  local name="$1"
  shift
  local ui_port http_port grpc_port data_dir log pid
  ui_port="$(pick_port)"
  http_port="$(pick_port)"
  grpc_port="$(pick_port)"
  data_dir="$(mktemp -d)"
  log="$data_dir.log"
  work_dirs+=("$data_dir")
  "$bin" --data "$data_dir" --bind 127.0.0.1 \
    --ui-port "$ui_port" --http-port "$http_port" --grpc-port "$grpc_port" "$@" >"$log" 2>&1 &
  pid=$!
  server_pids+=("$pid")
  printf -v "${name}_ui_port" '%s' "$ui_port"
  printf -v "${name}_http_port" '%s' "$http_port"
  printf -v "${name}_log" '%s' "$log"
  for _ in $(seq 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: otelite ($name) exited during startup; its output:" >&2
      cat "$log" >&2
      exit 1
    fi
    if node -e 'fetch(process.argv[1]).then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' \
      "http://127.0.0.1:$ui_port/readyz"; then
      return 0
    fi
    sleep 0.2
  done
  echo "run.sh: otelite ($name) did not become ready on port $ui_port within 30 s; its output:" >&2
  cat "$log" >&2
  exit 1
}

# A throw-away token: the test types it into the UI's prompt.
auth_token="browser-test-$RANDOM$RANDOM"
start_server open
start_server auth --query-token "$auth_token"
ui_url="http://127.0.0.1:$open_ui_port"
http_port="$open_http_port"
log="$open_log"

cd "$here"
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi

status=0
OTELITE_UI_URL="$ui_url" \
OTELITE_OTLP_HTTP_URL="http://127.0.0.1:$http_port" \
OTELITE_AUTH_UI_URL="http://127.0.0.1:$auth_ui_port" \
OTELITE_AUTH_OTLP_HTTP_URL="http://127.0.0.1:$auth_http_port" \
OTELITE_AUTH_TOKEN="$auth_token" \
CHROMIUM="$chromium" \
  node --test --test-concurrency=1 ui.test.mjs metrics.test.mjs auth.test.mjs || status=$?

if [[ $status -ne 0 ]]; then
  echo "run.sh: browser test failed; otelite's output:" >&2
  cat "$log" >&2
  echo "run.sh: the --query-token otelite's output:" >&2
  cat "$auth_log" >&2
fi
exit "$status"
