"""Nomad's task directories inside a sandbox, made read-only for the program before it starts.

The docker driver always bind-mounts the alloc's `alloc/` (as /alloc) and the task's `local/`
and `secrets/` (as /local, /secrets) from the host, owned by uid 65534 with mode 0777: without
this, a run could write to the host disk that holds Nomad's data_dir, with no size cap. The
agent (root on the host) hands them to root with mode 0755 before the header is sent; gVisor
sees the change at once and the program (uid 65534, no capabilities) can neither write there
nor chmod them back. The agent removes the alloc dir after the run anyway (factory GC).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TaskDirError

SEALED_MODE = 0o755
ALLOC_SUBDIRS = ("data", "logs", "tmp")


def task_dirs(alloc_dir: Path, task: str) -> list[Path]:
    """The directories a sandbox sees that are writable host directories (mount sources first)."""
    alloc = alloc_dir / "alloc"
    return [alloc, alloc_dir / task / "local", alloc_dir / task / "secrets",
            *(alloc / sub for sub in ALLOC_SUBDIRS)]


def seal(alloc_dir: Path, task: str) -> None:
    """chown root:root and chmod 0755 every task dir; raises TaskDirError unless all mounted
    ones (alloc/, local/, secrets/) were sealed. Subdirs Nomad did not create are skipped."""
    for i, path in enumerate(task_dirs(alloc_dir, task)):
        mounted = i < 3
        try:
            os.chown(path, 0, 0, follow_symlinks=False)
            os.chmod(path, SEALED_MODE, follow_symlinks=False)
        except FileNotFoundError:
            if mounted:
                raise TaskDirError(f"task dir {path} does not exist") from None
        except OSError as e:
            raise TaskDirError(f"cannot seal task dir {path}: {e.strerror or e}") from e
