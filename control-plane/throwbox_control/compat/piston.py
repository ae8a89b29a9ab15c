"""Piston v2's wire format mapped onto Throwbox runs (pure: no I/O; tests/unit/test_compat_piston_mapping.py).

Piston's units: times in ms, memory in bytes, `status` codes RE (non-zero exit), SG (signal),
TO (time), OL / EL (stdout / stderr too long), XX (internal). docs/compat.md has the field table.
"""

from __future__ import annotations

import base64
import binascii
import math
import signal as signals
from dataclasses import dataclass

import msgspec

from throwbox_common.messages import FileSpec, LimitsRequest, RunResult, Struct
from throwbox_common.runtimes import Registry, Runtime

from ..config import Settings
from ..errors import ApiError
from ..validation import CheckedRun, check_program, check_strings, decode, encode_stdin

ENCODINGS = ("utf8", "base64", "hex")
MIB = 1024 * 1024
ANY_VERSION = ("", "*", "x", "X", "latest")
# Signals whose default action ends the program: the ones Throwbox can honour, by ending the run.
ENDING_SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP")
# Piston's close codes on /api/v2/connect.
CLOSE_ALREADY_INITIALIZED = 4000
CLOSE_INIT_TIMEOUT = 4001
CLOSE_NOTIFIED_ERROR = 4002
CLOSE_NOT_INITIALIZED = 4003
CLOSE_ONLY_STDIN = 4004
CLOSE_INVALID_SIGNAL = 4005
CLOSE_JOB_COMPLETED = 4999
INIT_TIMEOUT_S = 1.0   # Piston closes a connection that sent no init within a second


class PistonFile(Struct):
    content: str
    name: str | None = None
    encoding: str = "utf8"


class PistonExecute(Struct):
    language: str
    files: list[PistonFile]
    version: str | None = None
    stdin: str | None = None
    args: list[str] | None = None
    compile_timeout: float | None = None
    run_timeout: float | None = None
    compile_cpu_time: float | None = None
    run_cpu_time: float | None = None
    compile_memory_limit: float | None = None
    run_memory_limit: float | None = None


# ---- /api/v2/connect client messages


class WsMessage(Struct, tag_field="type"):
    pass


class WsInit(PistonExecute, WsMessage, tag="init"):
    pass


class WsData(WsMessage, tag="data"):
    stream: str
    data: str


class WsSignal(WsMessage, tag="signal"):
    signal: str


execute_decoder = msgspec.json.Decoder(PistonExecute)
ws_decoder = msgspec.json.Decoder(WsInit | WsData | WsSignal)


def bad(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "invalid_request", message)


def _field_error(field: str, problem: str) -> ApiError:
    return bad(f"{field} is required" if problem == "required field is missing" else f"{field}: {problem}")


def decode_execute(body: bytes, decoder: msgspec.json.Decoder = execute_decoder):
    """Piston's messages ("language is required as a string"), from msgspec's errors."""
    return decode(body, decoder, _field_error, bad)


# ---- request → run


def pick_runtime(registry: Registry, language: str, version: str | None) -> Runtime:
    """Piston matches a semver range; Throwbox takes an exact version, a prefix ("3", "3.11",
    "3.x") or any of "*", "x", "latest" (or no version) for the newest installed."""
    wanted = None
    if version is not None and version.strip() not in ANY_VERSION:
        wanted = version.strip().lstrip("=v").removesuffix(".x").removesuffix(".*")
    runtime = registry.resolve(language, wanted)
    if runtime is None:
        raise ApiError(400, "unknown_runtime", f"{language}-{version if version is not None else '*'} runtime is unknown")
    return runtime


def file_specs(files: list[PistonFile], runtime: Runtime) -> tuple[list[FileSpec], str]:
    """Throwbox files and the entry file: Piston runs the first utf8 file. An unnamed file is
    Piston's `file<i>.code`, except an unnamed entry file, which gets the runtime's default name
    (compilers pick the language from the extension)."""
    if not files:
        raise bad("files is required as an array with at least one file")
    entry_index = next((i for i, f in enumerate(files) if f.encoding == "utf8"), None)
    specs: list[FileSpec] = []
    for i, f in enumerate(files):
        if f.encoding not in ENCODINGS:
            raise bad(f"files[{i}].encoding must be one of {', '.join(ENCODINGS)}")
        name = f.name or (runtime.entrypoint if i == entry_index else f"file{i}.code")
        if f.encoding == "hex":
            try:
                raw = bytes.fromhex(f.content)
            except ValueError:
                raise bad(f"files[{i}].content is not valid hex") from None
            specs.append(FileSpec(name, base64.b64encode(raw).decode(), "base64"))
        elif f.encoding == "base64":
            try:
                base64.b64decode(f.content, validate=True)
            except (binascii.Error, ValueError):
                raise bad(f"files[{i}].content is not valid base64") from None
            specs.append(FileSpec(name, f.content, "base64"))
        else:
            specs.append(FileSpec(name, f.content))
    if entry_index is None:
        raise bad("files must include at least one utf8 encoded file")
    return specs, specs[entry_index].name


