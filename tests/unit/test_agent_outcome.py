"""How a run ended: the agent's observations mapped to status/outcome exactly as api-v1 says."""

import pytest

from throwbox_agent.outcome import Exit, KillReason, Observed, decide
from throwbox_common.messages import ErrorInfo


@pytest.mark.parametrize("observed,status,outcome,exit_code,signal", [
    (Observed(run_exit=Exit(0, None)), "completed", "ok", 0, None),
    (Observed(run_exit=Exit(3, None)), "completed", "nonzero_exit", 3, None),
    (Observed(run_exit=Exit(None, "SIGSEGV")), "completed", "signaled", None, "SIGSEGV"),
    (Observed(run_exit=Exit(None, "SIGXCPU")), "completed", "timeout", None, "SIGXCPU"),
    (Observed(run_exit=Exit(None, "SIGKILL"), cgroup_oom_kills=1), "completed", "memory_limit", None, "SIGKILL"),
    (Observed(run_exit=Exit(None, "SIGKILL")), "completed", "signaled", None, "SIGKILL"),
    (Observed(oom_killed=True), "completed", "memory_limit", None, "SIGKILL"),
    (Observed(kill_reason=KillReason.TIMEOUT, run_exit=Exit(None, "SIGKILL")), "completed", "timeout", None, "SIGKILL"),
    (Observed(kill_reason=KillReason.OUTPUT_LIMIT), "completed", "output_limit", None, "SIGKILL"),
    (Observed(compile_exit=Exit(1, None)), "completed", "compile_error", 1, None),
    (Observed(compile_exit=Exit(0, None), run_exit=Exit(0, None)), "completed", "ok", 0, None),
])
def test_the_outcome_follows_from_what_was_observed(observed, status, outcome, exit_code, signal):
    d = decide(observed)
    assert (d.status, d.outcome, d.exit_code, d.signal) == (status, outcome, exit_code, signal)
    assert d.error is None


def test_a_cancel_wins_over_everything_else():
    d = decide(Observed(kill_reason=KillReason.CANCEL, run_exit=Exit(0, None), oom_killed=True))
    assert (d.status, d.outcome) == ("cancelled", None)


def test_our_own_kill_is_not_reported_as_the_programs_signal_or_memory():
    d = decide(Observed(kill_reason=KillReason.TIMEOUT, oom_killed=True))
    assert d.outcome == "timeout"


def test_a_sandbox_that_ends_without_an_exit_report_fails_the_run_as_sandbox_lost():
    d = decide(Observed())
    assert d.status == "failed" and d.error.code == "sandbox_lost" and d.outcome is None


def test_a_launch_failure_fails_the_run_with_the_launchers_message():
    d = decide(Observed(launch_error="bad file name ../x"))
    assert d.status == "failed" and d.error.code == "launch_failed" and "../x" in d.error.message


def test_an_agent_error_such_as_limits_not_applied_fails_the_run():
    err = ErrorInfo(code="limits_failed", message="could not write memory.limit_in_bytes")
    assert decide(Observed(agent_error=err, run_exit=Exit(0, None))) .error == err


def test_a_sandbox_that_died_after_its_pids_cgroup_refused_a_fork_ends_as_pids_limit():
    d = decide(Observed(cgroup_pids_max_hits=3))
    assert (d.status, d.outcome, d.exit_code, d.signal, d.error) == ("completed", "pids_limit", None, "SIGKILL", None)


def test_a_run_the_launcher_stopped_at_its_pids_limit_ends_as_pids_limit():
    d = decide(Observed(run_exit=Exit(None, "SIGKILL", pids_limit=True)))
    assert (d.status, d.outcome, d.exit_code, d.signal) == ("completed", "pids_limit", None, "SIGKILL")
    # even if the forked copies also filled the memory before the launcher stopped them
    assert decide(Observed(run_exit=Exit(None, "SIGKILL", pids_limit=True), cgroup_oom_kills=1)).outcome == "pids_limit"


def test_the_wall_clock_and_the_output_cap_win_over_the_pids_limit():
    at_limit = Exit(None, "SIGKILL", pids_limit=True)
    assert decide(Observed(kill_reason=KillReason.TIMEOUT, run_exit=at_limit)).outcome == "timeout"
    assert decide(Observed(kill_reason=KillReason.OUTPUT_LIMIT, run_exit=at_limit)).outcome == "output_limit"


def test_a_program_killed_by_sigkill_without_the_pids_mark_is_only_signaled():
    assert decide(Observed(run_exit=Exit(None, "SIGKILL"))).outcome == "signaled"


def test_memory_wins_over_pids_and_a_reported_exit_wins_over_both():
    assert decide(Observed(cgroup_pids_max_hits=3, oom_killed=True)).outcome == "memory_limit"
    assert decide(Observed(cgroup_pids_max_hits=3, run_exit=Exit(0, None))).outcome == "ok"


def test_a_sandbox_that_died_with_its_memory_at_the_limit_ends_as_memory_limit():
    """Seen in a CI rehearsal: container exit 137, Docker's OOMKilled false and no oom_kill in
    the last cgroup sample, but the peak at exactly the limit: the kernel's OOM kill."""
    d = decide(Observed(memory_at_limit=True))
    assert (d.status, d.outcome, d.signal) == ("completed", "memory_limit", "SIGKILL")
    # Refused forks are harder evidence than a memory sample at the limit.
    assert decide(Observed(memory_at_limit=True, cgroup_pids_max_hits=2)).outcome == "pids_limit"


def test_memory_at_the_limit_does_not_override_an_exit_the_launcher_reported():
    """A program that touched its limit and then exited on its own keeps its own outcome."""
    assert decide(Observed(memory_at_limit=True, run_exit=Exit(1, None))).outcome == "nonzero_exit"


def test_a_sandbox_that_died_with_its_host_task_cap_nearly_used_up_ends_as_pids_limit():
    # The last sample came before the cgroup refused a fork (it vanished with the sandbox).
    assert decide(Observed(pids_near_limit=True)).outcome == "pids_limit"
    assert decide(Observed(pids_near_limit=True, run_exit=Exit(0, None))).outcome == "ok"
    assert decide(Observed()).error.code == "sandbox_lost"


def test_a_task_cap_counts_as_nearly_used_up_from_three_quarters_on():
    from throwbox_agent.cgroups import CgroupUsage
    usage = CgroupUsage(cpu_ns=0, memory_peak_bytes=0, oom_kills=0, memory_failcnt=0, pids_current=431, pids_max=576)
    assert not usage.pids_near_max
    assert CgroupUsage(0, 0, 0, 0, pids_current=432, pids_max=576).pids_near_max
    assert not CgroupUsage(0, 0, 0, 0, pids_current=900, pids_max=0).pids_near_max
