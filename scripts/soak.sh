#!/usr/bin/env bash
# The long soak on the lab: `npm run soak` (60 runs), `npm run soak -- --runs N`, or
# PROVISION_SOAK_RUNS=N npm run soak. PROVISION_SOAK_SEED=S replays a run's random choices.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${PROVISION_SOAK_RUNS:-60}"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --runs=*) runs="${1#--runs=}"; shift ;;
    --seed) export PROVISION_SOAK_SEED="${2:?--seed needs a number}"; shift 2 ;;
    *) echo "usage: npm run soak -- [--runs N] [--seed S]" >&2; exit 2 ;;
  esac
done
bash scripts/ensure-deps.sh
PROVISION_SOAK_RUNS="$runs" exec node_modules/.bin/vitest run test/e2e/soak.test.ts
