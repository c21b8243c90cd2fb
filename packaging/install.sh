#!/bin/sh
# Installs otelite as a systemd service:
#
#   <root>/usr/local/bin/otelite                     the binary (replaced on upgrade)
#   <root>/etc/systemd/system/otelite.service        the unit (replaced on upgrade)
#   <root>/etc/otelite/otelite.toml                  the settings (never overwritten)
#
# Usage: install.sh [--root DIR] [--binary FILE]
#   --root DIR     install under DIR instead of / (also: DESTDIR=DIR); for packaging and tests
#   --binary FILE  the otelite binary to install [default: ./otelite beside this script]
#
# Run it from an unpacked release archive (everything sits beside this script) or from the
# repository's packaging/ directory with --binary. The store itself (/var/lib/otelite) is
# created by systemd on first start (StateDirectory=) and is never touched here.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-/}
binary=$here/otelite

while [ $# -gt 0 ]; do
    case $1 in
        --root) root=${2:?--root needs a directory}; shift 2 ;;
        --root=*) root=${1#--root=}; shift ;;
        --binary) binary=${2:?--binary needs a file}; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "install.sh: $*" >&2; exit 1; }

[ -f "$binary" ] || fail "no otelite binary at $binary; pass --binary FILE"
for file in otelite.service otelite.toml; do
    [ -f "$here/$file" ] || fail "$file is missing beside install.sh (in $here)"
done
root=${root%/}

# Writes $2 from $1 with mode $3 through a temporary file and a rename, so a running otelite
# keeps executing its old binary until it is restarted and nobody ever sees half a file.
put() {
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2.tmp.$$"
    chmod "$3" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
    echo "installed $2"
}

put "$binary" "$root/usr/local/bin/otelite" 0755
put "$here/otelite.service" "$root/etc/systemd/system/otelite.service" 0644
config=$root/etc/otelite/otelite.toml
if [ -e "$config" ]; then
    echo "kept      $config (an existing config is never overwritten; the new default is $here/otelite.toml)"
else
    put "$here/otelite.toml" "$config" 0644
fi

if [ -z "$root" ]; then
    # Only for a real install on a host that runs systemd: tell it about the new unit.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        echo
        echo "Start otelite now and at every boot:  systemctl enable --now otelite"
        echo "After an upgrade:                      systemctl restart otelite"
    fi
    echo "Check the installed binary:            otelite --version"
fi
