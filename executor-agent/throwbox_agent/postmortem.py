"""A sandbox that ended without the launcher's exit report: how its container ended (an OOM
kill?), and a log line with what the cgroup last showed."""

from __future__ import annotations

import logging

from .cgroups import CgroupUsage
from .errors import DockerError
from .launcher import LauncherReport
from .pool import Sandbox
from .run_seams import RunDocker

log = logging.getLogger(__name__)


async def examine(docker: RunDocker, run_id: str, sandbox: Sandbox | None, killed: bool,
                  usage: CgroupUsage | None, report: LauncherReport) -> bool:
    """After the stream: a launch error gets the launcher's stderr; a sandbox that ended without
    X or L is looked at (logged unless the agent killed it). Whether its container was OOM-killed."""
    if report.launch_error and report.stderr:
        report.launch_error += " | " + report.stderr_text(500)
    if report.over or sandbox is None or killed:
        return False
    try:
        end = await docker.wait_stopped(sandbox.container_id, 2.0)
    except DockerError:
        end = None
    oom = bool(end and end.oom_killed)
    u = usage
    log.log(logging.INFO if oom else logging.WARNING,
            "run %s: sandbox %s ended without an exit report: container %s, oom_killed=%s, cgroup oom_kills=%s, "
            "failcnt=%s, peak=%s, pids max hits=%s, pids %s/%s, launcher stderr=%r", run_id, sandbox.alloc_id,
            f"{end.status} exit {end.exit_code}" if end else "gone", oom,
            u.oom_kills if u else None, u.memory_failcnt if u else None, u.memory_peak_bytes if u else None,
            u.pids_max_hits if u else None, u.pids_current if u else None, u.pids_max if u else None,
            report.stderr_text(300))
    return oom
