#!/usr/bin/env bash
# Trace, log or metric ingest as the disk and CPU targets are defined (BENCHMARKS.md,
# "Traces", "Logs", "Metrics"):
#
#   bash tests/bench/ingest.sh traces [SECONDS]     # SECONDS of ingest per run, default 15
#   bash tests/bench/ingest.sh logs [SECONDS]
#   bash tests/bench/ingest.sh metrics [SECONDS]    # per Prometheus sample, as the targets are
#
# For OTLP/gRPC and OTLP/HTTP in turn: starts a fresh release server, drives it with
# `otelite loadgen --signal SIGNAL` (8 connections, 1000-item requests, as fast as it takes
# them), then leaves it idle for a minute so the compactor rewrites what arrived. Reports the
# rate, the server's CPU per item over the run and again including the compaction afterwards
# (utime+stime from /proc/<pid>/stat divided by items acknowledged), and the data directory's
# size per item once idle (`du -sb`). Runs `otelite loadgen-sink` (decode and discard) with the
# same client for the ceiling, and `loadgen --reference` for how hard the items are to compress.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIGNAL=${1:?usage: ingest.sh traces|logs|metrics [SECONDS]}
SECONDS_PER_RUN=${2:-15}
cargo build --release -p otelite >&2
BIN=target/release/otelite
WORK=$(mktemp -d "/tmp/otelite-$SIGNAL.XXXXXX")
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

start() { # start DIR [loadgen-sink]
  read -r GRPC HTTP UI < <(python3 -c 'import socket
s=[socket.socket() for _ in range(3)]; [x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
  "$BIN" --data "$1" --grpc-port "$GRPC" --http-port "$HTTP" --ui-port "$UI" --log-level warn ${2:-} &
  PID=$!
  for _ in $(seq 1 500); do
    curl -fsS "http://127.0.0.1:$UI/readyz" >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "ingest.sh: the server did not start" >&2
  exit 1
}

run() { # run NAME PROTOCOL [SINK]
  local name=$1 protocol=$2 sink=${3:-}
  start "$WORK/$name" "$sink"
  sleep 1
  local before; before=$(ticks "$PID")
  local verify=""; [ -n "$sink" ] && verify="--no-verify"
  "$BIN" loadgen --signal "$SIGNAL" --protocol "$protocol" --connections 8 --batch 1000 \
    --grpc-port "$GRPC" --http-port "$HTTP" --ui-port "$UI" --duration "${SECONDS_PER_RUN}s" \
    $verify --json > "$WORK/$name.json"
  local after; after=$(ticks "$PID")
  local settled=$after disk=""
  if [ -z "$sink" ]; then
    sleep 60
    settled=$(ticks "$PID")
    disk=$(du -sb "$WORK/$name" | cut -f1)
  fi
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  python3 - "$WORK/$name.json" "$name" "$before" "$after" "$settled" "$HZ" "$disk" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
name, before, after, settled, hz = sys.argv[2], *map(int, sys.argv[3:7])
disk = sys.argv[7]
items = report["accepted_items"]
if report["samples_per_second"] > 0:
    # Metrics are measured per Prometheus sample (a histogram point is many).
    items = round(report["samples_per_second"] * report["seconds"])
run_us = (after - before) / hz / items * 1e6
total_us = (settled - before) / hz / items * 1e6
rate = report["samples_per_second"] or report["items_per_second"]
line = f"| {name} | {items:,} | {rate:,.0f} | {run_us:.2f} |"
line += f" {total_us:.2f} | {int(disk) / items:.1f} |" if disk else " – | – |"
print(line)
EOF
}

ITEM=${SIGNAL%s}; [ "$SIGNAL" = traces ] && ITEM=span; [ "$SIGNAL" = logs ] && ITEM=record
[ "$SIGNAL" = metrics ] && ITEM=sample
echo "| run | ${ITEM}s | ${ITEM}s/s | server CPU µs/$ITEM over the run | incl. compaction after it | disk B/$ITEM, idle 1 min |"
echo "|---|---|---|---|---|---|"
run grpc grpc
run http http
run sink grpc loadgen-sink
"$BIN" loadgen --reference --signal "$SIGNAL" --batch 512 --pool 64MiB >&2
