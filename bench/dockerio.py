"""The Docker Engine API calls the floor and raw-creation measurements need (unix socket).

Containers are created the way Nomad's docker driver creates a sandbox (same image, OCI
runtime, read-only root, no network, no capabilities, no-new-privileges, our seccomp
profile, the sandbox's pids cgroup limit, nofile/nproc caps, 256 MB, the exec tmpfs volume on /tmp, no logs, uid 65534).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
import uuid
from pathlib import Path

import aiohttp

from throwbox_agent import sandbox_job
from throwbox_agent.config import DEFAULT_SECCOMP, AgentConfig
from throwbox_common import runtimes

SOCK = "/var/run/docker.sock"
# The dockerd runtime the sandboxes use (scripts/common.sh): the floors and raw rates are
# measured with it. Keys and labels say "runsc" for gVisor, whichever build it is.
SANDBOX_OCI = os.environ.get("THROWBOX_SANDBOX_RUNTIME", "runsc-go")
API = "http://docker/v1.41"
LABEL = "org.throwbox.bench"
EXEC_TIMEOUT_S = 180
WATCH_EVERY_S = 1.0      # while an exec runs, how often its container's state is looked at
_SECCOMP = json.dumps(json.loads(DEFAULT_SECCOMP.read_text()))


# Docker's cgroup parent (cgroupfs driver): every container, sandbox, floor or raw, is under it.
CONTAINERS_CPU_SHARES = Path("/sys/fs/cgroup/cpu/docker/cpu.shares")


def weigh_containers() -> int | None:
    """Give all containers the weight the executor agent gives its sandboxes' parent (it does so
    on its first run), before anything is measured: floors, raw creation and `docker run` are
    then taken under the same host setting as Throwbox's runs. The value in force, or None."""
    try:
        CONTAINERS_CPU_SHARES.write_text(str(AgentConfig.sandboxes_cpu_shares))
        return int(CONTAINERS_CPU_SHARES.read_text())
    except (OSError, ValueError):
        return None


class ContainerDied(RuntimeError):
    """The container stopped while an exec ran in it (or the exec never ended): the sample is
    lost, the container must be replaced. Seen with runsc under concurrent compiles: the sandbox
    exits (status 2) and Docker keeps the exec's stream open."""


def pids_limit(oci: str) -> int:
    """The pids cgroup limit the agent gives a sandbox of a default run (sandbox_job.sandbox_spec):
    under runsc it must hold gVisor's own host threads, else the sandbox dies (exit 2) as soon as
    a compiler starts enough threads (go build, rustc)."""
    pids = runtimes.load().default_limits.pids
    if oci.startswith("runsc"):   # also the newer gVisor builds the gvisor section registers
        return sandbox_job.RUNSC_PIDS_HEADROOM + sandbox_job.RUNSC_HOST_TASKS_PER_GUEST_TASK * pids
    return pids + 8


def host_config(runtime: str, memory_mb: int = 256, seccomp: bool = True, tmpfs_mb: int = 64) -> dict:
    profile = _SECCOMP if seccomp else "unconfined"   # unconfined: only to measure the filter's cost
    return {
        "Runtime": runtime,
        "NetworkMode": "none",
        "ReadonlyRootfs": True,
        "CapDrop": ["all"],
        "SecurityOpt": ["no-new-privileges", f"seccomp={profile}"],
        "PidsLimit": pids_limit(runtime),
        "Ulimits": [{"Name": "nproc", "Soft": 64, "Hard": 64}, {"Name": "nofile", "Soft": 256, "Hard": 256}],
        "Memory": memory_mb * 1024 * 1024,
        "MemorySwap": memory_mb * 1024 * 1024,
        "CpuShares": 100,
        "ShmSize": 8 * 1024 * 1024,
        "LogConfig": {"Type": "none", "Config": {}},
        "Mounts": [{"Type": "volume", "Target": "/tmp", "VolumeOptions": {"NoCopy": True, "DriverConfig": {
            "Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs",
                                         "o": f"size={tmpfs_mb * 1024 * 1024},exec,nosuid,nodev,uid=65534,gid=65534,mode=0700"}}}}],
    }


