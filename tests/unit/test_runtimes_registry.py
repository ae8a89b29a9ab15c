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


# Each language's default (newest) version is Debian trixie's, in runtimes/images/<name>/; the
# bookworm version stays, selectable by `version`, in runtimes/images/<name>-bookworm/.
TRIXIE_AND_BOOKWORM = {"python": ("3.13", "3.11"), "javascript": ("20", "18"), "c": ("14", "12"),
                       "cpp": ("14", "12"), "go": ("1.24", "1.19"), "java": ("21", "17"),
                       "rust": ("1.85", "1.63"), "ruby": ("3.3", "3.1"), "bash": ("5.2.37", "5.2.15")}


def test_the_committed_registry_offers_at_least_thirty_languages(registry):
    assert {r.language for r in registry.runtimes} == LANGUAGES | TRIXIE_LANGUAGES
    assert len({r.language for r in registry.runtimes}) >= 30


def test_the_committed_registry_offers_the_nine_first_languages_in_two_versions_each(registry):
    assert len({r.key for r in registry.runtimes}) == len(registry.runtimes)
    for language, (trixie, bookworm) in TRIXIE_AND_BOOKWORM.items():
        default = registry.resolve(language)
        assert default.version.startswith(trixie) and not default.image_dir.endswith("-bookworm"), default
        old = registry.resolve(language, bookworm)
        assert old is not None and old.image_dir == default.image_dir + "-bookworm", old
        assert (REPO / "runtimes" / "images" / old.image_dir / "Dockerfile").read_text().count("throwbox/base:bookworm-")
        assert (REPO / "runtimes" / "images" / default.image_dir / "Dockerfile").read_text().count("throwbox/base:trixie-")
        assert [r.version for r in registry.runtimes if r.language == language] == [default.version, old.version]


def test_names_and_aliases_never_point_at_two_languages(registry):
    owner: dict[str, str] = {}
    for r in registry.runtimes:
        for name in (r.language, *r.aliases):
            assert owner.setdefault(name, r.language) == r.language, name
    for language in LANGUAGES:
        versions = [r for r in registry.runtimes if r.language == language]
        assert len({(r.aliases, r.extension, r.entrypoint) for r in versions}) == 1, language


def test_every_alias_resolves_to_its_languages_newest_version(registry):
    for runtime in registry.runtimes:
        for alias in runtime.aliases:
            assert registry.resolve(alias) is registry.resolve(runtime.language)
            assert registry.resolve(alias, runtime.version) is runtime
    assert registry.resolve("py").language == "python"
    assert registry.resolve("node").language == "javascript"
    assert registry.resolve("c++").language == "cpp"
    assert registry.resolve("java", "17").language == "java"
    assert registry.resolve("java", "17").version.startswith("17.")


WARM = {"python": 2, "javascript": 1, "c": 1, "cpp": 1, "go": 1, "java": 1, "rust": 1, "ruby": 1, "bash": 1,
        "typescript": 1, "php": 1, "csharp": 1, "kotlin": 1}


def test_popular_defaults_keep_warm_sandboxes_and_the_rest_start_on_demand(registry):
    """Idle sandboxes per agent stay few: a language's default version keeps WARM of them (0 if
    not listed); an older version keeps none (a run of it starts one on demand)."""
    defaults = {registry.resolve(r.language).key for r in registry.runtimes}
    assert {r.key: r.warm for r in registry.runtimes} == {
        r.key: WARM.get(r.language, 0) if r.key in defaults else 0 for r in registry.runtimes}
    assert sum(r.warm for r in registry.runtimes) <= 16


def test_every_image_is_tagged_with_its_version_and_inputs_digest_from_its_directory(registry):
    users: dict[str, list[str]] = {}
    for runtime in registry.runtimes:
        users.setdefault(runtime.image, []).append(runtime.language)
    for runtime in registry.runtimes:
        match = re.fullmatch(r"throwbox/([a-z0-9-]+):(.+)-([0-9a-f]{12})", runtime.image)
        assert match, runtime.image
        # A shared image carries its Debian suite; an image of one runtime, that runtime's version.
        wanted = "trixie" if len(users[runtime.image]) > 1 else runtime.version
        assert match.group(2) == wanted, f"{runtime.image} does not carry {wanted}"
        assert match.group(1) == runtime.image_dir
        assert runtime.image_inputs.startswith(match.group(3))
        assert (REPO / "runtimes" / "images" / match.group(1) / "Dockerfile").is_file()


