#!/usr/bin/env bash
# Debian's prometheus package (prometheus + promtool, 2.42), installed when missing (~25 MB of
# packages, seconds). Its service is not started (policy-rc.d in this container; the cluster's
# Prometheus is run by scripts/cluster/ops.sh on its own port and data dir).
source "$(dirname "$0")/common.sh"
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then exit 0; fi
log "installing Debian's prometheus package"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
