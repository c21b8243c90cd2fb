#!/usr/bin/env bash
# The one-command benchmark of otelite (see BENCHMARKS.md):
#
#   bash tests/bench/run.sh [SECONDS]      # SECONDS per ingest workload, default 10
#
# Builds the release binary, then for each signal starts a fresh release server on its own temp
# data directory, drives it with `otelite loadgen` over OTLP/gRPC at maximum speed for SECONDS
# (durable: every acknowledged request was fsync'd), checks nothing was lost, and reads disk use
# and memory from the server. Also measures startup time, idle RSS, binary and wasm size, and the
# machine's own limits (zstd speed and ratio on the same OTLP data, disk write + fsync rate).
# Prints one markdown table; raw results stay in target/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
OUT=target/bench
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/otelite-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for tool in python3 curl zstd gzip dd; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
done

started=$(date +%s)
log "building release (cargo build --release -p otelite) and the static binary (packaging/build-static.sh)"
cargo build --release -p otelite >&2
BIN=target/release/otelite
# The binary people download and run in containers: musl, static. Needs musl-tools.
STATIC=$(bash packaging/build-static.sh)
build_seconds=$(( $(date +%s) - started ))

# Three free ports for each server.
free_ports() {
  python3 -c 'import socket
socks=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in socks]
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

# start_server DIR [SERVER FLAGS...] -> sets SERVER_PID, GRPC, HTTP, UI; waits until /readyz answers 200. A port
# picked as free can be taken before the server binds it: then it tries again with new ones.
# SERVER_BIN (default $BIN) is the binary to start; a trailing `loadgen-sink` starts the
# decode-and-discard receiver instead of the server.
start_server() {
  for _attempt in 1 2 3 4 5; do
    read -r GRPC HTTP UI < <(free_ports)
    "${SERVER_BIN:-$BIN}" --data "$1" --grpc-port "$GRPC" --http-port "$HTTP" --ui-port "$UI" --log-level warn "${@:2}" &
    SERVER_PID=$!
    for _ in $(seq 1 500); do
      if curl -fsS "http://127.0.0.1:$UI/readyz" >/dev/null 2>&1; then return 0; fi
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
      sleep 0.02
    done
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  done
  log "server did not become ready"; exit 1
}

stop_server() {
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# CPU the process has used so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# --- startup: spawn -> /readyz 200, fresh data dir each time, median of 7 ---------------------
log "startup time"
python3 - "$BIN" "$WORK" > "$OUT/startup.json" <<'EOF'
import json, os, socket, subprocess, sys, time, urllib.request
binary, work = sys.argv[1], sys.argv[2]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
times = []
for i in range(7):
    g, h, u = free_port(), free_port(), free_port()
    data = os.path.join(work, f"startup{i}")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--data", data, "--grpc-port", str(g), "--http-port", str(h),
                          "--ui-port", str(u), "--log-level", "warn"])
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{u}/readyz", timeout=1) as r:
                if r.status == 200: break
        except Exception:
            time.sleep(0.001)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
