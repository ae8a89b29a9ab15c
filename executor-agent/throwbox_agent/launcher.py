"""The launcher session of one run: the frames the agent sends (header, stdin, tests), and the
launcher's frames read back as typed values into a `LauncherReport` (how the stages ended)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
from dataclasses import dataclass, field

import msgspec

from throwbox_common.messages import RunJob
from throwbox_common.runtimes import Runtime

from . import frames
from .config import AgentConfig
from .docker_api import Attachment
from .errors import FrameError
from .outcome import Exit, stage_outcome

log = logging.getLogger(__name__)

LAUNCHER_STDERR_KEEP = 4096


def header_for(job: RunJob, runtime: Runtime, config: AgentConfig) -> frames.Header:
    """The launcher's H frame for this run (pure). With tests, each test's command comes in its
    own T frame (`frames_for_test`); the header's run command is then only checked."""
    with_tests = job.tests is not msgspec.UNSET
    names = [f.name for f in job.files]
    return frames.Header(
        files=[frames.HeaderFile(name=f.name, content_b64=base64.b64encode(f.content).decode()) for f in job.files],
        compile=runtime.compile_command(job.entrypoint, names),
        run=runtime.run_command(job.entrypoint, [] if with_tests else job.args, names),
        env=dict(job.env), cpu_time_s=cpu_time_s(job.limits.cpu_time_ms), nproc=job.limits.pids,
        nofile=config.nofile, fsize_bytes=config.tmpfs_mb * 1024 * 1024, tests=with_tests)


def frames_for_test(job: RunJob, runtime: Runtime, index: int) -> bytes:
    """Test `index` for the launcher (pure): T with its command and rlimits, its stdin, Z."""
    assert job.tests is not msgspec.UNSET
    case = job.tests.cases[index]
    start = frames.TestStart(index=index, run=runtime.run_command(job.entrypoint, case.args, [f.name for f in job.files]),
                             cpu_time_s=cpu_time_s(case.limits.cpu_time_ms), nproc=case.limits.pids)
    return (frames.encode_json(frames.TEST_START, start) + (frames.encode_stdin(case.stdin) if case.stdin else b"")
            + frames.encode(frames.STDIN_EOF))


def cpu_time_s(cpu_time_ms: int) -> int:
    return max(1, math.ceil(cpu_time_ms / 1000))


@dataclass
class LauncherReport:
    """What the launcher said about the run: how its stages ended (C, X) or that it could not
    start it (L, or a frame that is not one), and its own stderr (kept for the log)."""

    compile_exit: Exit | None = None
    run_exit: Exit | None = None          # None when X carried none (tests, a failed compile) or never came
    exit_reported: bool = False           # X seen
    launch_error: str | None = None
    stderr: bytearray = field(default_factory=bytearray)

    @property
    def compile_failed(self) -> bool:
        return self.compile_exit is not None and stage_outcome(self.compile_exit) != "ok"

    @property
    def over(self) -> bool:
        """The launcher is done (X) or gave up (L): nothing more comes."""
        return self.exit_reported or self.launch_error is not None

    def apply(self, frame: frames.LauncherFrame, tests_mode: bool) -> None:
        """Record what `frame` says about the stages (output and test ends are not its business)."""
        match frame:
            case frames.CompileEnd(exit_code=code, signal=signal):
                self.compile_exit = Exit(code, signal)
            case frames.RunEnd(exit_code=code, signal=signal, pids_limit=pids_limit):
                self.exit_reported = True
                if not tests_mode and not self.compile_failed:
                    self.run_exit = Exit(code, signal, pids_limit)
            case frames.LaunchFailed(error=error):
                self.launch_error = error

    def keep_stderr(self, data: bytes) -> None:
        room = LAUNCHER_STDERR_KEEP - len(self.stderr)
        self.stderr += data[:max(room, 0)]

    def stderr_text(self, limit: int) -> str:
        return self.stderr.decode(errors="replace")[:limit]


class LauncherSession:
    """The launcher of one run over the sandbox's attach stream (the attachment is the session's:
    `close` closes it)."""

    def __init__(self, run_id: str, attachment: Attachment, report: LauncherReport,
                 stdin: asyncio.Queue[bytes | None], tests_mode: bool):
        self.run_id = run_id
        self.attachment = attachment
        self.report = report
        self.tests_mode = tests_mode
        self._decoder = frames.FrameDecoder()
        self._stdin = stdin                  # the program's stdin (None: its end), queued by the run

    async def start(self, header: frames.Header, job: RunJob) -> None:
        """H: the program starts; then its stdin (in tests mode each test's stdin follows its T)."""
        await self.attachment.write(frames.encode_json(frames.HEADER, header))
        if self.tests_mode:
            return
        if job.stdin is not None:
            self._stdin.put_nowait(job.stdin)
        if not job.interactive:
            self._stdin.put_nowait(None)

    async def write_stdin(self) -> None:
        """Writes the queued stdin as I frames, and Z at its end."""
        while True:
            data = await self._stdin.get()
            try:
                if data is None:
                    await self.attachment.write(frames.encode(frames.STDIN_EOF))
                    return
                await self.attachment.write(frames.encode_stdin(data))
            except (OSError, RuntimeError) as e:   # the sandbox went away: nothing to deliver to
                log.debug("run %s: stdin: %s", self.run_id, e)
                return

    async def write(self, data: bytes) -> None:
        await self.attachment.write(data)

    async def write_quietly(self, data: bytes) -> None:
        """Frames whose loss the stream's end explains (the sandbox went away)."""
        with contextlib.suppress(OSError, RuntimeError):
            await self.attachment.write(data)

    async def read(self) -> list[tuple[int, bytes]]:
        """The next demultiplexed chunks; [] at the end of the stream."""
        return await self.attachment.read()

    def feed(self, chunks: list[tuple[int, bytes]]) -> list[frames.LauncherFrame]:
        """The launcher's frames in `chunks`, typed, after the report took what they say. A frame
        that is not one ends the batch as a launch error."""
        out: list[frames.LauncherFrame] = []
        for stream_id, data in chunks:
            if stream_id == frames.DOCKER_STDERR:
                self.report.keep_stderr(data)
                continue
            try:
                for ftype, payload in self._decoder.feed(data):
                    frame = frames.decode_launcher(ftype, payload)
                    self.report.apply(frame, self.tests_mode)
                    out.append(frame)
            except FrameError as e:
                self.report.launch_error = f"bad frame from the launcher: {e}"
                break
        return out

    def close(self) -> None:
        self.attachment.close()
