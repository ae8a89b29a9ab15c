"""Sandbox image tags that name their inputs: `<repository>:<version>-<12 hex digits>`.

The digest covers everything an image is built from that lives in the repository: its
directory runtimes/images/<name>/ (Dockerfile and the files it copies, with their exec bits;
the Dockerfile's FROM line names the Debian suite and base revision), the launcher's Go
sources (runtimes/launcher, tests excluded) and the runtime version passed as RUNTIME_VERSION.
So the tag follows from a checkout alone: scripts/build-images.sh builds exactly the tags that
the agents and the control plane compute (throwbox_common.runtimes.load), an unchanged image
keeps its tag (nothing is rebuilt), a changed one gets a new tag, and runtimes.toml names only
the repository (`image = "throwbox/python"`). The base image's bytes (a debootstrap of the day)
are not an input: `scripts/build-images.sh --force` rebuilds for a Debian point release.

`python -m throwbox_common.image_tags [RUNTIMES_TOML]` prints one line per runtime with an
image directory: `<dir> <image> <version> <digest>` (what build-images.sh builds).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from pathlib import Path

DIGEST_CHARS = 12
SCHEME = b"throwbox-image-inputs-1\0"     # changes every digest if what is hashed changes
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def directory_name(repository: str) -> str:
    """runtimes/images/<name> of an image: the repository's last path segment
    (`throwbox/python-bookworm` -> `python-bookworm`)."""
    return repository.rsplit("/", 1)[-1]


def launcher_sources(launcher_dir: Path) -> list[Path]:
    """What the launcher binary is built from: its Go files (not tests) and module files."""
    return sorted(p for p in launcher_dir.iterdir()
                  if p.is_file() and ((p.suffix == ".go" and not p.name.endswith("_test.go"))
                                      or p.name in ("go.mod", "go.sum")))


def _add_file(h, label: str, path: Path) -> None:
    data = path.read_bytes()
    mode = "x" if path.stat().st_mode & 0o111 else "-"
    h.update(f"{label}\0{mode}\0{len(data)}\0".encode())
    h.update(data)


def inputs_digest(image_dir: Path, launcher_dir: Path, version: str) -> str:
    """sha256 (hex) over the image directory's files, the launcher sources and the version."""
    h = hashlib.sha256(SCHEME)
    h.update(f"version\0{version}\0".encode())
    for path in sorted(p for p in image_dir.rglob("*") if p.is_file()):
        _add_file(h, "image/" + path.relative_to(image_dir).as_posix(), path)
    for path in launcher_sources(launcher_dir):
        _add_file(h, "launcher/" + path.name, path)
    return h.hexdigest()


def tag(version: str, digest: str) -> str:
    """`<version>-<digest prefix>`, characters a Docker tag may not hold replaced by `_`."""
    return f"{_TAG_UNSAFE.sub('_', version)}-{digest[:DIGEST_CHARS]}"[-128:]


def reference(image: str, version: str, runtimes_dir: Path) -> tuple[str, str, str]:
    """(image reference, directory name, inputs digest) of a runtimes.toml `image`: a repository
    gets the tag computed from runtimes_dir/images/<name>/; a tagged image stays as it is
    (directory and digest "" when that directory does not exist). ValueError: a repository
    without its directory; OSError: an input that cannot be read."""
    repository, sep, tag_part = image.rpartition(":")
    if not sep or "/" in tag_part:      # no tag (a colon before a '/' is a registry's port)
        repository = image
    name = directory_name(repository)
    image_dir = runtimes_dir / "images" / name
    if not (image_dir / "Dockerfile").is_file():
        if repository == image:
            raise ValueError(f"image {image!r} has no tag and {image_dir}/Dockerfile does not exist to compute one from")
        return image, "", ""
    digest = inputs_digest(image_dir, runtimes_dir / "launcher", version)
    return (f"{repository}:{tag(version, digest)}" if repository == image else image), name, digest


def main(argv: list[str]) -> int:
    """Reads the TOML itself (no dependencies beyond the standard library: build-images.sh may
    run before the venv exists); throwbox_common.runtimes.load gives the same images."""
    path = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "runtimes" / "runtimes.toml"
    for entry in tomllib.loads(path.read_text()).get("runtime", []):
        image, name, digest = reference(entry["image"], entry["version"], path.parent)
        if name:
            print(name, image, entry["version"], digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
