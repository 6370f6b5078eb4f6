#!/usr/bin/env bash
# The static checks, run by `npm test` before the tests and by `npm run lint`: the type check,
# ESLint (with the layering of src/), the engine's freedom from operation names, and the format.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint: tsc --noEmit" >&2
node_modules/.bin/tsc -p tsconfig.json --noEmit
echo "lint: eslint" >&2
node_modules/.bin/eslint --max-warnings 0 .
# The generic engine knows no operation by name (README, "Architecture").
if grep -rni etcd src/executor src/report src/plan; then
  echo "lint: src/executor, src/report and src/plan must not name etcd (that belongs in src/operations)" >&2
  exit 1
fi
echo "lint: prettier --check" >&2
if ! bash scripts/format.sh --check; then
  echo "lint: the files above are not formatted: run npm run format" >&2
  exit 1
fi
