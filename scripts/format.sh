#!/usr/bin/env bash
# Prettier on the code (not the YAML inventories and playbooks, whose layout is part of what
# they document). `npm run format` writes; scripts/lint.sh checks (--check).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/prettier "${1:---write}" --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' 'bin/*.js' '*.config.js' '*.config.ts'
