"""RunLifecycle: one object per run, explicit states, every resource released in `finally`.

queued -> acquiring -> preparing -> running -> finishing -> done
acquire a warm sandbox, publish Started and meanwhile attach, put the run's limits on the
container's host cgroup and seal its task dirs (fail closed); once Started is acknowledged and
all that is done, send the header and stdin, stream output under the cap and an absolute wall
deadline, decide the outcome, destroy the sandbox (always) alongside publishing Finished (with
the output not handed to Kafka yet, in one produce request); while Kafka is away, Started and
Finished are sent again until acknowledged (`publish.publish_until_acked`).

The lifecycle keeps the states, the deadlines, what the run acquired and its cleanup; the steps
are its parts: `prepare` (attach, limits, sealed task dirs), `launcher` (the launcher session:
header, stdin, typed frames into a `LauncherReport`), `output` (`OutputSink`: cap, coalescing,
sending, the last output's hand-over), `tests_mode` (test cases), `usage` (cgroup sampling),
`postmortem` (a sandbox that ended without an exit report), `result` (pure: observations ->
`RunResult`), `publish` (Started and Finished until acknowledged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import msgspec

from throwbox_common.messages import (
    Cancel,
    ControlRecord,
    ErrorInfo,
    RunJob,
    RunResult,
    StdinData,
    StdinEof,
    now_ms,
)
from throwbox_common.runtimes import Runtime

from . import cgroups, postmortem, prepare, publish, taskdirs
from .config import AgentConfig
from .docker_api import Attachment
from .errors import AgentError, CgroupError, DockerError, FrameError, SandboxUnavailable, TaskDirError
from .launcher import LauncherReport, LauncherSession, frames_for_test, header_for
from .metrics import AgentMetrics
from .outcome import KillReason, decide
from .output import OutputSink
from .pool import Sandbox
from .publish import RESULT_RETRY_S, StartNotAcknowledged, publish_until_acked
from .result import RunObservations, assemble, never_ran, observed
from .run_seams import (
    ApplyLimits,
    FindCgroups,
    Publisher,
    ResetMemoryPeak,
    RunDocker,
    SandboxSource,
    SealTaskDirs,
    WeighSandboxes,
)
from .stream import RunStream
from .tests_mode import TestsRunner
from .usage import UsageSampler

# Re-exported: the agent and the tests name them from here.
__all__ = ["RESULT_RETRY_S", "KillReason", "RunAbandoned", "RunDeps", "RunLifecycle", "RunState",
           "frames_for_test", "header_for", "publish_until_acked"]

log = logging.getLogger(__name__)


class RunAbandoned(AgentError):
    """The run's partition moved to another agent before it started here: no result from us."""


class RunState(Enum):
    QUEUED = "queued"
    ACQUIRING = "acquiring"
    PREPARING = "preparing"
    RUNNING = "running"
    FINISHING = "finishing"
    DONE = "done"


@dataclass
class RunDeps:
    config: AgentConfig
    pool: SandboxSource
    docker: RunDocker
    publisher: Publisher
    metrics: AgentMetrics
    agent_name: str
    node_name: str | None = None      # the Nomad node the sandboxes run on (the result's `node`)
    apply_limits: ApplyLimits = cgroups.apply_run_limits    # seams for tests
    find_cgroups: FindCgroups = cgroups.find_paths
    weigh_sandboxes: WeighSandboxes = cgroups.weigh_sandboxes
    # Nomad's data_dir/alloc on this host; None only where there are no task dirs (unit tests).
    alloc_root: Path | None = None
    seal_task_dirs: SealTaskDirs = taskdirs.seal
    reset_memory_peak: ResetMemoryPeak = cgroups.reset_memory_peak
    # The agent's hooks: a run got its sandbox (the start rate), a run gave its sandbox back
    # (room for the next held-back run of its runtime).
    on_started: Callable[[], None] = lambda: None
    on_released: Callable[[], None] = lambda: None


