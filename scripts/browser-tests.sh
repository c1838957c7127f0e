#!/usr/bin/env bash
# The pages statusd serves (/viewer/, /console/, /console/admin/), in headless Chromium against a
# statusd on a Redis of its own: tests/browser/*.test.mjs, with the harness in
# tests/browser/harness.mjs.
#   STATUSD_SCREENSHOTS=docs scripts/browser-tests.sh    also refreshes the screenshots in docs/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh
scripts/ensure-browser.sh

cargo build --locked --bin statusd
source scripts/lib/serve.sh
start_redis
export STATUSD_BIN="$PWD/target/debug/statusd"
start_statusd browser-tests
export STATUSD_BASE="$BASE"
export STATUSD_ADMIN_TOKEN="$STATUSD_AUTH__ADMIN_TOKEN"

status=0
(cd tests/browser && node --test --test-concurrency=1 ${STATUSD_BROWSER_TESTS:-./*.test.mjs}) || status=$?
if [ "$status" -ne 0 ]; then
  echo "statusd's log:" && tail -40 "$WORK/statusd.log"
fi
exit "$status"
