"""The Nomad job of one warm pool: (agent, runtime) -> Nomad API JSON.

It is a parameterized batch job: each sandbox is a job dispatched from it, with one allocation,
made on demand by the agent. A dispatched sandbox is nobody's replacement, so Nomad starts it
at once; a replacement (an allocation the stop API replaced) first waits until its predecessor
has been torn down on the client, ~100 ms here, in a cold run's path. When the launcher exits
after its run the allocation completes, and a completed or failed batch allocation that may
not be rescheduled costs Nomad no evaluation.

Everything a sandbox is allowed is decided here, in one place, as data: no network, read-only
root, unprivileged user, no capabilities, our seccomp profile, pid/file/memory caps, a small
exec-able /tmp scratch, no logs (output goes only through the launcher's frames).
"""

from __future__ import annotations

from dataclasses import dataclass

from throwbox_common.runtimes import Registry, Runtime

from .config import AgentConfig
from .sandbox_runtime import GVISOR_RUNTIMES

SANDBOX_USER = "65534:65534"
TASK_NAME = "sandbox"
GROUP_NAME = "sandbox"
SECOND_NS = 1_000_000_000
# gVisor's own host threads count against the pids cgroup (64 is the least that boots), and
# with the ptrace platform every guest process costs host tasks too (stub process, tracer
# threads): measured ~6 per forked process. The cgroup must hold RLIMIT_NPROC guest tasks,
# else a fork bomb makes the sentry fail to create a thread and the whole sandbox dies
# (exit 2, no result) instead of the bomb getting EAGAIN.
RUNSC_PIDS_HEADROOM = 64
RUNSC_HOST_TASKS_PER_GUEST_TASK = 8
# The container's RLIMIT_NPROC is the launcher's own; it lowers the program's to the run's
# `pids`. RLIMIT_NPROC counts every task of uid 65534, so when a fork bomb fills the count to
# `pids` the launcher (Go: it starts OS threads on demand) must still be able to start a
# thread, or it dies and the run has no result.
LAUNCHER_NPROC_HEADROOM = 16


def job_id(agent: str, runtime: Runtime) -> str:
    return f"throwbox-sandbox-{agent}-{runtime.language}-{runtime.version}".replace(".", "-")


def container_name(alloc_id: str) -> str:
    """Nomad's docker driver names a task's container <task>-<alloc id>."""
    return f"{TASK_NAME}-{alloc_id}"


@dataclass(frozen=True)
class SandboxSpec:
    """The resolved numbers one pool's sandboxes get."""

    image: str
    oci_runtime: str
    memory_mb: int
    cpu_mhz: int
    pids_limit: int
    nproc: int
    nofile: int
    tmpfs_bytes: int
    shm_bytes: int
    seccomp_profile: str


def sandbox_spec(config: AgentConfig, registry: Registry, runtime: Runtime,
                 oci_runtime: str | None = None) -> SandboxSpec:
    limits = registry.effective_limits(runtime, None)   # the largest a run of this runtime may get
    oci = oci_runtime or config.oci_runtime
    if oci in GVISOR_RUNTIMES:
        pids_limit = RUNSC_PIDS_HEADROOM + RUNSC_HOST_TASKS_PER_GUEST_TASK * limits.pids
    else:
        pids_limit = limits.pids + 8
    return SandboxSpec(
        image=runtime.image,
        oci_runtime=oci,
        memory_mb=limits.memory_mb,
        cpu_mhz=config.sandbox_cpu_mhz,
        pids_limit=pids_limit,
        nproc=limits.pids + LAUNCHER_NPROC_HEADROOM,
        nofile=config.nofile,
        tmpfs_bytes=config.tmpfs_mb * 1024 * 1024,
        shm_bytes=config.shm_mb * 1024 * 1024,
        seccomp_profile=str(config.seccomp_profile.resolve()),
    )


