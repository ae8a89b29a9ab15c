"""RunLifecycle: one object per run, explicit states, every resource released in `finally`.

queued -> acquiring -> preparing -> running -> finishing -> done
acquire a warm sandbox, publish Started and meanwhile attach, put the run's limits on the
container's host cgroup and seal its task dirs (fail closed); once Started is acknowledged and
all that is done, send the header and stdin, stream output under the cap and an absolute wall
deadline, decide the outcome, destroy the sandbox (always) alongside publishing Finished (with
the output not handed to Kafka yet, in one produce request); while Kafka is away, Started and
Finished are sent again until acknowledged (`publish_until_acked`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import msgspec

from throwbox_common.deadlines import START_GRACE_MS
from throwbox_common.messages import (
    Cancel,
    CompileResult,
    ControlRecord,
    ErrorInfo,
    Finished,
    JobTest,
    JobTests,
    Output,
    RunEventRecord,
    RunJob,
    RunResult,
    RunTestEnded,
    RunTestResult,
    Started,
    StdinData,
    StdinEof,
    Timings,
    Usage,
    now_ms,
    rfc3339,
)
from throwbox_common.runtimes import Runtime

from . import cgroups, frames, judging, sandbox_job, taskdirs
from .config import AgentConfig
from .docker_api import Attachment, ContainerState
from .errors import (
    AgentError,
    CgroupError,
    DockerError,
    FrameError,
    PublishError,
    SandboxUnavailable,
    TaskDirError,
)
from .metrics import AgentMetrics
from .outcome import Decision, Exit, KillReason, Observed, decide, stage_outcome
from .output import COALESCE_BYTES, COALESCE_S, Coalescer, OutputCap
from .pool import Sandbox
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

log = logging.getLogger(__name__)

SAMPLE_S = 0.1          # cgroup usage sampling (the cgroup may vanish right after the exit)
KILL_GRACE_S = 5.0      # after a kill, how long the stream may take to end
LAUNCHER_STDERR_KEEP = 4096
# While Kafka is away, Started and Finished are sent again (backoff doubling from the first
# to the longest pause) until acknowledged. A finished run's result is given up only after
# RESULT_RETRY_S: its offset then stays uncommitted and the run is settled on redelivery.
PUBLISH_BACKOFF_FIRST_S = 0.5
PUBLISH_BACKOFF_MAX_S = 5.0
RESULT_RETRY_S = 300.0
START_GRACE_S = START_GRACE_MS / 1000     # the control plane reaps a run not started by then
START_RETRY_MIN_S = 10.0


class RunAbandoned(AgentError):
    """The run's partition moved to another agent before it started here: no result from us."""


class StartNotAcknowledged(AgentError):
    """Kafka did not acknowledge the run's Started before its start deadline: the run does not start."""


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


async def publish_until_acked(publisher: Publisher, event: RunEventRecord, give_up_at: float,
                              preceded_by: Sequence[RunEventRecord] = ()) -> int:
    """Publish `event` and wait for the broker's ack; while Kafka is away, send it again with
    backoff until the monotonic time `give_up_at`. The number of attempts it took; PublishError
    (the last one) when it gives up, or at once when sending again cannot help.

    The chunks `preceded_by` go with the first attempt only (in its produce request, before
    `event`): chunks are best-effort, and one that failed with that attempt stays lost.

    A record sent again after a failed attempt may reach the log twice (the first copy may have
    been written before the ack was lost): readers keep the first Finished and the first Started."""
    what = type(event).__name__
    delay = PUBLISH_BACKOFF_FIRST_S
    attempt = 0
    while True:
        attempt += 1
        try:
            lead, preceded_by = preceded_by, ()
            await asyncio.wait_for(publisher.publish_acked(event, lead), max(give_up_at - time.monotonic(), 0.0))
            if attempt > 1:
                log.info("run %s: %s acknowledged after %d attempts", event.run_id, what, attempt)
            return attempt
        except TimeoutError as e:
            raise PublishError(f"{what} not acknowledged in time ({attempt} attempts)", retriable=True) from e
        except PublishError as e:
            if not e.retriable or time.monotonic() + delay >= give_up_at:
                raise
            if attempt == 1 or attempt % 10 == 0:
                log.warning("run %s: publishing %s (attempt %d): %s; sending it again until Kafka acknowledges it",
                            event.run_id, what, attempt, e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, PUBLISH_BACKOFF_MAX_S)


def header_for(job: RunJob, runtime: Runtime, config: AgentConfig) -> dict:
    """The launcher's H frame for this run (pure). With tests, each test's command comes in its
    own T frame (`frames_for_test`); the header's run command is then only checked."""
    with_tests = job.tests is not msgspec.UNSET
    header = {
        "files": [{"name": f.name, "content_b64": base64.b64encode(f.content).decode()} for f in job.files],
        "compile": runtime.compile_command(job.entrypoint, [f.name for f in job.files]),
        "run": runtime.run_command(job.entrypoint, [] if with_tests else job.args, [f.name for f in job.files]),
        "env": dict(job.env),
        "cpu_time_s": _cpu_time_s(job.limits.cpu_time_ms),
        "nproc": job.limits.pids,
        "nofile": config.nofile,
        "fsize_bytes": config.tmpfs_mb * 1024 * 1024,
    }
    if with_tests:
        header["tests"] = True
    return header


