#!/usr/bin/env bash
# Quick start, step 2: install what is missing (including PostgreSQL), type-check, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh test
npx tsc --noEmit -p tsconfig.json
node scripts/run-tests.mjs "$@"
