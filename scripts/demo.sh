#!/usr/bin/env bash
# Runs statusd on a local Redis (installed and started when needed, with AOF on), with demo data,
# and prints how to try it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-redis.sh

REDIS_PORT="${STATUSD_DEMO_REDIS_PORT:-6379}"
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  mkdir -p target/demo-redis
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/target/demo-redis" \
    --appendonly yes --appendfsync everysec --daemonize yes --logfile "$PWD/target/demo-redis/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "started redis-server on port $REDIS_PORT (data in target/demo-redis)"
fi

export STATUSD_REDIS__URL="redis://127.0.0.1:$REDIS_PORT"
export STATUSD_REDIS__KEY_PREFIX="${STATUSD_REDIS__KEY_PREFIX:-demo:}"
export STATUSD_AUTH__JWT_SECRET="${STATUSD_AUTH__JWT_SECRET:-demo-only-secret-change-me-0123456789}"
export STATUSD_AUTH__ADMIN_TOKEN="${STATUSD_AUTH__ADMIN_TOKEN:-demo-only-admin-token-0123456789}"
export STATUSD_LISTEN="${STATUSD_LISTEN:-127.0.0.1:8080}"

cargo build --release --locked
./target/release/statusd seed-demo > target/demo-tokens.tsv
TOKEN="$(awk '$1 == "alice" { print $2 }' target/demo-tokens.tsv)"
ACME_KEY="$(awk '$1 == "advertiser:acme" { print $2 }' target/demo-tokens.tsv)"

cat <<INFO

statusd demo: users alice, bob, carol, dave and erin are each other's contacts and have live stories.
Tokens for every demo user are in target/demo-tokens.tsv.

Open the story viewer signed in as alice (the token is in the link's fragment, which the browser
never sends; the page keeps it for the tab and drops it from the address bar):

  http://$STATUSD_LISTEN/viewer/#token=$TOKEN

Open the advertiser console and sign in with Acme Coffee's API key:

  http://$STATUSD_LISTEN/console/
  $ACME_KEY

Open the review desk (creatives waiting for review, advertiser accounts, ad-free users) and sign
in with the admin token:

  http://$STATUSD_LISTEN/console/admin/
  $STATUSD_AUTH__ADMIN_TOKEN

Or read alice's feed with curl:

  curl -s -H "Authorization: Bearer $TOKEN" http://$STATUSD_LISTEN/v1/feed

More: http://$STATUSD_LISTEN/openapi.json describes every endpoint. Ctrl-C stops statusd.

INFO
exec ./target/release/statusd serve
