#!/usr/bin/env bash
# The test command of the README: installs what the tests need, runs the static checks
# (scripts/lint.sh), then every test.
# Unit and connection tests need nothing else; the end-to-end tests bring up the local lab,
# which (as root on Debian/Ubuntu) installs its own Debian packages and builds its image once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# Type check, lint (with the layering rule) and format check first: cheap, and a failure here
# is reported before the long end-to-end tests.
bash scripts/lint.sh
exec node_modules/.bin/vitest run "$@"
