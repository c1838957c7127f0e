# Sourced by the scripts that test a running statusd (check-contract.sh, fuzz.sh,
# browser-tests.sh): a work folder and the processes started, cleaned up on exit; a Redis of its
# own on a free port; and the debug statusd on it, waited for until it is ready.
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=5).read())' "$1"; }

# Starts redis-server on a free port and points statusd at it (STATUSD_REDIS__URL).
start_redis() {
  REDIS_PORT="$(free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  export STATUSD_REDIS__URL="redis://127.0.0.1:$REDIS_PORT"
}

# Starts ./target/debug/statusd on a free port (BASE is its address) with secrets named after $1,
# and waits until /readyz answers.
start_statusd() {
  PORT="$(free_port)"
  BASE="http://127.0.0.1:$PORT"
  export STATUSD_LISTEN="127.0.0.1:$PORT"
  export STATUSD_AUTH__JWT_SECRET="$1-secret-0123456789abcdef"
  export STATUSD_AUTH__ADMIN_TOKEN="$1-admin-0123456789abcdef"
  export STATUSD_LOG__FILTER="${STATUSD_LOG__FILTER:-warn}"
  ./target/debug/statusd serve >"$WORK/statusd.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do fetch "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
}