class RunLifecycle:
    def __init__(self, job: RunJob, runtime: Runtime, deps: RunDeps):
        self.job = job
        self.runtime = runtime
        self.deps = deps
        self.state = RunState.QUEUED
        # What the run acquired, released in `_cleanup`: its sandbox, the launcher session (its
        # attachment), its background tasks (kills, stdin, flushing, sampling, test kills).
        self.sandbox: Sandbox | None = None
        self._session: LauncherSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._kill_reason: KillReason | None = None
        self._killed = asyncio.Event()
        self._abandoned = False
        self._stdin_q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._report = LauncherReport()
        self._sink: OutputSink          # made in execute() (as the tests runner), from the deps then
        self._sampler = UsageSampler()
        self._tests: TestsRunner | None = None        # tests mode (job.tests), made in execute()
        self._last_output: list = []                  # not handed to Kafka when the run ended: sent with Finished
        self._stream: RunStream | None = None          # the program's stream, once its header is sent
        self._run_started: float | None = None
        self.result_published = False       # Finished acknowledged
        self.done = asyncio.Event()         # execute() has returned or raised

    def control(self, msg: ControlRecord) -> None:
        match msg:
            case Cancel():
                self.kill(KillReason.CANCEL)
            case StdinData(data=data):
                self._stdin_q.put_nowait(data.encode())
            case StdinEof():
                self._stdin_q.put_nowait(None)

    def abandon(self) -> bool:
        """Give the run up if it has not started (no Started record yet): the agent that now owns
        its partition runs it. False if it is too late (it finishes here)."""
        if self.state not in (RunState.QUEUED, RunState.ACQUIRING):
            return False
        self._abandoned = True
        self._killed.set()
        return True

    def kill(self, reason: KillReason) -> None:
        """Stop the program now (first reason wins); the stream then ends. Once the run is
        finishing its result is decided: nothing to stop."""
        if self._kill_reason is not None or self.state in (RunState.FINISHING, RunState.DONE):
            return
        self._kill_reason = reason
        self._killed.set()
        if self.sandbox is not None:
            self._sampler.snapshot()
            self._spawn(self._kill_sandbox(reason), name=f"kill-{self.job.run_id}")

    async def _kill_sandbox(self, reason: KillReason) -> None:
        # The sandbox's end kills its container (after its successor's create is asked for);
        # awaited here, so the program has ended when this returns.
        ending = self._end_sandbox(f"killed: {reason.value}")
        if ending is not None:
            await asyncio.shield(ending)

    def _spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    async def execute(self) -> RunResult:
        """Run the job and publish its result. The sandbox's destruction starts as soon as the
        result is decided and goes on alongside publishing it (neither waits for the other), so
        the sandbox is never held while Kafka is away; execute() returns once both are done."""
        self._sink = OutputSink(self.job.run_id, self.job.limits.output_bytes, self.deps.publisher)
        if self.job.tests is not msgspec.UNSET:
            self._tests = TestsRunner(self.job, self.runtime, self.job.tests, self._sink, self._sampler,
                                      self.deps.reset_memory_peak, self._spawn)
        result: RunResult | None = None
        try:
            try:
                result = await self._run()
            finally:
                if result is None:
                    self.state = RunState.DONE
                cleanup = asyncio.ensure_future(self._cleanup(result_follows=result is not None))
                if result is None:
                    await asyncio.shield(cleanup)
            try:
                # Finished after every Output of the run: the chunk the sender may still be
                # handing over first, then the run's last chunks and Finished together.
                await self._sink.sent()
                await publish.publish_result(self.deps.publisher, self.deps.metrics, self.runtime.key,
                                             self.deps.agent_name, result, [] if self._sink.dropped else self._last_output)
            finally:
                await asyncio.shield(cleanup)
            self.result_published = True
            return result
        finally:
            self.state = RunState.DONE
            self.done.set()

    async def _run(self) -> RunResult:
        picked_ms = now_ms()
        if self._abandoned:
            raise RunAbandoned(self.job.run_id)
        if self.job.start_deadline_ms is not None and picked_ms > self.job.start_deadline_ms:
            return self._finish_early("failed", ErrorInfo(
                code="queue_timeout", message="the run waited longer than its start deadline"), picked_ms)
        if self._kill_reason is KillReason.CANCEL:
            return self._finish_early("cancelled", None, picked_ms)
        t_acquire = time.monotonic()
        early = await self._acquire(picked_ms)
        if early is not None:
            return early
        return await self._start(picked_ms, int((time.monotonic() - t_acquire) * 1000))

    async def _acquire(self, picked_ms: int) -> RunResult | None:
        """A sandbox for the run (None), or the result of a run that got none."""
        job = self.job
        self.state = RunState.ACQUIRING
        # A run may wait for a sandbox until its start deadline, as long as it may wait in the
        # queue (the control plane set it); the agent's own acquire timeout is for jobs without one.
        wait_s = self.deps.config.acquire_timeout_ms / 1000
        if job.start_deadline_ms is not None:
            wait_s = max(0.0, (job.start_deadline_ms - picked_ms) / 1000)
        try:
            self.sandbox = await prepare.acquire(self.deps.pool, self.runtime.key, wait_s, self._killed)
        except SandboxUnavailable as e:
            if self._abandoned:
                raise RunAbandoned(job.run_id) from e
            code = "queue_timeout" if job.start_deadline_ms is not None else "no_sandbox"
            message = f"no sandbox became free before the run's start deadline ({e})" if code == "queue_timeout" else str(e)
            return self._finish_early("failed", ErrorInfo(code=code, message=message), picked_ms)
        if self._abandoned:
            raise RunAbandoned(job.run_id)
        if self.sandbox is None:
            return self._finish_early("cancelled", None, picked_ms)
        self.deps.on_started()
        return None

    async def _start(self, picked_ms: int, sandbox_ms: int) -> RunResult:
        """The sandbox is made ready (attach, limits, sealed task dirs) while Kafka acknowledges
        Started; the program starts (the header is sent) only once both are done."""
        assert self.sandbox is not None
        ready = asyncio.create_task(prepare.ready_sandbox(
            self.deps, self.job.run_id, self.sandbox, self._memory_limit_bytes, self._attached, self._sampler),
            name=f"ready-{self.job.run_id}")
        try:
            await publish.publish_started(self.deps.publisher, self.job, self.deps.agent_name, self.sandbox.alloc_id)
        except StartNotAcknowledged as e:
            await asyncio.gather(ready, return_exceptions=True)   # its attachment is closed in cleanup
            return self._finish_early("failed", ErrorInfo(code="queue_timeout", message=str(e)), picked_ms)
        except BaseException:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            raise
        agent_error: ErrorInfo | None = None
        if self._kill_reason is not None:     # cancelled while we acquired
            await asyncio.gather(ready, return_exceptions=True)
            return await self._finish(agent_error, picked_ms, sandbox_ms)
        self.state = RunState.PREPARING
        try:
            await ready
            await self._send_header()
        except (CgroupError, TaskDirError) as e:
            agent_error = ErrorInfo(code="limits_failed", message=f"could not apply the run's limits: {e}")
        except (DockerError, FrameError) as e:
            agent_error = ErrorInfo(code="sandbox_failed", message=f"could not start the run: {e}")
        if agent_error is None and self._kill_reason is None:
            self.state = RunState.RUNNING
            assert self._stream is not None       # made by _send_header
            await self._stream.run()
        return await self._finish(agent_error, picked_ms, sandbox_ms)

    def _attached(self, attachment: Attachment) -> None:
        self._session = LauncherSession(self.job.run_id, attachment, self._report, self._stdin_q,
                                        tests_mode=self._tests is not None)
        if self._tests is not None:
            self._tests.session = self._session

    @property
    def _memory_limit_bytes(self) -> int:
        return self.job.limits.memory_mb * 1024 * 1024

    async def _send_header(self) -> None:
        """The program starts: the H frame, then stdin (Started is acknowledged, limits are on)."""
        assert self._session is not None
        header = header_for(self.job, self.runtime, self.deps.config)
        self._run_started = time.monotonic()
        self._stream = RunStream(self.job, self._session, self._sink, self._tests, self._sampler, self._spawn,
                                 header.compile is not None, self._run_started, self._killed, self.kill,
                                 lambda: self._kill_reason)
        await self._session.start(header, self.job)

    async def _finish(self, agent_error: ErrorInfo | None, picked_ms: int, sandbox_ms: int) -> RunResult:
        self.state = RunState.FINISHING
        report, usage = self._report, self._sampler.last
        oom = agent_error is None and await postmortem.examine(
            self.deps.docker, self.job.run_id, self.sandbox, self._kill_reason is not None, usage, report)
        decision = decide(observed(self._kill_reason, report, oom, usage, self._memory_limit_bytes, agent_error))
        tests = None
        if self._tests is not None:
            decision, tests = self._tests.conclude(decision, ended_normally=(
                agent_error is None and report.launch_error is None and report.exit_reported
                and self._kill_reason is not KillReason.CANCEL))
        self._last_output = self._sink.take_last()   # after the last test's output and event
        stream = self._stream
        end = (stream.ended if stream else None) or time.monotonic()
        return assemble(self.job, RunObservations(
            decision=decision, usage=usage, compile_exit=report.compile_exit, output=self._sink.kept,
            truncated=self._sink.truncated, memory_limit_bytes=self._memory_limit_bytes, picked_ms=picked_ms,
            finished_ms=now_ms(), sandbox_ms=sandbox_ms,
            run_ms=int((end - self._run_started) * 1000) if self._run_started else 0,
            stage_ms=int((end - stream.stage_started) * 1000) if stream else 0,
            tests=tests, node=self.deps.node_name if self.sandbox is not None else None))

    def _finish_early(self, status: str, error: ErrorInfo | None, picked_ms: int) -> RunResult:
        self.state = RunState.FINISHING
        return never_ran(self.job, status, error, picked_ms)  # type: ignore[arg-type]

    @property
    def wants_sandbox(self) -> bool:
        """Waits for, or holds, a sandbox (a finishing run has given its own back)."""
        ended = self.sandbox is not None and self.sandbox.ended
        return not ended and self.state not in (RunState.FINISHING, RunState.DONE)

    def _end_sandbox(self, reason: str) -> asyncio.Future[None] | None:
        """End the run's sandbox (once, whoever asks first: a kill or the cleanup); the future
        is done when its container is killed."""
        if self.sandbox is None:
            return None
        first = not self.sandbox.ended
        ending = self.sandbox.end(reason)
        if first:
            self.deps.on_released()
        return ending

    async def _cleanup(self, result_follows: bool) -> None:
        """Release everything the run holds. The output sender stays when a result follows: its
        chunks go out before the result."""
        for t in self._tasks:
            if not t.done() and not t.get_name().startswith("kill-"):
                t.cancel()
        if not result_follows:
            self._sink.stop()
        if self._session is not None:
            self._session.close()
        self._end_sandbox("run over")      # its kill goes on in the background
        kills = [t for t in self._tasks if t.get_name().startswith("kill-")]
        await asyncio.gather(*kills, return_exceptions=True)
