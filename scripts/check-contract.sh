#!/usr/bin/env bash
# The contract as its users meet it, against a running statusd on a Redis of its own:
#   openapi-spec-validator (PyPI)      the served /openapi.json is a valid OpenAPI 3.1 document
#   @redocly/cli lint (npm)            and passes Redocly's recommended rules without an error
#   openapi-python-client (PyPI)       a client generated from it makes the calls a client makes
#                                      (tests/client/calls.py), each answer parsed by generated code
# The Python tools live in target/venv, made here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh

VENV=target/venv
PY_TOOLS=(openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 ruff pillow)
if [ ! -x "$VENV/bin/openapi-python-client" ] || [ ! -x "$VENV/bin/openapi-spec-validator" ] \
    || ! "$VENV/bin/python" -c 'import PIL' 2>/dev/null; then
  echo "installing ${PY_TOOLS[*]} (PyPI) into $VENV…" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi

cargo build --locked --bin statusd
source scripts/lib/serve.sh
start_redis
start_statusd contract-check
fetch "$BASE/openapi.json" >"$WORK/openapi.json"

echo "== openapi-spec-validator"
"$VENV/bin/openapi-spec-validator" "$WORK/openapi.json"

echo "== redocly lint (recommended rules; warnings are shown, errors fail)"
npx --yes @redocly/cli@2.77.0 lint --extends=recommended --format=summary "$WORK/openapi.json"

echo "== a generated client's calls"
"$VENV/bin/openapi-python-client" generate --path "$WORK/openapi.json" --meta none \
  --config tests/client/generator.yaml --output-path "$WORK/statusd_client" >"$WORK/generate.log" 2>&1 \
  || { cat "$WORK/generate.log"; exit 1; }
if grep -q "WARNING" "$WORK/generate.log"; then
  cat "$WORK/generate.log"
  echo "the generator left parts of the document out" >&2
  exit 1
fi
token() { ./target/debug/statusd token --user "$1"; }
PYTHONPATH="$WORK" "$VENV/bin/python" tests/client/calls.py "$BASE" "$STATUSD_AUTH__ADMIN_TOKEN" "$(token alice)" "$(token bob)"