times.sort()
print(json.dumps({"median_ms": times[len(times) // 2], "all_ms": times}))
EOF

# --- ingest: one fresh server per signal, max speed for SECONDS_PER_RUN -------------------------
declare -A ARGS=(
  [traces]="--batch 1000"
  [logs]="--batch 1000"
  [metrics]="--batch 2000 --instances 10"
)
# Each workload runs three times: against the glibc release build, against the static musl
# binary, and against `otelite loadgen-sink` (an OTLP/gRPC receiver that only decodes and
# discards: the ceiling this client reaches on this machine). The server's CPU per item is
# utime+stime from /proc/<pid>/stat over the run divided by the items acknowledged.
# run_ingest NAME SIGNAL [LOADGEN FLAGS...]: drives the server started last, writes NAME.json
# and NAME.rss.json.
run_ingest() {
  local name=$1 signal=$2
  sleep 1
  local idle; idle=$(rss_kib "$SERVER_PID" VmRSS)
  local before; before=$(cpu_ticks "$SERVER_PID")
  # shellcheck disable=SC2086
  "$BIN" loadgen --ui-port "$UI" --grpc-port "$GRPC" --http-port "$HTTP" --signal "$signal" \
    --protocol "${PROTOCOL:-grpc}" --connections "$CONNECTIONS" --duration "${SECONDS_PER_RUN}s" \
    ${ARGS[$signal]} --json "${@:3}" > "$OUT/$name.json"
  local after; after=$(cpu_ticks "$SERVER_PID")
  local peak; peak=$(rss_kib "$SERVER_PID" VmHWM)
  stop_server
  local cpu; cpu=$(awk -v a="$after" -v b="$before" -v t="$CLK_TCK" 'BEGIN { print (a - b) / t }')
  echo "{\"idle_rss_kib\": $idle, \"peak_rss_kib\": $peak, \"cpu_seconds\": $cpu}" > "$OUT/$name.rss.json"
}

for signal in traces logs metrics; do
  log "ingest: $signal for ${SECONDS_PER_RUN}s over $CONNECTIONS gRPC connections (glibc, static, sink)"
  start_server "$WORK/$signal"
  run_ingest "$signal" "$signal"
  SERVER_BIN=$STATIC start_server "$WORK/$signal-static"
  run_ingest "$signal-static" "$signal"
  start_server "$WORK/$signal-sink" loadgen-sink
  run_ingest "$signal-sink" "$signal" --no-verify
done

# --- HTTP/protobuf for comparison: spans only ---------------------------------------------
# The load generator's HTTP client is far cheaper than its gRPC one, so the rates differ by what
# the client can send; the server's CPU per span is what compares the two receivers.
log "ingest: traces over OTLP/HTTP for comparison"
start_server "$WORK/http"
PROTOCOL=http run_ingest traces-http traces

# --- overload: far more senders than the disk keeps up with, a small ingest queue ---------------
# The server must push back (busy answers the load generator retries) instead of buffering:
# memory stays near the queue limit, and still nothing acknowledged is lost.
log "overload: traces over 64 gRPC connections into a 2 MiB ingest queue"
start_server "$WORK/overload" --max-ingest-queue 2MiB
"$BIN" loadgen --ui-port "$UI" --grpc-port "$GRPC" --http-port "$HTTP" --signal traces \
  --protocol grpc --connections 64 --duration "${SECONDS_PER_RUN}s" --batch 1000 \
  --json > "$OUT/overload.json"
peak=$(rss_kib "$SERVER_PID" VmHWM)
stop_server
echo "{\"peak_rss_kib\": $peak}" > "$OUT/overload.rss.json"

# --- physical limits and the generic-compressor line on the same data -------------------------
log "machine limits: zstd on the OTLP protobuf, disk write + fsync"
for signal in traces logs metrics; do
  extra=""; [ "$signal" = metrics ] && extra="--instances 10 --batch 2000"
  # shellcheck disable=SC2086
  "$BIN" loadgen --signal "$signal" --pool 16MiB $extra --dump "$WORK/$signal.pb" > "$OUT/$signal.dump.json"
  zstd -q -19 -f "$WORK/$signal.pb" -o "$WORK/$signal.pb.zst19"
  zstd -q -3 -f "$WORK/$signal.pb" -o "$WORK/$signal.pb.zst3"
  stat -c %s "$WORK/$signal.pb.zst19" > "$OUT/$signal.zstd19.bytes"
  stat -c %s "$WORK/$signal.pb.zst3" > "$OUT/$signal.zstd3.bytes"
done
# How hard the trace workload is to compress: the bytes per span a generic compressor needs.
log "trace workload: zstd -19 takes $(python3 -c 'import json, sys
spans = json.load(open(sys.argv[1]))["items"]
print(round(int(open(sys.argv[2]).read()) / spans, 1))' \
  "$OUT/traces.dump.json" "$OUT/traces.zstd19.bytes") B/span (OTel-demo-like SDK output: ~38)"
zstd -b3 -i3 "$WORK/traces.pb" 2>&1 | tr '\r' '\n' | grep -E 'MB/s' | tail -1 > "$OUT/zstd-b3.txt" || true
# Small synchronous writes: each one is a write + fsync, like one group commit.
dd if=/dev/zero of="$WORK/dd-sync" bs=64k count=500 oflag=dsync 2> "$OUT/dd-dsync.txt"
dd if=/dev/zero of="$WORK/dd-seq" bs=1M count=512 conv=fsync 2> "$OUT/dd-seq.txt"

# --- sizes -----------------------------------------------------------------------------------
binary_bytes=$(stat -c %s "$BIN")
wasm=$(ls -t target/release/build/otelite-*/out/ui/*.wasm 2>/dev/null | head -1 || true)
wasm_gzip_bytes=$( [ -n "$wasm" ] && gzip -9 -c "$wasm" | wc -c || echo 0)

total_seconds=$(( $(date +%s) - started ))
python3 tests/bench/report.py "$OUT" "$binary_bytes" "$wasm_gzip_bytes" "$build_seconds" \
  "$total_seconds" "$SECONDS_PER_RUN" "$CONNECTIONS" | tee "$OUT/results.md"
