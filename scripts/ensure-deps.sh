#!/usr/bin/env bash
# Installs the npm packages (and builds dist/) when they are missing or older than the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/vitest ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# Always rebuild: a stale dist/ would run old code.
node_modules/.bin/tsc -p tsconfig.build.json
