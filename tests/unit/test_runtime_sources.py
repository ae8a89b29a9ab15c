"""How a compiled runtime's command is built from the request's files (`{sources}`,
`compile_if_file`, `{main_class}`): the committed runtimes.toml and the loader's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from throwbox_common import runtimes
from throwbox_common.runtimes import RuntimeConfigError, glob_matches, main_class, source_files

REGISTRY = runtimes.load()
C, CPP, GO, JAVA, RUST = (REGISTRY.resolve(lang) for lang in ("c", "cpp", "go", "java", "rust"))


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("*.go", "main.go", True),
    ("*.go", "pkg/util.go", False),          # `*` stays within one directory
    ("**/*.c", "main.c", True),              # `**` spans no directory too
    ("**/*.c", "lib/deep/util.c", True),
    ("**/*.c", "util.h", False),
    ("**/*.c", "main.cc", False),
    ("src/*.rs", "src/a.rs", True),
    ("src/*.rs", "a.rs", False),
])
def test_globs_match_within_a_directory_and_double_star_spans_directories(pattern, name, matches):
    assert glob_matches(pattern, name) is matches


def test_a_c_program_compiles_every_c_file_in_request_order_and_leaves_headers_out():
    names = ["main.c", "util.h", "util.c", "lib/more.c", "data.txt"]
    assert C.compile_command("main.c", names) == [
        "gcc", "-O2", "-std=gnu17", "-pipe", "-o", ".throwbox-out", "main.c", "util.c", "lib/more.c", "-lm"]


def test_cpp_takes_every_cpp_cc_and_cxx_file():
    names = ["main.cpp", "a.cc", "b.cxx", "c.hpp", "sub/d.cpp"]
    assert CPP.compile_command("main.cpp", names)[-4:] == ["main.cpp", "a.cc", "b.cxx", "sub/d.cpp"]


def test_go_builds_the_top_level_files_and_a_go_mod_makes_it_a_module_build():
    assert GO.compile_command("main.go", ["main.go", "util.go", "pkg/x.go"]) == [
        "go", "build", "-o", ".throwbox-out", "main.go", "util.go"]
    assert GO.compile_command("main.go", ["main.go", "go.mod", "pkg/x.go"]) == [
        "go", "build", "-o", ".throwbox-out", "."]
    # only a top-level go.mod makes a module
    assert GO.compile_command("main.go", ["main.go", "pkg/go.mod"])[-1] == "main.go"


def test_java_compiles_every_java_file_and_runs_the_class_the_entrypoint_names():
    assert JAVA.compile_command("Main.java", ["Main.java", "util/Helper.java", "notes.txt"]) == [
        "throwbox-javac", "Main.java", "util/Helper.java"]
    assert JAVA.run_command("Main.java", ["x"]) == ["throwbox-java", "Main", "x"]
    assert JAVA.run_command("app/Main.java", []) == ["throwbox-java", "app.Main"]


def test_rust_compiles_only_its_crate_root_and_rustc_follows_the_mod_tree():
    assert RUST.compile_command("main.rs", ["main.rs", "net.rs", "net/tcp.rs"])[-1] == "main.rs"
    assert "net.rs" not in RUST.compile_command("main.rs", ["main.rs", "net.rs"])


def test_haskell_compiles_every_hs_and_lhs_file_in_any_directory_with_ghc_make():
    haskell = REGISTRY.resolve("haskell")
    names = ["main.hs", "Lib/Shout.hs", "extra/Unused.lhs", "Lib/Shout.hs-boot", "notes.txt"]
    assert haskell.compile_command("main.hs", names) == [
        "ghc", "-v0", "-O", "-outputdir", ".throwbox-ghc", "-o", ".throwbox-out", "main.hs", "Lib/Shout.hs",
        "extra/Unused.lhs"]


@pytest.mark.parametrize(("language", "names", "sources"), [
    ("ada", ["main.adb", "lib/shout.ads", "lib/shout.adb", "a.txt"], ["main.adb", "lib/shout.ads", "lib/shout.adb"]),
    ("pascal", ["main.pas", "units/shout.pas", "more.pp", "x.inc"], ["main.pas", "units/shout.pas", "more.pp"]),
    ("crystal", ["main.cr", "lib/shout.cr", "shard.yml"], ["main.cr", "lib/shout.cr"]),
    ("ocaml", ["main.ml", "lib/shout.mli", "lib/shout.ml", "dune"], ["main.ml", "lib/shout.mli", "lib/shout.ml"]),
])
def test_ada_pascal_crystal_and_ocaml_hand_their_wrapper_the_entry_and_every_source_in_any_directory(
        language, names, sources):
    runtime = REGISTRY.resolve(language)
    assert runtime.compile_command(names[0], names) == [runtime.compile[0], names[0], *sources]


def test_a_lone_entry_file_is_built_even_when_no_glob_matches_it():
    assert C.compile_command("prog") == ["gcc", "-O2", "-std=gnu17", "-pipe", "-o", ".throwbox-out", "prog", "-lm"]
    assert source_files(("**/*.c",), ("prog", "util.c"), "prog") == ["prog", "util.c"]


def test_the_entry_file_comes_first_wherever_the_request_lists_it():
    # cobc -x takes the first file as the main program; the others keep their request order.
    assert source_files(("**/*.cob",), ("b.cob", "main.cob", "a.cob"), "main.cob") == ["main.cob", "b.cob", "a.cob"]


def test_a_file_name_that_starts_with_a_dash_is_never_read_as_an_option():
    assert source_files(("**/*.c",), ("main.c", "-o.c"), "main.c") == ["main.c", "./-o.c"]
    assert RUST.compile_command("-v.rs")[-1] == "./-v.rs"
    assert REGISTRY.resolve("python").run_command("--help.py", ["-x"]) == ["python3", "-u", "./--help.py", "-x"]


@pytest.mark.parametrize(("entry", "cls"), [("Main.java", "Main"), ("app/Main.java", "app.Main"),
                                            ("a/b/C.java", "a.b.C"), ("Main", "Main")])
def test_the_main_class_is_the_entry_path_without_its_extension_dotted(entry, cls):
    assert main_class(entry) == cls


def test_every_compiled_runtime_of_the_registry_builds_a_single_entry_file_as_before():
    for runtime in (r for r in REGISTRY.runtimes if r.compiled):
        cmd = runtime.compile_command(runtime.entrypoint)
        assert runtime.entrypoint in cmd, (runtime.key, cmd)



MINIMAL = """
[server_max]
wall_time_ms = 60000
cpu_time_ms = 60000
memory_mb = 1024
pids = 256
output_bytes = 8388608
[default_limits]
wall_time_ms = 10000
cpu_time_ms = 10000
memory_mb = 256
pids = 64
output_bytes = 1048576
[[runtime]]
language = "c"
version = "12.2.0"
image = "throwbox/c:12.2.0-1"
extension = "c"
"""


def load_text(tmp_path: Path, extra: str) -> runtimes.Registry:
    path = tmp_path / "runtimes.toml"
    path.write_text(MINIMAL + extra)
    return runtimes.load(path)


@pytest.mark.parametrize(("lines", "message"), [
    ('run = ["./a.out"]\ncompile = ["gcc", "{sources}"]', "`sources`"),
    ('run = ["./a.out"]\nsources = []\ncompile = ["gcc", "{sources}"]', "non-empty list of globs"),
    ('run = ["./a.out"]\nsources = ["../*.c"]\ncompile = ["gcc", "{sources}"]', "relative glob"),
    ('run = ["./a.out"]\nsources = ["*.c"]\ncompile = ["gcc", "x{sources}"]', "whole argument"),
    ('run = ["./a.out"]\ncompile_if_file = { "go.mod" = ["go", "build", "."] }', "needs a compile command"),
    ('run = ["./a.out"]\ncompile = ["cc", "{entrypoint}"]\ncompile_if_file = { "../x" = ["go"] }', "entrypoint"),
])
def test_malformed_sources_and_compile_if_file_are_rejected_at_load(tmp_path, lines, message):
    with pytest.raises(RuntimeConfigError, match=message):
        load_text(tmp_path, lines)


def test_sources_and_compile_if_file_load_from_the_file(tmp_path):
    registry = load_text(tmp_path, 'run = ["./a.out"]\nsources = ["**/*.c"]\ncompile = ["cc", "{sources}"]\n'
                                   'compile_if_file = { "Makefile" = ["make"] }\n')
    c = registry.runtimes[0]
    assert c.compile_command("main.c", ["main.c", "x/y.c"]) == ["cc", "main.c", "x/y.c"]
    assert c.compile_command("main.c", ["main.c", "Makefile"]) == ["make"]
