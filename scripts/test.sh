#!/usr/bin/env bash
# Quick start, step 2: install what is missing (including PostgreSQL), type-check, lint, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh test
npx tsc --noEmit -p tsconfig.json
# Lint and formatting (Biome, biome.jsonc): `npm run format` rewrites what this refuses.
npx biome ci --colors=off --reporter=summary .
node scripts/run-tests.mjs "$@"
