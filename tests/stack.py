"""Where the single-node stack lives, and require_stack() for integration tests.

Integration tests call require_stack("kafka", "nomad", ...) first: a part that does not
answer skips the test on a laptop and fails it under CI=true (CI must have the whole stack).
Addresses come from the same THROWBOX_* variables the scripts use.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
CACHE_BIN = Path(os.environ.get("THROWBOX_CACHE_DIR", Path.home() / ".cache" / "throwbox")) / "bin"

KAFKA_BOOTSTRAP = os.environ.get("THROWBOX_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
# The tests' own Kafka clients (and the components they start) connect as the stack's Kafka admin
# unless told otherwise: the brokers refuse unauthenticated clients (scripts/kafka/broker.sh).
STATE_DIR = Path(os.environ.get("THROWBOX_STATE_DIR", REPO_DIR / ".state"))
KAFKA_ADMIN_CREDENTIALS = STATE_DIR / "kafka" / "credentials" / "admin.properties"
if KAFKA_ADMIN_CREDENTIALS.exists():
    os.environ.setdefault("THROWBOX_KAFKA_CREDENTIALS_FILE", str(KAFKA_ADMIN_CREDENTIALS))
CONSUL_ADDR = os.environ.get("THROWBOX_CONSUL_ADDR", "http://127.0.0.1:8500")
NOMAD_ADDR = os.environ.get("THROWBOX_NOMAD_ADDR", "http://127.0.0.1:4646")
API_URL = os.environ.get("THROWBOX_API_URL", "http://127.0.0.1:8080")
AGENT_HEALTH_URL = os.environ.get("THROWBOX_AGENT_HEALTH_URL", "http://127.0.0.1:9464/healthz")
# The dockerd runtime sandboxes run with (scripts/common.sh): runsc-go, runsc or runc.
SANDBOX_RUNTIME = os.environ.get("THROWBOX_SANDBOX_RUNTIME", "runsc-go")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip the test, or fail it under CI=true where every part must be there."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def binary(name: str) -> str | None:
    """A tool on PATH or in the stack's binary cache (nomad, consul)."""
    found = shutil.which(name)
    if found:
        return found
    cached = CACHE_BIN / name
    return str(cached) if cached.is_file() else None


def _http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError):
        return False


def _http_json(url: str, timeout_s: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


def _tcp_ok(host_port: str, timeout_s: float = 2.0) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _docker_ok() -> bool:
    if not shutil.which("docker"):
        return False
    out = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                         capture_output=True, text=True, timeout=20)
    return out.returncode == 0 and SANDBOX_RUNTIME in (json.loads(out.stdout) or {})


def _consul_ok() -> bool:
    try:
        return bool(_http_json(f"{CONSUL_ADDR}/v1/status/leader"))
    except (OSError, ValueError):
        return False


def _nomad_ok() -> bool:
    try:
        nodes = _http_json(f"{NOMAD_ADDR}/v1/nodes")
    except (OSError, ValueError):
        return False
    return any(n["Status"] == "ready" and n["Drivers"].get("docker", {}).get("Healthy") for n in nodes)


CHECKS = {
    "docker": (f"dockerd with the {SANDBOX_RUNTIME} runtime", _docker_ok),
    "kafka": (f"Kafka at {KAFKA_BOOTSTRAP}", lambda: _tcp_ok(KAFKA_BOOTSTRAP)),
    "consul": (f"Consul at {CONSUL_ADDR}", _consul_ok),
    "nomad": (f"Nomad at {NOMAD_ADDR} with a ready node and a healthy docker driver", _nomad_ok),
    "agent": (f"the executor agent at {AGENT_HEALTH_URL}", lambda: _http_ok(AGENT_HEALTH_URL)),
    "control_plane": (f"the control plane at {API_URL}", lambda: _http_ok(f"{API_URL}/healthz")),
}


def require_stack(*parts: str) -> None:
    """Skip (locally) or fail (CI=true) unless every named part answers.

    Parts: docker, kafka, consul, nomad, agent, control_plane. `make up` starts them all.
    """
    unknown = set(parts) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown stack parts {sorted(unknown)}; known: {sorted(CHECKS)}")
    down = [CHECKS[p][0] for p in parts if not CHECKS[p][1]()]
    if down:
        missing("not reachable: " + "; ".join(down) + " (run `make up`)")


def require_image(image: str) -> None:
    """Skip/fail unless the Docker image exists locally (images are built, never pulled)."""
    require_stack("docker")
    out = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=20)
    if out.returncode != 0:
        missing(f"image {image} is not built (scripts/build-images.sh)")
