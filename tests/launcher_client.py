"""Test helper: run one program in a runtime image through the real launcher protocol.

The container is started the way a sandbox is (gVisor, no network, read-only root, exec
tmpfs on /tmp, uid 65534, no capabilities, no-new-privileges, our seccomp profile), the
frames of docs/architecture.md go to its stdin and are parsed from its stdout.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stack import SANDBOX_RUNTIME

REPO = Path(__file__).resolve().parents[1]
SECCOMP_PROFILE = REPO / "runtimes" / "seccomp" / "sandbox.json"
MAX_FRAME_BYTES = 1 << 20
_HEAD = struct.Struct(">cI")

DEFAULT_LIMITS = {"cpu_time_s": 10, "nproc": 64, "nofile": 256, "fsize_bytes": 64 << 20}


# How /tmp is mounted: `--tmpfs` with exec (docker run), or Docker's Mounts API, which is what
# Nomad's `mount { type = "tmpfs" }` uses and is always noexec (the launcher copes).
TMPFS = {
    "exec": ["--tmpfs", "/tmp:exec,size=64m"],
    "mounts-api": ["--mount", "type=tmpfs,destination=/tmp,tmpfs-size=67108864,tmpfs-mode=1777"],
}


def docker_command(image: str, *, seccomp: Path | str = SECCOMP_PROFILE, memory_mb: int | None = None,
                   tmpfs: str = "exec") -> list[str]:
    cmd = ["docker", "run", "-i", "--rm", f"--runtime={SANDBOX_RUNTIME}", "--network=none", "--read-only",
           *TMPFS[tmpfs], "--user", "65534:65534",
           "--security-opt", f"seccomp={seccomp}", "--security-opt", "no-new-privileges", "--cap-drop", "ALL"]
    if memory_mb is not None:
        cmd += ["--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m"]
    return [*cmd, image]


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    assert len(payload) <= MAX_FRAME_BYTES
    return _HEAD.pack(kind, len(payload)) + payload


def header(files: dict[str, bytes | str], run: list[str], compile: list[str] | None = None,
           env: dict[str, str] | None = None, **limits: int) -> bytes:
    body = {
        "files": [{"name": name, "content_b64": base64.b64encode(
            content.encode() if isinstance(content, str) else content).decode()}
            for name, content in files.items()],
        "compile": compile, "run": run, "env": env or {}, **DEFAULT_LIMITS, **limits,
    }
    return frame(b"H", json.dumps(body).encode())


def parse_frames(data: bytes) -> list[tuple[str, bytes]]:
    frames, pos = [], 0
    while pos < len(data):
        if len(data) - pos < _HEAD.size:
            raise ValueError(f"truncated frame header at byte {pos}")
        kind, length = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + length
        if length > MAX_FRAME_BYTES or end > len(data):
            raise ValueError(f"bad or truncated frame {kind!r} of {length} bytes at byte {pos}")
        frames.append((kind.decode(), data[pos + _HEAD.size:end]))
        pos = end
    return frames


@dataclass
class LauncherResult:
    frames: list[tuple[str, bytes]]
    returncode: int  # of `docker run`, i.e. of the launcher
    stderr: bytes    # the launcher's own stderr plus docker's
    kinds: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.kinds = [k for k, _ in self.frames]

    def _joined(self, kind: str) -> str:
        return b"".join(p for k, p in self.frames if k == kind).decode(errors="replace")

    def _json(self, kind: str) -> dict | None:
        found = [p for k, p in self.frames if k == kind]
        return json.loads(found[-1]) if found else None

    @property
    def stdout(self) -> str:
        return self._joined("o")

    @property
    def stderr_text(self) -> str:
        return self._joined("e")

    @property
    def compile_output(self) -> str:
        return self._joined("O") + self._joined("E")

    @property
    def compiled(self) -> dict | None:
        return self._json("C")

    @property
    def exited(self) -> dict | None:
        return self._json("X")

    @property
    def launch_error(self) -> str | None:
        found = self._json("L")
        return found["error"] if found else None


def run_frames(image: str, frames: bytes, *, timeout_s: float = 120, memory_mb: int | None = None,
               seccomp: Path | str = SECCOMP_PROFILE, tmpfs: str = "exec") -> LauncherResult:
    proc = subprocess.run(docker_command(image, seccomp=seccomp, memory_mb=memory_mb, tmpfs=tmpfs), input=frames,
                          capture_output=True, timeout=timeout_s)
    return LauncherResult(parse_frames(proc.stdout), proc.returncode, proc.stderr)


def run_program(image: str, files: dict[str, bytes | str], run: list[str], *,
                compile: list[str] | None = None, stdin: bytes = b"", env: dict[str, str] | None = None,
                timeout_s: float = 120, memory_mb: int | None = None, tmpfs: str = "exec",
                seccomp: Path | str = SECCOMP_PROFILE, **limits: int) -> LauncherResult:
    """One run: header, stdin as I frames, Z; returns every frame the launcher wrote."""
    data = header(files, run, compile, env, **limits)
    data += b"".join(frame(b"I", stdin[i:i + MAX_FRAME_BYTES]) for i in range(0, len(stdin), MAX_FRAME_BYTES))
    data += frame(b"Z")
    return run_frames(image, data, timeout_s=timeout_s, memory_mb=memory_mb, tmpfs=tmpfs, seccomp=seccomp)
