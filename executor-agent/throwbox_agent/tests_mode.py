"""Test cases of one run (tests mode): one test at a time, each started by the agent (T, its
stdin, Z), stopped by it (K) at its wall clock or output cap, judged when the launcher reports
its end (Y); D says there are no more. The run's wall clock bounds them all."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from throwbox_common.messages import JobTest, JobTests, RunJob, RunTestEnded, RunTestResult, Usage
from throwbox_common.runtimes import Runtime

from . import frames, judging
from .cgroups import CgroupUsage
from .launcher import LauncherSession, frames_for_test
from .outcome import Decision, Exit, KillReason, Observed, decide
from .output import OutputCap, OutputSink
from .run_seams import ResetMemoryPeak
from .usage import UsageSampler

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0      # after a kill, how long the stream may take to end


@dataclass
class RunningTest:
    """The test the launcher runs now: its output, its kill, its deadlines."""

    index: int
    case: JobTest
    deadline: float                      # loop time: its wall clock, or the tests' budget if sooner
    cap: OutputCap
    cpu_ns_at_start: int = 0
    oom_kills_at_start: int = 0
    kill: KillReason | None = None
    kill_deadline: float | None = None   # K sent: Y must come by then, or the sandbox is killed
    out: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})
    truncated: dict[str, bool] = field(default_factory=lambda: {"stdout": False, "stderr": False})


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def judge_end(test: RunningTest, end: frames.TestEnd, usage: CgroupUsage | None) -> tuple[str, Decision, Usage]:
    """A test's outcome, decision and usage from its Y and the cgroup's usage (pure)."""
    decision = decide(Observed(
        kill_reason=test.kill, run_exit=Exit(end.exit_code, end.signal, end.pids_limit),
        cgroup_oom_kills=(usage.oom_kills - test.oom_kills_at_start) if usage else 0))
    # The test's own peak: gVisor may still hold an earlier test's memory, so the sandbox
    # cgroup's peak (reset before the test) is only the fallback.
    peak = end.max_rss_bytes or (usage.memory_peak_bytes if usage else 0)
    outcome = judging.over_memory(decision.outcome or "ok", peak, test.case.limits.memory_mb * 1024 * 1024)
    return outcome, decision, Usage(
        wall_ms=end.wall_ms, cpu_ms=((usage.cpu_ns - test.cpu_ns_at_start) // 1_000_000) if usage else 0,
        memory_peak_bytes=peak)


def conclude(run: Decision, results: list[RunTestResult], total: int,
             ended_normally: bool) -> tuple[Decision, list[RunTestResult]]:
    """The run's decision and its tests when it ends (pure), the tests not run skipped.
    `ended_normally`: X came after D, so the run's outcome is that of its first failing test
    (else of its last); otherwise the run keeps its own decision (cancelled, failed...)."""
    if run.outcome == "compile_error":
        return run, [RunTestResult(index=i, verdict="compile_error", outcome="compile_error") for i in range(total)]
    results = results + [judging.skipped(i) for i in range(len(results), total)]
    if not ended_normally:
        return run, results
    ran = [r for r in results if r.outcome is not None]
    decisive = next((r for r in ran if r.verdict != "accepted"), ran[-1] if ran else None)
    if decisive is None:
        return Decision("completed", "ok"), results
    return Decision("completed", decisive.outcome, decisive.exit_code, decisive.signal), results


class TestsRunner:
    """The tests of one run, driven by the run's stream loop."""

    def __init__(self, job: RunJob, runtime: Runtime, tests: JobTests, sink: OutputSink,
                 sampler: UsageSampler, reset_memory_peak: ResetMemoryPeak, spawn: Callable[..., asyncio.Task]):
        self.job, self.runtime, self.tests = job, runtime, tests
        self._sink, self._sampler, self._reset_memory_peak = sink, sampler, reset_memory_peak
        self._spawn = spawn                  # the run's background tasks (cancelled in its cleanup)
        self.session: LauncherSession | None = None
        self.test: RunningTest | None = None
        self.results: list[RunTestResult] = []
        self._end: frames.TestEnd | None = None       # Y read, not handled yet
        self._deadline: float | None = None           # loop time: the run's wall clock for all tests
        self._stop = False                            # skip the tests not started yet
        self._done_sent = False

    def begin(self, wall_s: float) -> float:
        """The tests begin (after the compile, if any): the run's wall clock bounds them all; the
        run is killed only if a test outlives its kill (the returned deadline)."""
        self._deadline = asyncio.get_running_loop().time() + wall_s
        return self._deadline + KILL_GRACE_S

    def limit(self) -> float:
        """When the stream loop must look at the running test next."""
        test = self.test
        if test is None:
            return math.inf
        return test.kill_deadline if test.kill_deadline is not None else test.deadline

    def outlived_kill(self, now: float) -> bool:
        """At `now`: the running test is stopped at its wall clock; True if it outlived its kill
        (the sandbox must end)."""
        test = self.test
        if test is None:
            return False
        if test.kill is None and now >= test.deadline:
            self.kill_test(KillReason.TIMEOUT)
        elif test.kill_deadline is not None and now >= test.kill_deadline:
            log.warning("run %s: test %d still running %.0fs after its kill", self.job.run_id, test.index, KILL_GRACE_S)
            return True
        return False

    def ended(self, end: frames.TestEnd) -> str | None:
        """Y read: the problem if it is not the running test's end."""
        if self.test is None or end.index != self.test.index or self._end is not None:
            return f"the launcher reported test {end.index}, which was not running"
        self._end = end
        return None

    def output(self, stream: str, data: bytes) -> None:
        """A test's output counts against its own cap and the run's (which bounds the result)."""
        test = self.test
        assert test is not None
        if test.kill is not None:
            return                       # stopped: the rest is not its output
        test.out[stream] += self._sink.add("run", stream, data, test.cap)
        exceeded = test.cap.exceeded or self._sink.cap.exceeded
        if exceeded:
            test.truncated[stream] = True
            self._stop |= self._sink.cap.exceeded      # no room left for other tests' output
            self.kill_test(KillReason.OUTPUT_LIMIT)
        self._sink.pace(now=exceeded)

    async def advance(self, compiling: bool, compile_failed: bool) -> None:
        """After frames were read: a test that ended is judged, then the next one starts (or D
        says there are no more)."""
        if self._end is not None:
            end, self._end = self._end, None
            assert self.test is not None
            self._sampler.snapshot()
            outcome, decision, usage = judge_end(self.test, end, self._sampler.last)
            self._record(self.test, outcome, decision.exit_code, decision.signal, usage)
        if self.test is not None or self._done_sent or compile_failed or compiling:
            return
        assert self.session is not None and self._deadline is not None
        loop = asyncio.get_running_loop()
        index = len(self.results)
        try:
            if index >= len(self.tests.cases) or self._stop or loop.time() >= self._deadline:
                self._done_sent = True
                await self.session.write(frames.encode(frames.TESTS_DONE))
                return
            self._start(index, loop.time())
            await self.session.write(frames_for_test(self.job, self.runtime, index))
        except (OSError, RuntimeError) as e:   # the sandbox went away: the stream's end says how
            log.debug("run %s: writing test frames: %s", self.job.run_id, e)

    def _start(self, index: int, now: float) -> None:
        assert self._deadline is not None
        case = self.tests.cases[index]
        cpu_ns = oom_kills = 0
        if self._sampler.paths is not None:
            self._reset_memory_peak(self._sampler.paths)   # the test's peak is its own
            usage = self._sampler.snapshot()
            if usage is not None:
                cpu_ns, oom_kills = usage.cpu_ns, usage.oom_kills
        self.test = RunningTest(index=index, case=case, cap=OutputCap(case.limits.output_bytes),
                                deadline=min(now + case.limits.wall_time_ms / 1000, self._deadline),
                                cpu_ns_at_start=cpu_ns, oom_kills_at_start=oom_kills)
        self._sink.test = index

    def kill_test(self, reason: KillReason) -> None:
        """Stop the running test (first reason wins): K to the launcher; the next test follows."""
        test = self.test
        if test is None or test.kill is not None or self.session is None:
            return
        test.kill = reason
        test.kill_deadline = asyncio.get_running_loop().time() + KILL_GRACE_S
        # K names the test: written after the next T (a race), the launcher ignores it.
        kill = frames.encode_json(frames.TEST_KILL, frames.TestKill(index=test.index))
        self._spawn(self.session.write_quietly(kill), name=f"testkill-{self.job.run_id}")

    def _record(self, test: RunningTest, outcome: str | None, exit_code: int | None, signal: str | None,
                usage: Usage) -> None:
        """Judge the test, then publish its output and its `test` event."""
        stdout = _text(test.out["stdout"])
        verdict = judging.verdict(outcome, test.case.expected_stdout, stdout, self.tests.compare)
        result = RunTestResult(
            index=test.index, verdict=verdict, outcome=outcome, exit_code=exit_code, signal=signal,  # type: ignore[arg-type]
            stdout=stdout, stderr=_text(test.out["stderr"]), stdout_truncated=test.truncated["stdout"],
            stderr_truncated=test.truncated["stderr"], usage=usage)
        self.results.append(result)
        self.test = None
        if judging.stops_after(verdict, self.tests.stop_on_first_failure):
            self._stop = True
        self._sink.flush(final=True)             # the test's last output, then its event
        self._sink.send(RunTestEnded(
            run_id=self.job.run_id, index=result.index, verdict=result.verdict, outcome=result.outcome,
            exit_code=result.exit_code, signal=result.signal, stdout_truncated=result.stdout_truncated,
            stderr_truncated=result.stderr_truncated, usage=result.usage))

    def conclude(self, run: Decision, ended_normally: bool) -> tuple[Decision, list[RunTestResult]]:
        """The run's tests when it ends: the test the sandbox ended in (not normally) takes the
        run's outcome (memory, pids, a timeout it outlived); then `conclude`."""
        test = self.test
        if (run.outcome != "compile_error" and test is not None and not ended_normally
                and run.status == "completed"):
            usage = self._sampler.last
            self._record(test, run.outcome, run.exit_code, run.signal, Usage(
                cpu_ms=((usage.cpu_ns - test.cpu_ns_at_start) // 1_000_000) if usage else 0,
                memory_peak_bytes=usage.memory_peak_bytes if usage else 0))
        return conclude(run, self.results, len(self.tests.cases), ended_normally)
