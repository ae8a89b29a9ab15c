"""The sandbox runtime on the real stack: what dockerd has registered is what the agent runs and
what the control plane's /readyz names (gVisor version and platform).

A private agent (bash, one warm sandbox, its own runs topic) and a private control plane on that
topic; the runtime is the node's (meta throwbox.sandbox_runtime, THROWBOX_SANDBOX_RUNTIME).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from agent_process import get_json, nomad, private_agent, wait_until
from cp_stack import ControlPlane
from stack import NOMAD_ADDR, SANDBOX_RUNTIME

from throwbox_common import runtimes

pytestmark = pytest.mark.timeout(300)
BASH = runtimes.load().resolve("bash")


def registration(name: str) -> dict:
    out = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return json.loads(out)[name]


def node_runtime() -> str:
    (node,) = [n for n in nomad("GET", "/v1/nodes") if n["Status"] == "ready"][:1]
    return nomad("GET", f"/v1/node/{node['ID']}")["Meta"]["throwbox.sandbox_runtime"]


def test_the_agent_runs_the_registered_runtime_and_readyz_names_its_gvisor_version_and_platform():
    with private_agent({BASH: 1}, prefix="rt") as a:
        oci = node_runtime()
        assert oci == SANDBOX_RUNTIME, f"the node at {NOMAD_ADDR} offers {oci}, THROWBOX_SANDBOX_RUNTIME is {SANDBOX_RUNTIME}"
        assert a.health()["oci_runtime"] == oci
        # The sandbox containers run under it.
        (alloc,) = [x for x in nomad("GET", "/v1/allocations") if x["JobID"].startswith(a.job_of(BASH) + "/")
                    and x["ClientStatus"] == "running"][:1]
        containers = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.hashicorp.nomad.alloc_id={alloc['ID']}"],
                                    capture_output=True, text=True, timeout=30, check=True).stdout.split()
        runtime = subprocess.run(["docker", "inspect", "-f", "{{.HostConfig.Runtime}}", *containers],
                                 capture_output=True, text=True, timeout=30, check=True).stdout.split()
        assert runtime == [oci] * len(containers) and containers
        if oci == "runc":
            return
        reg = registration(oci)
        version = re.search(r"runsc version (\S+)",
                            subprocess.run([reg["path"], "--version"], capture_output=True, text=True,
                                           timeout=30).stdout).group(1)
        flags = [f.split("=", 1)[1] for f in reg.get("runtimeArgs", []) if f.startswith("--platform=")]
        with ControlPlane(runs_topic=a.runs_topic) as cp:
            def listed():
                c = get_json(cp.url + "/readyz")[1]["capacity"]
                return [s for s in c["sandbox_runtimes"] if s["runtime"] == oci and s["agents"] >= 1]
            wait_until(listed, 30, "the control plane lists the private agent's sandbox runtime")
            (entry,) = listed()
            assert entry["gvisor_version"] == version
            if flags:
                assert entry["platform"] == flags[0]
            if oci == "runsc-go":
                assert entry["platform"] in ("systrap", "ptrace")
