#!/usr/bin/env bash
# Installs the npm packages (and builds dist/) when they are missing or older than the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/vitest ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (npm install, as pinned by package-lock.json)" >&2
  # Not `npm ci`: the registry here lacks some of rollup's optional per-platform packages at the
  # locked version, which `npm ci` rejects as an out-of-sync lock; `npm install` keeps the lock.
  npm install --no-audit --no-fund --loglevel=error
fi
# Always rebuild: a stale dist/ would run old code.
node_modules/.bin/tsc -p tsconfig.build.json
node scripts/bundle.mjs
