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
    assert rows == [[r.image_dir, r.image, r.version, r.image_inputs] for r in registry.runtimes]
