#!/usr/bin/env bash
# The local cluster's Nomad and Consul configuration, rendered by terraform/modules/node-config
# (through terraform/modules/cluster-local, one node-config per node), the module a cloud
# cluster's user data comes from too, so the two cannot drift (docs/cluster.md).
#   render.sh apply               render every node (all worker slots) into the tofu state in
#                                 $CLUSTER_DIR/tofu (creates nothing; idempotent)
#   render.sh write NODE [SERVICE]  write NODE's files (consul: consul/consul.hcl, nomad:
#                                 nomad/agent.hcl; both without SERVICE) from that state, 0600
# Needs tofu (scripts/ensure-tofu.sh) and acl.py init's secrets and tls.sh's certificates.
source "$(dirname "$0")/../common.sh"
source "$REPO_DIR/scripts/cluster/lib.sh"
umask 077                               # the state and the files carry tokens and gossip keys
TF_DIR="$CLUSTER_DIR/tofu"
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# No provider is needed: an empty CLI configuration of our own (whatever the environment names).
export TF_CLI_CONFIG_FILE="$TF_DIR/cli.tfrc"
command -v tofu >/dev/null || die "no tofu: run scripts/ensure-tofu.sh"

nodes_json() { local n; for n in "$@"; do printf '%s\t%s\n' "$n" "$(node_ip "$n")"; done | jq -Rn '[inputs | split("\t") | {(.[0]): .[1]}] | add // {}'; }

apply() {
  mkdir -p "$TF_DIR"
  : >"$TF_CLI_CONFIG_FILE"
  # A relative source: used in place (an absolute one is copied as a package, and node-config
  # beside it would be outside that package).
  local src
  src=$(realpath --relative-to="$TF_DIR" "$REPO_DIR/terraform/modules/cluster-local")
  [[ $src == ../* ]] || src="./$src"
  jq -n --arg src "$src" --arg name "$CLUSTER_NAME" \
    --arg dir "$CLUSTER_DIR" --arg dc "$CLUSTER_DC" --arg secrets "$CLUSTER_SECRETS" --arg tls "$CLUSTER_TLS" \
    --arg runtime "$SANDBOX_RUNTIME" --argjson servers "$(nodes_json "${SERVERS[@]}")" \
    --argjson cps "$(nodes_json "${CONTROL_PLANES[@]}")" --argjson workers "$(nodes_json "${WORKER_SLOTS[@]}")" '{
      "//": "Written by scripts/cluster/render.sh: edit the script or the module, not this file.",
      module: {cluster: {source: $src, cluster_name: $name, cluster_dir: $dir, datacenter: $dc,
        servers: $servers, control_planes: $cps, workers: $workers,
        secrets_dir: $secrets, tls_dir: $tls, sandbox_runtime: $runtime}},
      output: {files: {value: "${module.cluster.files}", sensitive: true}}}' >"$TF_DIR/main.tf.json"
  tofu -chdir="$TF_DIR" init -input=false -no-color >"$TF_DIR/init.log" 2>&1 \
    || die "tofu init of the cluster's configuration failed: $TF_DIR/init.log"
  tofu -chdir="$TF_DIR" apply -auto-approve -input=false -no-color >"$TF_DIR/apply.log" 2>&1 \
    || die "rendering the cluster's configuration failed: $TF_DIR/apply.log"
}

write() {
  local n=$1 service=${2:-} suffix=""
  [ -s "$TF_DIR/terraform.tfstate" ] || apply
  case $service in
    consul) suffix=/consul/consul.hcl ;;
    nomad) suffix=/nomad/agent.hcl ;;
    "") ;;
    *) die "unknown service $service" ;;
  esac
  tofu -chdir="$TF_DIR" output -json files | python3 -c '
import json, os, sys
prefix, suffix = sys.argv[1] + "/", sys.argv[2]
files = {p: c for p, c in json.load(sys.stdin).items() if p.startswith(prefix) and p.endswith(suffix)}
if not files:
    sys.exit(f"no rendered configuration for {prefix}*{suffix} (render.sh apply)")
for path, content in files.items():
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.replace(tmp, path)
' "$(node_dir "$n")" "$suffix"
}

case ${1:-} in
  apply) apply ;;
  write) write "${2:?usage: render.sh write NODE [consul|nomad]}" "${3:-}" ;;
  *) die "usage: render.sh apply | write NODE [consul|nomad]" ;;
esac
