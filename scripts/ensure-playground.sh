#!/usr/bin/env bash
# Build the playground (docs/playground.md): `npm ci` in playground/ when package-lock.json
# changed, then the bundle into playground/dist when the lock file or a source changed.
# Each step is skipped while the content hash in its stamp file still matches (idempotent).
source "$(dirname "$0")/common.sh"
dir="$REPO_DIR/playground"
command -v node >/dev/null && command -v npm >/dev/null \
  || die "node and npm are missing (scripts/install-host-packages.sh installs them)"

deps_hash=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
deps_stamp="$dir/node_modules/.throwbox-deps-hash"
if [ "$(cat "$deps_stamp" 2>/dev/null)" != "$deps_hash" ]; then
  log "playground: npm ci"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
  printf '%s\n' "$deps_hash" >"$deps_stamp"
fi

# The sources in a stable order, with their names, plus the lock file.
build_hash=$( (cd "$dir" && find build.mjs package-lock.json src -type f | LC_ALL=C sort | xargs sha256sum) \
  | sha256sum | cut -d' ' -f1)
build_stamp="$dir/dist/.throwbox-build-hash"
if [ "$(cat "$build_stamp" 2>/dev/null)" != "$build_hash" ] || [ ! -f "$dir/dist/index.html" ]; then
  log "playground: building the bundle"
  (cd "$dir" && node build.mjs) || die "the playground build failed"
  printf '%s\n' "$build_hash" >"$build_stamp"
fi
