#!/usr/bin/env bash
# Runs every test: unit tests, and the HTTP integration suite against real redis-servers that the
# test support starts on free ports (standalone and a 3-node cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh
cargo test --locked "$@"
