#!/bin/sh
# SPDX-License-Identifier: MIT
# deps.sh PACKAGE... - installs the Debian packages that are missing, with
# apt-get, so `make test`, `make demo` and `make bench` work on a fresh Debian 12
# machine.
# Installs nothing that is already there; needs root only when it must install.
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "poolalloc: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "poolalloc: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
