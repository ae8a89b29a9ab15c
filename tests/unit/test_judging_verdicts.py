"""Test cases: comparison modes, verdicts, the summary (judging.py), the tests-mode launcher
frames (run.py, frames.py) and the request's validation (pure, no services)."""

import msgspec
import pytest

from throwbox_agent import config, frames, judging
from throwbox_agent.run import frames_for_test, header_for
from throwbox_common import runtimes
from throwbox_common.messages import (
    JobFile,
    JobTest,
    JobTests,
    Limits,
    RunJob,
    RunResult,
    RunTestResult,
    encoder,
)
from throwbox_control import config as cp_config
from throwbox_control.errors import ApiError
from throwbox_control.validation import check_run, decode, run_request_decoder

REGISTRY = runtimes.load()
RUN_LIMITS = Limits(wall_time_ms=2000, cpu_time_ms=1500, memory_mb=128, pids=32, output_bytes=1000)

# ---------------------------------------------------------------- comparison


@pytest.mark.parametrize(("expected", "actual", "exact", "trim", "tokens"), [
    ("3\n", "3\n", True, True, True),
    ("3", "3\n", False, True, True),
    ("1 2\n", "1 2   \n\n\n", False, True, True),
    ("1 2\n", "1 2\r\n", False, True, True),
    ("1 2\n", "1  2\n", False, False, True),
    ("1\n2\n", "1 2\n", False, False, True),
    ("1\n\n2\n", "1\n2\n", False, False, True),
    ("  1\n", "1\n", False, False, True),         # leading whitespace counts outside tokens
    ("1 2\n", "1 3\n", False, False, False),
    ("", "\n\n", False, True, True),
])
def test_each_compare_mode_ignores_only_what_it_says(expected, actual, exact, trim, tokens):
    assert judging.matches(expected, actual, "exact") is exact
    assert judging.matches(expected, actual, "trim_trailing") is trim
    assert judging.matches(expected, actual, "tokens") is tokens


def test_an_unknown_compare_mode_is_an_error():
    with pytest.raises(ValueError):
        judging.matches("a", "a", "fuzzy")


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize(("outcome", "verdict"), [
    ("nonzero_exit", "runtime_error"), ("signaled", "runtime_error"), ("pids_limit", "runtime_error"),
    ("timeout", "time_limit"), ("memory_limit", "memory_limit"), ("output_limit", "output_limit"),
    ("compile_error", "compile_error"), (None, "skipped"),
])
def test_a_test_that_did_not_end_ok_gets_its_outcomes_verdict_whatever_it_printed(outcome, verdict):
    assert judging.verdict(outcome, "42\n", "42\n", "trim_trailing") == verdict


def test_an_ok_test_is_accepted_when_its_stdout_matches_or_nothing_is_expected():
    assert judging.verdict("ok", "42", "42\n", "trim_trailing") == "accepted"
    assert judging.verdict("ok", "42", "43\n", "trim_trailing") == "wrong_answer"
    assert judging.verdict("ok", None, "anything", "exact") == "accepted"


def test_a_peak_over_the_tests_own_memory_limit_is_memory_limit_unless_a_limit_of_ours_stopped_it():
    assert judging.over_memory("ok", 101, 100) == "memory_limit"
    assert judging.over_memory("signaled", 101, 100) == "memory_limit"
    assert judging.over_memory("ok", 100, 100) == "ok"
    assert judging.over_memory("timeout", 101, 100) == "timeout"
    assert judging.over_memory("output_limit", 101, 100) == "output_limit"


def result(i: int, verdict: str) -> RunTestResult:
    return RunTestResult(index=i, verdict=verdict, outcome=None if verdict == "skipped" else "ok")


def test_the_summary_counts_and_names_the_first_failing_verdict():
    s = judging.summarize([result(0, "accepted"), result(1, "time_limit"), result(2, "wrong_answer"),
                           result(3, "skipped")])
    assert (s.passed, s.failed, s.skipped, s.total, s.verdict) == (1, 3, 1, 4, "time_limit")
    assert judging.summarize([result(0, "accepted"), result(1, "accepted")]).verdict == "accepted"


def test_only_stop_on_first_failure_skips_after_a_failing_test():
    assert judging.stops_after("wrong_answer", True)
    assert not judging.stops_after("accepted", True)
    assert not judging.stops_after("wrong_answer", False)


# ---------------------------------------------------------------- messages and launcher frames


def job(tests: JobTests | None = None) -> RunJob:
    return RunJob(run_id="r", tenant="t", language="python", version="3", entrypoint="main.py",
                  files=[JobFile(name="main.py", content=b"print(1)")], created_at_ms=0, limits=RUN_LIMITS,
                  args=["x"], tests=tests if tests is not None else msgspec.UNSET)


def test_a_result_without_tests_encodes_no_tests_or_summary_fields():
    r = RunResult(id="r", language="python", version="3", status="completed", created_at="t")
    assert b'"tests"' not in encoder.encode(r) and b'"summary"' not in encoder.encode(r)
    r.tests, r.summary = [result(0, "accepted")], judging.summarize([result(0, "accepted")])
    assert msgspec.json.decode(encoder.encode(r), type=RunResult).summary.passed == 1


