"""Pure parts of the run lifecycle: the launcher header and the host-cgroup helpers."""

import json
from pathlib import Path

import msgspec
import pytest

from throwbox_agent import cgroups, config, run
from throwbox_agent.errors import CgroupError
from throwbox_common import runtimes
from throwbox_common.messages import JobFile, Limits, RunJob

REGISTRY = runtimes.load()


def header_for(*args) -> dict:
    """The H frame's payload as the launcher reads it."""
    return json.loads(msgspec.json.encode(run.header_for(*args)))


def job(**kw):
    base = dict(run_id="r", tenant="t", language="python", version="3", entrypoint="main.py",
                files=[JobFile(name="main.py", content=b"print(1)")], created_at_ms=0,
                limits=Limits(wall_time_ms=1000, cpu_time_ms=1500, memory_mb=64, pids=32, output_bytes=100),
                args=["a b", "c"], env={"K": "V"})
    base.update(kw)
    return RunJob(**base)


def test_the_header_carries_files_commands_env_and_rlimits():
    cfg = config.load({"THROWBOX_AGENT_TMPFS_MB": "16"}, registry=REGISTRY)
    h = header_for(job(), REGISTRY.resolve("python"), cfg)
    assert h["files"] == [{"name": "main.py", "content_b64": "cHJpbnQoMSk="}]
    assert h["run"] == ["python3", "-u", "main.py", "a b", "c"]
    assert h["compile"] is None and "tests" not in h
    assert h["env"] == {"K": "V"}
    assert h["cpu_time_s"] == 2                 # 1500 ms rounded up
    assert h["nproc"] == 32 and h["nofile"] == cfg.nofile and h["fsize_bytes"] == 16 * 1024 * 1024


def test_a_compiled_runtime_gets_its_compile_command_with_the_entrypoint():
    c = next((r for r in REGISTRY.runtimes if r.compiled), None)
    if c is None:
        pytest.skip("no compiled runtime in the registry")
    h = header_for(job(entrypoint=f"main.{c.extension}"), c, config.load({}, registry=REGISTRY))
    assert f"main.{c.extension}" in h["compile"]


def test_the_header_of_a_multi_file_c_program_compiles_every_c_file_of_the_request():
    files = [JobFile(name=n, content=b"") for n in ("main.c", "util.h", "src/util.c")]
    h = header_for(job(language="c", entrypoint="main.c", files=files), REGISTRY.resolve("c"),
                   config.load({}, registry=REGISTRY))
    assert h["compile"][-3:] == ["main.c", "src/util.c", "-lm"]
    assert [f["name"] for f in h["files"]] == ["main.c", "util.h", "src/util.c"]


def test_proc_cgroup_lines_map_every_controller_including_comounted_ones():
    text = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroups.parse_proc_cgroup(text) == {"memory": "/docker/abc", "cpu": "/docker/abc", "cpuacct": "/docker/abc"}


def test_oom_kills_are_read_from_oom_control():
    assert cgroups.parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2


def fake_cgroup(tmp_path: Path) -> cgroups.CgroupPaths:
    for ctrl, files in {"memory": ["memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt"],
                        "cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"], "cpuacct": ["cpuacct.usage"]}.items():
        d = tmp_path / ctrl
        d.mkdir()
        for f in files:
            (d / f).write_text("0\n")
    (tmp_path / "memory" / "memory.oom_control").write_text("oom_kill 0\n")
    return cgroups.CgroupPaths(tmp_path / "memory", tmp_path / "cpu", tmp_path / "cpuacct")


def test_run_limits_are_written_memory_and_one_core(tmp_path):
    paths = fake_cgroup(tmp_path)
    (paths.cpu / "cpu.shares").write_text("100\n")
    cgroups.apply_run_limits(paths, 64 * 1024 * 1024, 1.0)
    assert (paths.memory / "memory.limit_in_bytes").read_text() == str(64 * 1024 * 1024)
    assert (paths.cpu / "cpu.cfs_quota_us").read_text() == "100000"
    assert (paths.cpu / "cpu.shares").read_text() == "100\n"      # no weight asked: left alone


