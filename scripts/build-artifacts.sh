#!/usr/bin/env bash
# Build Throwbox's versioned artifacts, what a cluster installs instead of a git checkout:
#   throwbox-<version>-py3-none-any.whl   the control plane, the agent and the CLI (one wheel)
#   throwbox-bundle-<version>.tar.gz      a venv-free install for Nomad's `artifact` block: the
#                                         wheel and its dependencies unpacked into lib/, launchers
#                                         in bin/ (the node's python3, same minor version;
#                                         bin/throwbox-create-topics is scripts/create_topics.py),
#                                         runtimes/ (registry, seccomp profile, and the image
#                                         inputs the image tags are computed from: images/ and
#                                         the launcher's sources), playground/dist
#   images/<image>.tar                    `docker save` of every sandbox image of runtimes.toml
#   manifest.json                         version, inputs hash, python, sha256 of every file
# The version is 0.1.0+h<hash of the inputs> (sources, runtimes/, pyproject.toml, the pinned
# dependency set): the same inputs give the same version and the same bundle bytes.
#   scripts/build-artifacts.sh [--no-images] [OUT_DIR]   (default $THROWBOX_ARTIFACTS_DIR or .state/artifacts)
# scripts/serve-artifacts.sh serves OUT_DIR over HTTP.
source "$(dirname "$0")/common.sh"
IMAGES=1
if [ "${1:-}" = "--no-images" ]; then IMAGES=0; shift; fi
OUT="${1:-${THROWBOX_ARTIFACTS_DIR:-$STATE_DIR/artifacts}}"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
[ -x "$PY" ] || "$REPO_DIR/scripts/ensure-venv.sh"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The dependency set: the venv's pinned versions of what pyproject.toml requires.
"$PY" - "$work/pins.txt" <<'PY'
import sys, tomllib
from importlib import metadata
from packaging.requirements import Requirement
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
seen, todo, pins = set(), [Requirement(d).name for d in deps], []
while todo:
    name = todo.pop()
    key = name.lower().replace("_", "-")
    if key in seen:
        continue
    seen.add(key)
    dist = metadata.distribution(name)
    pins.append(f"{dist.metadata['Name']}=={dist.version}")
    for req in dist.requires or []:
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            todo.append(r.name)
open(sys.argv[1], "w").write("\n".join(sorted(pins, key=str.lower)) + "\n")
PY
inputs() {
  (cd "$REPO_DIR" && find common control-plane executor-agent runtimes/runtimes.toml runtimes/seccomp runtimes/images \
    runtimes/launcher pyproject.toml scripts/create_topics.py scripts/build-artifacts.sh \
    -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' ! -name throwbox-launcher |
    LC_ALL=C sort | xargs sha256sum)
  cat "$work/pins.txt"
  "$PY" -c 'import sys; print(sys.version_info[:2])'
}
HASH=$(inputs | sha256sum | cut -c1-12)
pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VERSION="0.1.0+h$HASH"
BUNDLE="throwbox-bundle-$VERSION.tar.gz"
WHEEL="throwbox-$VERSION-py3-none-any.whl"
# Zip and tar timestamps from the inputs, not the clock.
export SOURCE_DATE_EPOCH=1700000000
if [ -f "$OUT/$BUNDLE" ] && [ -f "$OUT/$WHEEL" ]; then
  log "wheel and bundle $VERSION already built in $OUT"
else
log "building artifacts $VERSION into $OUT"

# The wheel, from a copy whose pyproject carries the version.
src="$work/src"
mkdir -p "$src"
(cd "$REPO_DIR" && cp -r pyproject.toml common control-plane executor-agent "$src/")
find "$src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
sed -i "s/^version = \"0.1.0\"$/version = \"$VERSION\"/" "$src/pyproject.toml"
grep -q "^version = \"$VERSION\"" "$src/pyproject.toml" || die "pyproject.toml has no version = \"0.1.0\" line"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheel" "$src" >&2
cp "$work/wheel/$WHEEL" "$OUT/$WHEEL"

# The bundle: wheel + pinned dependencies installed into lib/ (no venv, no .pyc, no paths of
# this machine), plus launchers and the data files the code finds next to its packages.
root="$work/throwbox"
mkdir -p "$root/bin" "$root/runtimes"
# The pinned dependencies' wheels are downloaded once into the cache; installs from there
# ask no package index.
wheelhouse="$CACHE_DIR/wheelhouse"
stamp="$wheelhouse/.pins-$(sha256sum <"$work/pins.txt" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "downloading the pinned dependencies' wheels into $wheelhouse"
  mkdir -p "$wheelhouse"
  "$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$wheelhouse" -r "$work/pins.txt" >&2
  touch "$stamp"
