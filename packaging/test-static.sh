#!/usr/bin/env bash
# Acceptance test of the static binary: it must run with nothing around it.
#
# Builds otelite for <arch>-unknown-linux-musl, checks that it is statically linked, puts it in
# an otherwise EMPTY directory (the binary and an empty /data, nothing else: no libc, no
# /etc, no /dev, no /tmp, no shell, the same as the `FROM scratch` image) and runs it there
# with chroot as the image's unprivileged user 65532, configured like the image (OTELITE_*
# variables only). From outside, it sends an OTLP/JSON trace with curl, reads it back through
# /api/v1/export/traces and /api/v1/status, checks the embedded UI is served, runs
# `otelite health` inside the chroot, stops otelite with SIGTERM (exit code must be 0), starts
# it again on the same data and finds the trace still there. Finally it runs the install test
# (tests/packaging/install-test.sh) with the same binary.
#
# Usage (as root, on a Debian-based machine with rustup; it apt-get installs what it lacks):
#   packaging/test-static.sh [--profile dev|release] [--binary FILE]
#   --profile  cargo profile to build [default: release, what ships]. A dev build links and
#              embeds the UI the same way (rust-embed's `debug-embed` is on), so CI uses it to
#              save the long optimised build.
#   --binary   test this binary instead of building one (e.g. a release archive's)
# Everything listens on 127.0.0.1 only.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
profile=release
binary=
build_seconds=0
while [ $# -gt 0 ]; do
    case $1 in
        --profile) profile=${2:?--profile needs a name}; shift 2 ;;
        --binary) binary=${2:?--binary needs a file}; shift 2 ;;
        -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "test-static.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

started=$SECONDS
step() { printf '\n=== %s (%ss)\n' "$1" "$((SECONDS - started))"; }
fail() { echo "test-static.sh: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root: chroot needs it"

step "tools"
missing=()
[ -n "$binary" ] || command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v curl >/dev/null || missing+=(curl)
command -v file >/dev/null || missing+=(file)
command -v ldd >/dev/null || missing+=(libc-bin)
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "$binary" ]; then
    step "build ($profile)"
    build_started=$SECONDS
    binary=$("$repo/packaging/build-static.sh" --profile "$profile")
    build_seconds=$((SECONDS - build_started))
    echo "built $binary in ${build_seconds}s"
fi

step "static linking"
file "$binary"
file "$binary" | grep -Eq 'statically linked|static-pie linked' || fail "file does not call $binary static"
# glibc's ldd says "statically linked" for static-pie and "not a dynamic executable" (exit 1)
# for static non-PIE binaries; anything listing a library is a failure.
ldd_output=$(ldd "$binary" 2>&1 || true)
echo "ldd: $ldd_output"
case $ldd_output in
    *"statically linked"* | *"not a dynamic executable"*) ;;
    *) fail "ldd lists shared libraries for $binary" ;;
esac
"$binary" --version
ls -l "$binary"

step "an empty root with only the binary"
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
root=$work/root
mkdir -p "$root/data"
cp "$binary" "$root/otelite"
chown 65532:65532 "$root/data"
(cd "$root" && find . | sort)
[ "$(cd "$root" && find . | sort | tr '\n' ' ')" = ". ./data ./otelite " ] || fail "the root is not empty"

# Three free loopback ports next to each other.
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5 6 7 8 9 10; do
    base=$((20000 + RANDOM % 30000))
    if free "$base" && free $((base + 1)) && free $((base + 2)); then break; fi
done
grpc_port=$base http_port=$((base + 1)) ui_port=$((base + 2))
ui=http://127.0.0.1:$ui_port

# The binary inside the empty root, as uid/gid 65532, with the image's kind of environment.
# env and chroot each exec the next program, so a background "${in_root[@]}" has otelite's pid.
in_root=(env -i OTELITE_BIND=127.0.0.1 OTELITE_DATA=/data OTELITE_GRPC_PORT="$grpc_port"
    OTELITE_HTTP_PORT="$http_port" OTELITE_UI_PORT="$ui_port"
    "$(command -v chroot)" --userspec=65532:65532 "$root" /otelite)

