#!/bin/sh
# Builds a release archive of otelite for one target:
#
#   dist/otelite-<version>-<target>.tar.gz   holding otelite-<version>-<target>/ with
#       otelite          the static binary (web UI embedded)
#       install.sh       installs binary, systemd unit and config (see install.sh --help)
#       otelite.service  the systemd unit
#       otelite.toml     the default config, every setting commented
#       README.md        and LICENSE when the repository has one
#   dist/SHA256SUMS      checksums of every archive in dist/ (check: sha256sum -c SHA256SUMS)
#
# Usage: packaging/release.sh [--target TRIPLE]     [default: <this arch>-unknown-linux-musl]
#   aarch64 from x86_64: apt-get install gcc-aarch64-linux-gnu, then
#   packaging/release.sh --target aarch64-unknown-linux-musl
# The archive is reproducible for a given binary: sorted names, owner 0, file times set to the
# last commit's time, gzip without a timestamp.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
target=$(uname -m)-unknown-linux-musl
while [ $# -gt 0 ]; do
    case $1 in
        --target) target=${2:?--target needs a triple}; shift 2 ;;
        -h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$repo"
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "release.sh: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
name=otelite-$version-$target

binary=$(packaging/build-static.sh --profile release --target "$target")

stage=dist/$name
rm -rf "$stage" "dist/$name.tar.gz"
mkdir -p "$stage"
cp "$binary" "$stage/otelite"
cp packaging/install.sh packaging/otelite.service packaging/otelite.toml README.md "$stage/"
[ ! -f LICENSE ] || cp LICENSE "$stage/"
chmod 0755 "$stage/otelite" "$stage/install.sh"
chmod 0644 "$stage/otelite.service" "$stage/otelite.toml" "$stage/README.md"

mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar --create --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    --directory=dist "$name" | gzip -n -9 >"dist/$name.tar.gz"
rm -rf "$stage"
(cd dist && sha256sum -- *.tar.gz >SHA256SUMS)

echo "dist/$name.tar.gz ($(wc -c <"dist/$name.tar.gz") bytes)"
cat dist/SHA256SUMS
