#!/usr/bin/env bash
# Tests packaging/install.sh, otelite.service and otelite.toml without touching the machine:
# installs into temporary roots and checks the layout, the modes, that an existing config
# survives a reinstall, that `systemd-analyze verify` has nothing to say about the unit, and,
# given a real binary, that otelite starts with the installed config and that every setting
# the config shows is a key otelite accepts.
#
# Usage: tests/packaging/install-test.sh [--binary FILE]
#   without --binary a stub stands in for otelite and only the layout and unit are checked.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
packaging=$repo/packaging
binary=
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=${2:?--binary needs a file}; shift 2 ;;
        *) echo "install-test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

fail() { echo "install-test.sh: FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$binary" ]; then
    binary=$work/otelite-stub
    printf '#!/bin/sh\necho "otelite stub"\n' >"$binary"
    chmod 0755 "$binary"
fi

# mode and path of every file and directory under $1, relative to it
layout() { (cd "$1" && find . -mindepth 1 -printf '%m %p\n' | sort -k 2); }

expected='755 ./etc
755 ./etc/otelite
644 ./etc/otelite/otelite.toml
755 ./etc/systemd
755 ./etc/systemd/system
644 ./etc/systemd/system/otelite.service
755 ./usr
755 ./usr/local
755 ./usr/local/bin
755 ./usr/local/bin/otelite'

# --- a fresh install with --root, and the same with DESTDIR ---
root=$work/root
(umask 022 && "$packaging/install.sh" --root "$root" --binary "$binary")
[ "$(layout "$root")" = "$expected" ] || fail "unexpected layout under --root:
$(layout "$root")"
cmp "$binary" "$root/usr/local/bin/otelite"
cmp "$packaging/otelite.service" "$root/etc/systemd/system/otelite.service"
cmp "$packaging/otelite.toml" "$root/etc/otelite/otelite.toml"
ok "install --root lays out binary, unit and config with the right modes"

(umask 022 && DESTDIR=$work/destdir "$packaging/install.sh" --binary "$binary" >/dev/null)
[ "$(layout "$work/destdir")" = "$expected" ] || fail "DESTDIR= gives another layout"
ok "install with DESTDIR= gives the same layout"

# --- a reinstall (an upgrade) replaces binary and unit but keeps the operator's config ---
echo 'log-level = "debug"   # changed by the operator' >>"$root/etc/otelite/otelite.toml"
edited=$(cat "$root/etc/otelite/otelite.toml")
echo 'stale' >"$root/usr/local/bin/otelite"
output=$("$packaging/install.sh" --root "$root" --binary "$binary")
[ "$(cat "$root/etc/otelite/otelite.toml")" = "$edited" ] || fail "the reinstall changed the existing config"
echo "$output" | grep -q "^kept .*otelite.toml" || fail "the reinstall did not say it kept the config: $output"
cmp "$binary" "$root/usr/local/bin/otelite" || fail "the reinstall did not replace the binary"
[ "$(find "$root/usr/local/bin" -name '*.tmp.*')" = "" ] || fail "a temporary file was left in usr/local/bin"
ok "reinstall replaces the binary, keeps the edited config"

# --- arguments ---
"$packaging/install.sh" --root "$work/none" --binary "$work/missing" 2>/dev/null && fail "install.sh accepted a missing binary"
"$packaging/install.sh" --frobnicate 2>/dev/null && fail "install.sh accepted an unknown argument"
[ ! -e "$work/none" ] || fail "a failed install left files behind"
ok "install.sh refuses a missing binary and unknown arguments"

# --- the unit ---
if ! command -v systemd-analyze >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
if command -v systemd-analyze >/dev/null; then
    # verify needs ExecStart= to exist, so it checks a copy pointing into the temporary root.
    # It exits 0 even for unknown keys or bad values, so any output at all is a failure.
    sed "s#/usr/local/bin/otelite#$root/usr/local/bin/otelite#" \
        "$root/etc/systemd/system/otelite.service" >"$work/otelite.service"
    verify=$(systemd-analyze verify "$work/otelite.service" 2>&1) || fail "systemd-analyze verify: $verify"
    [ -z "$verify" ] || fail "systemd-analyze verify has remarks: $verify"
    ok "systemd-analyze verify otelite.service: clean"
    systemd-analyze security --offline=yes "$work/otelite.service" 2>/dev/null | tail -n 1 || true
else
    echo "skipped: systemd-analyze is not installed, the unit was not verified"
fi

if [ "$binary" = "$work/otelite-stub" ]; then
    echo "install test passed (layout only: no --binary)"
    exit 0
fi

# --- the installed config with the installed binary ---
otelite=$root/usr/local/bin/otelite
cp "$packaging/otelite.toml" "$root/etc/otelite/otelite.toml"
config=$root/etc/otelite/otelite.toml
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5 6 7 8 9 10; do
    base=$((20000 + RANDOM % 30000))
    if free "$base" && free $((base + 1)) && free $((base + 2)); then break; fi
done
ports=(--grpc-port "$base" --http-port $((base + 1)) --ui-port $((base + 2)))
"$otelite" --config "$config" --data "$work/data" "${ports[@]}" >"$work/otelite.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$work/otelite.log"; fail "otelite --config <installed otelite.toml> exited"; }
    "$otelite" health --config "$config" "${ports[@]}" 2>/dev/null && break
    sleep 0.1
done
"$otelite" health --config "$config" "${ports[@]}" || fail "otelite with the installed config never became ready"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ $rc -eq 0 ] || fail "otelite exited $rc after SIGTERM"
[ -f "$work/data/otelite.redb" ] || fail "no store in the data directory"
ok "otelite --config <installed otelite.toml> --data <temp dir> serves, is healthy, stops with 0"

# Every setting shown commented out must be a key otelite accepts with the value shown.
# `otelite health` resolves the configuration first: exit 2 is a configuration error,
# 1 only means that no server answers.
sed -E 's/^#([a-z-]+ = )/\1/' "$config" >"$work/all-settings.toml"
count=$(grep -cE '^[a-z-]+ = ' "$work/all-settings.toml")
[ "$count" -ge 8 ] || fail "expected the config to show at least 8 settings, found $count"
rc=0
"$otelite" health --config "$work/all-settings.toml" --ui-port "$base" 2>"$work/health.err" || rc=$?
[ $rc -ne 2 ] || fail "a setting shown in otelite.toml is refused: $(cat "$work/health.err")"
ok "all $count settings shown in otelite.toml are accepted as written"

printf 'data = "/tmp"\ngrpc_prot = 1\n' >"$work/typo.toml"
rc=0
"$otelite" health --config "$work/typo.toml" 2>"$work/health.err" || rc=$?
[ $rc -eq 2 ] || fail "a misspelt key gave exit $rc, expected 2"
grep -q grpc_prot "$work/health.err" || fail "the error does not name the misspelt key: $(cat "$work/health.err")"
ok "a misspelt key is refused with exit 2, naming it"

echo "install test passed"
