"""The few Docker Engine API calls the agent needs, over the unix socket.

Ordinary calls go through aiohttp; attach is a hijacked connection (HTTP/1.1 Upgrade: tcp),
written by hand on an asyncio stream because aiohttp does not hand out the raw socket.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import aiohttp

from .errors import ContainerGone, ContainerNotRunning, DockerError
from .frames import DockerDemux

API = "http://docker/v1.41"


@dataclass(frozen=True)
class ContainerState:
    running: bool
    status: str
    exit_code: int | None
    oom_killed: bool
    pid: int


class Attachment:
    """A hijacked attach stream: write raw bytes to stdin, read demultiplexed (stream, bytes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, leftover: bytes):
        self._reader = reader
        self._writer = writer
        self._demux = DockerDemux()
        self._pending = self._demux.feed(leftover) if leftover else []

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def read(self) -> list[tuple[int, bytes]]:
        """The next chunks; [] at end of stream (the container exited or was killed)."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        while True:
            data = await self._reader.read(65536)
            if not data:
                return []
            out = self._demux.feed(data)
            if out:
                return out

    def close(self) -> None:
        self._writer.close()


KillResult = Literal["killed", "not_running", "gone"]


class DockerClient:
    def __init__(self, socket_path: str = "/var/run/docker.sock"):
        self._socket = socket_path
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=self._socket, limit=32),
            timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, *, timeout_s: float = 10, ok=(200, 204)) -> dict | None:
        assert self._session is not None, "DockerClient.start() first"
        try:
            async with self._session.request(method, API + path,
                                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                if resp.status == 404:
                    raise ContainerGone(f"{method} {path}: no such container")
                if resp.status == 409 and 409 not in ok:
                    raise ContainerNotRunning(f"{method} {path}: not running")
                if resp.status not in ok:
                    raise DockerError(f"{method} {path}: {resp.status} {(await resp.text())[:300]}")
                if resp.content_type == "application/json":
                    return await resp.json()
                return None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise DockerError(f"{method} {path}: {e!r}") from e

    async def info(self) -> dict:
        """GET /info: the engine's configuration, its registered OCI runtimes among it."""
        return await self._call("GET", "/info") or {}

    async def image_tags(self) -> set[str]:
        """GET /images/json: every `repository:tag` the engine holds."""
        images = await self._call("GET", "/images/json", timeout_s=30) or []
        return {t for image in images for t in (image.get("RepoTags") or ()) if t != "<none>:<none>"}

    async def inspect(self, container: str) -> ContainerState:
        return (await self.inspect_with_id(container))[1]

    async def inspect_with_id(self, container: str) -> tuple[str, ContainerState]:
        """One inspect (by name or id): the container's full id and its state."""
        data = await self._call("GET", f"/containers/{container}/json")
        st = data["State"]
        return data["Id"], ContainerState(running=bool(st.get("Running")), status=st.get("Status", ""),
                                          exit_code=st.get("ExitCode"), oom_killed=bool(st.get("OOMKilled")),
                                          pid=int(st.get("Pid") or 0))

    async def events(self, filters: dict, since: int, on_open=None):
        """Docker's event stream (JSON objects, one per event) from `since` (unix seconds) on,
        as dicts; `on_open` is called once the stream is established. Ends when Docker closes it."""
        assert self._session is not None, "DockerClient.start() first"
        path = f"/events?since={since}&filters={quote(json.dumps(filters))}"
        try:
            async with self._session.get(API + path, timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=10, sock_read=None)) as resp:
                if resp.status != 200:
                    raise DockerError(f"GET /events: {resp.status} {(await resp.text())[:300]}")
                if on_open is not None:
                    on_open()
                buffer = b""
                async for chunk in resp.content.iter_any():
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise DockerError(f"GET /events: {e!r}") from e

    async def kill(self, container: str, signal: str = "SIGKILL") -> KillResult:
        """Kill; a container that is already gone or not running is fine: the result says which."""
        try:
            await self._call("POST", f"/containers/{container}/kill?signal={signal}", ok=(204,))
        except ContainerGone:
            return "gone"
        except ContainerNotRunning:
            return "not_running"
        return "killed"

    async def wait_stopped(self, container: str, timeout_s: float) -> ContainerState | None:
        """Poll until the container is not running; None if it is gone (removed)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            try:
                state = await self.inspect(container)
            except ContainerGone:
                return None
            if not state.running or loop.time() >= end:
                return state
            await asyncio.sleep(0.02)

    async def attach(self, container: str, timeout_s: float = 5) -> Attachment:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self._socket), timeout_s)
        request = (f"POST /v1.41/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                   "Host: docker\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        try:
            writer.write(request.encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as e:
            writer.close()
            raise DockerError(f"attach {container}: {e!r}") from e
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = status_line.split(" ", 2)
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if code == 404:
            writer.close()
            raise ContainerGone(f"attach {container}: no such container")
        if code not in (101, 200):
            writer.close()
            raise DockerError(f"attach {container}: {status_line}")
        return Attachment(reader, writer, b"")
