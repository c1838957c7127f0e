#!/usr/bin/env bash
# Fuzzes the running service against its own contract: schemathesis (PyPI, in target/fuzz-venv,
# made here when missing) generates requests from the served /openapi.json and checks every answer
# (no 5xx, status codes, content types and bodies as the document says), once per credential: a
# user token, an advertiser key, the admin token. Real ids are seeded through the API first
# (tests/fuzz/seed.py) and reach the operations through OpenAPI links and tests/fuzz/schemathesis.toml.
#
#   scripts/fuzz.sh                      the default seed and 30 examples per operation
#   FUZZ_SEED=1234 scripts/fuzz.sh       replays a run (every run prints its seed)
#   FUZZ_EXAMPLES=200 scripts/fuzz.sh    longer
#
# Fails on any failure, and when an operation never got a 2xx with the credential that owns it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh

VENV=target/fuzz-venv
PY_TOOLS=(schemathesis==4.32.5 pillow==13.0.0)
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "4.32.5" \
    || ! "$VENV/bin/python" -c 'import PIL' 2>/dev/null; then
  echo "installing ${PY_TOOLS[*]} (PyPI) into $VENV…" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi

cargo build --locked --bin statusd
source scripts/lib/serve.sh
start_redis

# An outside bidder, so that the openrtb selector runs and its operations are reached too.
BIDDER_PORT="$(free_port)"
"$VENV/bin/python" tests/fuzz/bidder.py "$BIDDER_PORT" >"$WORK/bidder.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/statusd.toml" <<TOML
[ads]
selector = "openrtb"
deadline_ms = 300
[ads.openrtb]
image_hosts = ["127.0.0.1:$BIDDER_PORT"]
[[ads.openrtb.bidders]]
name = "fuzz-bidder"
endpoint = "http://127.0.0.1:$BIDDER_PORT/bid"
TOML
export STATUSD_CONFIG="$WORK/statusd.toml"

start_statusd fuzz

"$VENV/bin/python" tests/fuzz/seed.py "$BASE" "$STATUSD_AUTH__ADMIN_TOKEN" ./target/debug/statusd >"$WORK/seeded.sh"
# shellcheck disable=SC1091
source "$WORK/seeded.sh"
export FUZZ_ADMIN_TOKEN="$STATUSD_AUTH__ADMIN_TOKEN"
export FUZZ_CALLS="$WORK/calls.tsv"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$PWD/tests/fuzz"
SEED="${FUZZ_SEED:-$RANDOM$RANDOM}"
# Beyond the answers' conformance: headers as documented (Retry-After), a deleted resource stays
# gone, a created one is there, methods and credentials the document does not allow are refused.
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
CHECKS="$CHECKS,response_headers_conformance,use_after_free,ensure_resource_availability"
CHECKS="$CHECKS,unsupported_method,allow_header_conformance,ignored_auth,missing_required_header"
EXAMPLES="${FUZZ_EXAMPLES:-30}"
echo "== fuzzing $BASE with seed $SEED, $EXAMPLES examples per operation (replay: FUZZ_SEED=$SEED scripts/fuzz.sh)"

status=0
for credential in user advertiser admin; do
  case "$credential" in
    user) secret="$FUZZ_USER_TOKEN" ;;
    advertiser) secret="$FUZZ_ADVERTISER_KEY" ;;
    admin) secret="$FUZZ_ADMIN_TOKEN" ;;
  esac
  echo "== as the $credential"
  # Schemathesis does not call the operation that serves its own schema: this call is its 2xx.
  python3 - "$BASE/openapi.json" "$secret" "$credential" >>"$FUZZ_CALLS" <<'PY'
import sys, urllib.request
url, secret, credential = sys.argv[1:4]
request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
with urllib.request.urlopen(request, timeout=5) as response:
    print(f"{credential}\tGET /openapi.json\t{response.status}")
PY
  # The credential goes in through the config file (not --header, which would also override the
  # operations that the config runs as another user).
  FUZZ_CREDENTIAL="$credential" FUZZ_SECRET="$secret" "$VENV/bin/schemathesis" --config-file tests/fuzz/schemathesis.toml \
    run "$BASE/openapi.json" --url "$BASE" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$EXAMPLES" --seed "$SEED" --no-color \
    || status=1
done

echo "== operations that never got a 2xx from the credential that owns them"
fetch "$BASE/openapi.json" >"$WORK/openapi.json"
"$VENV/bin/python" tests/fuzz/unreached.py "$WORK/openapi.json" "$FUZZ_CALLS" || status=1
if [ "$status" -ne 0 ]; then
  echo "statusd's log:" && tail -50 "$WORK/statusd.log"
fi
exit "$status"
