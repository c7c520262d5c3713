#!/usr/bin/env bash
# Checks that every tracked C++ file is formatted as .clang-format says, with Debian 12's
# clang-format 14 (scripts/install-deps.sh installs it): prints each offending line and
# fails. --fix rewrites the files in place instead.
#
#   scripts/check-format.sh         # check (scripts/test.sh runs this first)
#   scripts/check-format.sh --fix   # format the tree
set -euo pipefail
cd "$(dirname "$0")/.."

mode=(--dry-run -Werror)
case "${1:-}" in
    "") ;;
    --fix) mode=(-i) ;;
    *)
        echo "usage: $0 [--fix]" >&2
        exit 2
        ;;
esac

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null; then
    echo "check-format: $clang_format not found (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
# Another major version formats some constructs differently; the tree follows 14.
version=$("$clang_format" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
if [ "$version" != 14 ]; then
    echo "check-format: $clang_format is version ${version:-unknown}, the tree follows 14" >&2
    exit 1
fi

mapfile -d '' files < <(git ls-files -z -- '*.cpp' '*.hpp' '*.h' '*.cc')
if ! printf '%s\0' "${files[@]}" | xargs -0 -n 64 "$clang_format" "${mode[@]}" --style=file; then
    echo "check-format: run scripts/check-format.sh --fix" >&2
    exit 1
fi
