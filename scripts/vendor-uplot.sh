#!/usr/bin/env bash
# Refreshes the chart library the advertiser console draws its report with: uPlot (MIT), from the
# npm registry, pinned here, copied into web/vendor/uplot/ with its licence. Run it to move to
# another version, then commit what it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-1.6.32}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "uplot@$VERSION" >/dev/null && tar xzf "uplot-$VERSION.tgz")
mkdir -p web/vendor/uplot
cp "$WORK/package/dist/uPlot.iife.min.js" "$WORK/package/dist/uPlot.min.css" "$WORK/package/LICENSE" web/vendor/uplot/
echo "$VERSION" > web/vendor/uplot/VERSION
echo "uPlot $VERSION in web/vendor/uplot/"