def frames_for_test(job: RunJob, runtime: Runtime, index: int) -> bytes:
    """Test `index` for the launcher (pure): T with its command and rlimits, its stdin, Z."""
    assert job.tests is not msgspec.UNSET
    case = job.tests.cases[index]
    start = frames.TestStart(index=index, run=runtime.run_command(job.entrypoint, case.args, [f.name for f in job.files]),
                             cpu_time_s=_cpu_time_s(case.limits.cpu_time_ms), nproc=case.limits.pids)
    return (frames.encode_json(frames.TEST_START, start) + (frames.encode_stdin(case.stdin) if case.stdin else b"")
            + frames.encode(frames.STDIN_EOF))


def _cpu_time_s(cpu_time_ms: int) -> int:
    return max(1, math.ceil(cpu_time_ms / 1000))


@dataclass
class RunningTest:
    """The test the launcher runs now (tests mode): its output, its kill, its deadlines."""

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


class RunLifecycle:
    def __init__(self, job: RunJob, runtime: Runtime, deps: RunDeps):
        self.job = job
        self.runtime = runtime
        self.deps = deps
        self.state = RunState.QUEUED
        self.sandbox: Sandbox | None = None
        self._attachment: Attachment | None = None
        self._cgroup: cgroups.CgroupPaths | None = None
        self._usage: cgroups.CgroupUsage | None = None
        self._kill_reason: KillReason | None = None
        self._killed = asyncio.Event()
        self._abandoned = False
        self._stdin_q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._cap = OutputCap(job.limits.output_bytes)
        self._coalescer = Coalescer()
        self._flush_wakeup = asyncio.Event()
        self._last_flush = -math.inf  # monotonic time of the last flush (none yet)
        self._kept: dict[tuple[str, str], bytearray] = {
            (s, t): bytearray() for s in ("compile", "run") for t in ("stdout", "stderr")}
        self._truncated = {"stdout": False, "stderr": False}
        self._compile_exit: Exit | None = None
        self._run_exit: Exit | None = None
        self._exit_reported = False      # X seen (after a failed compile it carries no run exit)
        self._launch_error: str | None = None
        self._launcher_stderr = bytearray()
        self._tasks: list[asyncio.Task] = []
        self._outbox: asyncio.Queue[Output | RunTestEnded | None] = asyncio.Queue()
        self._sender: asyncio.Task | None = None
        self._output_dropped = False        # a chunk could not be handed to Kafka: later ones neither
        self._last_output: list[Output | RunTestEnded] = []  # not handed to Kafka when the run ended: sent with Finished
        # Tests mode (job.tests): one test at a time, started by the agent (frames_for_test).
        self._tests: JobTests | None = None if job.tests is msgspec.UNSET else job.tests
        self._test: RunningTest | None = None
        self._test_end: frames.TestEnd | None = None   # Y read, not handled yet
        self._test_results: list[RunTestResult] = []
        self._tests_deadline: float | None = None       # loop time: the run's wall clock for all tests
        self._tests_stop = False                         # skip the tests not started yet
        self._tests_done_sent = False
        self._has_compile = False
        self._run_started: float | None = None
        self._stage_started: float | None = None
        self._ended: float | None = None
        self.result_published = False       # Finished acknowledged
        self.done = asyncio.Event()         # execute() has returned or raised

    # ---------------------------------------------------------------- control records

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
            self._snapshot_usage()
            self._tasks.append(asyncio.create_task(self._kill_sandbox(reason), name=f"kill-{self.job.run_id}"))

    async def _kill_sandbox(self, reason: KillReason) -> None:
        # The sandbox's end kills its container (after its successor's create is asked for);
        # awaited here, so the program has ended when this returns.
        ending = self._end_sandbox(f"killed: {reason.value}")
        if ending is not None:
            await asyncio.shield(ending)

    # ---------------------------------------------------------------- the run

    async def execute(self) -> RunResult:
        """Run the job and publish its result. The sandbox's destruction starts as soon as the
        result is decided and goes on alongside publishing it (neither waits for the other), so
        the sandbox is never held while Kafka is away; execute() returns once both are done."""
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
                await self._publish_result(result)
            finally:
                await asyncio.shield(cleanup)
            self.result_published = True
            return result
        finally:
            self.state = RunState.DONE
            self.done.set()

    async def _run(self) -> RunResult:
        job = self.job
        picked_ms = now_ms()
        t_acquire = time.monotonic()
        sandbox_ms = 0
        agent_error: ErrorInfo | None = None
        if self._abandoned:
            raise RunAbandoned(job.run_id)
        if job.start_deadline_ms is not None and picked_ms > job.start_deadline_ms:
            return self._finish_early("failed", ErrorInfo(
                code="queue_timeout", message="the run waited longer than its start deadline"), picked_ms)
        if self._kill_reason is KillReason.CANCEL:
            return self._finish_early("cancelled", None, picked_ms)
        self.state = RunState.ACQUIRING
        # A run may wait for a sandbox until its start deadline, as long as it may wait in the
        # queue (the control plane set it); the agent's own acquire timeout is for jobs without one.
        wait_s = self.deps.config.acquire_timeout_ms / 1000
        if job.start_deadline_ms is not None:
            wait_s = max(0.0, (job.start_deadline_ms - picked_ms) / 1000)
        acquire = asyncio.create_task(self.deps.pool.acquire(self.runtime.key, wait_s))
        killed = asyncio.create_task(self._killed.wait())
        try:
            await asyncio.wait({acquire, killed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            killed.cancel()
        if not acquire.done():
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError, AgentError):
                self.sandbox = await acquire   # raced: it may have completed meanwhile
        if self._abandoned:
            raise RunAbandoned(job.run_id)
        if not acquire.done() or acquire.cancelled():
            return self._finish_early("cancelled", None, picked_ms)
        try:
            self.sandbox = acquire.result()
            self.deps.on_started()
        except SandboxUnavailable as e:
            if job.start_deadline_ms is not None:
                return self._finish_early("failed", ErrorInfo(
                    code="queue_timeout", message=f"no sandbox became free before the run's start deadline ({e})"),
                    picked_ms)
            return self._finish_early("failed", ErrorInfo(code="no_sandbox", message=str(e)), picked_ms)
        sandbox_ms = int((time.monotonic() - t_acquire) * 1000)
        # The sandbox is made ready (attach, limits, sealed task dirs) while Kafka acknowledges
        # Started; the program starts (the header is sent) only once both are done.
        ready = asyncio.create_task(self._ready_sandbox(), name=f"ready-{job.run_id}")
        try:
            await self._publish_started()
        except StartNotAcknowledged as e:
            await asyncio.gather(ready, return_exceptions=True)   # its attachment is closed in cleanup
            return self._finish_early("failed", ErrorInfo(code="queue_timeout", message=str(e)), picked_ms)
        except BaseException:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            raise
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
            await self._stream()
        return await self._finish(agent_error, picked_ms, sandbox_ms)

    async def _publish_started(self) -> None:
        """Started, acknowledged before anything runs. While Kafka is away it is sent again until
        the start deadline (+ the control plane's grace) has passed: a run the control plane has
        given up as queue_timeout by then is not started late."""
        give_up_s = RESULT_RETRY_S
        if self.job.start_deadline_ms is not None:
            give_up_s = max((self.job.start_deadline_ms - now_ms()) / 1000 + START_GRACE_S, START_RETRY_MIN_S)
        assert self.sandbox is not None
        try:
            await publish_until_acked(self.deps.publisher, Started(
                run_id=self.job.run_id, agent=self.deps.agent_name, sandbox=self.sandbox.alloc_id, at_ms=now_ms()),
                time.monotonic() + give_up_s)
        except PublishError as e:
            if not e.retriable:
                raise
            raise StartNotAcknowledged(f"Kafka did not acknowledge the run's start before its start deadline: {e}") from e

    @property
    def _memory_limit_bytes(self) -> int:
        return self.job.limits.memory_mb * 1024 * 1024

    async def _ready_sandbox(self) -> None:
        """Attach, then the run's limits on the container's cgroup and its task dirs sealed.
        Nothing runs yet: the launcher waits for the header."""
        sb = self.sandbox
        assert sb is not None
        attached, state = await asyncio.gather(self.deps.docker.attach(sb.container_id),
                                               self.deps.docker.inspect(sb.container_id), return_exceptions=True)
        if isinstance(attached, BaseException):
            raise attached
        self._attachment = attached           # from here on closed in cleanup, whatever follows
        if isinstance(state, BaseException):
            raise state
        if not state.running or state.pid <= 0:
            raise DockerError(f"container {sb.container_id[:12]} is not running")
        self._cgroup = self.deps.find_cgroups(state.pid)
        # Fail closed: the program starts only after the limits are in place.
        self.deps.apply_limits(self._cgroup, self._memory_limit_bytes, 1.0, self.deps.config.run_cpu_shares)
        self._weigh_sandboxes()
        if self.deps.alloc_root is not None:
            self.deps.seal_task_dirs(self.deps.alloc_root / sb.alloc_id, sandbox_job.TASK_NAME)
        self._snapshot_usage()

    def _weigh_sandboxes(self) -> None:
        """Runs before the host's housekeeping (checked on every run: Docker may recreate its
        cgroup parent). A weight, not a limit: if it cannot be written, the run goes on."""
        shares = self.deps.config.sandboxes_cpu_shares
        if not shares:
            return
        try:
            if self.deps.weigh_sandboxes(self._cgroup, shares):
                log.info("sandboxes' cgroup parent weighs cpu.shares=%d against host processes", shares)
        except CgroupError as e:
            log.warning("run %s: sandboxes' cgroup weight not set: %s", self.job.run_id, e)

    async def _send_header(self) -> None:
        """The program starts: the H frame, then stdin (Started is acknowledged, limits are on)."""
        assert self._attachment is not None
        header_dict = header_for(self.job, self.runtime, self.deps.config)
        self._has_compile = header_dict["compile"] is not None
        header = json.dumps(header_dict).encode()
        self._run_started = self._stage_started = time.monotonic()
        await self._attachment.write(frames.encode(frames.HEADER, header))
        if self._tests is not None:
            return                  # each test's stdin follows its T frame
        if self.job.stdin is not None:
            self._stdin_q.put_nowait(self.job.stdin)
        if not self.job.interactive:
            self._stdin_q.put_nowait(None)

    async def _stream(self) -> None:
        att = self._attachment
        assert att is not None
        self._tasks += [asyncio.create_task(self._write_stdin(), name=f"stdin-{self.job.run_id}"),
                        asyncio.create_task(self._flush_loop(), name=f"flush-{self.job.run_id}"),
                        asyncio.create_task(self._sample_loop(), name=f"sample-{self.job.run_id}")]
        decoder = frames.FrameDecoder()
        loop = asyncio.get_running_loop()
        wall_s = self.job.limits.wall_time_ms / 1000
        deadline = loop.time() + wall_s          # absolute: output does not extend it
        kill_deadline: float | None = None
        read: asyncio.Future | None = None
        killed = asyncio.ensure_future(self._killed.wait())
        if self._tests is not None and not self._has_compile:
            deadline = self._begin_tests(loop, wall_s)
            await self._advance_tests()
        try:
            while True:
                now = loop.time()
                if self._kill_reason is None and now >= deadline:
                    self.kill(KillReason.TIMEOUT)
                test = self._test
                if self._kill_reason is None and test is not None:
                    if test.kill is None and now >= test.deadline:
                        self._kill_test(KillReason.TIMEOUT)
                    elif test.kill_deadline is not None and now >= test.kill_deadline:
                        log.warning("run %s: test %d still running %.0fs after its kill", self.job.run_id,
                                    test.index, KILL_GRACE_S)
                        self.kill(KillReason.TIMEOUT)
                if self._kill_reason is not None and kill_deadline is None:
                    kill_deadline = now + KILL_GRACE_S
                limit = kill_deadline if kill_deadline is not None else min(deadline, self._test_limit())
                if read is None:
                    read = asyncio.ensure_future(att.read())
                waiting = {read} if killed.done() else {read, killed}
                await asyncio.wait(waiting, timeout=max(limit - now, 0.001),
                                   return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    if kill_deadline is not None and loop.time() >= kill_deadline:
                        log.warning("run %s: stream still open %.0fs after the kill",
                                    self.job.run_id, KILL_GRACE_S)
                        break
                    continue
                chunks, read = read.result(), None
                if not chunks:
                    break                         # EOF: the launcher exited or the sandbox died
                if self._handle_chunks(decoder, chunks):
                    deadline = loop.time() + wall_s   # compile done: the run stage gets its own
                    if self._tests is not None:
                        deadline = self._begin_tests(loop, wall_s)
                if self._tests is not None:
                    await self._advance_tests()
                if self._exit_reported or self._launch_error is not None:
                    break
        finally:
            killed.cancel()
            if read is not None:
                read.cancel()
        self._ended = time.monotonic()
        self._snapshot_usage()     # now: the cgroup disappears soon after the launcher exits

    # ---------------------------------------------------------------- tests mode

    def _begin_tests(self, loop: asyncio.AbstractEventLoop, wall_s: float) -> float:
        """The tests begin (after the compile, if any): the run's wall clock bounds them all; the
        run is killed only if a test outlives its kill (the returned deadline)."""
        self._tests_deadline = loop.time() + wall_s
        return self._tests_deadline + KILL_GRACE_S

    def _test_limit(self) -> float:
        test = self._test
        if test is None:
            return math.inf
        return test.kill_deadline if test.kill_deadline is not None else test.deadline

    def _compile_failed(self) -> bool:
        return self._compile_exit is not None and stage_outcome(self._compile_exit) != "ok"

    async def _advance_tests(self) -> None:
        """After frames were read: a test that ended is judged, then the next one starts (or D
        says there are no more)."""
        if self._launch_error is not None or self._kill_reason is not None or self._exit_reported:
            return
        if self._test_end is not None:
            end, self._test_end = self._test_end, None
            self._end_test(end)
        if self._test is not None or self._tests_done_sent or self._compile_failed():
            return
        if self._has_compile and self._compile_exit is None:
            return                                   # still compiling
        assert self._tests is not None and self._attachment is not None and self._tests_deadline is not None
        loop = asyncio.get_running_loop()
        index = len(self._test_results)
        try:
            if index >= len(self._tests.cases) or self._tests_stop or loop.time() >= self._tests_deadline:
                self._tests_done_sent = True
                await self._attachment.write(frames.encode(frames.TESTS_DONE))
                return
            self._start_test(index, loop)
            await self._attachment.write(frames_for_test(self.job, self.runtime, index))
        except (OSError, RuntimeError) as e:   # the sandbox went away: the stream's end says how
            log.debug("run %s: writing test frames: %s", self.job.run_id, e)

    def _start_test(self, index: int, loop: asyncio.AbstractEventLoop) -> None:
        assert self._tests is not None and self._tests_deadline is not None
        case = self._tests.cases[index]
        cpu_ns = oom_kills = 0
        if self._cgroup is not None:
            self.deps.reset_memory_peak(self._cgroup)   # the test's peak is its own
            usage = cgroups.read_usage(self._cgroup)
            if usage is not None:
                self._usage = usage
                cpu_ns, oom_kills = usage.cpu_ns, usage.oom_kills
        self._test = RunningTest(index=index, case=case, cap=OutputCap(case.limits.output_bytes),
                                 deadline=min(loop.time() + case.limits.wall_time_ms / 1000, self._tests_deadline),
                                 cpu_ns_at_start=cpu_ns, oom_kills_at_start=oom_kills)

    def _kill_test(self, reason: KillReason) -> None:
        """Stop the running test (first reason wins): K to the launcher; the next test follows."""
        test = self._test
        if test is None or test.kill is not None or self._attachment is None:
            return
        test.kill = reason
        test.kill_deadline = asyncio.get_running_loop().time() + KILL_GRACE_S
        # K names the test: written after the next T (a race), the launcher ignores it.
        kill = frames.encode_json(frames.TEST_KILL, frames.TestKill(index=test.index))
        self._tasks.append(asyncio.create_task(self._write_quietly(kill), name=f"testkill-{self.job.run_id}"))

    async def _write_quietly(self, data: bytes) -> None:
        assert self._attachment is not None
        with contextlib.suppress(OSError, RuntimeError):
            await self._attachment.write(data)

    def _end_test(self, end: frames.TestEnd) -> None:
        """Y: judge the running test, then publish its output and its `test` event."""
        test = self._test
        assert test is not None and self._tests is not None
        self._snapshot_usage()
        usage = self._usage
        decision = decide(Observed(
            kill_reason=test.kill, run_exit=Exit(end.exit_code, end.signal, end.pids_limit),
            cgroup_oom_kills=(usage.oom_kills - test.oom_kills_at_start) if usage else 0))
        # The test's own peak: gVisor may still hold an earlier test's memory, so the sandbox
        # cgroup's peak (reset before the test) is only the fallback.
        peak = end.max_rss_bytes or (usage.memory_peak_bytes if usage else 0)
        outcome = judging.over_memory(decision.outcome or "ok", peak, test.case.limits.memory_mb * 1024 * 1024)
        self._record_test(test, outcome, decision.exit_code, decision.signal, Usage(
            wall_ms=end.wall_ms, cpu_ms=((usage.cpu_ns - test.cpu_ns_at_start) // 1_000_000) if usage else 0,
            memory_peak_bytes=peak))

    def _record_test(self, test: RunningTest, outcome: str | None, exit_code: int | None, signal: str | None,
                     usage: Usage) -> None:
        assert self._tests is not None
        stdout = _text(test.out["stdout"])
        verdict = judging.verdict(outcome, test.case.expected_stdout, stdout, self._tests.compare)
        result = RunTestResult(
            index=test.index, verdict=verdict, outcome=outcome, exit_code=exit_code, signal=signal,  # type: ignore[arg-type]
            stdout=stdout, stderr=_text(test.out["stderr"]), stdout_truncated=test.truncated["stdout"],
            stderr_truncated=test.truncated["stderr"], usage=usage)
        self._test_results.append(result)
        self._test = None
        if judging.stops_after(verdict, self._tests.stop_on_first_failure):
            self._tests_stop = True
        self._flush(final=True)             # the test's last output, then its event
        self._outbox.put_nowait(RunTestEnded(
            run_id=self.job.run_id, index=result.index, verdict=result.verdict, outcome=result.outcome,
            exit_code=result.exit_code, signal=result.signal, stdout_truncated=result.stdout_truncated,
            stderr_truncated=result.stderr_truncated, usage=result.usage))
        self._start_sender()

    def _conclude_tests(self, run: Decision, ended_normally: bool) -> tuple[Decision, list[RunTestResult]]:
        """The run's tests when it ends. `ended_normally`: X came after D, so the run's outcome is
        that of its first failing test (else of its last). Otherwise the test the sandbox ended in
        takes the run's outcome (memory, pids, a timeout it outlived) and the run keeps its own
        decision (cancelled, failed...). Tests not run are skipped."""
        assert self._tests is not None
        total = len(self._tests.cases)
        if run.outcome == "compile_error":
            return run, [RunTestResult(index=i, verdict="compile_error", outcome="compile_error") for i in range(total)]
        test = self._test
        if test is not None and not ended_normally and run.status == "completed":
            usage = self._usage
            self._record_test(test, run.outcome, run.exit_code, run.signal, Usage(
                cpu_ms=((usage.cpu_ns - test.cpu_ns_at_start) // 1_000_000) if usage else 0,
                memory_peak_bytes=usage.memory_peak_bytes if usage else 0))
        results = self._test_results + [judging.skipped(i) for i in range(len(self._test_results), total)]
        if not ended_normally:
            return run, results
        ran = [r for r in results if r.outcome is not None]
        decisive = next((r for r in ran if r.verdict != "accepted"), ran[-1] if ran else None)
        if decisive is None:
            return Decision("completed", "ok"), results
        return Decision("completed", decisive.outcome, decisive.exit_code, decisive.signal), results

    # ---------------------------------------------------------------- frames

    def _handle_chunks(self, decoder: frames.FrameDecoder, chunks: list[tuple[int, bytes]]) -> bool:
        """Feed demultiplexed chunks; True when the run stage began (after a compile)."""
        new_stage = False
        for stream_id, data in chunks:
            if stream_id == frames.DOCKER_STDERR:
                room = LAUNCHER_STDERR_KEEP - len(self._launcher_stderr)
                self._launcher_stderr += data[:max(room, 0)]
                continue
            try:
                parsed = decoder.feed(data)
            except FrameError as e:
                self._launch_error = f"bad frame from the launcher: {e}"
                return new_stage
            for ftype, payload in parsed:
                new_stage |= self._on_frame(ftype, payload)
        return new_stage

    def _on_frame(self, ftype: bytes, payload: bytes) -> bool:
        """Handle one launcher frame; True when the run stage begins (after a compile)."""
        match ftype:
            case frames.RUN_STDOUT:
                self._output("run", "stdout", payload)
            case frames.RUN_STDERR:
                self._output("run", "stderr", payload)
            case frames.COMPILE_STDOUT:
                self._output("compile", "stdout", payload)
            case frames.COMPILE_STDERR:
                self._output("compile", "stderr", payload)
            case frames.COMPILE_DONE:
                self._compile_exit = _exit_from(payload)
                self._stage_started = time.monotonic()
                return True
            case frames.TEST_DONE:
                try:
                    end = frames.test_end_decoder.decode(payload)
                except (msgspec.ValidationError, msgspec.DecodeError) as e:
                    self._launch_error = f"bad test end frame from the launcher: {e}"
                    return False
                if self._test is None or end.index != self._test.index or self._test_end is not None:
                    self._launch_error = f"the launcher reported test {end.index}, which was not running"
                    return False
                self._test_end = end
            case frames.RUN_DONE:
                self._exit_reported = True
                info = _json(payload)
                if self._tests is None and (self._compile_exit is None or stage_outcome(self._compile_exit) == "ok"):
                    self._run_exit = Exit(info.get("exit_code"), info.get("signal"), info.get("pids_limit") is True)
            case frames.LAUNCH_FAILED:
                self._launch_error = str(_json(payload).get("error", "launch failed"))
        return False

    def _output(self, stage: str, stream: str, data: bytes) -> None:
        if self._kill_reason is not None:
            return
        test = self._test if stage == "run" else None
        if test is not None:
            self._test_output(test, stream, data)
            return
        kept = self._cap.admit(data)
        self._kept[(stage, stream)] += kept
        self._coalescer.add(stage, stream, kept)
        if self._cap.exceeded:
            self._truncated[stream] = True
            self.kill(KillReason.OUTPUT_LIMIT)
        if self._coalescer.size >= COALESCE_BYTES or self._cap.exceeded:
            self._flush()
        elif not self._flush_wakeup.is_set() and time.monotonic() - self._last_flush >= COALESCE_S:
            # Leading edge: output after a quiet spell goes out at once; only what follows within
            # COALESCE_S is held back and coalesced (a flood still makes few records).
            self._flush()
        else:
            self._flush_wakeup.set()

    def _test_output(self, test: RunningTest, stream: str, data: bytes) -> None:
        """A test's output counts against its own cap and the run's (which bounds the result)."""
        if test.kill is not None:
            return                       # stopped: the rest is not its output
        kept = self._cap.admit(test.cap.admit(data))
        test.out[stream] += kept
        self._coalescer.add("run", stream, kept)
        if test.cap.exceeded or self._cap.exceeded:
            test.truncated[stream] = True
            self._tests_stop |= self._cap.exceeded      # no room left for other tests' output
            self._kill_test(KillReason.OUTPUT_LIMIT)
            self._flush()
        elif self._coalescer.size >= COALESCE_BYTES:
            self._flush()
        elif not self._flush_wakeup.is_set() and time.monotonic() - self._last_flush >= COALESCE_S:
            self._flush()
        else:
            self._flush_wakeup.set()

    def _flush(self, final: bool = False) -> None:
        """Coalesced output becomes Output records; `final` at the end of a test (its last
        characters are not held for the next test's)."""
        self._last_flush = time.monotonic()
        test = self._test.index if self._test is not None else self._flushing_test
        for record in self._output_records(self._coalescer.take(final=final), test):
            self._outbox.put_nowait(record)
        self._start_sender()

    @property
    def _flushing_test(self) -> int | msgspec.UnsetType:
        """The test the coalesced output belongs to when none runs (being recorded: the last one)."""
        if self._tests is None or not self._test_results:
            return msgspec.UNSET
        return self._test_results[-1].index

    def _start_sender(self) -> None:
        if self._sender is None and not self._outbox.empty():
            self._sender = asyncio.create_task(self._send_outbox(), name=f"send-{self.job.run_id}")

    def _output_records(self, taken: list[tuple[str, str, str]],
                        test: int | msgspec.UnsetType = msgspec.UNSET) -> list[Output]:
        return [Output(run_id=self.job.run_id, stream=stream, stage=stage, data=text,  # type: ignore[arg-type]
                       test=test if stage == "run" else msgspec.UNSET)
                for stage, stream, text in taken]

    def _take_last_output(self) -> list[Output]:
        """The run's output ended: what its sender has not taken yet (queued, and the coalescer's
        rest) is kept to go out with Finished, in the same produce request (handed over alone,
        it could still be in flight when Finished is queued, and Finished would wait a round trip
        behind it). The sender stops after the chunk it may be sending. No await: the sender
        must not take a chunk meanwhile."""
        last = []
        while not self._outbox.empty():
            record = self._outbox.get_nowait()
            if record is not None:
                last.append(record)
        last += self._output_records(self._coalescer.take(final=True))
        if self._sender is not None:
            self._outbox.put_nowait(None)
        return last

    async def _send_outbox(self) -> None:
        """One sender per run keeps its records in order. Chunks are best-effort: once one could
        not be handed to Kafka (its buffer stayed full while the broker was away), the run's
        later chunks are dropped, so an outage does not hold the result back; the result
        carries the whole output."""
        while True:
            event = await self._outbox.get()
            if event is None:
                return
            if self._output_dropped:
                continue
            try:
                await self.deps.publisher.publish(event)
            except Exception as e:   # a lost chunk must not lose the run; the result has it all
                self._output_dropped = True
                log.warning("run %s: publishing output: %s; its further output goes only into the result",
                            self.job.run_id, e)

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_wakeup.wait()
            await asyncio.sleep(COALESCE_S)
            self._flush_wakeup.clear()
            self._flush()

    async def _write_stdin(self) -> None:
        att = self._attachment
        assert att is not None
        while True:
            data = await self._stdin_q.get()
            try:
                if data is None:
                    await att.write(frames.encode(frames.STDIN_EOF))
                    return
                await att.write(frames.encode_stdin(data))
            except (OSError, RuntimeError) as e:   # the sandbox went away: nothing to deliver to
                log.debug("run %s: stdin: %s", self.job.run_id, e)
                return

    async def _sample_loop(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            self._snapshot_usage()

    def _snapshot_usage(self) -> None:
        if self._cgroup is None:
            return
        usage = cgroups.read_usage(self._cgroup)
        if usage is not None:
            self._usage = usage

    # ---------------------------------------------------------------- the end

    async def _container_end(self) -> ContainerState | None:
        """After a stream that ended without X: how did the container end (OOM kill?)."""
        if self.sandbox is None or self._kill_reason is not None:
            return None
        try:
            return await self.deps.docker.wait_stopped(self.sandbox.container_id, 2.0)
        except DockerError:
            return None

    async def _finish(self, agent_error: ErrorInfo | None, picked_ms: int, sandbox_ms: int) -> RunResult:
        self.state = RunState.FINISHING
        oom = False
        usage = self._usage
        if agent_error is None and not self._exit_reported and self._launch_error is None:
            end = await self._container_end()
            oom = bool(end and end.oom_killed)
            if self._kill_reason is None:
                log.log(logging.INFO if oom else logging.WARNING, "run %s: sandbox %s ended without an exit report: container %s, oom_killed=%s, "
                            "cgroup oom_kills=%s, failcnt=%s, peak=%s, pids max hits=%s, pids %s/%s, launcher stderr=%r", self.job.run_id,
                            self.sandbox.alloc_id if self.sandbox else None,
                            f"{end.status} exit {end.exit_code}" if end else "gone", oom,
                            usage.oom_kills if usage else None, usage.memory_failcnt if usage else None,
                            usage.memory_peak_bytes if usage else None, usage.pids_max_hits if usage else None,
                            usage.pids_current if usage else None, usage.pids_max if usage else None,
                            self._launcher_stderr.decode(errors="replace")[:300])
        if self._launch_error and self._launcher_stderr:
            self._launch_error += " | " + self._launcher_stderr.decode(errors="replace")[:500]
        decision = decide(Observed(
            kill_reason=self._kill_reason, run_exit=self._run_exit, compile_exit=self._compile_exit,
            launch_error=self._launch_error, oom_killed=oom,
            cgroup_oom_kills=usage.oom_kills if usage else 0,
            cgroup_pids_max_hits=usage.pids_max_hits if usage else 0,
            pids_near_limit=usage is not None and usage.pids_near_max,
            memory_at_limit=usage is not None and (
                usage.memory_failcnt > 0 or usage.memory_peak_bytes >= self._memory_limit_bytes),
            agent_error=agent_error))
        tests: list[RunTestResult] | msgspec.UnsetType = msgspec.UNSET
        if self._tests is not None:
            decision, tests = self._conclude_tests(decision, ended_normally=(
                agent_error is None and self._launch_error is None and self._exit_reported
                and self._kill_reason is not KillReason.CANCEL))
        self._last_output = self._take_last_output()   # after the last test's output and event
        peak = usage.memory_peak_bytes if usage else 0
        if tests is not msgspec.UNSET:
            peak = max([peak] + [t.usage.memory_peak_bytes for t in tests])
        if decision.outcome == "memory_limit":
            # The host cgroup OOM-kills at its limit, so the peak reached it. A lower figure is a
            # sample taken before the end: the cgroup can vanish with the sandbox before the last read.
            peak = max(peak, self._memory_limit_bytes)
        end = self._ended or time.monotonic()
        run_ms = int((end - self._run_started) * 1000) if self._run_started else 0
        stage_ms = int((end - self._stage_started) * 1000) if self._stage_started else 0
        compile_result = None
        if self._compile_exit is not None:
            compile_result = CompileResult(
                stdout=_text(self._kept[("compile", "stdout")]), stderr=_text(self._kept[("compile", "stderr")]),
                exit_code=self._compile_exit.exit_code, outcome=stage_outcome(self._compile_exit))
        finished_ms = now_ms()
        result = RunResult(
            id=self.job.run_id, language=self.job.language, version=self.job.version,
            status=decision.status, created_at=rfc3339(self.job.created_at_ms),
            outcome=decision.outcome if decision.status == "completed" else None,
            exit_code=decision.exit_code if decision.status == "completed" else None,
            signal=decision.signal if decision.status == "completed" else None,
            stdout=_text(self._kept[("run", "stdout")]), stderr=_text(self._kept[("run", "stderr")]),
            stdout_truncated=self._truncated["stdout"], stderr_truncated=self._truncated["stderr"],
            compile=compile_result,
            usage=Usage(wall_ms=stage_ms, cpu_ms=(usage.cpu_ns // 1_000_000) if usage else 0,
                        memory_peak_bytes=peak),
            timings=Timings(queued_ms=max(0, picked_ms - self.job.created_at_ms), sandbox_ms=sandbox_ms,
                            run_ms=run_ms, total_ms=max(0, finished_ms - self.job.created_at_ms)),
            error=decision.error, finished_at=rfc3339(finished_ms),
            node=self.deps.node_name if self.sandbox is not None else None)
        if tests is not msgspec.UNSET:
            result.tests, result.summary = tests, judging.summarize(tests)
        return result

    def _finish_early(self, status: str, error: ErrorInfo | None, picked_ms: int) -> RunResult:
        finished_ms = now_ms()
        result = RunResult(
            id=self.job.run_id, language=self.job.language, version=self.job.version, status=status,
            created_at=rfc3339(self.job.created_at_ms), error=error,
            timings=Timings(queued_ms=max(0, picked_ms - self.job.created_at_ms),
                            total_ms=max(0, finished_ms - self.job.created_at_ms)),
            finished_at=rfc3339(finished_ms))
        if self._tests is not None:
            result.tests = [judging.skipped(i) for i in range(len(self._tests.cases))]
            result.summary = judging.summarize(result.tests)
        self.state = RunState.FINISHING
        return result

    async def _publish_result(self, result: RunResult) -> None:
        """Finished, after every Output of the run (same key, same partition, same order for every
        reader): the chunk the sender may still be handing over first, then the run's last
        chunks and Finished together. Sent again while Kafka is away until acknowledged or
        RESULT_RETRY_S has passed (then PublishError: the run is settled on redelivery). The
        run holds its in-flight slot meanwhile, so an agent that cannot publish results takes
        no more runs."""
        if self._sender is not None:
            await self._sender
        last = [] if self._output_dropped else self._last_output
        await publish_until_acked(self.deps.publisher, Finished(run_id=self.job.run_id, result=result,
                                                                agent=self.deps.agent_name),
                                  time.monotonic() + RESULT_RETRY_S, preceded_by=last)
        self.deps.metrics.runs.labels(self.runtime.key, result.status, result.outcome or "").inc()
        for test in result.tests or ():
            self.deps.metrics.tests.labels(self.runtime.key, test.verdict).inc()

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
        if not result_follows and self._sender is not None and not self._sender.done():
            self._sender.cancel()
        if self._attachment is not None:
            self._attachment.close()
        self._end_sandbox("run over")      # its kill goes on in the background
        kills = [t for t in self._tasks if t.get_name().startswith("kill-")]
        await asyncio.gather(*kills, return_exceptions=True)


def _json(payload: bytes) -> dict:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _exit_from(payload: bytes) -> Exit:
    info = _json(payload)
    return Exit(info.get("exit_code"), info.get("signal"))


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