def test_the_header_of_a_run_with_tests_says_so_and_each_test_gets_its_own_frames():
    python = REGISTRY.resolve("python")
    cases = [JobTest(limits=Limits(wall_time_ms=500, cpu_time_ms=900, memory_mb=64, pids=8, output_bytes=10),
                     stdin=b"in", args=["a"]),
             JobTest(limits=RUN_LIMITS)]
    j = job(JobTests(cases=cases))
    cfg = config.load({}, registry=REGISTRY)
    h = msgspec.to_builtins(header_for(j, python, cfg))
    assert h["tests"] is True and h["run"] == ["python3", "-u", "main.py"]   # the run's args are not used
    assert "tests" not in msgspec.to_builtins(header_for(job(), python, cfg))  # unchanged without tests
    decoded = frames.FrameDecoder(frozenset((frames.TEST_START, frames.STDIN, frames.STDIN_EOF))).feed(
        frames_for_test(j, python, 0))
    assert [t for t, _ in decoded] == [frames.TEST_START, frames.STDIN, frames.STDIN_EOF]
    start = msgspec.json.decode(decoded[0][1], type=frames.TestStart)
    assert (start.index, start.run, start.cpu_time_s, start.nproc) == (0, ["python3", "-u", "main.py", "a"], 1, 8)
    assert decoded[1][1] == b"in"
    assert [t for t, _ in frames.FrameDecoder(frozenset((frames.TEST_START, frames.STDIN_EOF))).feed(
        frames_for_test(j, python, 1))] == [frames.TEST_START, frames.STDIN_EOF]     # no stdin: Z alone


def test_a_test_end_frame_is_typed():
    end = frames.test_end_decoder.decode(b'{"index": 3, "exit_code": null, "signal": "SIGKILL", "wall_ms": 12}')
    assert (end.index, end.exit_code, end.signal, end.wall_ms, end.pids_limit) == (3, None, "SIGKILL", 12, False)
    with pytest.raises(msgspec.ValidationError):
        frames.test_end_decoder.decode(b'{"index": "3"}')


# ---------------------------------------------------------------- validation

SETTINGS = cp_config.Settings(max_stdin_bytes=10)


def check(body: dict):
    return check_run(decode(msgspec.json.encode({"language": "python", "files": [
        {"name": "main.py", "content": "print(1)"}], **body}), run_request_decoder), REGISTRY, SETTINGS)


def error_of(body: dict) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as e:
        check(body)
    return e.value.status, e.value.code, e.value.details[0]["field"]


def test_tests_are_resolved_with_each_limit_at_most_the_runs():
    checked = check({"limits": {"memory_mb": 128}, "compare": "tokens", "stop_on_first_failure": True,
                     "tests": [{"stdin": "1", "args": ["a"], "expected_stdout": "2", "limits": {"memory_mb": 64}},
                               {}]})
    tests = checked.tests
    assert tests.compare == "tokens" and tests.stop_on_first_failure
    assert tests.cases[0].limits.memory_mb == 64 and tests.cases[1].limits == checked.limits
    assert tests.cases[0].stdin == b"1" and tests.cases[0].args == ["a"] and tests.cases[1].stdin is None
    assert check({"tests": [{}]}).tests.compare == "trim_trailing"
    assert check({}).tests is msgspec.UNSET


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"limits": {"memory_mb": 128}, "tests": [{}, {}, {}, {"limits": {"memory_mb": 129}}]}, 400,
     "tests[3].limits.memory_mb"),
    ({"tests": [{"limits": {"wall_time_ms": 0}}]}, 400, "tests[0].limits.wall_time_ms"),
    ({"tests": [{"limits": {"cpu_ms": 1}}]}, 400, "tests[0].limits.cpu_ms"),
    ({"tests": []}, 400, "tests"),
    ({"tests": [{}] * 101}, 400, "tests"),
    ({"tests": [{}], "stdin": "x"}, 400, "stdin"),
    ({"tests": [{}], "args": ["x"]}, 400, "args"),
    ({"tests": [{}], "interactive": True}, 400, "interactive"),
    ({"compare": "exact"}, 400, "compare"),
    ({"stop_on_first_failure": False}, 400, "stop_on_first_failure"),
    ({"tests": [{}], "compare": "fuzzy"}, 400, "compare"),
    ({"tests": [{"args": ["a\x00"]}]}, 400, "tests[0].args[0]"),
    ({"tests": [{}, {"stdin": "x" * 11}]}, 413, "tests[1].stdin"),
    ({"tests": [{"expected": "1"}]}, 400, "tests[0].expected"),
])
def test_a_bad_test_is_refused_with_the_field_that_is_wrong(body, status, field):
    assert error_of(body) == (status, "invalid_request" if status == 400 else "payload_too_large", field)