def test_one_image_directory_builds_one_tag(registry):
    tags: dict[str, set[str]] = {}
    for runtime in registry.runtimes:
        tags.setdefault(runtime.image_dir, set()).add(runtime.image)
    assert all(len(t) == 1 for t in tags.values()), tags
    assert len({r.image for r in registry.runtimes}) < len(registry.runtimes)   # some are shared


def test_a_shared_image_tells_the_version_of_every_runtime_it_serves(registry):
    for runtime in registry.runtimes:
        versions = REPO / "runtimes" / "images" / runtime.image_dir / "throwbox-versions"
        if versions.is_file():
            assert re.search(rf'^echo "{re.escape(runtime.language)} ', versions.read_text(), re.M), runtime.language


def test_the_offered_runtimes_limit_resolution_and_the_catalogue(tmp_path):
    registry = load_text(tmp_path, 'run = ["./a.out"]\n[[runtime]]\nlanguage = "c"\nversion = "14.2.0"\n'
                                   'image = "throwbox/c:14.2.0-1"\nextension = "c"\nrun = ["./a.out"]\n')
    assert registry.resolve("c").version == "14.2.0"
    registry.offered = {"c-12.2.0"}             # the newer one's image is still being built
    assert registry.resolve("c").version == "12.2.0"
    assert registry.resolve("c", "14") is None
    assert [r.key for r in registry.offered_runtimes()] == ["c-12.2.0"]
    registry.offered = set()
    assert registry.resolve("c") is None and registry.offered_runtimes() == []
    registry.offered = None
    assert [r.key for r in registry.offered_runtimes()] == ["c-12.2.0", "c-14.2.0"]


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


def test_an_untagged_image_needs_its_directory_to_compute_the_tag_from(tmp_path):
    path = tmp_path / "runtimes.toml"
    path.write_text(MINIMAL.replace("throwbox/c:12.2.0-1", "throwbox/c") + 'run = ["./a.out"]\n')
    with pytest.raises(RuntimeConfigError, match="no tag"):
        runtimes.load(path)
    (tmp_path / "images" / "c").mkdir(parents=True)
    (tmp_path / "images" / "c" / "Dockerfile").write_text("FROM throwbox/base:trixie-1\n")
    (tmp_path / "launcher").mkdir()
    (tmp_path / "launcher" / "main.go").write_text("package main\n")
    runtime = runtimes.load(path).runtimes[0]
    assert re.fullmatch(r"throwbox/c:12\.2\.0-[0-9a-f]{12}", runtime.image) and runtime.image_dir == "c"


def test_an_image_without_a_version_tag_is_rejected(tmp_path):
    path = tmp_path / "runtimes.toml"
    path.write_text(MINIMAL.replace("throwbox/c:12.2.0-1", "throwbox/c:latest") + 'run = ["./a.out"]\n')
    with pytest.raises(RuntimeConfigError, match="version tag"):
        runtimes.load(path)


def test_docs_runtimes_lists_every_runtime_and_version(registry):
    doc = (REPO / "docs" / "runtimes.md").read_text()
    for runtime in registry.runtimes:
        assert f"| {runtime.language} | {runtime.version}" in doc, f"docs/runtimes.md has no row for {runtime.key}"


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


def command_rows(doc: str) -> dict[str, list[str]]:
    """docs/runtimes.md's command tables: language -> its rows (`| runtime | compile | run |`)."""
    rows: dict[str, list[str]] = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and line.startswith("| ") and cells[0].isidentifier():
            rows.setdefault(cells[0], []).append(line)
    return rows


def command_pattern(command: tuple[str, ...]) -> str:
    """A command as docs/runtimes.md writes it: each placeholder as some `<...>`."""
    parts = [r"<[^>`]+>" if any(p in part for p in runtimes.PLACEHOLDERS) else re.escape(part) for part in command]
    return "`" + r" ".join(parts) + "`"


def test_docs_runtimes_gives_every_runtimes_exact_compile_and_run_command_lines(registry):
    rows = command_rows((REPO / "docs" / "runtimes.md").read_text())
    for runtime in registry.runtimes:
        row = " ".join(rows.get(runtime.language, []))
        assert row, f"docs/runtimes.md has no command row for {runtime.language}"
        assert re.search(command_pattern(runtime.run), row), (runtime.key, "run", command_pattern(runtime.run))
        for command in (runtime.compile, *(cmd for _, cmd in runtime.compile_if_file)):
            if command:
                assert re.search(command_pattern(command), row), (runtime.key, "compile", command_pattern(command))


def test_every_runtime_can_key_a_dict_even_with_its_own_limits(registry):
    pools = {r: r.warm for r in registry.runtimes}
    assert len(pools) == len(registry.runtimes)
    assert any(r.default_limits is not None for r in pools)
