#!/usr/bin/env bash
# The peer clients the compatibility tests drive (tests/compat: npm piston-client), installed
# with `npm ci` from the committed lock file whenever it changed since the last install.
source "$(dirname "$0")/common.sh"
dir="$REPO_DIR/tests/compat"
stamp="$dir/node_modules/.throwbox-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
command -v npm >/dev/null || die "npm is missing (scripts/install-host-packages.sh installs it)"
log "installing the compatibility tests' npm clients in tests/compat"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --cache "$CACHE_DIR/npm" >/dev/null)
echo "$want" >"$stamp"
