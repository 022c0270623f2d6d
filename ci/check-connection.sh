#!/usr/bin/env bash
# Validate fakta connection files: every error and lint warning, with file:line:column.
# Usage: ci/check-connection.sh path/to/connection.yaml [...]
# FAKTA_BIN: use this fakta binary instead of building one from FAKTA_DIR (the fakta checkout).
set -euo pipefail
if [ -z "${FAKTA_BIN:-}" ]; then
  FAKTA_DIR=${FAKTA_DIR:-"$(cd "$(dirname "$0")/.." && pwd)"}
  "$FAKTA_DIR/scripts/setup-deps"
  cargo build --release --locked -q --manifest-path "$FAKTA_DIR/Cargo.toml"
  FAKTA_BIN="$FAKTA_DIR/target/release/fakta"
fi
exec "$FAKTA_BIN" check --deny-warnings "$@"