class Docker:
    def __init__(self) -> None:
        self.s = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=SOCK, limit=64),
                                       timeout=aiohttp.ClientTimeout(total=120))
        self.created: set[str] = set()

    async def close(self) -> None:
        await self.remove_all()
        await self.s.close()

    async def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201, 204)) -> dict | None:
        async with self.s.request(method, API + path, json=body) as r:
            if r.status not in ok:
                raise RuntimeError(f"docker {method} {path}: {r.status} {(await r.text())[:300]}")
            return await r.json() if r.content_type == "application/json" else None

    async def create(self, image: str, runtime: str, entrypoint: list[str] | None = None,
                     cmd: list[str] | None = None, open_stdin: bool = True, seccomp: bool = True,
                     memory_mb: int = 256, tmpfs_mb: int = 64) -> str:
        body = {"Image": image, "User": "65534:65534", "OpenStdin": open_stdin, "StdinOnce": False,
                "Labels": {LABEL: "1"}, "HostConfig": host_config(runtime, memory_mb, seccomp, tmpfs_mb)}
        if entrypoint is not None:
            body["Entrypoint"] = entrypoint
        if cmd is not None:
            body["Cmd"] = cmd
        data = await self.call("POST", f"/containers/create?name=tb-bench-{uuid.uuid4().hex[:10]}", body)
        cid = data["Id"]
        self.created.add(cid)
        return cid

    async def start(self, cid: str) -> None:
        await self.call("POST", f"/containers/{cid}/start")

    async def remove(self, cid: str) -> None:
        await self.call("DELETE", f"/containers/{cid}?force=1&v=1", ok=(200, 204, 404))
        self.created.discard(cid)

    async def remove_all(self) -> None:
        await asyncio.gather(*(self.remove(c) for c in list(self.created)), return_exceptions=True)

    async def run_detached(self, image: str, runtime: str, **kw) -> str:
        cid = await self.create(image, runtime, **kw)
        await self.start(cid)
        return cid

    async def running(self, cid: str) -> tuple[bool, str]:
        """Is the container running; its status and exit code as text (for the report)."""
        try:
            data = await self.call("GET", f"/containers/{cid}/json")
        except RuntimeError as e:
            return False, str(e)[:200]
        st = data["State"]
        return bool(st.get("Running")), f"{st.get('Status')} exit {st.get('ExitCode')}"

    async def exec(self, cid: str, cmd: list[str], workdir: str = "/tmp",
                   env: list[str] | None = None, timeout_s: float = EXEC_TIMEOUT_S) -> tuple[float, bytes]:
        """exec create + start (hijacked stream read to its end): seconds, output.

        ContainerDied if the container stops during the exec (looked at every WATCH_EVERY_S,
        first after WATCH_EVERY_S, so a short exec is measured without any extra call) or the
        exec outlasts timeout_s."""
        t0 = time.perf_counter()
        try:
            data = await self.call("POST", f"/containers/{cid}/exec", {
                "Cmd": cmd, "AttachStdout": True, "AttachStderr": True, "WorkingDir": workdir, "Env": env or []})
        except RuntimeError as e:
            if " 409 " in str(e):           # "container ... is not running"
                raise ContainerDied(f"exec into {cid[:12]}: {str(e)[:200]}") from e
            raise
        read = asyncio.ensure_future(self._hijack(f"/exec/{data['Id']}/start",
                                                  json.dumps({"Detach": False, "Tty": False}).encode()))
        watch = asyncio.ensure_future(self._until_stopped(cid))
        try:
            done, _ = await asyncio.wait({read, watch}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if read in done:
                return time.perf_counter() - t0, read.result()
            if watch in done:
                raise ContainerDied(f"container {cid[:12]} stopped during an exec: {watch.result()}")
            raise ContainerDied(f"exec in {cid[:12]} still running after {timeout_s:.0f}s")
        finally:
            for t in (read, watch):
                t.cancel()
            await asyncio.gather(read, watch, return_exceptions=True)

    async def _until_stopped(self, cid: str) -> str:
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            up, status = await self.running(cid)
            if not up:
                return status

    async def attach(self, cid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_unix_connection(SOCK)
        writer.write((f"POST /v1.41/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                      "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] and b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"attach: {head[:200]!r}")
        return reader, writer

    async def _hijack(self, path: str, body: bytes) -> bytes:
        reader, writer = await asyncio.open_unix_connection(SOCK)
        try:
            writer.write((f"POST /v1.41{path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                          f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
            await writer.drain()
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            # A container that dies mid-exec can leave the stream open: exec() bounds this.
            return demux(await reader.read(-1))
        finally:
            writer.close()


def demux(raw: bytes) -> bytes:
    """Docker's multiplexed stream (8-byte headers) -> the payload bytes, stdout and stderr."""
    out, pos = bytearray(), 0
    while pos + 8 <= len(raw):
        size = struct.unpack(">I", raw[pos + 4:pos + 8])[0]
        out += raw[pos + 8:pos + 8 + size]
        pos += 8 + size
    return bytes(out)
