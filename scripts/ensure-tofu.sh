#!/usr/bin/env bash
# Build OpenTofu, the OpenStack provider and the Throwbox provider (terraform/provider) once from the Go module proxy into the cache, lay
# the provider out as a filesystem mirror and write a CLI config naming only that mirror, so
# `tofu init` works offline (no provider registry is reachable from our machines).
# Prints, on stdout, the two settings a caller needs:
#   TOFU=<path of the tofu binary>
#   TF_CLI_CONFIG_FILE=<path of the CLI config>
# Idempotent: each build is skipped when its output already carries the pinned version (tofu
# reports its own version; the provider's mirror path names it). Not part of `make up`: the
# single-node stack does not need it; tests/integration/test_terraform.py calls it.
# The `terraform` binary some machines have on PATH is BSL-licensed: never used here.
source "$(dirname "$0")/common.sh"
TOFU_VERSION=v1.12.6
OPENSTACK_VERSION=v3.4.0
OPENSTACK_SOURCE=registry.opentofu.org/terraform-provider-openstack/openstack
TOFU_DIR="$CACHE_DIR/tofu"
MIRROR_DIR="$TOFU_DIR/mirror"
TOFU="$BIN_DIR/tofu"
PROVIDER="$MIRROR_DIR/$OPENSTACK_SOURCE/${OPENSTACK_VERSION#v}/linux_amd64/terraform-provider-openstack_$OPENSTACK_VERSION"
# The project's own provider: one mirror (and CLI config) per hash of its sources, so checkouts
# with different provider sources (a branch beside main) never replace each other's binary
# under a running tofu. A rebuilt provider needs `tofu init -upgrade` in an initialized directory.
TB_SOURCE=registry.local/throwbox/throwbox
TB_PROVIDER_VERSION=0.1.0
provider_src="$REPO_DIR/terraform/provider"
provider_inputs=$(cd "$provider_src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort |
  xargs sha256sum | sha256sum | cut -c1-16)
TB_MIRROR_DIR="$TOFU_DIR/throwbox-mirror/$provider_inputs"
TB_PROVIDER_DIR="$TB_MIRROR_DIR/$TB_SOURCE/$TB_PROVIDER_VERSION/linux_amd64"
TB_PROVIDER="$TB_PROVIDER_DIR/terraform-provider-throwbox_v$TB_PROVIDER_VERSION"
CLI_CONFIG="$TOFU_DIR/cli-$provider_inputs.tfrc"
# The machine's Go only: never let `go` fetch another toolchain from the proxy.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
mkdir -p "$TOFU_DIR"
# Two callers at once (two test sessions) must not build twice into the same files.
exec 9>"$TOFU_DIR/.lock"
flock 9

dir_of() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

# build MODULE@VERSION PACKAGE OUTPUT LDFLAGS: `go install` refuses modules with replace
# directives (OpenTofu has one), so build in a writable copy of the module. A Go older than
# the module's go.mod asks for fails here with Go's own message (GOTOOLCHAIN=local).
build() {
  local module=$1 package=$2 output=$3 ldflags=$4 src
  src="$work/${module//[\/@]/_}"
  cp -r "$(dir_of "$module")" "$src" && chmod -R u+w "$src"
  mkdir -p "$(dirname "$output")"
  (cd "$src" && nice -n 19 go build -mod=mod -trimpath -ldflags="$ldflags" -o "$output.tmp" "$package")
  mv "$output.tmp" "$output"
}

tofu_version() { TF_CLI_CONFIG_FILE=/dev/null "$TOFU" version -json 2>/dev/null | python3 -c 'import json,sys; print("v" + json.load(sys.stdin)["terraform_version"])'; }

if [ ! -x "$TOFU" ] || [ "$(tofu_version || true)" != "$TOFU_VERSION" ]; then
  log "building OpenTofu $TOFU_VERSION from the Go module proxy (once: ~440 CPU-seconds cold, 1-2 min with a warm Go cache)"
  # version.dev=no: a release build (reports 1.12.6, not 1.12.6-dev).
  build "github.com/opentofu/opentofu@$TOFU_VERSION" ./cmd/tofu "$TOFU" \
    "-s -w -X github.com/opentofu/opentofu/version.dev=no"
  [ "$(tofu_version)" = "$TOFU_VERSION" ] || die "built tofu reports $(tofu_version), not $TOFU_VERSION"
  log "tofu built: OpenTofu $(tofu_version)"
fi

if [ ! -x "$PROVIDER" ]; then
  log "building terraform-provider-openstack $OPENSTACK_VERSION (once: ~1-2 min cold, seconds with a warm Go cache)"
  build "github.com/terraform-provider-openstack/terraform-provider-openstack/v3@$OPENSTACK_VERSION" . \
    "$PROVIDER" "-s -w"
  log "openstack provider built: $PROVIDER"
fi

if [ ! -x "$TB_PROVIDER" ]; then
  log "building the Throwbox provider (terraform/provider; ~1 min cold, seconds with a warm Go cache)"
  mkdir -p "$TB_PROVIDER_DIR"
  (cd "$provider_src" && nice -n 19 go build -p 2 -trimpath \
    -ldflags="-s -w -X main.version=$TB_PROVIDER_VERSION" -o "$TB_PROVIDER.tmp" .)
  mv "$TB_PROVIDER.tmp" "$TB_PROVIDER"
  log "throwbox provider built: $TB_PROVIDER"
fi
# Builds of sources no checkout used for a week go (each is ~30 MB).
touch "$TB_MIRROR_DIR"
find "$TOFU_DIR/throwbox-mirror" -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} + 2>/dev/null || true
find "$TOFU_DIR" -maxdepth 1 -name 'cli-*.tfrc' -mtime +7 -delete 2>/dev/null || true

# Only the mirror, no `direct`: a provider the mirror lacks fails `tofu init` at once instead
# of waiting on an unreachable registry.
want=$(cat <<HCL
# Written by scripts/ensure-tofu.sh: edit the script, not this file.
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR_DIR"
    include = ["$OPENSTACK_SOURCE"]
  }
  filesystem_mirror {
    path    = "$TB_MIRROR_DIR"
    include = ["$TB_SOURCE"]
  }
}
HCL
)
[ "$(cat "$CLI_CONFIG" 2>/dev/null)" = "$want" ] || printf '%s\n' "$want" >"$CLI_CONFIG"
touch "$CLI_CONFIG"

echo "TOFU=$TOFU"
echo "TF_CLI_CONFIG_FILE=$CLI_CONFIG"
