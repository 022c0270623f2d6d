#!/usr/bin/env bash
# Run fakta's conformance trials against your SP and write JUnit XML.
# Usage: ci/fakta-test.sh path/to/connection.yaml [more.yaml ...]
#   FAKTA_BIN    use this fakta binary instead of building one from FAKTA_DIR
#   FAKTA_DIR    the fakta checkout (default: the folder above this script)
#   FAKTA_JUNIT  where the JUnit report goes (default: fakta-junit.xml)
#   FAKTA_PARTITION  run one shard of the trials, e.g. hash:2/3 (nextest's syntax; see the
#                    matrix in github-actions.yml)
# Your SP must already be running where the connection file's `target` says; fakta starts its IdP
# on the file's idp.base_url itself. Exit status: 0 when every trial passes, 101 when one fails.
set -euo pipefail
if [ -z "${FAKTA_BIN:-}" ]; then
  FAKTA_DIR=${FAKTA_DIR:-"$(cd "$(dirname "$0")/.." && pwd)"}
  "$FAKTA_DIR/scripts/setup-deps"
  cargo build --release --locked -q --manifest-path "$FAKTA_DIR/Cargo.toml"
  FAKTA_BIN="$FAKTA_DIR/target/release/fakta"
fi
"$FAKTA_BIN" check "$@"
partition=()
if [ -n "${FAKTA_PARTITION:-}" ]; then
  partition=(--partition "$FAKTA_PARTITION")
fi
exec "$FAKTA_BIN" test "$@" "${partition[@]}" --junit "${FAKTA_JUNIT:-fakta-junit.xml}"
