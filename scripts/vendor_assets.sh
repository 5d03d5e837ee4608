#!/usr/bin/env bash
# Re-vendors the browser libraries the dashboard and /schema load, from the npm registry
# (`npm pack`, no build step), into src/entrypoints/http/monitoring/static/vendor/.
# Run it by hand to upgrade; CI and users never run it: the files are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
CHARTJS_VERSION="${CHARTJS_VERSION:-4.6.1}"
REDOC_VERSION="${REDOC_VERSION:-2.5.4}"
VENDOR=src/entrypoints/http/monitoring/static/vendor
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "chart.js@$CHARTJS_VERSION" "redoc@$REDOC_VERSION" >/dev/null)
mkdir -p "$work/chartjs" "$work/redoc" "$VENDOR/chartjs" "$VENDOR/redoc"
tar xzf "$work/chart.js-$CHARTJS_VERSION.tgz" -C "$work/chartjs"
tar xzf "$work/redoc-$REDOC_VERSION.tgz" -C "$work/redoc"

cp "$work/chartjs/package/dist/chart.umd.min.js" "$work/chartjs/package/LICENSE.md" "$VENDOR/chartjs/"
cp "$work/redoc/package/bundles/redoc.standalone.js" \
   "$work/redoc/package/bundles/redoc.standalone.js.LICENSE.txt" \
   "$work/redoc/package/LICENSE" "$VENDOR/redoc/"
# Redoc's side menu shows its vendor's logo from a CDN, unconditionally: the one remote
# request the docs page would make. It becomes an empty inline image (the link text stays).
sed -i 's#https://cdn\.redoc\.ly/redoc/logo-mini\.svg#data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E#' \
  "$VENDOR/redoc/redoc.standalone.js"
# The source maps are not shipped: drop the comments that point at them.
sed -i '/^\/\/# sourceMappingURL=/d' "$VENDOR/chartjs/chart.umd.min.js" "$VENDOR/redoc/redoc.standalone.js"
printf 'chart.js %s\nredoc %s\n' "$CHARTJS_VERSION" "$REDOC_VERSION" > "$VENDOR/VERSIONS"
echo "vendored chart.js $CHARTJS_VERSION and redoc $REDOC_VERSION into $VENDOR"
