"""Image tags carry a digest of the image's inputs (throwbox_common.image_tags): it changes when
an input changes and only then."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from throwbox_common import image_tags, runtimes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A runtimes/ directory: one image directory and the launcher's sources."""
    image = tmp_path / "images" / "python"
    image.mkdir(parents=True)
    (image / "Dockerfile").write_text("FROM throwbox/base:trixie-1\nRUN true\n")
    (image / "helper").write_text("#!/bin/sh\n")
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    (launcher / "main.go").write_text("package main\n")
    (launcher / "go.mod").write_text("module x\n")
    (launcher / "main_test.go").write_text("package main\n")
    (launcher / "throwbox-launcher").write_bytes(b"\x7fELF binary")
    return tmp_path


def digest(tree: Path, version: str = "3.13.5") -> str:
    return image_tags.inputs_digest(tree / "images" / "python", tree / "launcher", version)


def test_the_digest_is_stable_while_nothing_changes(tree):
    assert digest(tree) == digest(tree)
    assert re.fullmatch(r"[0-9a-f]{64}", digest(tree))


@pytest.mark.parametrize("change", [
    lambda t: (t / "images/python/Dockerfile").write_text("FROM throwbox/base:trixie-2\nRUN true\n"),
    lambda t: (t / "images/python/helper").write_text("#!/bin/sh\necho\n"),
    lambda t: (t / "images/python/helper").chmod(0o755),
    lambda t: (t / "images/python/new-file").write_text(""),
    lambda t: (t / "images/python/helper").rename(t / "images/python/helper2"),
    lambda t: (t / "launcher/main.go").write_text("package main\n// changed\n"),
    lambda t: (t / "launcher/go.mod").write_text("module y\n"),
    lambda t: (t / "launcher/extra.go").write_text("package main\n"),
], ids=["dockerfile", "copied-file", "exec-bit", "file-added", "file-renamed", "launcher-source",
        "launcher-module", "launcher-file-added"])
def test_the_digest_changes_with_every_input(tree, change):
    before = digest(tree)
    change(tree)
    assert digest(tree) != before


def test_the_version_is_an_input(tree):
    assert digest(tree, "3.13.5") != digest(tree, "3.13.6")


@pytest.mark.parametrize("change", [
    lambda t: (t / "launcher/main_test.go").write_text("package main\n// another test\n"),
    lambda t: (t / "launcher/throwbox-launcher").write_bytes(b"\x7fELF rebuilt"),
    lambda t: (t / "images/other").mkdir(),
], ids=["launcher-test", "launcher-binary", "another-image"])
def test_what_the_image_is_not_built_from_leaves_the_digest_alone(tree, change):
    before = digest(tree)
    change(tree)
    assert digest(tree) == before


def test_the_tag_is_the_version_and_a_digest_prefix_docker_accepts():
    d = "ab" * 32
    assert image_tags.tag("3.13.5", d) == "3.13.5-" + "ab" * 6
    assert image_tags.tag("1.85.1+dfsg", d) == "1.85.1_dfsg-" + "ab" * 6
    assert image_tags.directory_name("registry.example:5000/throwbox/python-bookworm") == "python-bookworm"


def test_the_registry_tags_each_image_from_its_directory_and_a_change_moves_only_its_tag(tree):
    toml = (REPO / "runtimes" / "runtimes.toml").read_text()
    head = toml[:toml.index("[[runtime]]")]
    (tree / "images" / "python-bookworm").mkdir()
    (tree / "images" / "python-bookworm" / "Dockerfile").write_text("FROM throwbox/base:bookworm-1\n")
    path = tree / "runtimes.toml"
    path.write_text(head + "".join(
        f'[[runtime]]\nlanguage = "python"\nversion = "{v}"\nimage = "throwbox/{d}"\nextension = "py"\nrun = ["python3"]\n'
        for v, d in (("3.13.5", "python"), ("3.11.2", "python-bookworm"))))
    before = {r.key: r.image for r in runtimes.load(path).runtimes}
    assert before["python-3.13.5"] == f"throwbox/python:3.13.5-{digest(tree)[:12]}"
    (tree / "images/python/Dockerfile").write_text("FROM throwbox/base:trixie-1\nRUN false\n")
    after = {r.key: r.image for r in runtimes.load(path).runtimes}
    assert after["python-3.13.5"] != before["python-3.13.5"]
    assert after["python-3.11.2"] == before["python-3.11.2"]


