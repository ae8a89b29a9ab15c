"""Piston v2 mapping (pure): request fields → run, outcomes → Piston statuses, live stages."""

import base64

import pytest

from throwbox_common.messages import CompileResult, ErrorInfo, RunResult, Usage
from throwbox_common.runtimes import Limits, Registry, Runtime
from throwbox_control import config
from throwbox_control.compat import piston
from throwbox_control.compat.live import StageTracker
from throwbox_control.compat.piston import PistonExecute, PistonFile
from throwbox_control.errors import ApiError

SETTINGS = config.Settings()


def registry() -> Registry:
    limits = Limits(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1 << 20)
    big = Limits(wall_time_ms=60_000, cpu_time_ms=60_000, memory_mb=1024, pids=256, output_bytes=8 << 20)
    py = Runtime("python", "3.11.2", "img", "py", ("python3", "{entrypoint}", "{args}"), aliases=("py",),
                 entrypoint="main.py")
    py_old = Runtime("python", "3.9.1", "img", "py", ("python3", "{entrypoint}"), entrypoint="main.py")
    c = Runtime("c", "12.2.0", "img", "c", ("./a.out",), compile=("gcc", "{entrypoint}"), entrypoint="main.c")
    return Registry([py, py_old, c], big, limits)


def req(**fields) -> PistonExecute:
    fields.setdefault("files", [PistonFile("print(1)")])
    return PistonExecute(language=fields.pop("language", "python"), **fields)


def refusal(**fields) -> ApiError:
    with pytest.raises(ApiError) as e:
        piston.to_run(req(**fields), registry(), SETTINGS)
    return e.value


def result(**fields) -> RunResult:
    fields.setdefault("status", "completed")
    return RunResult(id="run_x", language="python", version="3.11.2", created_at="t", **fields)


# ---- request → run


def test_a_wildcard_or_missing_version_picks_the_newest_and_a_prefix_selects():
    for version in (None, "*", "x", "latest"):
        assert piston.pick_runtime(registry(), "python", version).version == "3.11.2"
    assert piston.pick_runtime(registry(), "python", "3.9.x").version == "3.9.1"
    assert piston.pick_runtime(registry(), "python", "3.11.2").version == "3.11.2"


def test_an_unknown_runtime_is_pistons_400_with_its_message():
    e = refusal(language="intercal", version="1")
    assert (piston.error_status(e), e.message) == (400, "intercal-1 runtime is unknown")


def test_stdin_gets_a_final_newline_and_args_pass_through_as_piston_does():
    run = piston.to_run(req(stdin="hi", args=["1", "2"]), registry(), SETTINGS)
    assert (run.stdin, run.args, run.interactive) == (b"hi\n", ["1", "2"], False)
    assert piston.to_run(req(), registry(), SETTINGS).stdin == b"\n"


def test_an_unnamed_entry_file_gets_the_runtimes_name_and_others_pistons():
    run = piston.to_run(req(language="c", files=[PistonFile("int main(){}"), PistonFile("x")]), registry(), SETTINGS)
    assert [f.name for f in run.files] == ["main.c", "file1.code"]
    assert run.entrypoint == "main.c"


def test_the_entry_is_the_first_utf8_file_and_hex_and_base64_files_are_decoded():
    files = [PistonFile("00ff", "data.bin", "hex"), PistonFile(base64.b64encode(b"\x01").decode(), "b", "base64"),
             PistonFile("print(1)", "app.py")]
    run = piston.to_run(req(files=files), registry(), SETTINGS)
    assert run.entrypoint == "app.py"
    assert [f.content for f in run.files] == [b"\x00\xff", b"\x01", b"print(1)"]


def test_files_without_a_utf8_file_or_with_an_unknown_encoding_are_refused():
    assert refusal(files=[PistonFile("00", "a", "hex")]).message == "files must include at least one utf8 encoded file"
    assert "encoding" in refusal(files=[PistonFile("x", "a", "latin1")]).message
    assert "hex" in refusal(files=[PistonFile("zz", "a", "hex"), PistonFile("x")]).message


def test_run_limits_map_to_the_runs_limits_in_throwbox_units():
    run = piston.to_run(req(run_timeout=3000, run_cpu_time=2500.5, run_memory_limit=100_000_000), registry(), SETTINGS)
    assert (run.limits.wall_time_ms, run.limits.cpu_time_ms, run.limits.memory_mb) == (3000, 2501, 96)


def test_zero_and_minus_one_memory_mean_the_default_as_piston_client_sends_them():
    run = piston.to_run(req(run_timeout=0, compile_memory_limit=-1, run_memory_limit=-1), registry(), SETTINGS)
    assert (run.limits.wall_time_ms, run.limits.memory_mb) == (10_000, 256)


def test_a_limit_above_the_maximum_or_negative_is_refused_for_either_stage():
    assert refusal(run_timeout=10_001).message == "run_timeout cannot exceed the configured limit of 10000"
    assert refusal(compile_timeout=60_000).message == "compile_timeout cannot exceed the configured limit of 10000"
    assert refusal(run_memory_limit=2 << 30).message.startswith("run_memory_limit cannot exceed")
    assert refusal(run_cpu_time=-5).message == "run_cpu_time must be non-negative"


