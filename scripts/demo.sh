#!/usr/bin/env bash
# The main job on the built-in lab: bring the lab up, then converge it into an etcd cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
node bin/provision.js lab up
node bin/provision.js inventories/lab.yaml "$@"
