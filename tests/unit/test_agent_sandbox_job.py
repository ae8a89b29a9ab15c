"""The warm-pool job of one (agent, runtime): everything a sandbox may do is decided here."""

import json
import os
import subprocess
import sys

import pytest

from throwbox_agent import config, sandbox_job
from throwbox_common import runtimes

REGISTRY = runtimes.load()
PYTHON = REGISTRY.resolve("python")
NODE = "e37ba774-dc18-8c50-9d37-79e66da3d377"


def render(oci=None, **env):
    cfg = config.load({"THROWBOX_AGENT_NAME": "node-7", **env}, registry=REGISTRY)
    return sandbox_job.render(cfg, REGISTRY, PYTHON, NODE, oci)


def task_of(job):
    (group,) = job["TaskGroups"]
    (task,) = group["Tasks"]
    return task


def test_the_job_is_named_after_agent_and_runtime_with_dots_replaced():
    job = render()
    assert job["ID"] == f"throwbox-sandbox-node-7-python-{PYTHON.version.replace('.', '-')}"
    assert "." not in job["ID"]


def test_the_pool_job_is_a_parameterized_batch_job_each_dispatch_one_sandbox_whatever_the_pool_size():
    job = render(THROWBOX_AGENT_POOL_SIZES="python=5")
    assert job["Type"] == "batch"
    assert job["ParameterizedJob"]["Payload"] == "forbidden"
    assert job["ParameterizedJob"]["MetaRequired"] == []
    assert job["TaskGroups"][0]["Count"] == 1


def test_the_job_is_constrained_to_the_agents_node():
    assert render()["Constraints"] == [{"LTarget": "${node.unique.id}", "RTarget": NODE, "Operand": "="}]


def test_the_sandbox_has_no_network_no_capabilities_a_read_only_root_and_our_seccomp_profile():
    task = task_of(render())
    c = task["Config"]
    assert task["Driver"] == "docker" and task["Name"] == "sandbox"
    assert task["User"] == "65534:65534"
    assert c["network_mode"] == "none"
    assert c["readonly_rootfs"] is True
    assert c["cap_drop"] == ["all"]
    assert c["security_opt"] == ["no-new-privileges", f"seccomp={config.DEFAULT_SECCOMP.resolve()}"]
    assert c["security_opt"][1].split("=", 1)[1].startswith("/")


def test_the_image_is_the_runtimes_pinned_image_and_never_pulled():
    c = task_of(render())["Config"]
    assert c["image"] == PYTHON.image and not c["image"].endswith(":latest")
    assert c["force_pull"] is False


def test_stdin_stays_open_because_the_launcher_waits_on_it():
    assert task_of(render())["Config"]["interactive"] is True


def test_the_current_gvisor_is_the_default_and_debians_runsc_or_runc_can_be_chosen():
    assert task_of(render())["Config"]["runtime"] == "runsc-go"
    assert task_of(render(oci="runsc"))["Config"]["runtime"] == "runsc"
    assert task_of(render(THROWBOX_AGENT_OCI_RUNTIME="runsc"))["Config"]["runtime"] == "runsc"
    assert task_of(render(oci="runc"))["Config"]["runtime"] == "runc"
    assert task_of(render(THROWBOX_AGENT_OCI_RUNTIME="runc"))["Config"]["runtime"] == "runc"


def test_process_and_file_limits_follow_the_runtime_limits():
    limits = REGISTRY.effective_limits(PYTHON, None)
    c = task_of(render())["Config"]
    # The launcher's own RLIMIT_NPROC leaves it room to start threads when the program's
    # tasks fill the run's limit (the header's nproc, which the launcher gives the program).
    nproc = limits.pids + sandbox_job.LAUNCHER_NPROC_HEADROOM
    assert c["ulimit"] == [{"nproc": f"{nproc}:{nproc}", "nofile": "256:256"}]
    # gVisor's own host threads and every guest process's host tasks count against the pids
    # cgroup: it must hold RLIMIT_NPROC guest tasks, or a fork bomb kills the whole sandbox.
    assert c["pids_limit"] == (sandbox_job.RUNSC_PIDS_HEADROOM
                               + sandbox_job.RUNSC_HOST_TASKS_PER_GUEST_TASK * limits.pids)
    assert task_of(render(oci="runc"))["Config"]["pids_limit"] < c["pids_limit"]
    # Both gVisors get gVisor's headroom.
    assert task_of(render(oci="runsc"))["Config"]["pids_limit"] == c["pids_limit"]


def test_tmp_is_a_size_capped_exec_able_tmpfs_owned_by_the_sandbox_user():
    (mount,) = task_of(render(THROWBOX_AGENT_TMPFS_MB="32"))["Config"]["mount"]
    assert mount["target"] == "/tmp" and mount["type"] == "volume"
    (driver,) = mount["volume_options"][0]["driver_config"]
    (opts,) = driver["options"]
    assert driver["name"] == "local" and opts["type"] == "tmpfs"
    flags = opts["o"].split(",")
    assert f"size={32 * 1024 * 1024}" in flags
    assert "exec" in flags and "noexec" not in flags
    assert "uid=65534" in flags


def test_memory_is_the_largest_a_run_may_get_so_a_run_can_only_lower_it():
    task = task_of(render())
    assert task["Resources"]["MemoryMB"] == REGISTRY.effective_limits(PYTHON, None).memory_mb
    # The CPU quota is the agent's, per run (1 core); Nomad's MHz-derived one would starve boot.
    assert task["Config"]["cpu_hard_limit"] is False
    assert task["Resources"]["CPU"] == 100


def test_output_never_goes_to_logs():
    task = task_of(render())
    assert task["Config"]["logging"] == [{"type": "none"}]
    assert task["LogConfig"]["Disabled"] is True


def test_a_sandbox_is_never_restarted_in_place_nor_rescheduled_by_nomad():
    group = render()["TaskGroups"][0]
    assert group["RestartPolicy"]["Attempts"] == 0 and group["RestartPolicy"]["Mode"] == "fail"
    # Its end costs Nomad no evaluation; the agent creates the next sandbox.
    assert group["ReschedulePolicy"] == {"Attempts": 0, "Interval": 0, "Unlimited": False}


def test_a_latest_image_is_refused():
    bad = runtimes.Runtime(language="x", version="1", image="x:latest", extension="x", run=("x",))
    cfg = config.load({}, registry=REGISTRY)
    with pytest.raises(ValueError, match="version tag"):
        sandbox_job.render(cfg, REGISTRY, bad, NODE)


def test_the_cli_prints_the_job_as_nomad_api_json():
    env = {"PATH": "/usr/bin:/bin"} | {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the code under test
    out = subprocess.run([sys.executable, "-m", "throwbox_agent.main", "render-sandbox-job", "py"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["Job"]
    assert job["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == PYTHON.image


def test_the_cli_rejects_an_unknown_setting_before_doing_anything():
    out = subprocess.run([sys.executable, "-m", "throwbox_agent.main", "render-sandbox-job", "py"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "THROWBOX_AGENT_NOMAD": "x"})
    assert out.returncode == 2
    assert "THROWBOX_AGENT_NOMAD" in out.stderr
