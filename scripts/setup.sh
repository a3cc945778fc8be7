#!/bin/sh
# Installs the Debian 12 packages ckeras needs, only those that are missing,
# so it is fast when everything is already there. Run as root (or via sudo).
#   scripts/setup.sh         build and test dependencies
#   scripts/setup.sh --dev   also clang's fuzzing runtime, clang-format, python3
#                            (scripts/import-graph.py) and valgrind
#   scripts/setup.sh --browser  also Chromium and libpng, for the test that looks at the
#                            SVG pictures in a browser (test_plot_render; it reports SKIP
#                            without them). Not part of CI: over a bare Debian 12 it is
#                            about 400 packages, 300 MB to download and 800 MB installed.
set -eu
packages="gcc g++ make cmake pkg-config libopenblas-dev libxsmm-dev libhdf5-dev check libcjson-dev libzip-dev libssl-dev libxml2-dev"
# Data-parallel training (src/train/distributed.c) and its mpirun tests.
packages="$packages libopenmpi-dev openmpi-bin"
# g++ and clang (clang++) build the C++ use of the headers (ctest "cxx").
# The export tests build generated C with gcc and clang (the plain build's
# tests; the sanitizer build does not) and cross-compile it for a Cortex-M4.
packages="$packages clang gcc-arm-none-eabi libnewlib-arm-none-eabi"
if [ "${1:-}" = "--dev" ]; then
    packages="$packages clang-format python3 libclang-rt-14-dev valgrind"
fi
if [ "${1:-}" = "--browser" ]; then
    packages="$packages chromium libpng-dev"
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
