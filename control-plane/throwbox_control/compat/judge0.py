"""Judge0 CE's wire format mapped onto Throwbox runs (pure: no I/O; tests/unit/test_compat_judge0_mapping.py).

Judge0's units: seconds (times, as decimal strings in answers), kilobytes (memory, file size).
Statuses 1-14; verdicts follow Judge0's own order: time limit, signal, non-zero exit, internal
error, then `expected_output` compared after trimming each line's and the text's trailing
whitespace. docs/compat.md has the field table.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import io
import math
import shlex
import signal as signals
import zipfile
from dataclasses import dataclass

import msgspec

from throwbox_common.messages import FileSpec, JobTest, JobTests, LimitsRequest, RunResult, Struct
from throwbox_common.runtimes import Limits, Registry, Runtime

from ..config import Settings
from ..errors import ApiError
from ..validation import CheckedRun, check_program, check_strings, decode, encode_stdin

API_VERSION = "1.13.1"   # the Judge0 CE API level served (its SDK picks language ids by it)
MAX_BATCH = 20           # Judge0's default max_submission_batch_size
KB = 1024

# Judge0 CE's ids (1.13.1) of the languages Throwbox installs; every one runs the installed version.
# Judge0 CE has no id for tcl, awk, scheme, ada, crystal or racket: they are not offered here.
LANGUAGE_IDS: tuple[tuple[int, str], ...] = (
    (46, "bash"), (48, "c"), (49, "c"), (50, "c"), (75, "c"), (52, "cpp"), (53, "cpp"), (54, "cpp"),
    (60, "go"), (62, "java"), (63, "javascript"), (71, "python"), (72, "ruby"), (73, "rust"),
    (51, "csharp"), (55, "lisp"), (56, "d"), (57, "elixir"), (58, "erlang"), (59, "fortran"), (61, "haskell"),
    (64, "lua"), (65, "ocaml"), (67, "pascal"), (68, "php"), (69, "prolog"), (74, "typescript"), (77, "cobol"),
    (78, "kotlin"), (80, "r"), (81, "scala"), (82, "sqlite3"), (85, "perl"), (86, "clojure"),
)
DISPLAY = {"bash": "Bash ({v})", "c": "C (GCC {v})", "cpp": "C++ (GCC {v})", "go": "Go ({v})",
           "java": "Java (OpenJDK {v})", "javascript": "JavaScript (Node.js {v})", "python": "Python ({v})",
           "ruby": "Ruby ({v})", "rust": "Rust ({v})", "csharp": "C# (Mono {v})", "lisp": "Common Lisp (SBCL {v})",
           "d": "D (GDC {v})", "elixir": "Elixir ({v})", "erlang": "Erlang (OTP {v})",
           "fortran": "Fortran (GFortran {v})", "haskell": "Haskell (GHC {v})", "lua": "Lua ({v})",
           "ocaml": "OCaml ({v})", "pascal": "Pascal (FPC {v})", "php": "PHP ({v})",
           "prolog": "Prolog (SWI-Prolog {v})", "typescript": "TypeScript ({v})", "cobol": "COBOL (GnuCOBOL {v})",
           "kotlin": "Kotlin ({v})", "r": "R ({v})", "scala": "Scala ({v})", "sqlite3": "SQL (SQLite {v})",
           "perl": "Perl ({v})", "clojure": "Clojure ({v})"}

STATUSES = {
    1: "In Queue", 2: "Processing", 3: "Accepted", 4: "Wrong Answer", 5: "Time Limit Exceeded",
    6: "Compilation Error", 7: "Runtime Error (SIGSEGV)", 8: "Runtime Error (SIGXFSZ)",
    9: "Runtime Error (SIGFPE)", 10: "Runtime Error (SIGABRT)", 11: "Runtime Error (NZEC)",
    12: "Runtime Error (Other)", 13: "Internal Error", 14: "Exec Format Error",
}
SIGNAL_STATUS = {"SIGSEGV": 7, "SIGXFSZ": 8, "SIGFPE": 9, "SIGABRT": 10}

DEFAULT_FIELDS = ("token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status")
# What Throwbox can answer about a submission (fields=*).
KEPT_FIELDS = ("token", "stdout", "stderr", "compile_output", "message", "exit_code", "exit_signal", "status",
               "status_id", "created_at", "finished_at", "time", "wall_time", "memory", "language_id",
               "language", "number_of_runs")
# Judge0 fields of a submission that Throwbox does not keep (the source, input and settings).
NOT_KEPT_FIELDS = ("source_code", "stdin", "expected_output", "compiler_options", "command_line_arguments",
                   "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
                   "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
                   "enable_per_process_and_thread_memory_limit", "max_file_size", "redirect_stderr_to_stdout",
                   "callback_url", "additional_files", "enable_network")
ENCODED_FIELDS = ("stdout", "stderr", "compile_output", "message")


class Submission(Struct):
    source_code: str | None = None
    language_id: int | None = None
    compiler_options: str | None = None
    command_line_arguments: str | None = None
    stdin: str | None = None
    expected_output: str | None = None
    cpu_time_limit: float | None = None
    cpu_extra_time: float | None = None
    wall_time_limit: float | None = None
    memory_limit: float | None = None
    stack_limit: int | None = None
    max_processes_and_or_threads: int | None = None
    enable_per_process_and_thread_time_limit: bool | None = None
    enable_per_process_and_thread_memory_limit: bool | None = None
    max_file_size: int | None = None
    redirect_stderr_to_stdout: bool | None = None
    enable_network: bool | None = None
    number_of_runs: int | None = None
    callback_url: str | None = None
    additional_files: str | None = None


class Batch(Struct):
    submissions: list[msgspec.Raw]


submission_decoder = msgspec.json.Decoder(Submission)
batch_decoder = msgspec.json.Decoder(Batch)


def invalid(field: str, problem: str) -> ApiError:
    """A Judge0 validation error: 422 `{"<field>": ["<problem>"]}` at the edge."""
    return ApiError(422, "invalid_request", f"{field} {problem}", [{"field": field, "problem": problem}])


def request_error(message: str) -> ApiError:
    """A Judge0 request error: 400 `{"error": "..."}` at the edge."""
    return ApiError(400, "invalid_request", message)


def error_body(e: ApiError) -> tuple[int, dict]:
    """Judge0's two error shapes: field errors for a submission, `{"error"}` for the rest."""
    if e.status in (400, 422) and e.details:
        return 422, {d["field"]: [d["problem"]] for d in e.details}
    if e.status == 422:   # Throwbox's unknown_runtime cannot happen here (ids are checked first)
        return 422, {"error": e.message}
    return e.status, {"error": e.message}


