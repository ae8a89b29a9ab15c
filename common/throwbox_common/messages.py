"""Typed messages shared by the control plane and the executor agents.

Two families:
- client input (`RunRequest`, `FunctionSpec`, ...): `Struct`, unknown fields rejected;
- Kafka records and results (`RunJob`, `Record` subclasses): unknown fields tolerated, so an
  older reader keeps working when a newer writer adds a field. New fields always get defaults.

All times are integer milliseconds; sizes are bytes unless a name says `_mb`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

import msgspec


class Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Client input: a field we do not know is an error, never silently dropped."""


class Record(msgspec.Struct, omit_defaults=False):
    """A record another process wrote: tolerate fields added by newer writers."""


# ---------------------------------------------------------------- client input


class FileSpec(Struct):
    name: str
    content: str
    encoding: Literal["utf8", "base64"] = "utf8"


class LimitsRequest(Struct):
    """Limits a request may ask for; each field lowers the runtime default when given."""

    wall_time_ms: int | None = None
    cpu_time_ms: int | None = None
    memory_mb: int | None = None
    pids: int | None = None
    output_bytes: int | None = None


Compare = Literal["exact", "trim_trailing", "tokens"]


class RunTestSpec(Struct):
    """One test case of a run (`tests`): its own stdin, args, expected stdout and limits."""

    stdin: str | None = None
    args: list[str] = []
    expected_stdout: str | None = None
    limits: LimitsRequest | None = None


class RunRequest(Struct):
    language: str
    files: list[FileSpec]
    version: str | None = None
    entrypoint: str | None = None
    args: list[str] = []
    stdin: str | None = None
    env: dict[str, str] = {}
    interactive: bool = False
    limits: LimitsRequest | None = None
    idempotency_key: str | None = None
    # Test cases instead of stdin/args: compiled once, each test its own process (api-v1.md).
    tests: list[RunTestSpec] | None = None
    compare: Compare | None = None               # default trim_trailing; only with tests
    stop_on_first_failure: bool | None = None    # default false; only with tests


# ---------------------------------------------------------------- resolved limits


class Limits(Record):
    """Complete, resolved limits of one run (server maximum >= runtime default >= request)."""

    wall_time_ms: int
    cpu_time_ms: int
    memory_mb: int
    pids: int
    output_bytes: int


# ---------------------------------------------------------------- run results (contract)

RunStatus = Literal["queued", "running", "completed", "cancelled", "failed"]
Outcome = Literal[
    "ok", "nonzero_exit", "signaled", "timeout", "memory_limit", "pids_limit", "output_limit", "compile_error"
]
Verdict = Literal["accepted", "wrong_answer", "time_limit", "memory_limit", "runtime_error", "output_limit",
                  "compile_error", "skipped"]


class ErrorInfo(Record):
    code: str
    message: str


class Usage(Record):
    wall_ms: int = 0
    cpu_ms: int = 0
    memory_peak_bytes: int = 0


class Timings(Record):
    queued_ms: int = 0
    sandbox_ms: int = 0
    run_ms: int = 0
    total_ms: int = 0


class CompileResult(Record):
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    outcome: Outcome = "ok"


class RunTestResult(Record):
    """One test of a run with tests (`outcome` null when it did not run)."""

    index: int
    verdict: Verdict
    outcome: Outcome | None = None
    exit_code: int | None = None
    signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    usage: Usage = msgspec.field(default_factory=Usage)


class RunTestsSummary(Record):
    """`failed` = total - passed (skipped tests included); `verdict`: the first one not accepted."""

    passed: int
    failed: int
    total: int
    verdict: Verdict
    skipped: int = 0


class RunResult(Record):
    id: str
    language: str
    version: str
    status: RunStatus
    created_at: str
    outcome: Outcome | None = None
    exit_code: int | None = None
    signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    compile: CompileResult | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    timings: Timings = msgspec.field(default_factory=Timings)
    error: ErrorInfo | None = None
    finished_at: str | None = None
    node: str | None = None        # the worker node (Nomad node name) that ran the program
    # Only in the result of a run with tests (UNSET fields are not encoded at all, so the
    # result of a run without tests stays as it was).
    tests: list[RunTestResult] | msgspec.UnsetType = msgspec.UNSET
    summary: RunTestsSummary | msgspec.UnsetType = msgspec.UNSET


