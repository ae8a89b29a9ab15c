"""Judge0 CE mapping (pure): language ids, refusals, units, verdicts, fields; tokens."""

import base64
import uuid

import pytest

from throwbox_common import runtimes
from throwbox_common.messages import CompileResult, ErrorInfo, RunResult, Usage
from throwbox_common.runtimes import Limits, Registry, Runtime
from throwbox_control import config
from throwbox_control.compat import judge0
from throwbox_control.compat.judge0 import Submission
from throwbox_control.compat.tokens import run_of, token_for
from throwbox_control.errors import ApiError

SETTINGS = config.Settings()


def registry() -> Registry:
    limits = Limits(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1 << 20)
    big = Limits(wall_time_ms=60_000, cpu_time_ms=60_000, memory_mb=1024, pids=256, output_bytes=8 << 20)
    py = Runtime("python", "3.11.2", "img", "py", ("python3", "{entrypoint}"), entrypoint="main.py")
    cpp = Runtime("cpp", "12.2.0", "img", "cpp", ("./a",), compile=("g++", "{entrypoint}"), entrypoint="main.cpp")
    java = Runtime("java", "17.0.19", "img", "java", ("java", "{entrypoint}"), compile=("javac", "{entrypoint}"),
                   entrypoint="Main.java")
    return Registry([py, cpp, java], big, limits)


def plan(**fields) -> judge0.Planned:
    fields.setdefault("source_code", "print(1)")
    fields.setdefault("language_id", 71)
    return judge0.plan(Submission(**fields), False, registry(), SETTINGS)


def refusal(**fields) -> tuple[int, dict]:
    with pytest.raises(ApiError) as e:
        plan(**fields)
    return judge0.error_body(e.value)


def result(**fields) -> RunResult:
    fields.setdefault("status", "completed")
    return RunResult(id="run_x", language="python", version="3.11.2", created_at="t", **fields)


# ---- languages


def test_installed_languages_have_judge0_ces_ids_and_their_installed_version_in_the_name():
    ids = {i: judge0.language_name(r) for i, r in judge0.languages(registry())}
    assert ids[71] == "Python (3.11.2)"
    assert ids[54] == ids[52] == "C++ (GCC 12.2.0)"
    assert ids[62] == "Java (OpenJDK 17.0.19)"
    assert 70 not in ids   # Python 2 is another language: not mapped onto Python 3
    assert 63 not in ids   # not installed in this registry


# Judge0 CE 1.13.1's ids of the languages the langs runtimes added.
JUDGE0_CE_IDS = {51: "csharp", 55: "lisp", 56: "d", 57: "elixir", 58: "erlang", 59: "fortran", 61: "haskell",
                 64: "lua", 65: "ocaml", 67: "pascal", 68: "php", 69: "prolog", 74: "typescript", 77: "cobol",
                 78: "kotlin", 80: "r", 81: "scala", 82: "sqlite3", 85: "perl", 86: "clojure"}


def test_the_committed_registry_serves_judge0_ces_ids_of_every_installed_language_it_has_one_for():
    served = {i: r for i, r in judge0.languages(runtimes.load())}
    assert {i: served[i].language for i in JUDGE0_CE_IDS} == JUDGE0_CE_IDS
    assert judge0.language_name(served[78]).startswith("Kotlin (") and judge0.language_name(served[51]).startswith("C# (Mono")
    assert len(served) == 14 + len(JUDGE0_CE_IDS)
    ids = [i for i, _ in judge0.LANGUAGE_IDS]
    assert len(ids) == len(set(ids)) and 89 not in ids     # 89: Judge0's multi-file program, not a language


def test_a_language_id_runs_the_installed_runtime_with_its_own_file_name():
    p = plan(language_id=62, source_code="class Main {}")
    assert (p.run.runtime.language, p.run.entrypoint) == ("java", "Main.java")


# ---- refusals in Judge0's shape