def _submission_field_error(field: str, problem: str) -> ApiError:
    return invalid(field, "is not a Judge0 submission attribute" if problem == "unknown field" else problem)


def decode_submission(body: bytes | msgspec.Raw) -> Submission:
    return decode(bytes(body), submission_decoder, _submission_field_error, request_error)


def decode_batch(body: bytes) -> list[msgspec.Raw]:
    try:
        entries = batch_decoder.decode(body).submissions
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise request_error('the body must be {"submissions": [submission, ...]}') from None
    if not entries:
        raise request_error("there should be at least one submission in a batch")
    if len(entries) > MAX_BATCH:
        raise request_error(f"number of submissions in a batch should be less than or equal to {MAX_BATCH}")
    return entries


# ---- languages


def languages(registry: Registry) -> list[tuple[int, Runtime]]:
    """(Judge0 id, the newest installed runtime of its language), for the languages installed."""
    out = []
    for lang_id, language in LANGUAGE_IDS:
        runtime = registry.resolve(language)
        if runtime is not None and runtime.language == language:
            out.append((lang_id, runtime))
    return out


def language_name(runtime: Runtime) -> str:
    return DISPLAY.get(runtime.language, runtime.language + " ({v})").format(v=runtime.version)


def language_detail(lang_id: int, runtime: Runtime) -> dict:
    compile_cmd = runtime.compile_command(runtime.entrypoint)
    return {"id": lang_id, "name": language_name(runtime), "is_archived": False,
            "source_file": runtime.entrypoint,
            "compile_cmd": " ".join(compile_cmd) if compile_cmd else None,
            "run_cmd": " ".join(runtime.run_command(runtime.entrypoint))}


# ---- submission → run


