#!/bin/sh
# Installs the Debian 12 packages ckeras needs, only those that are missing,
# so it is fast when everything is already there. Run as root (or via sudo).
#   scripts/setup.sh         build and test dependencies
#   scripts/setup.sh --dev   also clang (fuzzing, second compiler), clang-format, python3
#                            (scripts/import-graph.py) and valgrind
set -eu
packages="gcc make cmake pkg-config libopenblas-dev libxsmm-dev libhdf5-dev check libcjson-dev libzip-dev"
if [ "${1:-}" = "--dev" ]; then
    packages="$packages clang clang-format python3 libclang-rt-14-dev valgrind"
fi
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "ckeras setup: installing$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