def _task(spec: SandboxSpec, runtime: Runtime) -> dict:
    """The sandbox's one task: the runtime's image under gVisor, locked down, with its limits."""
    return {
        "Name": TASK_NAME,
        "Driver": "docker",
        "User": SANDBOX_USER,
        "Config": {
            "image": spec.image,
            "force_pull": False,
            "runtime": spec.oci_runtime,
            "network_mode": "none",
            "readonly_rootfs": True,
            # stdin stays open: the launcher (PID 1) blocks on it until the agent attaches.
            "interactive": True,
            "cap_drop": ["all"],
            "security_opt": ["no-new-privileges", f"seccomp={spec.seccomp_profile}"],
            "pids_limit": spec.pids_limit,
            "ulimit": [{"nproc": f"{spec.nproc}:{spec.nproc}", "nofile": f"{spec.nofile}:{spec.nofile}"}],
            # /tmp scratch: a tmpfs through an anonymous local-driver volume, because Docker's
            # tmpfs mount type is always noexec (compiled programs run from here) and Nomad
            # has no --tmpfs; size-capped, owned by the sandbox user, removed with the container.
            "mount": [{
                "type": "volume",
                "target": "/tmp",
                "readonly": False,
                "volume_options": [{
                    "no_copy": True,
                    "driver_config": [{
                        "name": "local",
                        "options": [{
                            "type": "tmpfs",
                            "device": "tmpfs",
                            "o": f"size={spec.tmpfs_bytes},exec,nosuid,nodev,uid=65534,gid=65534,mode=0700",
                        }],
                    }],
                }],
            }],
            "shm_size": spec.shm_bytes,
            "logging": [{"type": "none"}],
            # No hard limit from Nomad: its quota is MHz / node MHz of ONE core (100 MHz = 2%),
            # which starves gVisor's boot. The agent writes the run's CFS quota (1 core) itself,
            # before the program starts; an idle sandbox runs only the blocked launcher.
            "cpu_hard_limit": False,
        },
        "Resources": {"CPU": spec.cpu_mhz, "MemoryMB": spec.memory_mb},
        "LogConfig": {"Disabled": True, "MaxFiles": 1, "MaxFileSizeMB": 1},
        # PID 1 ignores SIGTERM in its pid namespace: go straight to SIGKILL, nothing to save.
        "KillSignal": "SIGKILL",
        "KillTimeout": 1 * SECOND_NS,
        "Meta": {"throwbox.runtime": runtime.key},
    }


def render(config: AgentConfig, registry: Registry, runtime: Runtime, node_id: str,
           oci_runtime: str | None = None) -> dict:
    """The job as the Nomad HTTP API takes it (POST /v1/jobs {"Job": ...})."""
    if runtime.image.endswith(":latest") or ":" not in runtime.image:
        raise ValueError(f"{runtime.key}: image {runtime.image!r} needs a version tag")
    spec = sandbox_spec(config, registry, runtime, oci_runtime)
    jid = job_id(config.name, runtime)
    task = _task(spec, runtime)
    group = {
        "Name": GROUP_NAME,
        "Count": 1,
        # A sandbox is single-use: never restart it in place (that would reuse its scratch),
        # and never reschedule it: the agent dispatches the next one (and so decides when).
        "RestartPolicy": {"Attempts": 0, "Interval": 60 * SECOND_NS, "Delay": SECOND_NS, "Mode": "fail"},
        "ReschedulePolicy": {"Attempts": 0, "Interval": 0, "Unlimited": False},
        "EphemeralDisk": {"SizeMB": 16, "Sticky": False, "Migrate": False},
        "Tasks": [task],
    }
    return {
        "ID": jid,
        "Name": jid,
        "Namespace": config.nomad_namespace,
        "Type": "batch",
        "ParameterizedJob": {"Payload": "forbidden", "MetaRequired": [], "MetaOptional": []},
        "Datacenters": [config.datacenter],
        "Priority": 50,
        "Constraints": [{"LTarget": "${node.unique.id}", "RTarget": node_id, "Operand": "="}],
        "Meta": {"throwbox.agent": config.name, "throwbox.runtime": runtime.key,
                 "throwbox.oci_runtime": spec.oci_runtime},
        "TaskGroups": [group],
    }