def _asked(name: str, value: float | None, maximum: int, memory: bool) -> float | None:
    """A limit as Piston checks it: 0 or absent = the default; above the default maximum refused.
    -1 for a memory limit (what piston-client sends by default) means "no request" too."""
    if value is None or value == 0 or (memory and value == -1):
        return None
    if value < 0:
        raise bad(f"{name} must be non-negative")
    if value > maximum:
        raise bad(f"{name} cannot exceed the configured limit of {maximum}")
    return value


def limits_request(req: PistonExecute, runtime: Runtime, registry: Registry) -> LimitsRequest:
    """run_* become the run's limits. Throwbox gives the compile stage the same limits as the run
    (one set per run), so compile_* are checked against the same maximum and go no further."""
    base = runtime.default_limits or registry.default_limits
    top = registry.server_max
    wall_max = min(base.wall_time_ms, top.wall_time_ms)
    cpu_max = min(base.cpu_time_ms, top.cpu_time_ms)
    mem_max = min(base.memory_mb, top.memory_mb) * MIB
    for stage in ("compile", "run"):
        _asked(f"{stage}_timeout", getattr(req, f"{stage}_timeout"), wall_max, False)
        _asked(f"{stage}_cpu_time", getattr(req, f"{stage}_cpu_time"), cpu_max, False)
        _asked(f"{stage}_memory_limit", getattr(req, f"{stage}_memory_limit"), mem_max, True)
    wall = _asked("run_timeout", req.run_timeout, wall_max, False)
    cpu = _asked("run_cpu_time", req.run_cpu_time, cpu_max, False)
    mem = _asked("run_memory_limit", req.run_memory_limit, mem_max, True)
    return LimitsRequest(
        wall_time_ms=None if wall is None else math.ceil(wall),
        cpu_time_ms=None if cpu is None else math.ceil(cpu),
        memory_mb=None if mem is None else math.ceil(mem / MIB))


def to_run(req: PistonExecute, registry: Registry, settings: Settings, interactive: bool = False) -> CheckedRun:
    """The checked Throwbox run of a Piston request. Piston adds a final newline to stdin when
    it has none (execute only; on the WebSocket stdin comes in data messages)."""
    runtime = pick_runtime(registry, req.language, req.version)
    specs, entry = file_specs(req.files, runtime)
    limits = limits_request(req, runtime, registry)
    runtime, job_files, entry, resolved = check_program(
        registry, settings, language=runtime.language, version=runtime.version, files=specs,
        entrypoint=entry, env={}, limits=limits)
    args = list(req.args or [])
    check_strings(args, {})
    stdin = None
    if not interactive:
        stdin = req.stdin or ""
        if not stdin.endswith("\n"):
            stdin += "\n"
    return CheckedRun(runtime, job_files, entry, args, {}, encode_stdin(stdin, settings), interactive, resolved, None)


# ---- run → answer


@dataclass(frozen=True)
class StageEnd:
    """How a stage ended, in Piston's terms."""

    code: int | None
    signal: str | None
    status: str | None
    message: str | None


def signal_number(name: str | None) -> int | None:
    try:
        return signals.Signals[name].value if name else None
    except KeyError:
        return None


def run_stage_end(result: RunResult) -> StageEnd:
    """The stage that ended the run (status/outcome → Piston's status, message and signal)."""
    if result.status == "failed":
        msg = result.error.message if result.error is not None else "the run failed"
        return StageEnd(None, None, "XX", msg)
    if result.status == "cancelled":
        return StageEnd(None, "SIGKILL", "SG", "cancelled (the program was ended)")
    if result.status != "completed":
        return StageEnd(None, None, None, None)
    sig = result.signal
    match result.outcome:
        case "ok":
            return StageEnd(result.exit_code, None, None, None)
        case "nonzero_exit" | "compile_error" if sig is None:
            return StageEnd(result.exit_code, None, "RE", f"Exited with error status {result.exit_code}")
        case "timeout" | "memory_limit" | "pids_limit":
            return _limit_end(result.outcome)
        case "output_limit":
            if result.stderr_truncated and not result.stdout_truncated:
                return StageEnd(None, "SIGKILL", "EL", "stderr length exceeded")
            return StageEnd(None, "SIGKILL", "OL", "stdout length exceeded")
        case _:
            return _signaled(sig)


