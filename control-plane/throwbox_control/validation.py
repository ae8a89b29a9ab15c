"""Turn a client's request body into a checked run: types, names, sizes, runtime, limits.

Every problem becomes an ApiError with the contract's code and a detail naming the field.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from throwbox_common.messages import (
    FileSpec,
    JobFile,
    JobTest,
    JobTests,
    Limits,
    LimitsRequest,
    RunRequest,
    RunTestSpec,
)
from throwbox_common.runtimes import LIMIT_FIELDS, LimitError, Registry, Runtime

from .config import Settings
from .errors import ApiError, invalid, too_large

MAX_FILES = 64
MAX_NAME_CHARS = 255
MAX_ARGS = 256
MAX_ENV = 256
MAX_IDEMPOTENCY_KEY_CHARS = 256
MAX_TESTS = 100
T = TypeVar("T")

run_request_decoder = msgspec.json.Decoder(RunRequest)

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")


def field_of(error: msgspec.ValidationError | msgspec.DecodeError) -> tuple[str, str]:
    """msgspec's message '... - at `$.files[0].name`' → ('files[0].name', problem)."""
    m = _AT.match(str(error))
    problem = m.group("problem") if m else str(error)
    path = (m.group("path") or "") if m else ""
    path = path[1:] if path.startswith(".") else path
    for pattern, text in ((_UNKNOWN, "unknown field"), (_MISSING, "required field is missing")):
        mm = pattern.match(problem)
        if mm:
            name = mm.group("name")
            return (f"{path}.{name}" if path else name), text
    return (path or "body"), problem


def _body_invalid(message: str) -> ApiError:
    return invalid("body", message)


def decode(body: bytes, decoder: msgspec.json.Decoder[T],
           field_error: Callable[[str, str], ApiError] = invalid,
           body_error: Callable[[str], ApiError] = _body_invalid) -> T:
    """A request body decoded, or the error of its API: `field_error(field, problem)` for a
    field of the wrong type or shape, `body_error(message)` for an empty or malformed body."""
    if not body.strip():
        raise body_error("request body is empty")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise field_error(*field_of(e)) from None
    except msgspec.DecodeError as e:
        raise body_error(f"malformed JSON: {e}") from None


def check_content_type(content_type: str | None) -> None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")


def check_file_name(name: str) -> str | None:
    """The problem with a file name, or None when it is acceptable."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_CHARS:
        return f"must be at most {MAX_NAME_CHARS} characters"
    if "\x00" in name:
        return "must not contain NUL"
    if "\\" in name:
        return "must not contain a backslash"
    if name.startswith("/"):
        return "must be a relative path (no leading /)"
    parts = name.split("/")
    if ".." in parts:
        return "must not contain '..'"
    if any(p in ("", ".") for p in parts):
        return "must not contain empty or '.' path segments"
    return None


def decode_files(files: list[FileSpec], settings: Settings, where: str = "files") -> list[JobFile]:
    if len(files) < 1:
        raise invalid(where, "at least 1 file is required")
    if len(files) > MAX_FILES:
        raise invalid(where, f"at most {MAX_FILES} files are allowed")
    seen: set[str] = set()
    out: list[JobFile] = []
    total = 0
    for i, f in enumerate(files):
        problem = check_file_name(f.name)
        if problem:
            raise invalid(f"{where}[{i}].name", problem)
        if f.name in seen:
            raise invalid(f"{where}[{i}].name", "duplicate file name")
        seen.add(f.name)
        if f.encoding == "base64":
            try:
                content = base64.b64decode(f.content, validate=True)
            except (binascii.Error, ValueError):
                raise invalid(f"{where}[{i}].content", "not valid base64") from None
        else:
            try:
                content = f.content.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid(f"{where}[{i}].content", "not valid UTF-8 text") from None
        if len(content) > settings.max_file_bytes:
            raise too_large(f"{where}[{i}].content", f"file is larger than {settings.max_file_bytes} bytes")
        total += len(content)
        out.append(JobFile(name=f.name, content=content))
    if total > settings.max_files_total_bytes:
        raise too_large(where, f"files together are larger than {settings.max_files_total_bytes} bytes")
    return out


def check_strings(args: list[str], env: dict[str, str], where: str = "args") -> None:
    if len(args) > MAX_ARGS:
        raise invalid(where, f"at most {MAX_ARGS} arguments are allowed")
    for i, a in enumerate(args):
        if "\x00" in a:
            raise invalid(f"{where}[{i}]", "must not contain NUL")
    if len(env) > MAX_ENV:
        raise invalid("env", f"at most {MAX_ENV} variables are allowed")
    for k, v in env.items():
        if not k or "=" in k or "\x00" in k:
            raise invalid(f"env.{k}", "variable name must be non-empty without '=' or NUL")
        if "\x00" in v:
            raise invalid(f"env.{k}", "value must not contain NUL")


def encode_stdin(stdin: str | None, settings: Settings, where: str = "stdin") -> bytes | None:
    if stdin is None:
        return None
    try:
        data = stdin.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(where, "not valid UTF-8 text") from None
    if len(data) > settings.max_stdin_bytes:
        raise too_large(where, f"stdin is larger than {settings.max_stdin_bytes} bytes")
    return data


def resolve_runtime(registry: Registry, language: str, version: str | None) -> Runtime:
    runtime = registry.resolve(language, version)
    if runtime is None:
        field = "language" if registry.resolve(language) is None else "version"
        what = f"{language} {version}" if version else language
        raise ApiError(422, "unknown_runtime", f"runtime {what!r} is not installed (see GET /v1/runtimes)",
                       [{"field": field, "problem": "not installed"}])
    return runtime


def resolve_limits(registry: Registry, runtime: Runtime, limits: LimitsRequest | None) -> Limits:
    try:
        return registry.effective_limits(runtime, limits)
    except LimitError as e:
        raise invalid(f"limits.{e.field}", str(e)) from None


def test_limits(run: Limits, asked: LimitsRequest | None, where: str) -> Limits:
    """A test's limits: each one given may only lower the run's (resolved) limit."""
    values = {}
    for name in LIMIT_FIELDS:
        value = getattr(asked, name) if asked is not None else None
        ceiling = getattr(run, name)
        if value is None:
            values[name] = ceiling
        elif value < 1:
            raise invalid(f"{where}.limits.{name}", "must be at least 1")
        elif value > ceiling:
            raise invalid(f"{where}.limits.{name}", f"may be at most the run's {name}, {ceiling}")
        else:
            values[name] = value
    return Limits(**values)


def check_tests(tests: list[RunTestSpec] | None, compare: str | None, stop_on_first_failure: bool | None,
                run_limits: Limits, settings: Settings) -> JobTests | msgspec.UnsetType:
    """The run's test cases resolved (UNSET for a run without tests)."""
    if tests is None:
        for name, value in (("compare", compare), ("stop_on_first_failure", stop_on_first_failure)):
            if value is not None:
                raise invalid(name, "only with tests")
        return msgspec.UNSET
    if not 1 <= len(tests) <= MAX_TESTS:
        raise invalid("tests", f"1..{MAX_TESTS} tests are allowed")
    cases = []
    for i, t in enumerate(tests):
        where = f"tests[{i}]"
        check_strings(t.args, {}, where=f"{where}.args")
        stdin = encode_stdin(t.stdin, settings, where=f"{where}.stdin")
        if t.expected_stdout is not None:
            encode_stdin(t.expected_stdout, settings, where=f"{where}.expected_stdout")
        cases.append(JobTest(limits=test_limits(run_limits, t.limits, where), stdin=stdin, args=list(t.args),
                             expected_stdout=t.expected_stdout))
    return JobTests(cases=cases, compare=compare or "trim_trailing", stop_on_first_failure=bool(stop_on_first_failure))


