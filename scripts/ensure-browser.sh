#!/usr/bin/env bash
# Installs what the browser tests need, when missing: Debian's chromium (and chromium-driver, for
# WebDriver clients) with a colour emoji font (stories and reactions are full of emoji), and
# playwright-core from npm (tests/browser/package-lock.json), which drives that chromium and
# downloads no browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
    || [ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing chromium, chromium-driver and fonts-noto-color-emoji (Debian)…" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-noto-color-emoji >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing nodejs and npm (Debian)…" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