def test_the_command_line_lists_what_build_images_builds():
    env = dict(os.environ, PYTHONPATH=str(REPO / "common"))
    out = subprocess.run([sys.executable, "-m", "throwbox_common.image_tags", str(REPO / "runtimes/runtimes.toml")],
                         capture_output=True, text=True, timeout=60, env=env, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    registry = runtimes.load(REPO / "runtimes" / "runtimes.toml")
    users = {r.image: [u for u in registry.runtimes if u.image == r.image] for r in registry.runtimes}
    assert rows == [[r.image_dir, r.image, r.image.rsplit(":", 1)[1][:-13], r.image_inputs,
                     *(sorted(f"{u.language}={u.version}" for u in users[r.image])
                       if "ARG RUNTIME_VERSIONS" in (REPO / "runtimes/images" / r.image_dir / "Dockerfile").read_text()
                       else [])]
                    for r in registry.runtimes]
    assert {row[0] for row in rows if row[2] == "trixie"} == {"scripting", "native", "beam", "jvm", "functional"}


SHARED = "FROM throwbox/base:trixie-1\nARG RUNTIME_VERSIONS\nCOPY throwbox-check-versions /x\n"


@pytest.fixture
def shared_tree(tree: Path) -> Path:
    """runtimes/images/jvm: an image that checks the versions it serves."""
    (tree / "images" / "jvm").mkdir()
    (tree / "images" / "jvm" / "Dockerfile").write_text(SHARED)
    (tree / "images" / image_tags.CHECKER).write_text("#!/bin/sh\n")
    return tree


def jvm(tree: Path, *served: tuple[str, str]) -> list[image_tags.ImageRef]:
    return image_tags.references([("throwbox/jvm", language, version) for language, version in served], tree)


def test_a_shared_image_has_one_tag_for_every_runtime_it_serves_named_by_its_suite(shared_tree):
    refs = jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"), ("clojure", "1.12.0"))
    assert len({r.image for r in refs}) == 1
    assert re.fullmatch(r"throwbox/jvm:trixie-[0-9a-f]{12}", refs[0].image)
    assert refs[0].versions == "clojure=1.12.0 kotlin=2.1.0 scala=3.3.4"     # sorted: file order is no input
    assert jvm(shared_tree, ("scala", "3.3.4"), ("clojure", "1.12.0"), ("kotlin", "2.1.0"))[0] == refs[0]


@pytest.mark.parametrize("change", [
    lambda t: (t / "images/jvm/Dockerfile").write_text(SHARED + "RUN true\n"),
    lambda t: (t / "images/jvm/maven.txt").write_text("kotlin org.jetbrains.kotlin:kotlin-compiler:2.1.0\n"),
    lambda t: (t / "images" / image_tags.CHECKER).write_text("#!/bin/sh\nexit 0\n"),
    lambda t: (t / "launcher/main.go").write_text("package main\n// changed\n"),
], ids=["dockerfile", "image-file", "version-checker", "launcher-source"])
def test_a_shared_images_tag_follows_its_directory_the_checker_and_the_launcher(shared_tree, change):
    before = jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"))[0].image
    change(shared_tree)
    assert jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"))[0].image != before


def test_a_shared_images_tag_follows_every_version_and_language_it_serves(shared_tree):
    base = jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"))[0].image
    assert jvm(shared_tree, ("kotlin", "2.1.1"), ("scala", "3.3.4"))[0].image != base
    assert jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"), ("clojure", "1.12.0"))[0].image != base


def test_the_version_checker_is_no_input_of_an_image_that_does_not_use_it(shared_tree):
    before = digest(shared_tree)
    (shared_tree / "images" / image_tags.CHECKER).write_text("#!/bin/sh\nexit 1\n")
    assert digest(shared_tree) == before
    ref = image_tags.reference("throwbox/python", "python", "3.13.5", shared_tree)
    assert ref.image == f"throwbox/python:3.13.5-{before[:12]}" and ref.versions == ""


def test_an_image_of_one_runtime_that_checks_its_version_keeps_the_version_as_its_label(shared_tree):
    ref = jvm(shared_tree, ("clojure", "1.12.0"))[0]
    assert re.fullmatch(r"throwbox/jvm:1\.12\.0-[0-9a-f]{12}", ref.image) and ref.versions == "clojure=1.12.0"


def test_the_registry_gives_every_runtime_of_a_shared_image_the_same_tag(shared_tree):
    toml = (REPO / "runtimes" / "runtimes.toml").read_text()
    head = toml[:toml.index("[[runtime]]")]
    path = shared_tree / "runtimes.toml"
    path.write_text(head + "".join(
        f'[[runtime]]\nlanguage = "{lang}"\nversion = "{v}"\nimage = "throwbox/jvm"\nextension = "{lang}"\nrun = ["x"]\n'
        for lang, v in (("kotlin", "2.1.0"), ("scala", "3.3.4"))))
    images = {r.image for r in runtimes.load(path).runtimes}
    assert images == {jvm(shared_tree, ("kotlin", "2.1.0"), ("scala", "3.3.4"))[0].image}