# ---------------------------------------------------------------- Kafka: throwbox.runs


class JobFile(Record):
    name: str
    content: bytes  # JSON: base64


class JobTest(Record):
    """One resolved test case: its limits are complete (each at most the run's)."""

    limits: Limits
    stdin: bytes | None = None
    args: list[str] = []
    expected_stdout: str | None = None


class JobTests(Record):
    cases: list[JobTest]
    compare: Compare = "trim_trailing"
    stop_on_first_failure: bool = False


class RunJob(Record):
    """One run for an executor agent (topic throwbox.runs, key = run id)."""

    run_id: str
    tenant: str
    language: str
    version: str
    files: list[JobFile]
    entrypoint: str
    limits: Limits
    created_at_ms: int
    args: list[str] = []
    env: dict[str, str] = {}
    stdin: bytes | None = None
    interactive: bool = False
    # The latest moment an agent may still start it (queued too long → failed/queue_timeout).
    start_deadline_ms: int | None = None
    # Test cases: compile once, then each test as its own process (stdin/args are unused).
    tests: JobTests | msgspec.UnsetType = msgspec.UNSET


# ---------------------------------------------------------------- Kafka: throwbox.events
# Every record of one run is keyed by its run id, so all of them land in one partition in
# the order they were written; readers number the client-visible ones 1, 2, 3... in that order.


class RunEvent(Record, tag_field="type"):
    run_id: str


class Submitted(RunEvent, tag="submitted"):
    """Written by the control plane before the job: who owns the run (never shown to clients)."""

    tenant: str
    language: str
    version: str
    created_at_ms: int
    interactive: bool = False
    function: str | None = None
    # The job's start_deadline_ms, so every reader knows when an unstarted run is abandoned.
    start_deadline_ms: int | None = None
    # What a compatibility API (Piston, Judge0) needs to answer about the run later, e.g. the
    # Judge0 language id and expected-output digest, kept here so its token needs no store.
    compat: dict[str, str] | None = None


class Started(RunEvent, tag="status"):
    """An agent took the run and has a sandbox for it (client event {"type":"status"})."""

    status: Literal["running"] = "running"
    agent: str = ""
    sandbox: str = ""
    at_ms: int = 0


class Output(RunEvent, tag="output"):
    """A chunk of output (client event {"type": stream, "stage": ..., "data": ...})."""

    stream: Literal["stdout", "stderr"]
    stage: Literal["compile", "run"]
    data: str
    test: int | msgspec.UnsetType = msgspec.UNSET   # the test's index, in a run with tests


class RunTestEnded(RunEvent, tag="test"):
    """A test of a run with tests ended (client event {"type": "test", "index", "verdict", ...})."""

    index: int
    verdict: Verdict
    outcome: Outcome | None = None
    exit_code: int | None = None
    signal: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    usage: Usage = msgspec.field(default_factory=Usage)


class Finished(RunEvent, tag="result"):
    """The final result; always the last record of a run."""

    result: RunResult
    agent: str = ""


RunEventRecord = Submitted | Started | Output | RunTestEnded | Finished


# ---------------------------------------------------------------- Kafka: throwbox.control
# From the control plane to whichever agent holds the run (every agent reads every partition).


class ControlMessage(Record, tag_field="type"):
    run_id: str


class StdinData(ControlMessage, tag="stdin"):
    data: str


class StdinEof(ControlMessage, tag="stdin_eof"):
    pass


class Cancel(ControlMessage, tag="cancel"):
    pass


ControlRecord = StdinData | StdinEof | Cancel


# ---------------------------------------------------------------- helpers


def now_ms() -> int:
    return int(time.time() * 1000)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


encoder = msgspec.json.Encoder()
run_job_decoder = msgspec.json.Decoder(RunJob)
run_event_decoder = msgspec.json.Decoder(RunEventRecord)
control_decoder = msgspec.json.Decoder(ControlRecord)