def stage_body(end: StageEnd, stdout: str, stderr: str, output: str, memory_bytes: int | None = None,
               cpu_ms: int | None = None, wall_ms: int | None = None) -> dict:
    return {"stdout": stdout, "stderr": stderr, "output": output, "code": end.code, "signal": end.signal,
            "message": end.message, "status": end.status, "memory": memory_bytes,
            "cpu_time": cpu_ms, "wall_time": wall_ms}


Outputs = dict[str, list[tuple[str, str]]]   # stage → [(stream, data)] in the order written


def _joined(outputs: Outputs | None, stage: str, fallback: tuple[str, str]) -> tuple[str, str, str]:
    """(stdout, stderr, interleaved output) of a stage, from its live events when kept."""
    if outputs is None:
        return fallback[0], fallback[1], fallback[0] + fallback[1]
    chunks = outputs.get(stage, [])
    out = "".join(d for s, d in chunks if s == "stdout")
    err = "".join(d for s, d in chunks if s == "stderr")
    return out, err, "".join(d for _, d in chunks)


def stages(result: RunResult, compiled: bool, outputs: Outputs | None) -> tuple[dict | None, dict | None]:
    """(compile, run) stage bodies; run is None when the program never ran."""
    ended = run_stage_end(result)
    u = result.usage
    if not compiled:
        _, _, both = _joined(outputs, "run", (result.stdout, result.stderr))
        return None, stage_body(ended, result.stdout, result.stderr, both, u.memory_peak_bytes, u.cpu_ms, u.wall_ms)
    c = result.compile
    if c is None or result.outcome == "compile_error":
        # The run ended in its compile stage (a compile error, or stopped while compiling).
        if c is None:
            out, err, both = _joined(outputs, "compile", ("", ""))
            return stage_body(ended, out, err, both), None
        if result.status == "completed":
            ended = compile_end(c.exit_code, c.outcome, result.signal)
        _, _, both = _joined(outputs, "compile", (c.stdout, c.stderr))
        return stage_body(ended, c.stdout, c.stderr, both), None
    compile_ = stage_body(compile_end(c.exit_code, c.outcome, None), c.stdout, c.stderr,
                          _joined(outputs, "compile", (c.stdout, c.stderr))[2])
    _, _, both = _joined(outputs, "run", (result.stdout, result.stderr))
    return compile_, stage_body(ended, result.stdout, result.stderr, both, u.memory_peak_bytes, u.cpu_ms, u.wall_ms)


# A stage our limit stopped: Piston's status and message, by outcome.
_LIMIT_ENDS = {"timeout": ("TO", "Time limit exceeded"), "memory_limit": ("SG", "Memory limit exceeded"),
               "pids_limit": ("SG", "Process limit exceeded")}


def _limit_end(outcome: str) -> StageEnd:
    status, message = _LIMIT_ENDS[outcome]
    return StageEnd(None, "SIGKILL", status, message)


def _signaled(sig: str | None) -> StageEnd:
    n = signal_number(sig)
    return StageEnd(None, sig, "SG", f"Caught fatal signal {n if n is not None else sig}")


def compile_end(exit_code: int | None, outcome: str, signal: str | None) -> StageEnd:
    match outcome:
        case "ok":
            return StageEnd(exit_code, None, None, None)
        case "timeout" | "memory_limit" | "pids_limit":
            return _limit_end(outcome)
        case "signaled":
            return _signaled(signal)
        case _:
            return StageEnd(exit_code, None, "RE", f"Exited with error status {exit_code}")


def execute_body(result: RunResult, compiled: bool, outputs: Outputs | None) -> dict:
    """POST /api/v2/execute's answer. As Piston does, `run` repeats `compile` when the program
    never ran, and `compile` is absent for interpreted languages."""
    compile_, run = stages(result, compiled, outputs)
    body: dict = {"language": result.language, "version": result.version}
    if compile_ is not None:
        body["compile"] = compile_
    body["run"] = run if run is not None else compile_
    return body


def runtimes_body(registry: Registry) -> list[dict]:
    return [{"language": r.language, "version": r.version, "aliases": list(r.aliases),
             **({"runtime": "node"} if r.language == "javascript" else {})}
            for r in registry.offered_runtimes()]


def signal_action(name: str) -> str:
    """"cancel" for a signal Throwbox honours (by ending the run: it cannot deliver a signal),
    "unsupported" for another real signal, "invalid" for anything else."""
    if name in ENDING_SIGNALS:
        return "cancel"
    return "unsupported" if name in signals.Signals.__members__ else "invalid"


def error_status(e: ApiError) -> int:
    """Piston answers 400 to every request problem, an unknown runtime included."""
    return 400 if e.status == 422 else e.status