def check_invocation_tests(tests: list[RunTestSpec] | None, compare: str | None,
                           stop_on_first_failure: bool | None, inputs_given: dict[str, bool],
                           run_limits: Limits, settings: Settings) -> JobTests | msgspec.UnsetType:
    """A function invocation's tests: instead of its input/stdin/args (named in inputs_given)."""
    if tests is not None:
        for name, given in inputs_given.items():
            if given:
                raise invalid(name, "not with tests (each test has its own stdin and args)")
    return check_tests(tests, compare, stop_on_first_failure, run_limits, settings)


@dataclass(frozen=True)
class CheckedRun:
    runtime: Runtime
    files: list[JobFile]
    entrypoint: str
    args: list[str]
    env: dict[str, str]
    stdin: bytes | None
    interactive: bool
    limits: Limits
    idempotency_key: str | None
    tests: JobTests | msgspec.UnsetType = field(default=msgspec.UNSET)


def check_program(registry: Registry, settings: Settings, *, language: str, version: str | None,
                  files: list[FileSpec], entrypoint: str | None, env: dict[str, str],
                  limits: LimitsRequest | None) -> tuple[Runtime, list[JobFile], str, Limits]:
    job_files = decode_files(files, settings)
    entry = files[0].name if entrypoint is None else entrypoint
    if entry not in {f.name for f in job_files}:
        raise invalid("entrypoint", "must be the name of one of the files")
    check_strings([], env)
    runtime = resolve_runtime(registry, language, version)
    return runtime, job_files, entry, resolve_limits(registry, runtime, limits)


def check_run(req: RunRequest, registry: Registry, settings: Settings) -> CheckedRun:
    runtime, files, entry, limits = check_program(
        registry, settings, language=req.language, version=req.version, files=req.files,
        entrypoint=req.entrypoint, env=req.env, limits=req.limits)
    check_strings(req.args, {})
    tests = check_invocation_tests(
        req.tests, req.compare, req.stop_on_first_failure,
        {"stdin": req.stdin is not None, "args": bool(req.args), "interactive": req.interactive}, limits, settings)
    if req.idempotency_key is not None and not (0 < len(req.idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS):
        raise invalid("idempotency_key", f"must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters")
    return CheckedRun(runtime, files, entry, list(req.args), dict(req.env),
                      encode_stdin(req.stdin, settings), req.interactive, limits, req.idempotency_key, tests)
