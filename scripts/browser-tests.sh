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
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

PORT="$(free_port)"
export STATUSD_BASE="http://127.0.0.1:$PORT"
export STATUSD_BIN="$PWD/target/debug/statusd"
export STATUSD_REDIS__URL="redis://127.0.0.1:$REDIS_PORT"
export STATUSD_LISTEN="127.0.0.1:$PORT"
export STATUSD_AUTH__JWT_SECRET="browser-tests-secret-0123456789abcdef"
export STATUSD_AUTH__ADMIN_TOKEN="browser-tests-admin-0123456789abcdef"
export STATUSD_ADMIN_TOKEN="$STATUSD_AUTH__ADMIN_TOKEN"
export STATUSD_LOG__FILTER="${STATUSD_LOG__FILTER:-warn}"
"$STATUSD_BIN" serve >"$WORK/statusd.log" 2>&1 &
PIDS+=($!)
ready() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }
for _ in $(seq 200); do ready "$STATUSD_BASE/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

status=0
(cd tests/browser && node --test --test-concurrency=1 ${STATUSD_BROWSER_TESTS:-./*.test.mjs}) || status=$?
if [ "$status" -ne 0 ]; then
  echo "statusd's log:" && tail -40 "$WORK/statusd.log"
fi
exit "$status"
