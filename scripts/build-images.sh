#!/usr/bin/env bash
# Build the sandbox images: the static launcher, a debootstrap base image per Debian suite, and
# one image per image of runtimes/runtimes.toml (its `image` repository names the directory
# runtimes/images/<name>/; a shared image serves several runtimes and is built once). The tag
# carries a digest of the image's inputs (its directory, the launcher's sources, the version or
# the versions it serves; throwbox_common.image_tags), also stored in the label
# org.throwbox.inputs: only images whose tag is missing are built, so a change rebuilds just the
# images it touches. Images build in parallel; those of a suite share its base layers.
#   scripts/build-images.sh            every runtime
#   scripts/build-images.sh python go  a subset (by directory name)
#   scripts/build-images.sh --force    rebuild from scratch (no layer cache), e.g. to pick up
#                                      a Debian point release
#   scripts/build-images.sh --rootfs   only the Debian suites' debootstrap tarballs (no Docker)
#   THROWBOX_BUILD_JOBS=N              parallel builds (default 3)
source "$(dirname "$0")/common.sh"

BASE_REVISION=1   # bump to rebuild every base (and so every image) from a fresh debootstrap
IMAGES_DIR="$REPO_DIR/runtimes/images"
LAUNCHER="$REPO_DIR/runtimes/launcher/throwbox-launcher"
CHECK_VERSIONS="$IMAGES_DIR/throwbox-check-versions"   # copied into the contexts that use it
LABEL=org.throwbox.inputs
JOBS=${THROWBOX_BUILD_JOBS:-3}
export DOCKER_BUILDKIT=0   # classic builder: a local FROM needs no registry