def _text(value: str | None, field: str, b64: bool) -> str | None:
    if value is None or not b64:
        return value
    try:
        return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid(field, "is not valid base64 (or not UTF-8 text once decoded)") from None


def extra_files(archive_b64: str | None, settings: Settings) -> list[FileSpec]:
    """Judge0's `additional_files`: a base64 zip whose files sit beside the source. Sizes are
    checked from the archive's directory before anything is inflated, then again on the bytes."""
    if not archive_b64:
        return []
    problem = "is not a base64-encoded zip archive"
    try:
        data = base64.b64decode(archive_b64.replace("\n", "").replace("\r", ""), validate=True)
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [e for e in archive.infolist() if not e.is_dir()]
        if sum(e.file_size for e in entries) > settings.max_files_total_bytes:
            raise invalid("additional_files", f"unpacks to more than {settings.max_files_total_bytes} bytes")
        specs = []
        for e in entries:
            content = archive.read(e)
            if len(content) > settings.max_file_bytes:
                raise invalid("additional_files", f"{e.filename} is larger than {settings.max_file_bytes} bytes")
            specs.append(FileSpec(e.filename, base64.b64encode(content).decode(), "base64"))
        return specs
    except (binascii.Error, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError,
            RuntimeError, EOFError, OSError):
        raise invalid("additional_files", problem) from None


def judge0_strip(text: str) -> str:
    """Judge0's comparison form: each line's trailing whitespace and the text's trailing
    whitespace (so trailing empty lines) removed."""
    ws = " \t\n\v\f\r\0"
    return "\n".join(line.rstrip(ws) for line in text.split("\n")).rstrip(ws)


def output_digest(text: str) -> str:
    return hashlib.sha256(judge0_strip(text).encode("utf-8", "replace")).hexdigest()


def _refuse_flags(sub: Submission) -> None:
    """Fields Throwbox cannot honour: refused, never ignored."""
    if sub.enable_network:
        raise invalid("enable_network", "cannot be true: Throwbox sandboxes have no network")
    if sub.callback_url:
        raise invalid("callback_url", "is not supported: poll GET /judge0/submissions/{token} (or use wait=true)")
    if sub.compiler_options:
        raise invalid("compiler_options", "is not supported: Throwbox's compile commands are fixed (docs/runtimes.md)")
    if sub.redirect_stderr_to_stdout:
        raise invalid("redirect_stderr_to_stdout", "cannot be true: Throwbox keeps stdout and stderr apart")
    if sub.enable_per_process_and_thread_time_limit:
        raise invalid("enable_per_process_and_thread_time_limit",
                      "cannot be true: Throwbox limits the whole program (all its processes together)")
    if sub.enable_per_process_and_thread_memory_limit:
        raise invalid("enable_per_process_and_thread_memory_limit",
                      "cannot be true: Throwbox limits the whole program (all its processes together)")
    if sub.stack_limit is not None:
        raise invalid("stack_limit", "is not supported: the stack is bounded by memory_limit only")
    if sub.number_of_runs is not None and sub.number_of_runs != 1:
        raise invalid("number_of_runs", "must be 1: Throwbox runs a submission once")


def _seconds(field: str, value: float | None, maximum_ms: int) -> int | None:
    if value is None:
        return None
    if value <= 0:
        raise invalid(field, "must be greater than 0")
    ms = math.ceil(value * 1000)
    if ms > maximum_ms:
        raise invalid(field, f"must be less than or equal to {maximum_ms / 1000:g}")
    return ms


def _count(field: str, value: float | None, maximum: int, unit: int = 1) -> int | None:
    if value is None:
        return None
    if value <= 0:
        raise invalid(field, "must be greater than 0")
    if value > maximum:
        raise invalid(field, f"must be less than or equal to {maximum}")
    return math.ceil(value / unit)


@dataclass(frozen=True)
class Planned:
    """One submission as a Throwbox run, and what its answers need later (Submitted.compat)."""

    run: CheckedRun
    compat: dict[str, str]


