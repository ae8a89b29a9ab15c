"""Per-run limits and usage on a container's host cgroup (cgroup v1).

The container is found by its init pid (for runsc: the sandbox process, which is in the
container's cgroup with every other host process of that sandbox). Writing a limit that
fails is an error the run must fail on: a run never goes ahead unlimited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import CgroupError

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupPaths:
    memory: Path
    cpu: Path
    cpuacct: Path
    pids: Path | None = None    # only read: did a fork fail at the host task cap?


@dataclass(frozen=True)
class CgroupUsage:
    cpu_ns: int
    memory_peak_bytes: int
    oom_kills: int
    memory_failcnt: int
    pids_max_hits: int = 0      # host forks refused by the pids cgroup (pids.events "max")
    pids_current: int = 0       # host tasks in the pids cgroup when sampled
    pids_max: int = 0           # its cap (0: none)

    @property
    def pids_near_max(self) -> bool:
        """At least 3/4 of the host task cap in use: a program only gets there by forking
        without end (gVisor's own threads are a few dozen)."""
        return self.pids_max > 0 and self.pids_current * 4 >= self.pids_max * 3


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup -> {controller: path} (v1 lines 'N:ctrl1,ctrl2:/path')."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[1]:
            continue
        for ctrl in parts[1].split(","):
            out[ctrl] = parts[2]
    return out


def _mount_dir(controller: str, root: Path) -> Path:
    # cpu and cpuacct may be co-mounted as "cpu,cpuacct"; look for a dir that has the controller.
    for name in (controller, "cpu,cpuacct", "cpuacct,cpu"):
        if (root / name).is_dir():
            return root / name
    raise CgroupError(f"cgroup v1 controller {controller} is not mounted under {root}")


def find_paths(pid: int, root: Path = CGROUP_ROOT, proc: Path = Path("/proc")) -> CgroupPaths:
    try:
        ctrls = parse_proc_cgroup((proc / str(pid) / "cgroup").read_text())
    except OSError as e:
        raise CgroupError(f"cannot read the cgroups of pid {pid}: {e}") from e
    pids = root / "pids" / ctrls["pids"].lstrip("/") if "pids" in ctrls and (root / "pids").is_dir() else None
    try:
        return CgroupPaths(
            memory=_mount_dir("memory", root) / ctrls["memory"].lstrip("/"),
            cpu=_mount_dir("cpu", root) / ctrls["cpu"].lstrip("/"),
            cpuacct=_mount_dir("cpuacct", root) / ctrls["cpuacct"].lstrip("/"),
            pids=pids,
        )
    except KeyError as e:
        raise CgroupError(f"pid {pid} has no cgroup v1 {e} controller") from e


def _write(path: Path, value: int | str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise CgroupError(f"cannot write {value} to {path}: {e.strerror or e}") from e


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def apply_run_limits(paths: CgroupPaths, memory_bytes: int, cpus: float = 1.0,
                     cpu_shares: int | None = None) -> None:
    """Lower the container's memory to the run's limit and cap it at `cpus` cores; reset the
    usage counters so the run's usage is its own. Raises CgroupError if any limit is not in place.

    `cpu_shares`: the running sandbox's weight against its siblings, the idle and booting
    sandboxes (which keep Nomad's small reservation as theirs): when the cores are contended, a
    run goes first and the pool's refill takes what is left, instead of a run's program start
    being slowed by the replacement of the sandbox that finished before it."""
    memsw = paths.memory / "memory.memsw.limit_in_bytes"
    # Lowering: memory first, then memsw (memsw must stay >= memory).
    _write(paths.memory / "memory.limit_in_bytes", memory_bytes)
    if memsw.exists():
        _write(memsw, memory_bytes)
    _write(paths.cpu / "cpu.cfs_period_us", CFS_PERIOD_US)
    _write(paths.cpu / "cpu.cfs_quota_us", int(CFS_PERIOD_US * cpus))
    if cpu_shares is not None:
        _write(paths.cpu / "cpu.shares", cpu_shares)
    try:
        if _read_int(paths.memory / "memory.limit_in_bytes") > memory_bytes:
            raise CgroupError(f"memory limit at {paths.memory} did not take effect")
    except (OSError, ValueError) as e:
        raise CgroupError(f"cannot read back the memory limit at {paths.memory}: {e}") from e
    # Best effort: a counter that cannot be reset only makes usage include the idle sandbox.
    for counter in (paths.memory / "memory.max_usage_in_bytes", paths.cpuacct / "cpuacct.usage"):
        try:
            _write(counter, 0)
        except CgroupError:
            pass


def reset_memory_peak(paths: CgroupPaths) -> None:
    """Best effort: the peak starts again from the current usage (before each test of a run)."""
    try:
        _write(paths.memory / "memory.max_usage_in_bytes", 0)
    except CgroupError:
        pass


def weigh_sandboxes(paths: CgroupPaths, cpu_shares: int) -> bool:
    """Give the cgroup that holds the container's cgroup (Docker's cgroup parent, `/docker`)
    `cpu_shares` against the host's own processes; True if it was written.

    In cgroup v1 every thread of the root cgroup (Nomad, dockerd, containerd, the shims, the
    agent, Kafka) weighs 1024 on its own, while all containers together weigh what their parent
    has (1024 by default): the teardown and boot work of sandboxes outside their cgroups went
    before the runs. Each sandbox stays capped at its run's CFS quota. A parent that is a
    systemd slice (system.slice) holds the host's services too and is left alone, as is the
    hierarchy's root."""
    parent = paths.cpu.parent
    if parent.name.endswith(".slice") or not (parent.parent / "cpu.shares").exists():
        return False
    try:
        if _read_int(parent / "cpu.shares") == cpu_shares:
            return False
    except (OSError, ValueError) as e:
        raise CgroupError(f"cannot read {parent / 'cpu.shares'}: {e}") from e
    _write(parent / "cpu.shares", cpu_shares)
    return True


def parse_oom_kills(oom_control: str) -> int:
    for line in oom_control.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def parse_pids_events(text: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "max":
            return int(value)
    return 0


def _pids_max_hits(paths: CgroupPaths) -> int:
    if paths.pids is None:
        return 0
    try:
        return parse_pids_events((paths.pids / "pids.events").read_text())
    except (OSError, ValueError):
        return 0


def _pids_now(paths: CgroupPaths) -> tuple[int, int]:
    """(pids.current, pids.max as a number, 0 for "max"); (0, 0) when unreadable."""
    if paths.pids is None:
        return 0, 0
    try:
        current = _read_int(paths.pids / "pids.current")
        cap = (paths.pids / "pids.max").read_text().strip()
        return current, 0 if cap == "max" else int(cap)
    except (OSError, ValueError):
        return 0, 0


def read_usage(paths: CgroupPaths) -> CgroupUsage | None:
    """None once the cgroup is gone (the container exited and was cleaned up)."""
    try:
        pids_current, pids_max = _pids_now(paths)
        return CgroupUsage(
            cpu_ns=_read_int(paths.cpuacct / "cpuacct.usage"),
            memory_peak_bytes=_read_int(paths.memory / "memory.max_usage_in_bytes"),
            oom_kills=parse_oom_kills((paths.memory / "memory.oom_control").read_text()),
            memory_failcnt=_read_int(paths.memory / "memory.failcnt"),
            pids_max_hits=_pids_max_hits(paths),
            pids_current=pids_current, pids_max=pids_max,
        )
    except (OSError, ValueError):
        return None
