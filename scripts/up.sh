#!/usr/bin/env bash
# `make up`: install what is missing, start the single-node stack, deploy Throwbox, print a
# dev key. Idempotent: running services are kept, caches (~/.cache/throwbox) reused.
source "$(dirname "$0")/common.sh"
started=$SECONDS
S="$REPO_DIR/scripts"

"$S/install-host-packages.sh"
# Private test services listen on fixed ports in 54000-59999 (tests/private_nomad.py, the
# autoscaler and Terraform tests, private brokers): keep them out of the ephemeral range, where
# any outgoing connection could be holding one when such a service starts.
sysctl -qw net.ipv4.ip_local_reserved_ports=54000-59999 || log "could not reserve ports 54000-59999"

"$S/ensure-venv.sh"
"$S/ensure-compat-clients.sh"

# Binaries: the Go builds (minutes each, cold: Nomad, Consul and the sandbox runtime runsc-go),
# the Kafka jars and the images' Debian roots (debootstrap: mostly downloads) in parallel.
pids=()
"$S/build-images.sh" --rootfs & pids+=($!)
command -v nomad >/dev/null || { "$S/ensure-nomad.sh" & pids+=($!); }
command -v consul >/dev/null || { "$S/ensure-consul.sh" & pids+=($!); }
[ "$SANDBOX_RUNTIME" != runsc-go ] || { "$S/ensure-runsc-go.sh" >/dev/null & pids+=($!); }
"$S/ensure-kafka.sh" & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid" || die "installing nomad/consul/runsc-go/kafka or a debootstrap failed (see above)"; done

"$S/start-docker.sh"
"$S/start-kafka.sh"
"$S/start-consul.sh"
"$S/start-nomad.sh"
# The default Python image first; the stack starts with it while the other images build in the
# background (log: build-images.log): the agents offer each runtime once its image is present.
# Under CI=true (make test) every image is built first.
if [ "${CI:-}" = true ]; then
  "$S/build-images.sh"
else
  "$S/build-images.sh" python
  start_service build-images "$S/build-images.sh"
fi
"$S/deploy-agent.sh"
"$S/ensure-playground.sh"
"$S/start-control-plane.sh"
key=$("$S/dev-key.sh")

api="${THROWBOX_API_URL:-http://127.0.0.1:8080}"
log "stack up in $((SECONDS - started))s (logs and pids: $STATE_DIR/logs, $STATE_DIR/run)"
if pid_alive "$RUN_DIR/build-images.pid"; then
  log "the other runtime images are still building (tail -f $LOG_DIR/build-images.log); each runtime is offered once built"
fi
echo
echo "  API         $api"
echo "  playground  $api/  (open it in a browser: an editor that runs code, dev key pre-filled)"
if [ -n "$key" ]; then
  echo "  dev key     $key"
  echo
  echo "  curl -s -X POST '$api/v1/runs?wait=true' \\"
  echo "    -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\"
  echo "    -d '{\"language\": \"python\", \"files\": [{\"name\": \"main.py\", \"content\": \"print(\\\"hello\\\")\"}]}'"
else
  echo "  dev key     pending (the throwbox CLI does not exist yet)"
fi
echo
