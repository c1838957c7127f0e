#!/usr/bin/env bash
# Runs every test: unit tests, and the HTTP integration suite against real redis-servers that the
# test support starts on free ports (standalone and a 3-node cluster), and the observability tests
# against the real promtool and prometheus binaries; then the contract as a generated client meets
# it (scripts/check-contract.sh) and as a fuzzer does, with every credential (scripts/fuzz.sh);
# then the pages statusd serves, in headless Chromium (scripts/browser-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh
scripts/ensure-tools.sh
cargo test --locked "$@"
scripts/check-contract.sh
scripts/fuzz.sh
scripts/browser-tests.sh
