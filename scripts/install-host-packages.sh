#!/usr/bin/env bash
# Install the Debian packages the stack needs, only those missing (idempotent).
source "$(dirname "$0")/common.sh"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runsc >/dev/null || need+=(runsc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v wrk >/dev/null || need+=(wrk)
command -v java >/dev/null || need+=(default-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v go >/dev/null || need+=(golang-go)
command -v node >/dev/null || need+=(nodejs)      # the playground's build, the compat tests' piston-client
command -v npm >/dev/null || need+=(npm)
command -v haproxy >/dev/null || need+=(haproxy)     # the load balancer of a Throwbox deployment (terraform/modules/throwbox)
command -v chromium >/dev/null || need+=(chromium)  # driven by playwright-core (no browser download)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v promtool >/dev/null || need+=(prometheus)  # promtool for the ops tests; the cluster's Prometheus
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