@pytest.mark.parametrize(("fields", "field"), [
    ({"enable_network": True}, "enable_network"),
    ({"callback_url": "http://x"}, "callback_url"),
    ({"additional_files": "UEsDBA=="}, "additional_files"),          # not a whole zip
    ({"additional_files": "%%%"}, "additional_files"),
    ({"compiler_options": "-O3"}, "compiler_options"),
    ({"redirect_stderr_to_stdout": True}, "redirect_stderr_to_stdout"),
    ({"enable_per_process_and_thread_time_limit": True}, "enable_per_process_and_thread_time_limit"),
    ({"stack_limit": 64000}, "stack_limit"),
    ({"number_of_runs": 3}, "number_of_runs"),
    ({"language_id": 999}, "language_id"),
    ({"source_code": ""}, "source_code"),
    ({"cpu_time_limit": 11}, "cpu_time_limit"),
    ({"cpu_time_limit": 9, "cpu_extra_time": 2}, "cpu_extra_time"),
    ({"memory_limit": 300_000}, "memory_limit"),
    ({"wall_time_limit": 0}, "wall_time_limit"),
])
def test_a_field_throwbox_cannot_honour_is_refused_as_a_judge0_field_error(fields, field):
    status, body = refusal(**fields)
    assert status == 422
    assert list(body) == [field] and isinstance(body[field][0], str)


def test_fields_at_their_harmless_values_are_accepted():
    p = plan(enable_network=False, redirect_stderr_to_stdout=False, number_of_runs=1, callback_url=None,
             enable_per_process_and_thread_memory_limit=False)
    assert p.run.runtime.language == "python"


def test_judge0_units_become_throwbox_limits():
    p = plan(cpu_time_limit=2, cpu_extra_time=0.5, wall_time_limit=5.5, memory_limit=128000,
             max_processes_and_or_threads=30, max_file_size=1024)
    lim = p.run.limits
    # cpu_extra_time only checked: a program over cpu_time_limit is TLE in Judge0 either way.
    assert (lim.cpu_time_ms, lim.wall_time_ms, lim.memory_mb, lim.pids, lim.output_bytes) == (2000, 5500, 125, 30, 1 << 20)


def test_base64_fields_are_decoded_and_arguments_split_like_a_shell():
    b64 = judge0.plan(Submission(source_code=base64.b64encode(b"print(2)").decode(), language_id=71,
                                 stdin=base64.b64encode(b"in").decode(), command_line_arguments="a 'b c'"),
                      True, registry(), SETTINGS)
    assert (b64.run.files[0].content, b64.run.stdin, b64.run.args) == (b"print(2)", b"in", ["a", "b c"])
    with pytest.raises(ApiError):
        judge0.plan(Submission(source_code="%%%", language_id=71), True, registry(), SETTINGS)


def test_an_unknown_attribute_is_refused_and_malformed_json_is_a_request_error():
    with pytest.raises(ApiError) as e:
        judge0.decode_submission(b'{"language_id":71,"source":"x"}')
    assert judge0.error_body(e.value) == (422, {"source": ["is not a Judge0 submission attribute"]})
    with pytest.raises(ApiError) as e:
        judge0.decode_submission(b"{")
    assert judge0.error_body(e.value)[0] == 400 and "error" in judge0.error_body(e.value)[1]


def test_a_batch_must_have_one_to_twenty_submissions():
    for body in (b'{"submissions":[]}', b'{"submissions":[' + b",".join([b"{}"] * 21) + b"]}", b"[]"):
        with pytest.raises(ApiError) as e:
            judge0.decode_batch(body)
        assert e.value.status == 400


def test_a_batch_of_one_program_is_one_run_with_a_test_per_submission():
    a, b = plan(stdin="1 2", expected_output="3"), plan(stdin="5 5", cpu_time_limit=1)
    assert judge0.plan_batch([a, ApiError(422, "x", "y"), b]) == [[0, 2]]
    one = judge0.batch_run([a, b])
    cases = one.run.tests.cases
    assert [c.stdin for c in cases] == [b"1 2", b"5 5"] and one.run.stdin is None
    assert cases[1].limits.cpu_time_ms == 1000 and one.run.limits.cpu_time_ms == 10_000
    assert one.compat == {"api": "judge0", "language_id": "71", "tests": "2",
                          "expected_digest_0": judge0.output_digest("3")}


def test_a_batch_of_different_programs_or_languages_is_one_run_each():
    assert judge0.plan_batch([plan(), plan(source_code="print(2)")]) == [[0], [1]]
    assert judge0.plan_batch([plan(source_code="int main(){}", language_id=52),
                              plan(source_code="int main(){}", language_id=54)]) == [[0], [1]]
    assert judge0.plan_batch([plan(), ApiError(422, "x", "y")]) == [[0]]


