"""What a run needs from the rest of the agent, as Protocols: `RunDeps` holds one of each.

The agent passes the real ones (the warm pool, the Docker client, the Kafka publisher, the
cgroup and task-dir functions); unit tests pass fakes with the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from throwbox_common.messages import RunEventRecord

from .cgroups import CgroupPaths
from .docker_api import Attachment, ContainerState
from .pool import Sandbox


class SandboxSource(Protocol):
    async def acquire(self, runtime_key: str, timeout_s: float) -> Sandbox:
        """A sandbox of the runtime for this run only (it ends with `Sandbox.end`);
        SandboxUnavailable if none is ready within `timeout_s`."""


class RunDocker(Protocol):
    """The container calls a run makes; killing is not one of them (`Sandbox.end` does it)."""

    async def attach(self, container: str, timeout_s: float = 5) -> Attachment: ...

    async def inspect(self, container: str) -> ContainerState: ...

    async def wait_stopped(self, container: str, timeout_s: float) -> ContainerState | None: ...


class Publisher(Protocol):
    async def publish(self, event: RunEventRecord) -> None:
        """Enqueue in order (same run id -> same partition -> same order for every reader)."""

    async def publish_acked(self, event: RunEventRecord, preceded_by: Sequence[RunEventRecord] = ()) -> None:
        """Enqueue the chunks `preceded_by` (best-effort: one that cannot be enqueued is dropped
        with those after it), then `event`, with no wait between them, so that they share one
        produce request; then wait until the broker has `event` (acks=all)."""


class FindCgroups(Protocol):
    def __call__(self, pid: int) -> CgroupPaths: ...


class ApplyLimits(Protocol):
    def __call__(self, paths: CgroupPaths, memory_bytes: int, cpus: float, cpu_shares: int | None) -> None: ...


class WeighSandboxes(Protocol):
    def __call__(self, paths: CgroupPaths, cpu_shares: int) -> bool: ...


class ResetMemoryPeak(Protocol):
    def __call__(self, paths: CgroupPaths) -> None: ...


class SealTaskDirs(Protocol):
    def __call__(self, alloc_dir: Path, task: str) -> None: ...
