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


# ---------------------------------------------------------------- Kafka: throwbox.runs


class JobFile(Record):
    name: str
    content: bytes  # JSON: base64


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


class Finished(RunEvent, tag="result"):
    """The final result; always the last record of a run."""

    result: RunResult
    agent: str = ""


RunEventRecord = Submitted | Started | Output | Finished


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
