#!/usr/bin/env bash
# CI's short fuzz run: every libFuzzer target (fuzz/) for FUZZ_SECONDS (default 15) from
# its seed corpus and the reproducers of every finding so far, in a clang build of its own
# beside the main one. Fails on any crash, leak, sanitizer report or fuzz invariant
# violation (scripts/fuzz.sh prints the input to replay).
set -euo pipefail
ROOT=${NATCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${NATCTL_BIN_DIR:-$ROOT/build}/fuzz-build
exec "$ROOT/scripts/fuzz.sh" --time "${FUZZ_SECONDS:-15}" --build-dir "$BUILD" \
    model_json http_request store_journal netlink_conntrack netlink_nft