def test_a_running_sandbox_gets_its_cpu_weight(tmp_path):
    paths = fake_cgroup(tmp_path)
    cgroups.apply_run_limits(paths, 64 * 1024 * 1024, 1.0, cpu_shares=4096)
    assert (paths.cpu / "cpu.shares").read_text() == "4096"
    assert cgroups.read_usage(paths).oom_kills == 0


def sandbox_cpu_dirs(tmp_path: Path, parent_name: str) -> cgroups.CgroupPaths:
    """cpu/<parent>/<container>, every level with its cpu.shares (the mount's root too)."""
    container = tmp_path / "cpu" / parent_name / "c0ffee"
    container.mkdir(parents=True)
    for d in (tmp_path / "cpu", container.parent, container):
        (d / "cpu.shares").write_text("1024\n")
    return cgroups.CgroupPaths(tmp_path / "memory", container, tmp_path / "cpuacct")


def test_the_sandboxes_parent_gets_its_weight_once(tmp_path):
    paths = sandbox_cpu_dirs(tmp_path, "docker")
    assert cgroups.weigh_sandboxes(paths, 8192) is True
    assert (tmp_path / "cpu" / "docker" / "cpu.shares").read_text().strip() == "8192"
    assert (paths.cpu / "cpu.shares").read_text() == "1024\n"      # the sandbox's own weight is the run's
    assert cgroups.weigh_sandboxes(paths, 8192) is False             # already set: nothing written


def test_a_systemd_slice_or_the_root_is_never_reweighed(tmp_path):
    sliced = sandbox_cpu_dirs(tmp_path, "system.slice")
    assert cgroups.weigh_sandboxes(sliced, 8192) is False
    assert (sliced.cpu.parent / "cpu.shares").read_text() == "1024\n"
    at_root = cgroups.CgroupPaths(tmp_path / "memory", tmp_path / "cpu" / "c0ffee", tmp_path / "cpuacct")
    (at_root.cpu).mkdir()
    assert cgroups.weigh_sandboxes(at_root, 8192) is False
    assert (tmp_path / "cpu" / "cpu.shares").read_text() == "1024\n"


def test_a_limit_that_cannot_be_written_is_an_error_never_ignored(tmp_path):
    paths = fake_cgroup(tmp_path)
    (paths.memory / "memory.limit_in_bytes").unlink()
    (paths.memory / "memory.limit_in_bytes").mkdir()        # unwritable
    with pytest.raises(CgroupError, match="memory.limit_in_bytes"):
        cgroups.apply_run_limits(paths, 1 << 20)


def test_usage_of_a_vanished_cgroup_is_none(tmp_path):
    assert cgroups.read_usage(cgroups.CgroupPaths(tmp_path / "x", tmp_path / "y", tmp_path / "z")) is None


def test_refused_forks_are_read_from_pids_events(tmp_path):
    assert cgroups.parse_pids_events("max 7\n") == 7
    paths = fake_cgroup(tmp_path)
    assert cgroups.read_usage(paths).pids_max_hits == 0       # no pids cgroup known: 0
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "pids.events").write_text("max 2\n")
    with_pids = cgroups.CgroupPaths(paths.memory, paths.cpu, paths.cpuacct, tmp_path / "pids")
    assert cgroups.read_usage(with_pids).pids_max_hits == 2


def test_the_host_task_count_and_cap_are_read_from_the_pids_cgroup(tmp_path):
    paths = fake_cgroup(tmp_path)
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "pids.current").write_text("450\n")
    (tmp_path / "pids" / "pids.max").write_text("576\n")
    with_pids = cgroups.CgroupPaths(paths.memory, paths.cpu, paths.cpuacct, tmp_path / "pids")
    usage = cgroups.read_usage(with_pids)
    assert (usage.pids_current, usage.pids_max, usage.pids_near_max) == (450, 576, True)
    (tmp_path / "pids" / "pids.max").write_text("max\n")
    assert cgroups.read_usage(with_pids).pids_max == 0
