"""Byte-level codecs: the launcher's frames and Docker's multiplexed attach stream.

Launcher frame: type (1 ASCII byte) + length (4 bytes big-endian, <= 1 MiB) + payload.
Docker stream (non-TTY attach): stream id (1 byte: 1 stdout, 2 stderr) + 3 zero bytes +
length (4 bytes big-endian) + payload. Both decoders take bytes as they arrive, in any split.
"""

from __future__ import annotations

import struct

import msgspec

from .errors import FrameError

MAX_FRAME_BYTES = 1 << 20
_HEADER = struct.Struct(">cI")
_DOCKER_HEADER = struct.Struct(">B3xI")

# agent -> launcher
HEADER = b"H"
STDIN = b"I"
STDIN_EOF = b"Z"
TEST_START = b"T"     # tests mode: TestStart, then the test's stdin as I... Z
TEST_KILL = b"K"      # tests mode: TestKill
TESTS_DONE = b"D"     # tests mode: no more tests
# launcher -> agent
RUN_STDOUT = b"o"
RUN_STDERR = b"e"
COMPILE_STDOUT = b"O"
COMPILE_STDERR = b"E"
COMPILE_DONE = b"C"
RUN_DONE = b"X"
LAUNCH_FAILED = b"L"
TEST_DONE = b"Y"      # tests mode: TestEnd
LAUNCHER_TYPES = frozenset((RUN_STDOUT, RUN_STDERR, COMPILE_STDOUT, COMPILE_STDERR,
                            COMPILE_DONE, RUN_DONE, LAUNCH_FAILED, TEST_DONE))


# Typed payloads of every frame, both ways (docs/architecture.md, launcher protocol). I and the
# output frames carry raw bytes; Z and D carry nothing.


class HeaderFile(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    content_b64: str


class Header(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """H: the run (its files, commands, environment and rlimits); the program starts on it.
    `compile` is null for an interpreted runtime; `tests`: each test's command follows in a T."""

    files: list[HeaderFile]
    compile: list[str] | None
    run: list[str]
    env: dict[str, str]
    cpu_time_s: int
    nproc: int
    nofile: int
    fsize_bytes: int
    tests: bool = False


class TestStart(msgspec.Struct, forbid_unknown_fields=True):
    """T: start test `index` with this command and rlimits (a fresh copy of the build)."""

    index: int
    run: list[str]
    cpu_time_s: int
    nproc: int


class TestKill(msgspec.Struct, forbid_unknown_fields=True):
    """K: stop test `index` if it is the one running."""

    index: int


class Chunk(msgspec.Struct, frozen=True):
    """o, e, O, E: output of the program (`stage` run or compile) on `stream`."""

    stage: str
    stream: str
    data: bytes


class CompileEnd(msgspec.Struct):
    """C: the compile ended (exit_code null when a signal ended it)."""

    exit_code: int | None = None
    signal: str | None = None
    pids_limit: bool = False


class RunEnd(msgspec.Struct):
    """X: the launcher is done (after a failed compile, or with tests, it carries no run exit);
    pids_limit: it stopped the program at its pids limit."""

    exit_code: int | None = None
    signal: str | None = None
    pids_limit: bool = False
    wall_ms: int = 0


class LaunchFailed(msgspec.Struct):
    """L: the launcher could not start the run (bad header, no such command...)."""

    error: str = "launch failed"


class TestEnd(msgspec.Struct):
    """Y: test `index` ended (exit_code null when a signal ended it). max_rss_bytes: its peak
    resident memory (wait4's ru_maxrss; 0 if the kernel did not say)."""

    index: int
    wall_ms: int = 0
    exit_code: int | None = None
    signal: str | None = None
    pids_limit: bool = False
    max_rss_bytes: int = 0


LauncherFrame = Chunk | CompileEnd | RunEnd | LaunchFailed | TestEnd

_CHUNKS = {RUN_STDOUT: ("run", "stdout"), RUN_STDERR: ("run", "stderr"),
           COMPILE_STDOUT: ("compile", "stdout"), COMPILE_STDERR: ("compile", "stderr")}
_DECODERS = {COMPILE_DONE: msgspec.json.Decoder(CompileEnd), RUN_DONE: msgspec.json.Decoder(RunEnd),
             LAUNCH_FAILED: msgspec.json.Decoder(LaunchFailed), TEST_DONE: msgspec.json.Decoder(TestEnd)}
test_end_decoder = _DECODERS[TEST_DONE]
_encoder = msgspec.json.Encoder()


def decode_launcher(frame_type: bytes, payload: bytes) -> LauncherFrame:
    """One launcher frame as its typed value; FrameError when its payload is not one."""
    if frame_type in _CHUNKS:
        return Chunk(*_CHUNKS[frame_type], payload)
    decoder = _DECODERS.get(frame_type)
    if decoder is None:
        raise FrameError(f"unknown frame type {frame_type!r}")
    try:
        return decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise FrameError(f"bad {frame_type.decode()} frame: {e}") from e


def encode_json(frame_type: bytes, payload: msgspec.Struct) -> bytes:
    return encode(frame_type, _encoder.encode(payload))


DOCKER_STDOUT = 1
DOCKER_STDERR = 2


def encode(frame_type: bytes, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameError(f"frame {frame_type!r} payload {len(payload)} bytes > {MAX_FRAME_BYTES}")
    return _HEADER.pack(frame_type, len(payload)) + payload


def encode_stdin(data: bytes) -> bytes:
    """Stdin of any size as a series of I frames."""
    return b"".join(encode(STDIN, data[i:i + MAX_FRAME_BYTES])
                    for i in range(0, len(data), MAX_FRAME_BYTES))


class FrameDecoder:
    """Launcher frames from a byte stream; unknown types and oversize lengths are errors."""

    def __init__(self, allowed: frozenset[bytes] = LAUNCHER_TYPES):
        self._buf = bytearray()
        self._allowed = allowed

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= _HEADER.size:
            frame_type, length = _HEADER.unpack_from(self._buf)
            if frame_type not in self._allowed:
                raise FrameError(f"unknown frame type {frame_type!r}")
            if length > MAX_FRAME_BYTES:
                raise FrameError(f"frame {frame_type!r} length {length} > {MAX_FRAME_BYTES}")
            end = _HEADER.size + length
            if len(self._buf) < end:
                break
            out.append((frame_type, bytes(self._buf[_HEADER.size:end])))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (non-zero at EOF = truncated stream)."""
        return len(self._buf)


class DockerDemux:
    """Splits Docker's multiplexed attach stream into (stream id, bytes) chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= _DOCKER_HEADER.size:
            stream, length = _DOCKER_HEADER.unpack_from(self._buf)
            if stream not in (0, DOCKER_STDOUT, DOCKER_STDERR):
                raise FrameError(f"bad docker stream id {stream}")
            end = _DOCKER_HEADER.size + length
            if len(self._buf) < end:
                break
            out.append((stream, bytes(self._buf[_DOCKER_HEADER.size:end])))
            del self._buf[:end]
        return out
