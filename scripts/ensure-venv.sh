#!/usr/bin/env bash
# The Python environment .venv: created, and `pip install -e '.[dev]'` run again whenever
# pyproject.toml changed since the last install (a hash kept inside .venv).
source "$(dirname "$0")/common.sh"
stamp="$VENV/.throwbox-pyproject.sha256"
want=$(sha256sum "$REPO_DIR/pyproject.toml" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
log "installing the Python environment in .venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
(cd "$REPO_DIR" && "$VENV/bin/pip" install -q -e '.[dev]')
echo "$want" >"$stamp"
