"""The image wrappers that compile every source of a request as one program (Ada, Pascal, Crystal,
OCaml: runtimes/images/<image>/throwbox-*), run with the command runtimes.toml gives them and
fake compilers on PATH that log their arguments: which compiler calls a request makes, in
which order, and that a failed call stops the build. The real compilers run in
tests/integration/test_multi_file_programs.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from throwbox_common import runtimes

REPO = Path(__file__).resolve().parents[2]
REGISTRY = runtimes.load()
SEP = "\x1f"

# Logs "<program> <args...>" (unit-separated), fails when FAKE_FAIL is one of its arguments;
# the fake ocamldep -sort prints its files in reverse order, so the tests see that order used.
FAKE = f"""#!/bin/sh
{{ printf '%s' "${{0##*/}}"; printf '{SEP}%s' "$@"; printf '\\n'; }} >>"$FAKE_LOG"
for a in "$@"; do [ "$a" = "$FAKE_FAIL" ] && exit 1; done
if [ "${{0##*/}}" = ocamldep ]; then
  files=""
  while [ $# -gt 0 ]; do
    case $1 in -sort) ;; -I) shift ;; *) files="$1 $files" ;; esac
    shift
  done
  echo "$files"
fi
exit 0
"""


def build(tmp_path: Path, language: str, names: list[str], entrypoint: str | None = None,
          fail: str = "") -> tuple[int, list[list[str]]]:
    """Run the runtime's compile command for a request of `names` in tmp_path; the exit status
    and the compiler calls it made."""
    runtime = REGISTRY.resolve(language)
    fakes = tmp_path / "fakes"
    fakes.mkdir(exist_ok=True)
    for program in ("gnatmake", "fpc", "crystal", "ocamldep", "ocamlopt"):
        (fakes / program).write_text(FAKE)
        (fakes / program).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    wrappers = REPO / "runtimes" / "images" / runtime.image_dir
    command = runtime.compile_command(entrypoint or names[0], names)
    env = {**os.environ, "PATH": f"{wrappers}:{fakes}:{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_FAIL": fail}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    return done.returncode, [line.split(SEP) for line in log.read_text().splitlines()]


def test_ada_compiles_every_body_and_every_spec_without_one_then_builds_the_entry_as_the_main(tmp_path):
    status, calls = build(tmp_path, "ada", ["main.adb", "shout.ads", "shout.adb", "lib/util.ads",
                                            "lib/util.adb", "lib/consts.ads", "notes.txt"])
    assert status == 0
    assert calls == [
        ["gnatmake", "-q", "-O2", "-c", "-I.", "-Ilib", "shout.adb", "lib/util.adb", "lib/consts.ads"],
        ["gnatmake", "-q", "-O2", "-I.", "-Ilib", "-o", ".throwbox-out", "main.adb"],
    ]


def test_ada_finds_a_body_for_its_spec_in_another_directory_and_the_entry_may_sit_in_one(tmp_path):
    status, calls = build(tmp_path, "ada", ["shout.ads", "app/main.adb", "body/shout.adb"], entrypoint="app/main.adb")
    assert status == 0
    assert calls == [
        ["gnatmake", "-q", "-O2", "-c", "-Iapp", "-I.", "-Ibody", "body/shout.adb"],     # the entry's directory first
        ["gnatmake", "-q", "-O2", "-Iapp", "-I.", "-Ibody", "-o", ".throwbox-out", "app/main.adb"],
    ]


def test_ada_leaves_a_subunit_to_its_parent_body(tmp_path):
    (tmp_path / "shout-inner.adb").write_text("with Ada.Text_IO;\n  SEPARATE (Shout)\nprocedure Inner is\nbegin\n"
                                              "   null;\nend Inner;\n")
    (tmp_path / "shout.adb").write_text("package body Shout is\n   procedure Inner is separate;\nend Shout;\n")
    status, calls = build(tmp_path, "ada", ["main.adb", "shout.ads", "shout.adb", "shout-inner.adb"])
    assert status == 0 and calls[0] == ["gnatmake", "-q", "-O2", "-c", "-I.", "shout.adb"]


def test_ada_with_the_entry_alone_only_builds_the_main_and_a_failed_unit_stops_the_build(tmp_path):
    assert build(tmp_path, "ada", ["main.adb"]) == (0, [["gnatmake", "-q", "-O2", "-I.", "-o", ".throwbox-out", "main.adb"]])
    status, calls = build(tmp_path, "ada", ["main.adb", "broken.adb"], fail="broken.adb")
    assert status == 1 and [c[:4] for c in calls] == [["gnatmake", "-q", "-O2", "-c"]]


def test_pascal_compiles_every_other_source_then_the_entry_program_with_every_directory_a_unit_path(tmp_path):
    status, calls = build(tmp_path, "pascal", ["lib/util.pp", "main.pas", "shout.pas", "include.inc"],
                          entrypoint="main.pas")
    assert status == 0
    flags = ["-O2", "-v0e", "-Fu.", "-Fulib"]     # the entry's directory first
    assert calls == [["fpc", *flags, "lib/util.pp"], ["fpc", *flags, "shout.pas"],
                     ["fpc", *flags, "-o.throwbox-out", "main.pas"]]


def test_pascal_stops_at_the_first_unit_that_does_not_compile(tmp_path):
    status, calls = build(tmp_path, "pascal", ["main.pas", "a.pas", "b.pas"], fail="a.pas")
    assert status == 1 and [c[-1] for c in calls] == ["a.pas"]


def test_crystal_builds_the_entry_first_and_requires_the_other_sources_after_it_in_request_order(tmp_path):
    status, calls = build(tmp_path, "crystal", ["lib/shape.cr", "main.cr", "extra/more.cr", "data.txt"],
                          entrypoint="main.cr")
    assert status == 0
    assert calls == [["crystal", "build", "--threads", "1", "-o", ".throwbox-out", "main.cr", ".throwbox-rest.cr"]]
    assert (tmp_path / ".throwbox-rest.cr").read_text() == 'require "./lib/shape.cr"\nrequire "./extra/more.cr"\n'


def test_crystal_quotes_odd_file_names_as_string_literals_and_a_lone_entry_is_built_alone(tmp_path):
    status, _ = build(tmp_path, "crystal", ["main.cr", 'say "hi".cr', "#{x}.cr", "-dash.cr"])
    assert status == 0
    assert (tmp_path / ".throwbox-rest.cr").read_text().splitlines() == [
        r'require "./say \"hi\".cr"', r'require "./\#{x}.cr"', 'require "./-dash.cr"']
    (tmp_path / ".throwbox-rest.cr").unlink()
    assert build(tmp_path, "crystal", ["main.cr"]) == (
        0, [["crystal", "build", "--threads", "1", "-o", ".throwbox-out", "main.cr"]])
    assert not (tmp_path / ".throwbox-rest.cr").exists()


def test_ocaml_sorts_every_ml_and_mli_in_any_directory_and_links_the_entry_last(tmp_path):
    status, calls = build(tmp_path, "ocaml", ["main.ml", "shout.ml", "lib/util.mli", "lib/util.ml", "README"])
    assert status == 0
    includes = ["-I", ".", "-I", "lib"]
    assert calls == [
        ["ocamldep", "-sort", *includes, "shout.ml", "lib/util.mli", "lib/util.ml"],
        ["ocamlopt", "-O2", "-I", "+unix", "-I", "+str", "unix.cmxa", "str.cmxa", *includes,
         "-o", "/tmp/run/.throwbox-out", "lib/util.ml", "lib/util.mli", "shout.ml", "main.ml"],
    ]


def test_ocaml_never_reads_a_directory_as_one_of_the_standard_library_and_a_failed_sort_stops(tmp_path):
    status, calls = build(tmp_path, "ocaml", ["main.ml", "+x/a.ml"])
    assert status == 0 and calls[0] == ["ocamldep", "-sort", "-I", ".", "-I", "./+x", "+x/a.ml"]
    assert build(tmp_path, "ocaml", ["main.ml"]) == (0, [[
        "ocamlopt", "-O2", "-I", "+unix", "-I", "+str", "unix.cmxa", "str.cmxa", "-I", ".",
        "-o", "/tmp/run/.throwbox-out", "main.ml"]])
    status, calls = build(tmp_path, "ocaml", ["main.ml", "bad.ml"], fail="bad.ml")
    assert status == 2 and [c[0] for c in calls] == ["ocamldep"]


@pytest.mark.parametrize("language", ["ada", "pascal", "crystal", "ocaml"])
def test_a_wrapper_is_installed_by_its_images_dockerfile(language):
    runtime = REGISTRY.resolve(language)
    wrapper = runtime.compile[0]
    image = REPO / "runtimes" / "images" / runtime.image_dir
    assert os.access(image / wrapper, os.X_OK)
    assert any(line.startswith("COPY ") and wrapper in line.split() for line in (image / "Dockerfile").read_text().splitlines())
