#!/usr/bin/env bash
# Quick start, step 1: install what is missing, then run tapedeck on its embedded defaults
# (SQLite and the internal bucket in ./data, HTTP on :8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh serve
exec node bin/tapedeck.js serve
