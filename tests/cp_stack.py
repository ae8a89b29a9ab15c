"""Reusable control-plane fixtures for integration tests.

    from cp_stack import ControlPlane, create_key, control_plane, tenant_key

- `ControlPlane(**settings)`: a private `throwbox-control-plane` subprocess on a free port
  (never the shared one on 8080), started with `.start()` (waits until it has read the run
  history) and stopped with `.stop()` (SIGTERM, then SIGKILL).
- `create_key(tenant, max_concurrent=None, runs_per_minute=None)`: a new API key through the
  real CLI (`throwbox keys create`, which writes to Consul), revocable with `revoke_key`.
- pytest fixtures: `control_plane` (one per test session), `tenant_key` (a factory that
  creates keys for unique tenants and revokes them afterwards).

Every fixture first calls `require_stack("kafka", "consul")`: skipped on a laptop without
the stack, failed under CI=true.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, NOMAD_ADDR, REPO_DIR, require_stack

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


class ControlPlane:
    """One control-plane process of a test (its own port, log file and settings)."""

    def __init__(self, port: int | None = None, **settings: object):
        self.port = port or free_port()
        self.settings = {k.upper(): str(v) for k, v in settings.items()}
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"throwbox-cp-test-{self.port}-{uuid.uuid4().hex[:6]}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_CP_")}
        env.update({
            "THROWBOX_CP_HOST": "127.0.0.1", "THROWBOX_CP_PORT": str(self.port),
            "THROWBOX_CP_INSTANCE_ID": f"test-{self.port}",
            "THROWBOX_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP, "THROWBOX_CONSUL_ADDR": CONSUL_ADDR,
            "THROWBOX_NOMAD_ADDR": NOMAD_ADDR, "PYTHONUNBUFFERED": "1",
        })
        env.update({("THROWBOX_CP_" + k if not k.startswith("THROWBOX_") else k): v
                    for k, v in self.settings.items()})
        return env

    def start(self, timeout_s: float = 60) -> ControlPlane:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([str(VENV_BIN / "throwbox-control-plane")], env=self.env(),
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO_DIR,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"control plane exited with {self.proc.returncode}: {self.log_tail()}")
            status, body = _get(self.url + "/readyz")
            if status in (200, 503) and body:
                checks = json.loads(body).get("checks", {})
                if checks.get("run_view") == "ok" and checks.get("kafka") == "ok":
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"control plane not ready after {timeout_s}s: {self.log_tail()}")

    def stop(self, timeout_s: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def create_key(tenant: str, max_concurrent: int | None = None, runs_per_minute: int | None = None) -> str:
    """A new key for `tenant` through `throwbox keys create` (the key is its last stdout line)."""
    cmd = [str(VENV_BIN / "throwbox"), "keys", "create", "--tenant", tenant]
    if max_concurrent is not None:
        cmd += ["--max-concurrent", str(max_concurrent)]
    if runs_per_minute is not None:
        cmd += ["--runs-per-minute", str(runs_per_minute)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "THROWBOX_CONSUL_ADDR": CONSUL_ADDR})
    if out.returncode != 0:
        raise RuntimeError(f"throwbox keys create failed: {out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def revoke_key(key: str) -> None:
    subprocess.run([str(VENV_BIN / "throwbox"), "keys", "revoke", key], capture_output=True, timeout=30,
                   env={**os.environ, "THROWBOX_CONSUL_ADDR": CONSUL_ADDR})


def unique_tenant(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Small caps so tests can reach them cheaply; everything else is the default.
TEST_SETTINGS = {
    "max_body_bytes": 512 * 1024, "max_file_bytes": 128 * 1024, "max_files_total_bytes": 256 * 1024,
    "max_stdin_bytes": 32 * 1024, "wait_cap_ms": 3000, "key_cache_ttl_ms": 500,
    # A loaded 2-core machine can keep a run queued for tens of seconds: do not fail it for that.
    "queue_timeout_ms": 180_000,
}


_shared: ControlPlane | None = None


@pytest.fixture(scope="session")
def control_plane():
    """One control plane for the whole session. Every module that imports this fixture gets its
    own session-scoped copy from pytest, so the process itself is shared through `_shared`
    (otherwise each module would keep one alive until the session ends)."""
    global _shared
    require_stack("kafka", "consul")
    if _shared is not None and _shared.proc is not None and _shared.proc.poll() is None:
        yield _shared
        return
    _shared = cp = ControlPlane(**TEST_SETTINGS).start()
    yield cp
    cp.stop()


@pytest.fixture
def tenant_key():
    """make(max_concurrent=None, runs_per_minute=None, tenant=None) -> (tenant, key)."""
    require_stack("kafka", "consul")
    made: list[str] = []

    def make(max_concurrent: int | None = None, runs_per_minute: int | None = None,
             tenant: str | None = None) -> tuple[str, str]:
        tenant = tenant or unique_tenant()
        key = create_key(tenant, max_concurrent, runs_per_minute)
        made.append(key)
        return tenant, key

    yield make
    for key in made:
        revoke_key(key)


class Api:
    """A tiny async client for tests: `await api.call("POST", "/v1/runs", json=...)` → Reply."""

    def __init__(self, base_url: str, key: str | None):
        self.base_url = base_url.rstrip("/")
        self.key = key

    def headers(self, extra: dict | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        h.update(extra or {})
        return h

    async def call(self, method: str, path: str, json_body=None, data: bytes | None = None,
                   headers: dict | None = None, timeout_s: float = 30) -> Reply:
        import aiohttp

        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
            async with s.request(method, self.base_url + path, data=data, headers=self.headers(headers)) as r:
                body = await r.read()
                return Reply(r.status, body, dict(r.headers))

    async def submit(self, code: str = "print('hi')", **fields) -> Reply:
        body = {"language": "python", "files": [{"name": "main.py", "content": code}], **fields}
        return await self.call("POST", "/v1/runs", body)

    async def sse(self, path: str, headers: dict | None = None, timeout_s: float = 60) -> list[tuple[int, dict]]:
        """Read a whole SSE stream: [(id, event)], until the server ends it."""
        import aiohttp

        events: list[tuple[int, dict]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
            async with s.get(self.base_url + path, headers=self.headers(headers)) as r:
                assert r.status == 200, (r.status, await r.text())
                assert r.headers["Content-Type"].startswith("text/event-stream")
                current_id = None
                async for raw in r.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("id: "):
                        current_id = int(line[4:])
                    elif line.startswith("data: "):
                        events.append((current_id, json.loads(line[6:])))
        return events


class Reply:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]):
        self.status, self.body, self.headers = status, body, headers

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return self.json["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"