start() {
    # env and chroot exec otelite, so $! is otelite itself and receives the SIGTERM.
    "${in_root[@]}" serve >>"$work/otelite.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { cat "$work/otelite.log"; fail "otelite exited while starting"; }
        if curl -fsS -o /dev/null "$ui/readyz" 2>/dev/null; then
            [ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "/otelite serve " ] ||
                fail "pid $pid is not otelite itself, a SIGTERM would miss it"
            echo "otelite (pid $pid) ready on 127.0.0.1:$grpc_port/$http_port/$ui_port"
            return
        fi
        sleep 0.1
    done
    cat "$work/otelite.log"
    fail "otelite was not ready within 10s"
}

stop() {
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -0 "$pid" 2>/dev/null && fail "otelite did not exit within 30s of SIGTERM"
    local rc=0
    wait "$pid" || rc=$?
    pid=
    echo "otelite exited with code $rc after SIGTERM"
    [ $rc -eq 0 ] || { cat "$work/otelite.log"; fail "exit code $rc after SIGTERM, expected 0"; }
}

step "serve in the chroot"
start

step "OTLP/JSON trace in, with curl from outside"
trace_id=5b8efff798038103d269b633813fc60c
now=$(date +%s%N)
span=$(printf '{"traceId": "%s", "spanId": "eee19b7ec3c1b174", "name": "chroot-span", "kind": 2, "startTimeUnixNano": "%s", "endTimeUnixNano": "%s"}' \
    "$trace_id" "$now" "$((now + 1000000))")
response=$(curl -fsS "http://127.0.0.1:$http_port/v1/traces" -H 'Content-Type: application/json' -d '{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "test-static"}}]},
    "scopeSpans": [{"spans": ['"$span"']}]
  }]}')
echo "POST /v1/traces -> $response"
case $response in *rejected*) fail "the span was rejected: $response" ;; esac

check_stored() {
    local exported status
    exported=$(curl -fsS "$ui/api/v1/export/traces?start=0&end=18446744073709551615")
    echo "$exported" | grep -qi "$trace_id" || fail "the trace is not in /api/v1/export/traces: $exported"
    echo "$exported" | grep -q chroot-span || fail "the span name is not in the export: $exported"
    echo "GET /api/v1/export/traces: the trace is there"
    status=$(curl -fsS "$ui/api/v1/status")
    echo "GET /api/v1/status -> $status"
    echo "$status" | grep -Eq '"traces":\{"stored":1[,}]' || fail "status does not count 1 stored span"
}
check_stored

step "the embedded UI"
index=$(curl -fsS "$ui/") ||
    fail "GET / did not answer with the UI; a dev-profile binary reads the UI from target/ at run time (see --profile)"
wasm=$(echo "$index" | grep -o 'otelite-ui\.[0-9a-f]*\.wasm' | head -n 1)
[ -n "$wasm" ] || fail "GET / is not the UI's index.html (a build with OTELITE_UI_SKIP?): $index"
wasm_bytes=$(curl -fsS "$ui/$wasm" | wc -c)
echo "GET / names $wasm, served with $wasm_bytes bytes"
[ "$wasm_bytes" -gt 10000 ] || fail "the UI's wasm is suspiciously small"

step "otelite health inside the chroot"
"${in_root[@]}" health || fail "otelite health exited $? against a ready server"
echo "otelite health: exit 0"
health_rc=0
closed_port=$((ui_port + 1))
while ! free "$closed_port"; do closed_port=$((closed_port + 1)); done
env -i OTELITE_BIND=127.0.0.1 OTELITE_UI_PORT="$closed_port" \
    "$(command -v chroot)" --userspec=65532:65532 "$root" /otelite health 2>/dev/null || health_rc=$?
[ $health_rc -eq 1 ] || fail "otelite health exited $health_rc against a closed port, expected 1"
echo "otelite health against a closed port: exit 1"

step "SIGTERM"
stop

step "restart on the same data"
ls -ln "$root/data"
start
check_stored
stop

step "install test"
bash "$repo/tests/packaging/install-test.sh" --binary "$binary"

printf '\n=== passed in %ss, of which %ss building\n' "$((SECONDS - started))" "$build_seconds"
