#!/usr/bin/env bash
# Print a dev API key for tenant "dev": the one in .state/dev-key while the API still
# accepts it, otherwise a new one from `throwbox keys create` (stored for the next time).
source "$(dirname "$0")/common.sh"
API_URL="${THROWBOX_API_URL:-http://127.0.0.1:8080}"
KEY_FILE="$STATE_DIR/dev-key"
# A stored key is replaced only when the API answers and rejects it (401, e.g. after
# `make clean-state` dropped Consul's KV); when the API is down it cannot be checked.
if [ -s "$KEY_FILE" ]; then
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: Bearer $(cat "$KEY_FILE")" "$API_URL/v1/runtimes" || true)
  if [ "$code" != 401 ]; then
    [ "$code" = 200 ] || log "dev key: could not check the stored key (API answered ${code:-nothing})"
    cat "$KEY_FILE"
    exit 0
  fi
fi
out=$(THROWBOX_CONSUL_ADDR="${THROWBOX_CONSUL_ADDR:-http://127.0.0.1:8500}" "$VENV/bin/throwbox" keys create --tenant dev) \
  || die "throwbox keys create failed"
key=$(printf '%s\n' "$out" | awk 'NF {last = $0} END {print last}')   # the key is alone on the last line
[ -n "$key" ] || die "throwbox keys create printed no key"
(umask 077 && printf '%s\n' "$key" >"$KEY_FILE")
cat "$KEY_FILE"
