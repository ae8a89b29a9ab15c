"""The running program of one run: the launcher's frames read until X or L (or the stream's
end) under the run's absolute wall deadline (output does not extend it; the run stage after a
compile gets its own), its output into the run's `OutputSink`, its tests driven."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from throwbox_common.messages import RunJob

from . import frames, tests_mode
from .launcher import LauncherSession
from .outcome import KillReason
from .output import OutputSink
from .tests_mode import TestsRunner
from .usage import UsageSampler

log = logging.getLogger(__name__)


class RunStream:
    def __init__(self, job: RunJob, session: LauncherSession, sink: OutputSink, tests: TestsRunner | None,
                 sampler: UsageSampler, spawn: Callable[..., asyncio.Task], has_compile: bool, started: float,
                 killed: asyncio.Event, kill: Callable[[KillReason], None],
                 kill_reason: Callable[[], KillReason | None]):
        self.job, self.session, self.sink, self.tests = job, session, sink, tests
        self._sampler, self._spawn = sampler, spawn    # the run's background tasks (cancelled in its cleanup)
        self.report = session.report
        self._has_compile = has_compile
        self._killed, self._kill, self._kill_reason = killed, kill, kill_reason
        self.stage_started = started               # the run stage (after a compile: when it ended)
        self.ended: float | None = None

    async def run(self) -> None:
        run_id = self.job.run_id
        self._spawn(self.session.write_stdin(), name=f"stdin-{run_id}")
        self._spawn(self.sink.flush_loop(), name=f"flush-{run_id}")
        self._spawn(self._sampler.loop(), name=f"sample-{run_id}")
        await self._read()
        self._sampler.snapshot()     # now: the cgroup disappears soon after the launcher exits

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        tests, wall_s = self.tests, self.job.limits.wall_time_ms / 1000
        deadline = loop.time() + wall_s
        kill_deadline: float | None = None
        read: asyncio.Future | None = None
        killed = asyncio.ensure_future(self._killed.wait())
        if tests is not None and not self._has_compile:
            deadline = tests.begin(wall_s)
            await self._advance_tests()
        try:
            while True:
                now = loop.time()
                if self._kill_reason() is None and (now >= deadline or (tests is not None and tests.outlived_kill(now))):
                    self._kill(KillReason.TIMEOUT)
                if self._kill_reason() is not None and kill_deadline is None:
                    kill_deadline = now + tests_mode.KILL_GRACE_S
                limit = kill_deadline if kill_deadline is not None else min(deadline, tests.limit() if tests else math.inf)
                if read is None:
                    read = asyncio.ensure_future(self.session.read())
                await asyncio.wait({read} if killed.done() else {read, killed}, timeout=max(limit - now, 0.001),
                                   return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    if kill_deadline is not None and loop.time() >= kill_deadline:
                        log.warning("run %s: stream still open %.0fs after the kill",
                                    self.job.run_id, tests_mode.KILL_GRACE_S)
                        break
                    continue
                chunks, read = read.result(), None
                if not chunks:
                    break                         # EOF: the launcher exited or the sandbox died
                if self._on_frames(self.session.feed(chunks)):
                    deadline = loop.time() + wall_s if tests is None else tests.begin(wall_s)
                if tests is not None:
                    await self._advance_tests()
                if self.report.over:
                    break
        finally:
            killed.cancel()
            if read is not None:
                read.cancel()
        self.ended = time.monotonic()

    def _on_frames(self, frame_list: list[frames.LauncherFrame]) -> bool:
        """Act on the launcher's frames (the report took the stages' ends); True when the run
        stage began (after a compile)."""
        new_stage = False
        for frame in frame_list:
            match frame:
                case frames.Chunk(stage=stage, stream=stream, data=data):
                    self._output(stage, stream, data)
                case frames.CompileEnd():
                    self.stage_started = time.monotonic()
                    new_stage = True
                case frames.TestEnd():
                    problem = (self.tests.ended(frame) if self.tests is not None
                               else f"the launcher reported test {frame.index}, which was not running")
                    if problem is not None:
                        self.report.launch_error = problem
        return new_stage

    def _output(self, stage: str, stream: str, data: bytes) -> None:
        if self._kill_reason() is not None:
            return
        if stage == "run" and self.tests is not None and self.tests.test is not None:
            self.tests.output(stream, data)
            return
        self.sink.add(stage, stream, data)
        if self.sink.cap.exceeded:
            self._kill(KillReason.OUTPUT_LIMIT)
        self.sink.pace(now=self.sink.cap.exceeded)

    async def _advance_tests(self) -> None:
        report = self.report
        if report.launch_error is not None or self._kill_reason() is not None or report.exit_reported:
            return
        assert self.tests is not None
        await self.tests.advance(compiling=self._has_compile and report.compile_exit is None,
                                 compile_failed=report.compile_failed)
