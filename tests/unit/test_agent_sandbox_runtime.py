"""The agent reads its sandbox runtime's registration from dockerd and refuses to start without it."""

import asyncio
import stat

import pytest
from aiohttp import web

from throwbox_agent import sandbox_runtime
from throwbox_agent.docker_api import DockerClient
from throwbox_agent.errors import ConfigError

DEBIAN_FLAGS = """  -pcap-log string
    \tlocation of PCAP log file.
  -platform string
    \tspecifies which platform to use: ptrace (default), kvm. (default "ptrace")
  -platform_device_path string
"""


def fake_runsc(tmp_path, version: str):
    path = tmp_path / "runsc"
    path.write_text(f"#!/bin/sh\nif [ \"$1\" = flags ]; then cat <<'X'\n{DEBIAN_FLAGS}X\nelse "
                    f"echo 'runsc version {version}'; echo 'spec: 1.0.2-dev'; fi\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def resolve_with(tmp_path, runtimes: dict, name: str):
    async def info(_request):
        return web.json_response({"Runtimes": runtimes, "DefaultRuntime": "runc"})
    app = web.Application()
    app.router.add_get("/{version}/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = str(tmp_path / "docker.sock")
    await web.UnixSite(runner, sock).start()
    docker = DockerClient(sock)
    await docker.start()
    try:
        return await sandbox_runtime.resolve(docker, name)
    finally:
        await docker.close()
        await runner.cleanup()


def test_runsc_go_is_found_with_its_version_and_the_platform_it_was_registered_with(tmp_path):
    path = fake_runsc(tmp_path, "go-v0.0.0-20260905035102-160fafc42237")
    reg = {"runc": {"path": "runc"},
           "runsc-go": {"path": path, "runtimeArgs": ["--platform=systrap", "--network=none", "--oci-seccomp"]}}
    rt = asyncio.run(resolve_with(tmp_path, reg, "runsc-go"))
    assert (rt.name, rt.version, rt.platform) == ("runsc-go", "go-v0.0.0-20260905035102-160fafc42237", "systrap")
    assert rt.meta() == {"sandbox_runtime": "runsc-go", "gvisor_version": "go-v0.0.0-20260905035102-160fafc42237",
                         "gvisor_platform": "systrap"}
    assert rt.describe() == "runsc-go: gVisor go-v0.0.0-20260905035102-160fafc42237, platform systrap"


def test_without_a_platform_flag_the_binarys_default_platform_is_reported(tmp_path):
    path = fake_runsc(tmp_path, "0.0~20221219.0")
    reg = {"runsc": {"path": path, "runtimeArgs": ["--network=none", "--oci-seccomp"]}}
    rt = asyncio.run(resolve_with(tmp_path, reg, "runsc"))
    assert (rt.version, rt.platform) == ("0.0~20221219.0", "ptrace")


def test_a_runtime_dockerd_does_not_know_stops_the_agent_with_what_it_has(tmp_path):
    reg = {"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}}
    with pytest.raises(ConfigError) as e:
        asyncio.run(resolve_with(tmp_path, reg, "runsc-go"))
    msg = str(e.value)
    assert "'runsc-go' is not registered with dockerd" in msg and "runc, runsc" in msg
    assert "scripts/start-docker.sh" in msg


def test_runc_has_no_gvisor_version_or_platform(tmp_path):
    rt = asyncio.run(resolve_with(tmp_path, {"runc": {"path": "runc"}}, "runc"))
    assert (rt.gvisor, rt.version, rt.platform) == (False, "", "")


def test_an_unreachable_dockerd_is_a_configuration_error(tmp_path):
    async def go():
        docker = DockerClient(str(tmp_path / "nothing.sock"))
        await docker.start()
        try:
            return await sandbox_runtime.resolve(docker, "runsc-go")
        finally:
            await docker.close()
    with pytest.raises(ConfigError, match="cannot read dockerd's runtimes"):
        asyncio.run(go())
