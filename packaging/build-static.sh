#!/bin/sh
# Builds otelite as one static Linux binary (musl libc, web UI embedded) and prints its path.
# The Dockerfile, release.sh and test-static.sh all build through this script, so the binary
# in the image, in the release archive and under test comes from the same commands.
#
# Usage: build-static.sh [--target TRIPLE] [--profile release|dev] [--out FILE]
#   --target   x86_64-unknown-linux-musl or aarch64-unknown-linux-musl
#              [default: <this machine's arch>-unknown-linux-musl]
#   --profile  cargo profile [default: release]; dev builds much faster, for tests
#   --out      also copy the binary to FILE
#
# Needs rustup (the toolchain comes from rust-toolchain.toml) and a C compiler for the target,
# because zstd-sys compiles zstd's C sources:
#   native build:          apt-get install musl-tools             (provides musl-gcc)
#   aarch64 on x86_64:     apt-get install gcc-aarch64-linux-gnu  (compiler and linker)
# CC_<target> / CARGO_TARGET_<TARGET>_LINKER from the environment win over these choices.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
target=$(uname -m)-unknown-linux-musl
profile=release
out=

while [ $# -gt 0 ]; do
    case $1 in
        --target) target=${2:?--target needs a triple}; shift 2 ;;
        --profile) profile=${2:?--profile needs a name}; shift 2 ;;
        --out) out=${2:?--out needs a file}; shift 2 ;;
        -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "build-static.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "build-static.sh: $*" >&2; exit 1; }

cd "$repo"
arch=${target%%-*}
# The names cc-rs and cargo read: CC_aarch64_unknown_linux_musl,
# CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER.
cc_var=CC_$(echo "$target" | tr '-' '_')
linker_var=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER

# Sets the environment variable $1 to $2 unless the caller set it already.
default() {
    [ -n "$(printenv "$1" || true)" ] || export "$1=$2"
}

if [ "$arch" = "$(uname -m)" ] && command -v musl-gcc >/dev/null 2>&1; then
    default "$cc_var" musl-gcc
elif command -v "$arch-linux-musl-gcc" >/dev/null 2>&1; then
    default "$cc_var" "$arch-linux-musl-gcc"
    default "$linker_var" "$arch-linux-musl-gcc"
elif command -v "$arch-linux-gnu-gcc" >/dev/null 2>&1; then
    # A glibc cross compiler is enough: zstd's C code needs only basic libc headers, and Rust
    # links musl's own libc.a and startup files (its musl targets are self-contained).
    default "$cc_var" "$arch-linux-gnu-gcc"
    default "$linker_var" "$arch-linux-gnu-gcc"
fi
[ -n "$(printenv "$cc_var" || true)" ] ||
    fail "no C compiler for $target: install musl-tools (native) or gcc-$arch-linux-gnu (cross), or set $cc_var"

# Adds the musl standard library to the toolchain pinned in rust-toolchain.toml (a no-op once
# it is there). The UI's wasm32 target is added by server/build.rs itself.
rustup target add "$target" >&2

echo "building otelite for $target ($profile, $cc_var=$(printenv "$cc_var"))" >&2
cargo build --locked --profile "$profile" --target "$target" -p otelite >&2

case $profile in
    dev) profile_dir=debug ;;
    *) profile_dir=$profile ;;
esac
binary=${CARGO_TARGET_DIR:-$repo/target}/$target/$profile_dir/otelite
[ -x "$binary" ] || fail "cargo finished but $binary is missing"
if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    cp "$binary" "$out"
    binary=$out
fi
echo "$binary"
