"""A run's result from what was observed (pure; unit-tested with plain data): the decision, the
output kept, the cgroup's usage and the run's times become its `RunResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from throwbox_common import results
from throwbox_common.messages import (
    CompileResult,
    ErrorInfo,
    RunJob,
    RunResult,
    RunStatus,
    RunTestResult,
    Timings,
    Usage,
    rfc3339,
)

from . import judging
from .cgroups import CgroupUsage
from .launcher import LauncherReport
from .outcome import Decision, Exit, KillReason, Observed, stage_outcome


@dataclass(frozen=True)
class RunObservations:
    """What the agent saw of one run, at its end."""

    decision: Decision
    usage: CgroupUsage | None                       # the last sample of the sandbox's cgroup
    compile_exit: Exit | None
    output: Mapping[tuple[str, str], bytes]         # (stage, stream) -> what the result keeps
    truncated: Mapping[str, bool]                   # stream -> cut at the cap
    memory_limit_bytes: int
    picked_ms: int                                  # wall clock: the agent took the run
    finished_ms: int
    sandbox_ms: int = 0                             # waiting for a sandbox
    run_ms: int = 0                                 # header sent to the stream's end
    stage_ms: int = 0                               # the run stage (after the compile)
    tests: list[RunTestResult] | None = None        # tests mode: every test's result
    node: str | None = None                         # the Nomad node of the sandbox


def observed(kill_reason: KillReason | None, report: LauncherReport, oom_killed: bool, usage: CgroupUsage | None,
             memory_limit_bytes: int, agent_error: ErrorInfo | None) -> Observed:
    """The inputs of `outcome.decide` from the run's kill, the launcher's report and the usage."""
    return Observed(
        kill_reason=kill_reason, run_exit=report.run_exit, compile_exit=report.compile_exit,
        launch_error=report.launch_error, oom_killed=oom_killed,
        cgroup_oom_kills=usage.oom_kills if usage else 0,
        cgroup_pids_max_hits=usage.pids_max_hits if usage else 0,
        pids_near_limit=usage is not None and usage.pids_near_max,
        memory_at_limit=usage is not None and (
            usage.memory_failcnt > 0 or usage.memory_peak_bytes >= memory_limit_bytes),
        agent_error=agent_error)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _memory_peak(o: RunObservations) -> int:
    peak = o.usage.memory_peak_bytes if o.usage else 0
    if o.tests is not None:
        peak = max([peak] + [t.usage.memory_peak_bytes for t in o.tests])
    if o.decision.outcome == "memory_limit":
        # The host cgroup OOM-kills at its limit, so the peak reached it. A lower figure is a
        # sample taken before the end: the cgroup can vanish with the sandbox before the last read.
        peak = max(peak, o.memory_limit_bytes)
    return peak


def assemble(job: RunJob, o: RunObservations) -> RunResult:
    """The result of a run that got a sandbox."""
    d = o.decision
    completed = d.status == "completed"
    compile_result = None
    if o.compile_exit is not None:
        compile_result = CompileResult(
            stdout=_text(o.output[("compile", "stdout")]), stderr=_text(o.output[("compile", "stderr")]),
            exit_code=o.compile_exit.exit_code, outcome=stage_outcome(o.compile_exit))
    result = RunResult(
        id=job.run_id, language=job.language, version=job.version, status=d.status,  # type: ignore[arg-type]
        created_at=rfc3339(job.created_at_ms),
        outcome=d.outcome if completed else None,  # type: ignore[arg-type]
        exit_code=d.exit_code if completed else None, signal=d.signal if completed else None,
        stdout=_text(o.output[("run", "stdout")]), stderr=_text(o.output[("run", "stderr")]),
        stdout_truncated=o.truncated["stdout"], stderr_truncated=o.truncated["stderr"],
        compile=compile_result,
        usage=Usage(wall_ms=o.stage_ms, cpu_ms=(o.usage.cpu_ns // 1_000_000) if o.usage else 0,
                    memory_peak_bytes=_memory_peak(o)),
        timings=Timings(queued_ms=max(0, o.picked_ms - job.created_at_ms), sandbox_ms=o.sandbox_ms,
                        run_ms=o.run_ms, total_ms=max(0, o.finished_ms - job.created_at_ms)),
        error=d.error, finished_at=rfc3339(o.finished_ms), node=o.node)
    if o.tests is not None:
        result.tests, result.summary = o.tests, judging.summarize(o.tests)
    return result


def never_ran(job: RunJob, status: RunStatus, error: ErrorInfo | None, picked_ms: int,
              finished_ms: int | None = None) -> RunResult:
    """The result of a run that ended before its program ran (cancelled, no sandbox, too late);
    with tests, every test skipped."""
    result = results.never_ran(job.run_id, job.language, job.version, status, error,
                               created_at_ms=job.created_at_ms, picked_at_ms=picked_ms, at_ms=finished_ms)
    if job.tests is not msgspec.UNSET:
        result.tests = [judging.skipped(i) for i in range(len(job.tests.cases))]
        result.summary = judging.summarize(result.tests)
    return result
