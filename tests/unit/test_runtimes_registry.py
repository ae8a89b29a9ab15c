"""The committed runtimes.toml and the loader's validation of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from throwbox_common import runtimes
from throwbox_common.runtimes import RuntimeConfigError

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "javascript", "c", "cpp", "go", "java", "rust", "ruby", "bash"}
# Debian trixie runtimes in shared images (several runtimes per image).
TRIXIE_LANGUAGES = {"typescript", "php", "perl", "lua", "sqlite3", "tcl", "awk", "scheme", "r", "fortran", "ada",
                    "pascal", "d", "cobol", "crystal", "erlang", "elixir", "kotlin", "scala", "clojure", "ocaml",
                    "lisp", "racket", "prolog", "haskell", "csharp"}
COMPILED = {"c", "cpp", "go", "java", "rust", "typescript", "fortran", "ada", "pascal", "d", "cobol", "crystal",
            "erlang", "kotlin", "scala", "ocaml", "haskell", "csharp"}

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


@pytest.fixture(scope="module")
def registry() -> runtimes.Registry:
    return runtimes.load()


def load_text(tmp_path: Path, extra: str) -> runtimes.Registry:
    path = tmp_path / "runtimes.toml"
    path.write_text(MINIMAL + extra)
    return runtimes.load(path)


def test_the_committed_registry_offers_at_least_thirty_runtimes_once_each(registry):
    assert sorted(r.language for r in registry.runtimes) == sorted(LANGUAGES | TRIXIE_LANGUAGES)
    assert len(registry.runtimes) >= 30


def test_names_and_aliases_never_point_at_two_runtimes(registry):
    names = [n for r in registry.runtimes for n in (r.language, *r.aliases)]
    assert len(names) == len(set(names))


def test_every_alias_resolves_to_its_runtime(registry):
    for runtime in registry.runtimes:
        for alias in runtime.aliases:
            assert registry.resolve(alias) is runtime
    assert registry.resolve("py").language == "python"
    assert registry.resolve("node").language == "javascript"
    assert registry.resolve("c++").language == "cpp"
    assert registry.resolve("java", "17").language == "java"


def test_python_keeps_two_warm_sandboxes_and_every_other_runtime_one(registry):
    assert {r.language: r.warm for r in registry.runtimes} == {
        lang: 2 if lang == "python" else 1 for lang in LANGUAGES | TRIXIE_LANGUAGES}


def test_every_image_has_a_versioned_tag_built_from_a_dockerfile_directory(registry):
    users: dict[str, list[str]] = {}
    for runtime in registry.runtimes:
        users.setdefault(runtime.image, []).append(runtime.language)
    for runtime in registry.runtimes:
        match = re.fullmatch(r"throwbox/([a-z]+):(.+)-(\d+)", runtime.image)
        assert match, runtime.image
        # A shared image carries its Debian suite; an image of one runtime, that runtime's version.
        wanted = "trixie" if len(users[runtime.image]) > 1 else runtime.version
        assert match.group(2) == wanted, f"{runtime.image} does not carry {wanted}"
        assert (REPO / "runtimes" / "images" / match.group(1) / "Dockerfile").is_file()


def test_one_image_directory_builds_one_tag(registry):
    tags: dict[str, set[str]] = {}
    for runtime in registry.runtimes:
        tags.setdefault(runtime.image.split(":")[0], set()).add(runtime.image)
    assert all(len(t) == 1 for t in tags.values()), tags


def test_a_shared_image_tells_the_version_of_every_runtime_it_serves(registry):
    for runtime in registry.runtimes:
        directory = REPO / "runtimes" / "images" / runtime.image.split(":")[0].split("/")[1]
        versions = directory / "throwbox-versions"
        if versions.is_file():
            assert re.search(rf'^echo "{re.escape(runtime.language)} ', versions.read_text(), re.M), runtime.language


def test_every_runtime_has_a_hello_example_under_its_default_entrypoint(registry):
    for runtime in registry.runtimes:
        assert (REPO / "runtimes" / "examples" / runtime.language / runtime.entrypoint).is_file()


def test_compiled_runtimes_are_exactly_those_with_a_compile_step(registry):
    assert {r.language for r in registry.runtimes if r.compiled} == COMPILED


def test_the_entrypoint_defaults_to_main_dot_extension_and_java_names_its_class(registry):
    assert registry.resolve("python").entrypoint == "main.py"
    assert registry.resolve("java").entrypoint == "Main.java"


def test_args_expand_in_place_and_the_entrypoint_is_substituted(registry):
    python = registry.resolve("python")
    assert python.run_command("app/run.py", ["a b", "--x"]) == ["python3", "-u", "app/run.py", "a b", "--x"]
    assert python.compile_command("main.py") is None
    c = registry.resolve("c")
    assert c.compile_command("prog.c") == ["gcc", "-O2", "-std=gnu17", "-pipe", "-o", ".throwbox-out", "prog.c", "-lm"]
    assert c.run_command("prog.c", []) == ["./.throwbox-out"]


def test_an_entrypoint_given_in_the_file_is_used(tmp_path):
    registry = load_text(tmp_path, 'run = ["./a.out"]\nentrypoint = "src/prog.c"\n')
    assert registry.runtimes[0].entrypoint == "src/prog.c"


@pytest.mark.parametrize("entrypoint", ["", "/abs.c", "../up.c", "a//b.c", "a/./b.c", "a\\\\b.c"])
def test_an_entrypoint_outside_the_scratch_dir_is_rejected(tmp_path, entrypoint):
    with pytest.raises(RuntimeConfigError, match="entrypoint"):
        load_text(tmp_path, f'run = ["./a.out"]\nentrypoint = "{entrypoint}"\n')


@pytest.mark.parametrize(("line", "message"), [
    ('run = []', "non-empty list"),
    ('run = ["{args}"]', "must start with a program"),
    ('run = ["python3", "{entry}"]', "unknown placeholder"),
    ('run = ["./a.out"]\ncompile = "gcc main.c"', "non-empty list"),
    ('run = ["./a.out"]\ncolour = "blue"', "unknown keys"),
])
def test_malformed_commands_and_unknown_keys_are_rejected(tmp_path, line, message):
    with pytest.raises(RuntimeConfigError, match=message):
        load_text(tmp_path, line + "\n")


def test_an_image_without_a_version_tag_is_rejected(tmp_path):
    path = tmp_path / "runtimes.toml"
    path.write_text(MINIMAL.replace("throwbox/c:12.2.0-1", "throwbox/c:latest") + 'run = ["./a.out"]\n')
    with pytest.raises(RuntimeConfigError, match="version tag"):
        runtimes.load(path)


def test_a_runtimes_limits_table_may_give_some_fields_and_inherits_the_others(tmp_path):
    registry = load_text(tmp_path, 'run = ["./a.out"]\nlimits = { memory_mb = 512, pids = 128 }\n')
    c = registry.runtimes[0]
    assert c.default_limits == runtimes.Limits(wall_time_ms=10000, cpu_time_ms=10000, memory_mb=512, pids=128,
                                               output_bytes=1048576)
    assert registry.effective_limits(c, None) == c.default_limits


def test_a_request_may_lower_a_tuned_runtime_default_but_not_exceed_it(tmp_path):
    registry = load_text(tmp_path, 'run = ["./a.out"]\nlimits = { memory_mb = 512 }\n')
    c = registry.runtimes[0]
    lowered = registry.effective_limits(c, runtimes.LimitsRequest(memory_mb=300, pids=10))
    assert (lowered.memory_mb, lowered.pids, lowered.wall_time_ms) == (300, 10, 10000)
    with pytest.raises(runtimes.LimitError, match="memory_mb may be at most 512"):
        registry.effective_limits(c, runtimes.LimitsRequest(memory_mb=513))
    with pytest.raises(runtimes.LimitError, match="pids may be at most 64"):
        registry.effective_limits(c, runtimes.LimitsRequest(pids=65))


@pytest.mark.parametrize(("table", "message"), [
    ("{ memory_mb = 2048 }", "memory_mb above server_max"),
    ("{ colour = 1 }", "unknown"),
    ("{ pids = 0 }", "positive integer"),
    ('"big"', "must be a table"),
])
def test_bad_runtime_limits_are_rejected(tmp_path, table, message):
    with pytest.raises(RuntimeConfigError, match=message):
        load_text(tmp_path, f'run = ["./a.out"]\nlimits = {table}\n')


def test_jvm_and_beam_runtimes_get_more_memory_and_tasks_than_the_default(registry):
    for language in ("kotlin", "scala", "clojure", "erlang", "elixir"):
        limits = registry.effective_limits(registry.resolve(language), None)
        assert limits.memory_mb > registry.default_limits.memory_mb and limits.pids > registry.default_limits.pids


def test_every_runtimes_sandbox_pids_cgroup_fits_the_docker_plugins_cap():
    # scripts/nomad/config.sh and the node-config module set the docker plugin's pids_limit to
    # 1024; Nomad refuses a task above it. gVisor needs ~8 host tasks per guest task.
    from throwbox_agent.sandbox_job import RUNSC_HOST_TASKS_PER_GUEST_TASK, RUNSC_PIDS_HEADROOM
    registry = runtimes.load()
    for runtime in registry.runtimes:
        pids = registry.effective_limits(runtime, None).pids
        assert RUNSC_PIDS_HEADROOM + RUNSC_HOST_TASKS_PER_GUEST_TASK * pids <= 1024, runtime.key
