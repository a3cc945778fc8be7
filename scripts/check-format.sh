#!/bin/sh
# Checks that every tracked C file is formatted as .clang-format says.
#   scripts/check-format.sh         list the files that differ; exit 1 if any
#   scripts/check-format.sh --fix   reformat them in place
# The style was tuned with clang-format 14 (Debian 12); other major versions
# may format some constructs differently. CLANG_FORMAT selects the binary.
set -eu
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "check-format: SKIP ($cf is not installed; apt-get install clang-format)"
    exit 0
fi
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
    # shellcheck disable=SC2086
    "$cf" -i --style=file $files
    exit 0
fi
bad=""
for f in $files; do
    "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
    echo "check-format: not formatted (run scripts/check-format.sh --fix):"
    for f in $bad; do echo "  $f"; done
    exit 1
fi
echo "check-format: OK"
