"""How a run ended, decided from what the agent observed (pure; unit-tested with plain data).

The launcher's X/C frames say how the program exited (and X whether the launcher stopped it at
its pids limit); the agent's own observations (its kill decisions, the container's OOM kill,
the cgroup's OOM and pids counters) take precedence over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from throwbox_common.messages import ErrorInfo


class KillReason(Enum):
    TIMEOUT = "timeout"
    OUTPUT_LIMIT = "output_limit"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Exit:
    """A stage's end as the launcher reported it."""

    exit_code: int | None
    signal: str | None
    # The launcher stopped the stage: its tasks sat at the pids limit, so its forks were failing
    # (RLIMIT_NPROC: EAGAIN); a fork bomb otherwise retries until the wall clock ends it.
    pids_limit: bool = False


@dataclass(frozen=True)
class Observed:
    kill_reason: KillReason | None = None
    run_exit: Exit | None = None          # from X; None when the stream ended without one
    compile_exit: Exit | None = None      # from C
    launch_error: str | None = None       # from L
    oom_killed: bool = False              # the container's State.OOMKilled
    cgroup_oom_kills: int = 0             # memory.oom_control oom_kill since the run began
    cgroup_pids_max_hits: int = 0         # pids.events max: host forks refused at the task cap
    # The cgroup's memory reached the run's limit (peak at it, or charges refused at it) in the
    # last sample taken. The OOM kill's own traces can be missed: the counter is sampled every
    # 100 ms, the cgroup vanishes with the sandbox, and Docker's OOMKilled is not always set.
    memory_at_limit: bool = False
    # The last sample found the host task cap nearly used up (the cap itself may be hit after it).
    pids_near_limit: bool = False
    agent_error: ErrorInfo | None = None  # the agent could not do its part (limits, attach...)


@dataclass(frozen=True)
class Decision:
    status: str                 # completed | cancelled | failed
    outcome: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    error: ErrorInfo | None = None


def stage_outcome(ex: Exit, memory_hit: bool = False) -> str:
    if ex.pids_limit:
        return "pids_limit"
    if ex.signal == "SIGXCPU":
        return "timeout"
    if ex.signal == "SIGKILL" and memory_hit:
        return "memory_limit"
    if ex.signal is not None:
        return "signaled"
    return "ok" if ex.exit_code == 0 else "nonzero_exit"


def decide(o: Observed) -> Decision:
    if o.kill_reason is KillReason.CANCEL:
        return Decision("cancelled")
    if o.agent_error is not None:
        return Decision("failed", error=o.agent_error)
    memory_hit = o.oom_killed or o.cgroup_oom_kills > 0
    if o.kill_reason is KillReason.TIMEOUT:
        return Decision("completed", "timeout", None, "SIGKILL")
    if o.kill_reason is KillReason.OUTPUT_LIMIT:
        return Decision("completed", "output_limit", None, "SIGKILL")
    if o.launch_error is not None:
        return Decision("failed", error=ErrorInfo(code="launch_failed", message=o.launch_error[:500]))
    if o.compile_exit is not None and stage_outcome(o.compile_exit, memory_hit) != "ok":
        return Decision("completed", "compile_error", o.compile_exit.exit_code, o.compile_exit.signal)
    if o.run_exit is None:
        if memory_hit:
            # The kernel killed the whole sandbox (gVisor's own processes count too).
            return Decision("completed", "memory_limit", None, "SIGKILL")
        if o.cgroup_pids_max_hits > 0 or o.pids_near_limit:
            # gVisor (ptrace platform) needs host tasks per guest process and per sentry thread;
            # when the pids cgroup refuses one, the whole sandbox dies: the program started more
            # processes than the sandbox can hold. The sample before the end may predate the
            # refusal (the cgroup vanishes with the sandbox): a cap nearly used up counts too.
            return Decision("completed", "pids_limit", None, "SIGKILL")
        if o.memory_at_limit:
            # Softer evidence than the OOM traces above, so after the pids cap: the memory was at
            # its limit when last sampled and the sandbox died.
            return Decision("completed", "memory_limit", None, "SIGKILL")
        return Decision("failed", error=ErrorInfo(
            code="sandbox_lost", message="the sandbox ended without reporting the program's exit"))
    ex = o.run_exit
    return Decision("completed", stage_outcome(ex, memory_hit), ex.exit_code, ex.signal)