fi
"$PY" -m pip install -q --no-compile --no-warn-script-location --disable-pip-version-check --no-index \
  --find-links "$wheelhouse" --target "$root/lib" -c "$work/pins.txt" "$OUT/$WHEEL" >&2
find "$root/lib" \( -name direct_url.json -o -name REQUESTED -o -name INSTALLER \) -delete
find "$root/lib" -name RECORD -delete          # lists hashes of files that no longer match after the edits
rm -rf "$root/lib/bin"
cp -r "$REPO_DIR/runtimes/runtimes.toml" "$REPO_DIR/runtimes/seccomp" "$REPO_DIR/runtimes/images" "$root/runtimes/"
# The image tags are computed from these (throwbox_common.image_tags): the launcher's sources.
mkdir -p "$root/runtimes/launcher"
PYTHONPATH="$REPO_DIR/common" "$PY" -c 'import sys; from pathlib import Path; from throwbox_common.image_tags import launcher_sources
print("\n".join(str(p) for p in launcher_sources(Path(sys.argv[1]))))' "$REPO_DIR/runtimes/launcher" |
  xargs -d '\n' cp -t "$root/runtimes/launcher/"
if [ -d "$REPO_DIR/playground/dist" ]; then mkdir -p "$root/playground" && cp -r "$REPO_DIR/playground/dist" "$root/playground/"; fi
mkdir -p "$root/libexec"
cp "$REPO_DIR/scripts/create_topics.py" "$root/libexec/"
for entry in throwbox:throwbox_control.cli throwbox-control-plane:throwbox_control.main throwbox-agent:throwbox_agent.main \
    throwbox-create-topics:create_topics; do
  name=${entry%%:*} module=${entry#*:}
  cat >"$root/bin/$name" <<SH
#!/bin/sh
# $name from the Throwbox bundle $VERSION: lib/ holds the packages (built for Python $pyver).
here=\$(cd "\$(dirname "\$0")/.." && pwd)
py=\${THROWBOX_PYTHON:-python3}
"\$py" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "'$pyver'")' ||
  { echo "$name: the bundle needs Python $pyver (set THROWBOX_PYTHON)" >&2; exit 1; }
export PYTHONPATH="\$here/lib:\$here/libexec" PYTHONDONTWRITEBYTECODE=1
exec "\$py" -c 'import sys; from $module import main; sys.exit(main())' "\$@"
SH
  chmod 755 "$root/bin/$name"
done
echo "$VERSION" >"$root/VERSION"
(cd "$work" && find throwbox -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + &&
  tar --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w' \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf - throwbox | gzip -n -9 >"$OUT/$BUNDLE.tmp")
mv "$OUT/$BUNDLE.tmp" "$OUT/$BUNDLE"
fi

# The sandbox images, as `docker save` tarballs an operator loads (`docker load -i`) or
# pushes to their registry.
if [ "$IMAGES" = 1 ]; then
  mkdir -p "$OUT/images"
  for image in $(PYTHONPATH="$REPO_DIR/common" "$PY" -c 'from throwbox_common.runtimes import load
print(" ".join(sorted({r.image for r in load("runtimes/runtimes.toml").runtimes})))'); do
    file="$OUT/images/$(echo "$image" | tr '/:' '__').tar"
    id=$(docker image inspect -f '{{.Id}}' "$image") || die "image $image is missing: scripts/build-images.sh"
    if [ "$(cat "$file.id" 2>/dev/null)" != "$id" ]; then
      log "docker save $image"
      docker save -o "$file.tmp" "$image" && mv "$file.tmp" "$file" && echo "$id" >"$file.id"
    fi
  done
fi

"$PY" - "$OUT" "$VERSION" "$HASH" "$pyver" "$WHEEL" "$BUNDLE" <<'PY'
import hashlib, json, sys
from pathlib import Path
out, version, inputs, pyver, wheel, bundle = sys.argv[1:]
out = Path(out)
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
files = {name: {"sha256": sha(out / name), "bytes": (out / name).stat().st_size} for name in (wheel, bundle)}
images = {}
for tar in sorted((out / "images").glob("*.tar")):
    images[tar.name] = {"sha256": sha(tar), "bytes": tar.stat().st_size,
                        "image_id": (tar.parent / (tar.name + ".id")).read_text().strip()}
manifest = {"version": version, "inputs_sha256": inputs, "python": pyver, "wheel": wheel, "bundle": bundle,
            "files": files, "images": images}
(out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
PY
log "artifacts $VERSION: $OUT/manifest.json"
echo "VERSION=$VERSION"
echo "BUNDLE=$OUT/$BUNDLE"