def plan(sub: Submission, b64: bool, registry: Registry, settings: Settings) -> Planned:
    if sub.source_code is None or sub.source_code == "":
        raise invalid("source_code", "can't be blank")
    if sub.language_id is None:
        raise invalid("language_id", "can't be blank")
    runtime = dict(languages(registry)).get(sub.language_id)
    if runtime is None:
        raise invalid("language_id", f"language with id {sub.language_id} doesn't exist")
    _refuse_flags(sub)
    source = _text(sub.source_code, "source_code", b64)
    stdin = _text(sub.stdin, "stdin", b64)
    expected = _text(sub.expected_output, "expected_output", b64)
    try:
        args = shlex.split(sub.command_line_arguments or "")
    except ValueError as e:
        raise invalid("command_line_arguments", f"cannot be split into arguments: {e}") from None
    check_strings(args, {})

    base = runtime.default_limits or registry.default_limits
    top = registry.server_max
    cpu_max = min(base.cpu_time_ms, top.cpu_time_ms)
    cpu_limit = _seconds("cpu_time_limit", sub.cpu_time_limit, cpu_max)
    extra = 0 if sub.cpu_extra_time is None else math.ceil(sub.cpu_extra_time * 1000)
    if extra < 0:
        raise invalid("cpu_extra_time", "must be greater than or equal to 0")
    # Judge0 lets a program run cpu_extra_time past its limit and then calls it TLE all the same:
    # stopping it at the limit gives the same verdict, so the extra time is only checked.
    if cpu_limit is not None and cpu_limit + extra > cpu_max:
        raise invalid("cpu_extra_time", f"cpu_time_limit + cpu_extra_time must be at most {cpu_max / 1000:g}")
    file_kb = _count("max_file_size", sub.max_file_size, min(base.output_bytes, top.output_bytes) // KB)
    limits = LimitsRequest(
        wall_time_ms=_seconds("wall_time_limit", sub.wall_time_limit, min(base.wall_time_ms, top.wall_time_ms)),
        cpu_time_ms=cpu_limit,
        memory_mb=_count("memory_limit", sub.memory_limit, min(base.memory_mb, top.memory_mb) * KB, KB),
        pids=_count("max_processes_and_or_threads", sub.max_processes_and_or_threads, min(base.pids, top.pids)),
        output_bytes=None if file_kb is None else file_kb * KB)
    try:
        files = [FileSpec(runtime.entrypoint, source or ""), *extra_files(sub.additional_files, settings)]
        runtime, job_files, entry, resolved = check_program(
            registry, settings, language=runtime.language, version=runtime.version, files=files,
            entrypoint=runtime.entrypoint, env={}, limits=limits)
        stdin_bytes = encode_stdin(stdin or "", settings)
    except ApiError as e:
        if e.details:
            where = e.details[0]["field"]
            field = ("source_code" if where in ("files[0].content", "files[0].name")
                     else "additional_files" if where.startswith("files") else where)
            raise ApiError(e.status if e.status == 413 else 422, e.code, e.message,
                           [{"field": field, "problem": e.details[0]["problem"]}]) from None
        raise
    compat = {"api": "judge0", "language_id": str(sub.language_id)}
    if expected is not None:
        compat["expected_digest"] = output_digest(expected)
    run = CheckedRun(runtime, job_files, entry, args, {}, stdin_bytes, False, resolved, None)
    return Planned(run, compat)


def _program(p: Planned) -> tuple:
    r = p.run
    return (p.compat["language_id"], r.runtime.key, r.entrypoint, tuple((f.name, f.content) for f in r.files))


def plan_batch(planned: list[Planned | ApiError]) -> list[list[int]]:
    """Which submissions of a batch share one run. When every valid submission has the same
    source (and files) and language, the batch is one run whose tests are the submissions, so
    the program is compiled once (token slot = test index + 1); otherwise one run each."""
    valid = [i for i, p in enumerate(planned) if isinstance(p, Planned)]
    if len(valid) >= 2 and len({_program(planned[i]) for i in valid}) == 1:   # type: ignore[arg-type]
        return [valid]
    return [[i] for i in valid]


def batch_run(members: list[Planned]) -> Planned:
    """One run with a test per submission (its stdin, arguments and limits). The run's limits are
    the largest of its tests' (each at most the runtime's default): the wall clock bounds all the
    tests together (docs/compat.md)."""
    first = members[0].run
    limits = Limits(**{name: max(getattr(m.run.limits, name) for m in members)
                       for name in msgspec.structs.asdict(first.limits)})
    cases = [JobTest(limits=m.run.limits, stdin=m.run.stdin, args=list(m.run.args)) for m in members]
    compat = {"api": "judge0", "language_id": members[0].compat["language_id"], "tests": str(len(members))}
    for i, m in enumerate(members):
        if "expected_digest" in m.compat:
            compat[f"expected_digest_{i}"] = m.compat["expected_digest"]
    run = dataclasses.replace(first, args=[], stdin=None, limits=limits, tests=JobTests(cases=cases))
    return Planned(run, compat)


def test_of(result: RunResult, compat: dict[str, str], slot: int) -> tuple[RunResult, dict[str, str]]:
    """The submission of slot `slot` (test slot - 1) of a batch run, as a run of its own to answer
    with; a run that ended before its tests ran (compile error, failure) answers for every slot."""
    tests = [] if result.tests is msgspec.UNSET else result.tests
    if result.status != "completed" or result.outcome == "compile_error" or not 1 <= slot <= len(tests):
        return result, compat
    t = tests[slot - 1]
    mine = {"api": "judge0", "language_id": compat.get("language_id", "")}
    if f"expected_digest_{slot - 1}" in compat:
        mine["expected_digest"] = compat[f"expected_digest_{slot - 1}"]
    if t.verdict == "skipped":   # the run's time ran out before this test: Judge0 says TLE
        return msgspec.structs.replace(result, outcome="timeout", exit_code=None, signal=None, stdout="",
                                       stderr="", tests=msgspec.UNSET, summary=msgspec.UNSET), mine
    return msgspec.structs.replace(result, outcome=t.outcome, exit_code=t.exit_code, signal=t.signal,
                                   stdout=t.stdout, stderr=t.stderr, usage=t.usage,
                                   tests=msgspec.UNSET, summary=msgspec.UNSET), mine


# ---- run → answer


def signal_number(name: str | None) -> int | None:
    try:
        return signals.Signals[name].value if name else None
    except KeyError:
        return None


def verdict(result: RunResult, compat: dict[str, str], compiled: bool) -> tuple[int, str | None]:
    """(status id, message) of a finished run, in Judge0's order of checks."""
    if result.status == "cancelled":
        return 13, "the run was cancelled"
    if result.status == "failed":
        err = result.error
        if err is not None and err.code == "pids_limit":   # how agents before the outcome said it
            return 12, err.message
        return 13, err.message if err is not None else "the run failed"
    if result.outcome == "compile_error" or (compiled and result.compile is None):
        return 6, None
    match result.outcome:
        case "timeout":
            return 5, "Time limit exceeded"
        case "output_limit":
            return 8, "Output limit exceeded (max_file_size)"
        case "memory_limit":
            return 12, "Memory limit exceeded"
        case "pids_limit":
            return 12, "Process limit exceeded"
        case "signaled":
            n = signal_number(result.signal)
            return SIGNAL_STATUS.get(result.signal or "", 12), f"Caught fatal signal {n if n is not None else result.signal}"
        case "nonzero_exit":
            return 11, f"Exited with error status {result.exit_code}"
    expected = compat.get("expected_digest")
    if expected is None or output_digest(result.stdout) == expected:
        return 3, None
    return 4, None


def compile_output(result: RunResult, compiled: bool) -> str | None:
    c = result.compile
    if c is None:
        if compiled and result.status == "completed" and result.outcome in ("timeout", "memory_limit", "output_limit"):
            return {"timeout": "Compilation time limit exceeded.",
                    "memory_limit": "Compilation memory limit exceeded."}.get(result.outcome,
                                                                            "Compilation output limit exceeded.")
        return None
    text = c.stdout + c.stderr
    return text or None


def _decimal_s(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def view(token: str, status: str, created_at: str, result: RunResult | None, compat: dict[str, str],
         compiled: bool, language: tuple[int, str] | None) -> dict:
    """Every field Throwbox can answer about a submission (KEPT_FIELDS), not encoded."""
    lang = {"id": language[0], "name": language[1]} if language is not None else None
    body: dict = {"token": token, "stdout": None, "stderr": None, "compile_output": None, "message": None,
                  "exit_code": None, "exit_signal": None, "created_at": created_at, "finished_at": None,
                  "time": None, "wall_time": None, "memory": None, "number_of_runs": 1,
                  "language_id": lang["id"] if lang else None, "language": lang}
    if result is None:
        sid, message = (2 if status == "running" else 1), None
    else:
        sid, message = verdict(result, compat, compiled)
        ran = result.status == "completed" and sid != 6
        body.update({
            "stdout": result.stdout if ran else None, "stderr": result.stderr if ran else None,
            "compile_output": compile_output(result, compiled), "message": message,
            "exit_code": result.exit_code if ran and result.signal is None else None,
            "exit_signal": signal_number(result.signal) if ran else None,
            "finished_at": result.finished_at,
            "time": _decimal_s(result.usage.cpu_ms) if ran else None,
            "wall_time": _decimal_s(result.usage.wall_ms) if ran else None,
            "memory": result.usage.memory_peak_bytes // KB if ran else None,
        })
    body["status"] = {"id": sid, "description": STATUSES[sid]}
    body["status_id"] = sid
    return body


def requested_fields(param: str | None) -> tuple[str, ...]:
    if param is None or param.strip() == "":
        return DEFAULT_FIELDS
    if param.strip() == "*":
        return KEPT_FIELDS
    wanted = tuple(f.strip() for f in param.split(",") if f.strip())
    unknown = [f for f in wanted if f not in KEPT_FIELDS and f not in NOT_KEPT_FIELDS]
    if unknown:
        raise request_error(f"invalid fields: [{', '.join(unknown)}]")
    not_kept = [f for f in wanted if f in NOT_KEPT_FIELDS]
    if not_kept:
        raise request_error(f"fields not kept by Throwbox (it stores no source, input or settings): "
                            f"[{', '.join(not_kept)}]")
    return wanted


def select(body: dict, fields: tuple[str, ...], b64: bool) -> dict:
    out = {}
    for f in fields:
        value = body.get(f)
        if b64 and f in ENCODED_FIELDS and value is not None:
            value = base64.b64encode(value.encode("utf-8")).decode()
        out[f] = value
    return out


def config_info(registry: Registry, settings: Settings) -> dict:
    """Judge0's /config_info in Judge0's units. A request may lower a runtime's default limit,
    never raise it, so the default is also the maximum a submission may ask for."""
    d, top = registry.default_limits, registry.server_max
    cpu_s = min(d.cpu_time_ms, top.cpu_time_ms) / 1000
    wall_s = min(d.wall_time_ms, top.wall_time_ms) / 1000
    memory_kb = min(d.memory_mb, top.memory_mb) * KB
    pids = min(d.pids, top.pids)
    file_kb = min(d.output_bytes, top.output_bytes) // KB
    return {
        "maintenance_mode": False, "enable_wait_result": True, "enable_compiler_options": False,
        "allowed_languages_for_compile_options": [], "enable_command_line_arguments": True,
        "enable_submission_delete": False, "enable_callbacks": False, "callbacks_max_tries": 0,
        "callbacks_timeout": 0.0, "enable_additional_files": True, "max_queue_size": settings.max_queue_depth,
        "cpu_time_limit": cpu_s, "max_cpu_time_limit": cpu_s, "cpu_extra_time": 0.0, "max_cpu_extra_time": cpu_s,
        "wall_time_limit": wall_s, "max_wall_time_limit": wall_s,
        "memory_limit": memory_kb, "max_memory_limit": memory_kb,
        "stack_limit": memory_kb, "max_stack_limit": memory_kb,
        "max_processes_and_or_threads": pids, "max_max_processes_and_or_threads": pids,
        "enable_per_process_and_thread_time_limit": False, "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": file_kb, "max_max_file_size": file_kb,
        "number_of_runs": 1, "max_number_of_runs": 1, "redirect_stderr_to_stdout": False,
        "max_extract_size": settings.max_files_total_bytes // KB, "enable_batched_submissions": True, "max_submission_batch_size": MAX_BATCH,
        "submission_cache_duration": 0.0, "use_docs_as_homepage": False, "enable_network": False,
        "allow_enable_network": False,
    }


def about() -> dict:
    return {"version": API_VERSION, "homepage": "docs/compat.md",
            "source_code": "Throwbox (Judge0 CE compatible API)",
            "maintainer": "the operator of this Throwbox installation"}