def test_unknown_fields_and_missing_language_are_refused_with_a_message():
    with pytest.raises(ApiError, match="unknown field"):
        piston.decode_execute(b'{"language":"python","files":[],"network":true}')
    with pytest.raises(ApiError, match="language is required"):
        piston.decode_execute(b'{"files":[]}')


# ---- outcome → Piston status


@pytest.mark.parametrize(("fields", "status", "signal", "code"), [
    ({"outcome": "ok", "exit_code": 0}, None, None, 0),
    ({"outcome": "nonzero_exit", "exit_code": 3}, "RE", None, 3),
    ({"outcome": "signaled", "signal": "SIGSEGV"}, "SG", "SIGSEGV", None),
    ({"outcome": "timeout", "signal": "SIGKILL"}, "TO", "SIGKILL", None),
    ({"outcome": "memory_limit", "signal": "SIGKILL"}, "SG", "SIGKILL", None),
    ({"outcome": "pids_limit", "signal": "SIGKILL"}, "SG", "SIGKILL", None),
    ({"outcome": "output_limit", "stdout_truncated": True}, "OL", "SIGKILL", None),
    ({"outcome": "output_limit", "stderr_truncated": True}, "EL", "SIGKILL", None),
    ({"status": "failed", "error": ErrorInfo("queue_timeout", "no sandbox")}, "XX", None, None),
    ({"status": "cancelled"}, "SG", "SIGKILL", None),
])
def test_each_throwbox_outcome_has_its_piston_status(fields, status, signal, code):
    end = piston.run_stage_end(result(**fields))
    assert (end.status, end.signal, end.code) == (status, signal, code)


def test_a_segfault_says_which_signal_as_isolate_does():
    assert piston.run_stage_end(result(outcome="signaled", signal="SIGSEGV")).message == "Caught fatal signal 11"


def test_an_interpreted_run_has_no_compile_stage_and_piston_units():
    body = piston.execute_body(result(outcome="ok", exit_code=0, stdout="a", stderr="b",
                                      usage=Usage(wall_ms=41, cpu_ms=30, memory_peak_bytes=9000)), False,
                               {"run": [("stderr", "b"), ("stdout", "a")]})
    assert "compile" not in body
    assert body["run"] | {} == {"stdout": "a", "stderr": "b", "output": "ba", "code": 0, "signal": None,
                                "message": None, "status": None, "memory": 9000, "cpu_time": 30, "wall_time": 41}


def test_a_compile_error_repeats_the_compile_stage_as_run_as_piston_does():
    r = result(outcome="compile_error", exit_code=1, compile=CompileResult(stderr="bad", exit_code=1,
                                                                           outcome="nonzero_exit"))
    body = piston.execute_body(r, True, None)
    assert body["compile"]["status"] == "RE" and body["compile"]["stderr"] == "bad"
    assert body["run"] == body["compile"]


def test_a_compiled_run_has_both_stages():
    r = result(outcome="timeout", signal="SIGKILL", compile=CompileResult(exit_code=0, outcome="ok"))
    body = piston.execute_body(r, True, None)
    assert (body["compile"]["code"], body["compile"]["status"]) == (0, None)
    assert body["run"]["status"] == "TO"


def test_signals_that_end_a_program_cancel_the_run_and_others_are_refused():
    assert piston.signal_action("SIGKILL") == "cancel"
    assert piston.signal_action("SIGTERM") == "cancel"
    assert piston.signal_action("SIGUSR1") == "unsupported"
    assert piston.signal_action("KILL") == "invalid"


# ---- live events → Piston's stage messages


def test_a_compiled_runs_events_become_compile_then_run_stages_with_exits():
    t = StageTracker(compiled=True)
    messages = t.started() + t.output("stdout", "run", "hi\n")
    messages += t.finished(result(outcome="ok", exit_code=0, compile=CompileResult(exit_code=0)))
    assert [m["type"] + ":" + str(m.get("stage", m.get("stream"))) for m in messages] == [
        "stage:compile", "exit:compile", "stage:run", "data:stdout", "exit:run"]
    assert messages[-1]["code"] == 0


def test_a_compile_error_ends_with_the_compile_exit_and_no_run_stage():
    t = StageTracker(compiled=True)
    messages = t.started() + t.output("stderr", "compile", "error")
    messages += t.finished(result(outcome="compile_error", exit_code=1,
                                  compile=CompileResult(exit_code=1, outcome="nonzero_exit")))
    assert [m["type"] for m in messages] == ["stage", "data", "exit"]
    assert (messages[-1]["stage"], messages[-1]["code"], messages[-1]["status"]) == ("compile", 1, "RE")


def test_a_failed_run_becomes_an_error_message():
    t = StageTracker(compiled=False)
    t.started()
    messages = t.finished(result(status="failed", error=ErrorInfo("queue_timeout", "no sandbox became free")))
    assert messages == [{"type": "error", "message": "no sandbox became free"}]
