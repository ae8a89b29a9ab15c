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

A shared image serves several runtimes (runtimes/images/jvm: Kotlin, Scala, Clojure): its tag
is `<Debian suite of its FROM line>-<digest>`, the same for every runtime naming it, and so is
built once. An image whose Dockerfile declares `ARG RUNTIME_VERSIONS` gets "language=version ..."
of every runtime naming it (sorted) as that build argument, and those pairs are an input; one
that uses runtimes/images/throwbox-check-versions (the build-time version check, copied into
its build context) has that file as an input too. Images without either hash exactly as before.

`python -m throwbox_common.image_tags [RUNTIMES_TOML]` prints one line per runtime with an
image directory: `<dir> <image> <version> <digest> [language=version ...]` (what
build-images.sh builds: RUNTIME_VERSION=<version>, RUNTIME_VERSIONS=<the pairs>).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DIGEST_CHARS = 12
SCHEME = b"throwbox-image-inputs-1\0"     # changes every digest if what is hashed changes
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_FROM_SUITE = re.compile(r"^FROM throwbox/base:([a-z]+)-[0-9]+\s*$", re.M)
CHECKER = "throwbox-check-versions"   # runtimes/images/<this>: shared by the images that use it
SHARED_LABEL = "shared"               # a shared image's tag label when its FROM names no suite


@dataclass(frozen=True)
class ImageRef:
    """What one runtime's `image` resolves to."""
    image: str          # the reference with its tag
    directory: str      # runtimes/images/<directory>/ builds it ("": a tagged image without one)
    digest: str         # sha256 hex of its inputs ("" without a directory)
    label: str          # the tag's version part: the runtime's version, or a shared image's suite
    versions: str = ""  # "language=version ..." (RUNTIME_VERSIONS) if the Dockerfile takes them


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


def inputs_digest(image_dir: Path, launcher_dir: Path, version: str, *, versions: str = "",
                  checker: Path | None = None) -> str:
    """sha256 (hex) over the image directory's files, the launcher sources and the version;
    `versions` (RUNTIME_VERSIONS) and the `checker` file when the image takes them."""
    h = hashlib.sha256(SCHEME)
    h.update(f"version\0{version}\0".encode())
    if versions:
        h.update(f"versions\0{versions}\0".encode())
    for path in sorted(p for p in image_dir.rglob("*") if p.is_file()):
        _add_file(h, "image/" + path.relative_to(image_dir).as_posix(), path)
    for path in launcher_sources(launcher_dir):
        _add_file(h, "launcher/" + path.name, path)
    if checker is not None:
        _add_file(h, "checker/" + checker.name, checker)
    return h.hexdigest()


def tag(version: str, digest: str) -> str:
    """`<version>-<digest prefix>`, characters a Docker tag may not hold replaced by `_`."""
    return f"{_TAG_UNSAFE.sub('_', version)}-{digest[:DIGEST_CHARS]}"[-128:]


def repository_of(image: str) -> str:
    """The image without its tag (a colon before a '/' is a registry's port, not a tag)."""
    repository, sep, tag_part = image.rpartition(":")
    return repository if sep and "/" not in tag_part else image


def reference(image: str, language: str, version: str, runtimes_dir: Path,
              served: Iterable[tuple[str, str]] = ()) -> ImageRef:
    """What a runtimes.toml `image` of a runtime resolves to. `served`: (language, version) of
    the other runtimes naming this image; any makes it a shared image. A repository
    gets the tag computed from runtimes_dir/images/<name>/; a tagged image stays as it is
    (directory and digest "" when that directory does not exist). ValueError: a repository
    without its directory; OSError: an input that cannot be read."""
    repository = repository_of(image)
    served = sorted({(language, version), *served})
    name = directory_name(repository)
    image_dir = runtimes_dir / "images" / name
    if not (image_dir / "Dockerfile").is_file():
        if repository == image:
            raise ValueError(f"image {image!r} has no tag and {image_dir}/Dockerfile does not exist to compute one from")
        return ImageRef(image, "", "", version)
    dockerfile = (image_dir / "Dockerfile").read_text()
    label = version
    if len(served) > 1:
        suite = _FROM_SUITE.search(dockerfile)
        label = suite.group(1) if suite else SHARED_LABEL
    versions = (" ".join(f"{lang}={v}" for lang, v in served)
                if re.search(r"^ARG RUNTIME_VERSIONS\b", dockerfile, re.M) else "")
    checker = runtimes_dir / "images" / CHECKER if CHECKER in dockerfile else None
    digest = inputs_digest(image_dir, runtimes_dir / "launcher", label, versions=versions, checker=checker)
    return ImageRef(f"{repository}:{tag(label, digest)}" if repository == image else image,
                    name, digest, label, versions)


def references(runtimes: Iterable[tuple[str, str, str]], runtimes_dir: Path) -> list[ImageRef]:
    """(image, language, version) per runtime, in order -> its ImageRef: every runtime naming
    one image gets the same reference (the image serves them all)."""
    runtimes = list(runtimes)
    served: dict[str, list[tuple[str, str]]] = {}
    for image, language, version in runtimes:
        served.setdefault(image, []).append((language, version))
    return [reference(image, language, version, runtimes_dir, served[image]) for image, language, version in runtimes]


def main(argv: list[str]) -> int:
    """Reads the TOML itself (no dependencies beyond the standard library: build-images.sh may
    run before the venv exists); throwbox_common.runtimes.load gives the same images."""
    path = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "runtimes" / "runtimes.toml"
    entries = tomllib.loads(path.read_text()).get("runtime", [])
    for ref in references(((e["image"], e["language"], e["version"]) for e in entries), path.parent):
        if ref.directory:
            print(ref.directory, ref.image, ref.label, ref.digest, *ref.versions.split())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
