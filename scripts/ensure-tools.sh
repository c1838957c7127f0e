#!/usr/bin/env bash
# Installs the operations tools the tests and CI use, when missing: promtool and prometheus
# (Debian package prometheus) for the metrics lint, the rule checks and the end-to-end scrape.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing prometheus and promtool (Debian package prometheus)…" >&2
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