def test_each_token_of_a_batch_run_answers_with_its_own_test():
    from throwbox_common.messages import RunTestResult
    tests = [RunTestResult(index=0, verdict="accepted", outcome="ok", exit_code=0, stdout="3\n",
                           usage=Usage(cpu_ms=12)),
             RunTestResult(index=1, verdict="runtime_error", outcome="nonzero_exit", exit_code=2, stdout="9\n"),
             RunTestResult(index=2, verdict="skipped")]
    run = result(status="completed", outcome="nonzero_exit", exit_code=2, tests=tests)
    compat = {"api": "judge0", "language_id": "71", "tests": "3", "expected_digest_0": judge0.output_digest("3"),
              "expected_digest_1": judge0.output_digest("10")}
    first, mine = judge0.test_of(run, compat, 1)
    assert judge0.verdict(first, mine, False) == (3, None) and first.usage.cpu_ms == 12
    second, mine = judge0.test_of(run, compat, 2)
    assert judge0.verdict(second, mine, False)[0] == 11
    third, mine = judge0.test_of(run, compat, 3)
    assert judge0.verdict(third, mine, False)[0] == 5
    broken = result(status="completed", outcome="compile_error", tests=tests)
    assert judge0.verdict(*judge0.test_of(broken, compat, 2), True)[0] == 6


# ---- verdicts


def test_judge0s_comparison_ignores_trailing_whitespace_of_lines_and_of_the_text():
    assert judge0.judge0_strip("a  \nb\t\n\n\n") == "a\nb"
    assert judge0.judge0_strip(" a") == " a"   # leading whitespace counts
    assert judge0.output_digest("1 2\n") == judge0.output_digest("1 2   \n\n")
    assert judge0.output_digest("1 2") != judge0.output_digest("1  2")


@pytest.mark.parametrize(("fields", "compat", "status_id"), [
    ({"outcome": "ok", "exit_code": 0, "stdout": "2\n"}, {}, 3),
    ({"outcome": "ok", "exit_code": 0, "stdout": "2 \n\n"}, {"expected_digest": judge0.output_digest("2")}, 3),
    ({"outcome": "ok", "exit_code": 0, "stdout": "3\n"}, {"expected_digest": judge0.output_digest("2")}, 4),
    ({"outcome": "timeout", "signal": "SIGKILL"}, {}, 5),
    ({"outcome": "compile_error", "exit_code": 1, "compile": CompileResult(stderr="e", exit_code=1)}, {}, 6),
    ({"outcome": "signaled", "signal": "SIGSEGV"}, {}, 7),
    ({"outcome": "output_limit", "signal": "SIGKILL"}, {}, 8),
    ({"outcome": "signaled", "signal": "SIGFPE"}, {}, 9),
    ({"outcome": "signaled", "signal": "SIGABRT"}, {}, 10),
    ({"outcome": "nonzero_exit", "exit_code": 1, "stdout": "2"}, {"expected_digest": judge0.output_digest("2")}, 11),
    ({"outcome": "memory_limit", "signal": "SIGKILL"}, {}, 12),
    ({"outcome": "pids_limit", "signal": "SIGKILL", "stdout": "2"}, {"expected_digest": judge0.output_digest("2")}, 12),
    ({"outcome": "signaled", "signal": "SIGILL"}, {}, 12),
    ({"status": "failed", "error": ErrorInfo("pids_limit", "too many processes")}, {}, 12),
    ({"status": "failed", "error": ErrorInfo("queue_timeout", "no sandbox")}, {}, 13),
    ({"status": "cancelled"}, {}, 13),
])
def test_each_outcome_has_its_judge0_status(fields, compat, status_id):
    assert judge0.verdict(result(**fields), compat, compiled=False)[0] == status_id


def test_a_compiled_run_stopped_while_compiling_is_a_compilation_error():
    r = result(outcome="timeout", signal="SIGKILL")
    assert judge0.verdict(r, {}, compiled=True)[0] == 6
    assert judge0.compile_output(r, True) == "Compilation time limit exceeded."


