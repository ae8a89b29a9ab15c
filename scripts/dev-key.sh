#!/usr/bin/env bash
# Print a dev API key for tenant "dev": the one in .state/dev-key while the API still
# accepts it, otherwise a new one from `throwbox keys create` (stored for the next time).
source "$(dirname "$0")/common.sh"
API_URL="${THROWBOX_API_URL:-http://127.0.0.1:8080}"
KEY_FILE="$STATE_DIR/dev-key"
if [ ! -f "$REPO_DIR/control-plane/throwbox_control/cli.py" ]; then
  log "dev key: pending (the CLI control-plane/throwbox_control/cli.py does not exist yet)"
  exit 0
fi
accepted() { [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: Bearer $1" "$API_URL/v1/runtimes")" = 200; }
if [ -s "$KEY_FILE" ] && accepted "$(cat "$KEY_FILE")"; then
  cat "$KEY_FILE"
  exit 0
fi
out=$(THROWBOX_CONSUL_ADDR="${THROWBOX_CONSUL_ADDR:-http://127.0.0.1:8500}" "$VENV/bin/throwbox" keys create --tenant dev) \
  || die "throwbox keys create failed"
key=$(printf '%s\n' "$out" | awk 'NF {last = $0} END {print last}')   # the key is alone on the last line
[ -n "$key" ] || die "throwbox keys create printed no key"
(umask 077 && printf '%s\n' "$key" >"$KEY_FILE")
cat "$KEY_FILE"
