"""Results of runs whose program never ran: one builder for every place that writes one (the
agent before a sandbox or on a bad record, the control plane's run view for a run cancelled
while queued, never started or lost, the invocation consumer for a request that never became
a run)."""

from __future__ import annotations

from .messages import ErrorInfo, RunResult, RunStatus, Timings, now_ms, rfc3339


def never_ran(run_id: str, language: str, version: str, status: RunStatus, error: ErrorInfo | None = None,
              created_at_ms: int = 0, picked_at_ms: int | None = None, at_ms: int | None = None) -> RunResult:
    """A result without a program's exit, output or usage. `created_at_ms` 0: not known (the
    run is taken as created now). `picked_at_ms`: when an agent took it (its queued time)."""
    at = now_ms() if at_ms is None else at_ms
    created = created_at_ms or at
    queued_ms = max(0, picked_at_ms - created) if picked_at_ms is not None else 0
    return RunResult(id=run_id, language=language, version=version, status=status, created_at=rfc3339(created),
                     error=error, finished_at=rfc3339(at),
                     timings=Timings(queued_ms=queued_ms, total_ms=max(0, at - created)))


def failed(run_id: str, language: str, version: str, code: str, message: str, created_at_ms: int = 0) -> RunResult:
    """A run that failed before its program ran: error `code` with `message`."""
    return never_ran(run_id, language, version, "failed", ErrorInfo(code=code, message=message), created_at_ms)
