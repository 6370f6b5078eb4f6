#!/usr/bin/env bash
# Prints the benchmark figures (lab and provisioner); see bench/README in bench/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node_modules/.bin/tsx bench/run.ts "$@"
