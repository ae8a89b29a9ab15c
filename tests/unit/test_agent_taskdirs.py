"""Nomad's task dirs are handed to root, mode 0755, before a run's program starts."""

import os
import stat

import pytest

from throwbox_agent import taskdirs
from throwbox_agent.errors import TaskDirError


def make_alloc(tmp_path, with_subdirs=True):
    alloc_dir = tmp_path / "alloc-id"
    dirs = [alloc_dir / "alloc", alloc_dir / "sandbox" / "local", alloc_dir / "sandbox" / "secrets"]
    if with_subdirs:
        dirs += [alloc_dir / "alloc" / sub for sub in taskdirs.ALLOC_SUBDIRS]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o777)
    return alloc_dir, dirs


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to root needs root (the agent runs as root)")
def test_every_task_dir_ends_up_root_owned_and_not_writable_by_others(tmp_path):
    alloc_dir, dirs = make_alloc(tmp_path)
    for d in dirs:
        os.chown(d, 65534, 65534)
    taskdirs.seal(alloc_dir, "sandbox")
    for d in dirs:
        st = d.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755), d


def test_a_missing_mounted_task_dir_is_an_error_so_the_run_fails_closed(tmp_path):
    alloc_dir, _ = make_alloc(tmp_path)
    os.rmdir(alloc_dir / "sandbox" / "local")
    with pytest.raises(TaskDirError, match="local"):
        taskdirs.seal(alloc_dir, "sandbox")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to root needs root")
def test_subdirs_nomad_did_not_create_are_skipped(tmp_path):
    alloc_dir, _ = make_alloc(tmp_path, with_subdirs=False)
    taskdirs.seal(alloc_dir, "sandbox")
    assert stat.S_IMODE((alloc_dir / "alloc").stat().st_mode) == 0o755