build_launcher() {
  (cd "$REPO_DIR/runtimes/launcher" &&
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$LAUNCHER" .)
}

# base_image SUITE / base_of NAME: the base images are throwbox/base:<suite>-<revision>; an
# image's Dockerfile names its base (and so its Debian suite) in its FROM line.
base_image() { echo "throwbox/base:$1-$BASE_REVISION"; }
base_of() {
  local from
  from=$(sed -n 's|^FROM throwbox/base:\([a-z]*\)-[0-9]*$|\1|p' "$IMAGES_DIR/$1/Dockerfile" | head -n 1)
  [ -n "$from" ] || die "$IMAGES_DIR/$1/Dockerfile: FROM must be throwbox/base:<suite>-$BASE_REVISION"
  base_image "$from"
}

# make_rootfs SUITE: a minbase debootstrap of the Debian SUITE without docs, as a tarball in the
# cache (no Docker needed: `make up` makes them while its Go builds run, `--rootfs`).
make_rootfs() {
  local suite=$1 tarball dir lock
  tarball="$CACHE_DIR/rootfs-$suite-minbase-$BASE_REVISION.tar"
  exec {lock}>"$tarball.lock"   # one debootstrap per suite, whoever else (a worktree) wants it
  flock "$lock"
  [ -f "$tarball" ] && return 0
  dir=$(mktemp -d /var/tmp/throwbox-rootfs.XXXXXX)
  log "debootstrap $suite (about a minute)"
  debootstrap --variant=minbase "$suite" "$dir" http://deb.debian.org/debian >"$LOG_DIR/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$LOG_DIR/debootstrap-$suite.log"; rm -rf "$dir"; die "debootstrap $suite failed"; }
  # No docs/man pages/locales in later installs; no recommends.
  printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' \
    'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
    'path-include=/usr/share/locale/locale.alias' >"$dir/etc/dpkg/dpkg.cfg.d/throwbox-nodoc"
  printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
    >"$dir/etc/apt/apt.conf.d/90throwbox"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/*
  tar --numeric-owner -C "$dir" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
}

# build_base SUITE: the base image of SUITE, imported once from its rootfs tarball (so a
# removed image is re-imported in a second).
build_base() {
  local suite=$1 image
  image=$(base_image "$suite")
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  make_rootfs "$suite"
  log "importing $image"
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$CACHE_DIR/rootfs-$suite-minbase-$BASE_REVISION.tar" "$image" >/dev/null
}

# suites_of NAME...: the Debian suites the images NAME stand on, once each.
suites_of() {
  local name
  for name in "$@"; do base_of "$name"; done | sort -u | sed 's|.*:||; s|-[0-9]*$||'
}

# runtime_images: "dir image version digest [language=version ...]" per image of runtimes.toml
# (one row per image: the runtimes sharing one get the same row), tags and digests from
# throwbox_common.image_tags: the one implementation the agents and the control plane use too.
runtime_images() {
  local py=python3
  [ -x "$VENV/bin/python" ] && py="$VENV/bin/python"
  PYTHONPATH="$REPO_DIR/common${PYTHONPATH:+:$PYTHONPATH}" "$py" -m throwbox_common.image_tags \
    "$REPO_DIR/runtimes/runtimes.toml" | sort -u -k2,2
}

# maven_jars NAME CTX: the jars that runtimes/images/NAME/maven.txt lists ("<dir> <group>:<artifact>:<version>"
# per line), each with its dependencies, fetched once by mvn into the cache and copied to CTX/<dir>/
# (the build containers need no route to Maven Central; nothing is fetched at run time).
maven_jars() {
  local name=$1 ctx=$2 dir coord cache pom
  [ -f "$IMAGES_DIR/$name/maven.txt" ] || return 0
  while read -r dir coord; do
    [ -n "$dir" ] && [ "${dir:0:1}" != "#" ] || continue
    cache="$CACHE_DIR/maven/$(echo "$coord" | tr ':' '_')"
    if [ ! -f "$cache/.complete" ]; then
      command -v mvn >/dev/null || apt-get install -y -q maven >/dev/null || die "mvn is missing (apt-get install maven)"
      IFS=: read -r group artifact version <<<"$coord"
      pom=$(mktemp -d /var/tmp/throwbox-mvn.XXXXXX)
      cat >"$pom/pom.xml" <<XML
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>throwbox</groupId><artifactId>jars</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency></dependencies></project>
XML
      rm -rf "$cache"
      (cd "$pom" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$cache") >"$LOG_DIR/maven-$artifact.log" 2>&1 ||
        { tail -20 "$LOG_DIR/maven-$artifact.log"; rm -rf "$pom"; die "fetching $coord from Maven Central failed"; }
      rm -rf "$pom"
      touch "$cache/.complete"
    fi
    mkdir -p "$ctx/$dir"
    cp "$cache"/*.jar "$ctx/$dir/"
  done <"$IMAGES_DIR/$name/maven.txt"
}

# build_one NAME IMAGE VERSION HASH VERSIONS: classic build in a temporary context (the image's
# directory, the launcher binary, the version checker if its Dockerfile uses it, Maven jars if
# any); build arguments RUNTIME_VERSION (a shared image's: its suite) and RUNTIME_VERSIONS
# ("language=version ..." of the runtimes it serves, if its Dockerfile takes them).
build_one() {
  local name=$1 image=$2 version=$3 hash=$4 versions=$5 ctx start rc=0
  local -a args=(--build-arg "RUNTIME_VERSION=$version")
  [ -z "$versions" ] || args+=(--build-arg "RUNTIME_VERSIONS=$versions")
  ctx=$(mktemp -d /var/tmp/throwbox-ctx.XXXXXX)
  cp -r "$IMAGES_DIR/$name/." "$ctx/"
  cp "$LAUNCHER" "$ctx/throwbox-launcher"
  ! grep -q throwbox-check-versions "$IMAGES_DIR/$name/Dockerfile" || cp "$CHECK_VERSIONS" "$ctx/"
  maven_jars "$name" "$ctx" || { rm -rf "$ctx"; touch "$FAILED_DIR/$name"; return 1; }
  start=$SECONDS
  docker build $NO_CACHE --label "$LABEL=$hash" "${args[@]}" -t "$image" "$ctx" \
    >"$LOG_DIR/build-$name.log" 2>&1 || rc=$?
  rm -rf "$ctx"
  if [ $rc -ne 0 ]; then
    log "FAILED $image (log: $LOG_DIR/build-$name.log)"
    touch "$FAILED_DIR/$name"
    tail -15 "$LOG_DIR/build-$name.log" >&2
    return $rc
  fi
  log "built $image in $((SECONDS - start))s"
}

main() {
  if [ "${1:-}" = "--rootfs" ]; then   # only the suites' debootstrap tarballs
    local suite pid rows
    local -a pids=()
    rows=$(runtime_images) || die "runtimes/runtimes.toml: cannot list the images (see above)"
    for suite in $(suites_of $(cut -d' ' -f1 <<<"$rows")); do make_rootfs "$suite" & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || die "a debootstrap failed (see above)"; done
    return 0
  fi
  NO_CACHE=""
  if [ "${1:-}" = "--force" ]; then NO_CACHE="--no-cache"; shift; fi
  local wanted=("$@") name image version hash versions have selected=0
  FAILED_DIR=$(mktemp -d /var/tmp/throwbox-failed.XXXXXX)
  trap 'rm -rf "$FAILED_DIR"' EXIT
  build_launcher
  local -a selected_rows=()
  local rows
  rows=$(runtime_images) || die "runtimes/runtimes.toml: cannot list the images (see above)"
  while read -r name image version hash versions; do
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then continue; fi
    selected_rows+=("$name $image $version $hash $versions")
  done <<<"$rows"
  # Every base the selected images stand on, before any image build starts; the debootstraps
  # (mostly downloads) of several suites at once.
  local suite pid
  local -a base_pids=()
  for suite in $(suites_of "${selected_rows[@]%% *}"); do
    build_base "$suite" &
    base_pids+=($!)
  done
  for pid in "${base_pids[@]}"; do wait "$pid" || die "a base image failed to build (see above)"; done
  for row in "${selected_rows[@]}"; do
    read -r name image version hash versions <<<"$row"
    selected=$((selected + 1))
    have=$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null || true)
    [ "$have" = "$hash" ] && [ -z "$NO_CACHE" ] && continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    log "building $image"
    build_one "$name" "$image" "$version" "$hash" "$versions" &
  done
  [ ${#wanted[@]} -eq 0 ] || [ "$selected" -eq ${#wanted[@]} ] || die "unknown image name in: ${wanted[*]}"
  wait
  [ -z "$(ls -A "$FAILED_DIR")" ] || die "failed to build: $(ls "$FAILED_DIR" | tr '\n' ' ')"
}

main "$@"
