"""The result assembler (pure): what the agent observed of a run becomes its RunResult; a run
whose program never ran gets the one shared builder's result."""

import msgspec

from throwbox_agent import judging
from throwbox_agent.cgroups import CgroupUsage
from throwbox_agent.launcher import LauncherReport
from throwbox_agent.outcome import Decision, Exit, KillReason, decide
from throwbox_agent.result import RunObservations, assemble, never_ran, observed
from throwbox_common import results
from throwbox_common.messages import (
    ErrorInfo,
    JobTest,
    JobTests,
    Limits,
    RunJob,
    RunTestResult,
    Usage,
    rfc3339,
)

LIMITS = Limits(wall_time_ms=1000, cpu_time_ms=1000, memory_mb=64, pids=32, output_bytes=100)
MIB64 = 64 * 1024 * 1024


def job(**kw) -> RunJob:
    base = dict(run_id="r1", tenant="t", language="python", version="3.12", entrypoint="main.py", files=[],
                created_at_ms=1_000_000, limits=LIMITS)
    return RunJob(**(base | kw))


def output(run_out: bytes = b"", run_err: bytes = b"", compile_out: bytes = b"", compile_err: bytes = b"") -> dict:
    return {("run", "stdout"): run_out, ("run", "stderr"): run_err,
            ("compile", "stdout"): compile_out, ("compile", "stderr"): compile_err}


def observations(**kw) -> RunObservations:
    base = dict(decision=Decision("completed", "ok", 0), usage=None, compile_exit=None, output=output(),
                truncated={"stdout": False, "stderr": False}, memory_limit_bytes=MIB64,
                picked_ms=1_000_250, finished_ms=1_002_000)
    return RunObservations(**(base | kw))


def usage(**kw) -> CgroupUsage:
    return CgroupUsage(**(dict(cpu_ns=30_000_000, memory_peak_bytes=5_000_000, oom_kills=0, memory_failcnt=0) | kw))


def test_a_completed_run_carries_its_output_usage_timings_and_node():
    r = assemble(job(), observations(output=output(b"hi\n", b"warn"), usage=usage(), sandbox_ms=40, run_ms=900,
                                     stage_ms=850, node="n1"))
    assert (r.status, r.outcome, r.exit_code, r.signal) == ("completed", "ok", 0, None)
    assert (r.stdout, r.stderr, r.node, r.error, r.compile) == ("hi\n", "warn", "n1", None, None)
    assert r.usage == Usage(wall_ms=850, cpu_ms=30, memory_peak_bytes=5_000_000)
    assert (r.timings.queued_ms, r.timings.sandbox_ms, r.timings.run_ms, r.timings.total_ms) == (250, 40, 900, 2000)
    assert r.created_at == rfc3339(1_000_000) and r.finished_at == rfc3339(1_002_000)
    assert r.tests is msgspec.UNSET and r.summary is msgspec.UNSET          # no tests fields at all


def test_a_failed_or_cancelled_run_has_no_outcome_exit_or_signal_even_if_decided_with_them():
    err = ErrorInfo(code="limits_failed", message="no cgroup")
    r = assemble(job(), observations(decision=Decision("failed", "ok", 0, "SIGKILL", err)))
    assert (r.status, r.outcome, r.exit_code, r.signal, r.error) == ("failed", None, None, None, err)


def test_a_memory_limit_reports_a_peak_at_least_the_limit_even_if_the_last_sample_was_lower():
    r = assemble(job(), observations(decision=Decision("completed", "memory_limit", None, "SIGKILL"),
                                     usage=usage(memory_peak_bytes=10)))
    assert r.usage.memory_peak_bytes == MIB64


def test_output_undecodable_as_utf8_is_replaced_and_truncation_is_reported_per_stream():
    r = assemble(job(), observations(output=output(b"\xff ok"), truncated={"stdout": True, "stderr": False}))
    assert r.stdout == "\ufffd ok" and r.stdout_truncated and not r.stderr_truncated


def test_a_compiled_run_carries_its_compile_stage():
    r = assemble(job(), observations(compile_exit=Exit(1, None), output=output(compile_err=b"error: x"),
                                     decision=Decision("completed", "compile_error", 1)))
    assert r.compile is not None and (r.compile.exit_code, r.compile.outcome, r.compile.stderr) == (
        1, "nonzero_exit", "error: x")


def test_with_tests_the_result_has_them_summed_up_and_the_highest_peak_of_any_test():
    tests = [RunTestResult(index=0, verdict="accepted", outcome="ok", usage=Usage(memory_peak_bytes=9_000_000)),
             RunTestResult(index=1, verdict="wrong_answer", outcome="ok")]
    r = assemble(job(), observations(tests=tests, usage=usage(memory_peak_bytes=1)))
    assert r.tests == tests and r.summary == judging.summarize(tests)
    assert r.usage.memory_peak_bytes == 9_000_000


def test_observations_at_the_memory_limit_count_as_memory_evidence():
    o = observed(None, LauncherReport(), False, usage(memory_peak_bytes=MIB64), MIB64, None)
    assert o.memory_at_limit and decide(o).outcome == "memory_limit"       # the sandbox died without X


def test_the_launchers_report_and_the_kill_reason_go_into_the_decision():
    report = LauncherReport(run_exit=Exit(3, None), exit_reported=True)
    assert decide(observed(None, report, False, None, MIB64, None)) == Decision("completed", "nonzero_exit", 3)
    assert decide(observed(KillReason.TIMEOUT, report, False, None, MIB64, None)).outcome == "timeout"


def test_a_run_that_never_ran_has_its_queued_and_total_time_and_every_test_skipped():
    cases = [JobTest(limits=LIMITS), JobTest(limits=LIMITS)]
    err = ErrorInfo(code="no_sandbox", message="none")
    r = never_ran(job(tests=JobTests(cases=cases)), "failed", err, picked_ms=1_000_100, finished_ms=1_000_600)
    assert (r.status, r.error, r.outcome, r.stdout) == ("failed", err, None, "")
    assert (r.timings.queued_ms, r.timings.total_ms) == (100, 600)
    assert [t.verdict for t in r.tests] == ["skipped", "skipped"] and r.summary.skipped == 2


def test_the_shared_builder_takes_an_unknown_creation_time_as_now():
    r = results.failed("", "python", "", "invalid_request", "bad", created_at_ms=0)
    assert r.created_at == r.finished_at and r.timings.total_ms == 0 and r.error.code == "invalid_request"

