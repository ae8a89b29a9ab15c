#!/usr/bin/env bash
# `make status`: one line per component, healthy or down. Exit 1 when any is down.
source "$(dirname "$0")/common.sh"
set +e
NOMAD_ADDR="${THROWBOX_NOMAD_ADDR:-http://127.0.0.1:4646}"
CONSUL_ADDR="${THROWBOX_CONSUL_ADDR:-http://127.0.0.1:8500}"
source "$REPO_DIR/scripts/kafka/env.sh"    # KAFKA_CREDENTIALS_DIR: the check connects as the Kafka admin
KAFKA_BOOTSTRAP="${THROWBOX_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
API_URL="${THROWBOX_API_URL:-http://127.0.0.1:8080}"
AGENT_URL="${THROWBOX_AGENT_HEALTH_URL:-http://127.0.0.1:9464/healthz}"
down=0
report() {  # report NAME DETAIL CMD...
  local name=$1 detail=$2; shift 2
  if "$@" >/dev/null 2>&1; then
    printf '%-15s healthy  %s\n' "$name" "$detail"
  else
    printf '%-15s down     %s\n' "$name" "$detail"
    down=1
  fi
}
# sandbox_runtime: "runsc-go: gVisor <version>, platform <platform>" from dockerd's registration
# of THROWBOX_SANDBOX_RUNTIME (empty when dockerd does not know it).
sandbox_runtime() {
  docker info --format '{{json .Runtimes}}' 2>/dev/null | python3 -c '
import json, re, subprocess, sys
name = sys.argv[1]
reg = (json.load(sys.stdin) or {}).get(name)
if not reg:
    sys.exit(1)
if name == "runc":
    print("runc (no gVisor)")
    sys.exit(0)
args = reg.get("runtimeArgs") or []
platform = next((a.split("=", 1)[1] for a in args if a.startswith("--platform=")), "ptrace (default)")
out = subprocess.run([reg["path"], "--version"], capture_output=True, text=True).stdout
m = re.search(r"runsc version (\S+)", out)
version = m.group(1) if m else "of unknown version"
print(f"{name}: gVisor {version}, platform {platform}")' "$SANDBOX_RUNTIME"
}
sandbox=$(sandbox_runtime)
docker_ok() { [ -n "$sandbox" ]; }
kafka_ok() { THROWBOX_KAFKA_CREDENTIALS_FILE="$KAFKA_CREDENTIALS_DIR/admin.properties" "$VENV/bin/python" "$REPO_DIR/scripts/create_topics.py" --bootstrap "$KAFKA_BOOTSTRAP" --check --wait-s 5; }
consul_ok() { curl -fsS -m 2 "$CONSUL_ADDR/v1/status/leader" | grep -q '"[^"]\+"'; }
nomad_ok() {
  curl -fsS -m 2 "$NOMAD_ADDR/v1/nodes" | "$VENV/bin/python" -c '
import json, sys
nodes = json.load(sys.stdin)
ok = any(n["Status"] == "ready" and n["Drivers"]["docker"]["Healthy"] and n["Drivers"]["raw_exec"]["Healthy"] for n in nodes)
sys.exit(0 if ok else 1)'
}
images=$("$VENV/bin/python" -c 'import sys; from throwbox_common.runtimes import load; print(" ".join(r.image for r in load().runtimes))' 2>/dev/null)
image_ok() { [ -n "$images" ] && docker image inspect $images; }
report dockerd "${sandbox:-sandbox runtime $SANDBOX_RUNTIME not registered}, /var/run/docker.sock" docker_ok
report kafka "$KAFKA_BOOTSTRAP, topics present" kafka_ok
report consul "$CONSUL_ADDR, leader elected" consul_ok
report nomad "$NOMAD_ADDR, node ready, docker + raw_exec healthy" nomad_ok
report images "${images:-runtimes/runtimes.toml unreadable}" image_ok
report executor-agent "$AGENT_URL" curl -fsS -m 2 "$AGENT_URL"
report control-plane "$API_URL/healthz" curl -fsS -m 2 "$API_URL/healthz"
report playground "$API_URL/ (scripts/ensure-playground.sh builds it)" curl -fsS -m 2 -o /dev/null "$API_URL/"
exit $down