def test_the_view_has_judge0_units_and_encodes_outputs_on_request():
    r = result(outcome="ok", exit_code=0, stdout="hé\n", usage=Usage(wall_ms=1500, cpu_ms=42, memory_peak_bytes=10 * 1024 * 1024),
               finished_at="2026-01-01T00:00:01.000Z")
    body = judge0.view("tok", "completed", "2026-01-01T00:00:00.000Z", r, {}, False, (71, "Python (3.11.2)"))
    assert (body["time"], body["wall_time"], body["memory"], body["status"]) == (
        "0.042", "1.500", 10240, {"id": 3, "description": "Accepted"})
    picked = judge0.select(body, judge0.DEFAULT_FIELDS, b64=True)
    assert list(picked) == list(judge0.DEFAULT_FIELDS)
    assert base64.b64decode(picked["stdout"]).decode() == "hé\n"


def test_a_queued_or_running_submission_is_status_1_or_2():
    assert judge0.view("t", "queued", "c", None, {}, False, None)["status"]["id"] == 1
    assert judge0.view("t", "running", "c", None, {}, False, None)["status"]["id"] == 2


def test_fields_default_to_judge0s_and_unknown_or_unkept_ones_are_refused():
    assert judge0.requested_fields(None) == judge0.DEFAULT_FIELDS
    assert judge0.requested_fields("*") == judge0.KEPT_FIELDS
    assert judge0.requested_fields("stdout,status_id") == ("stdout", "status_id")
    with pytest.raises(ApiError, match=r"invalid fields: \[nope\]"):
        judge0.requested_fields("stdout,nope")
    with pytest.raises(ApiError, match="source_code"):
        judge0.requested_fields("source_code")


def test_statuses_are_judge0s_fourteen():
    assert list(judge0.STATUSES) == list(range(1, 15))
    assert judge0.STATUSES[11] == "Runtime Error (NZEC)"


# ---- tokens


def test_a_token_is_a_version_4_uuid_that_maps_back_to_its_run_and_slot():
    run_id = "run_0123456789abcdef01234567"
    for slot in (0, 1, 100):
        token = token_for(run_id, slot)
        assert uuid.UUID(token).version == 4 and uuid.UUID(token).variant == uuid.RFC_4122
        assert run_of(token) == (run_id, slot)
        assert run_of(token.upper()) == (run_id, slot)


def test_anything_else_is_not_a_token():
    for text in ("", "abc", str(uuid.uuid1()), "run_0123456789abcdef01234567", "../../etc"):
        assert run_of(text) is None


def test_config_info_and_a_language_parse_in_the_judge0_sdks_own_models():
    from judge0.base_types import Config, Language

    cfg = Config(**judge0.config_info(registry(), SETTINGS))
    assert (cfg.enable_network, cfg.max_cpu_time_limit, cfg.max_memory_limit) == (False, 10.0, 256 * 1024)
    lang = Language(**judge0.language_detail(62, registry().resolve("java")))
    assert (lang.id, lang.source_file) == (62, "Main.java")


def test_the_sdks_language_aliases_resolve_to_ids_we_serve_at_the_api_level_we_announce():
    import judge0 as sdk
    from judge0.data import LANGUAGE_TO_LANGUAGE_ID

    ids = LANGUAGE_TO_LANGUAGE_ID[judge0.about()["version"]]
    served = {i for i, _ in judge0.languages(registry())}
    assert {ids[sdk.PYTHON], ids[sdk.CPP], ids[sdk.JAVA]} <= served


def zipped(files: dict[str, bytes]) -> str:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return base64.b64encode(buf.getvalue()).decode()


def test_additional_files_sit_beside_the_source():
    p = plan(additional_files=zipped({"data/input.txt": b"42\n", "helper.py": b"X = 1\n"}))
    assert [(f.name, f.content) for f in p.run.files] == [
        ("main.py", b"print(1)"), ("data/input.txt", b"42\n"), ("helper.py", b"X = 1\n")]
    assert p.run.entrypoint == "main.py"


def test_additional_files_that_unpack_too_large_escape_or_clash_are_refused():
    bomb = zipped({"zeros.bin": b"\0" * (SETTINGS.max_files_total_bytes + 1)})   # small packed, big unpacked
    for archive in (bomb, zipped({"../evil.py": b"x"}), zipped({"main.py": b"x"})):
        status, body = refusal(additional_files=archive)
        assert status in (413, 422) and list(body) == ["additional_files"], body
