"""scripts/start-kafka.sh can start a private broker (own ports, own state) for benchmarks and tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from stack import REPO_DIR, missing

from throwbox_common import kafka_client
from throwbox_common.topics import TOPICS

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().find("\nState:\tZ") < 0
    except OSError:
        return False


async def list_topics(bootstrap: str, credentials: kafka_client.Credentials) -> set[str]:
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap, credentials))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_a_private_broker_starts_on_its_own_ports_with_the_topics_and_stops_again(tmp_path):
    lib = Path(os.environ.get("THROWBOX_CACHE_DIR", Path.home() / ".cache/throwbox")) / "kafka"
    if not os.environ.get("KAFKA_HOME") and not any(lib.glob("*/lib/.complete")):
        missing("Kafka jars not installed (scripts/ensure-kafka.sh)")
    port, controller_port = free_port(), free_port()
    env = {**os.environ, "THROWBOX_STATE_DIR": str(tmp_path), "THROWBOX_KAFKA_NAME": "kafka-private",
           "THROWBOX_KAFKA_PORT": str(port), "THROWBOX_KAFKA_CONTROLLER_PORT": str(controller_port),
           "THROWBOX_KAFKA_HEAP": "256m"}
    pid_file = tmp_path / "run" / "kafka-private.pid"
    try:
        start = subprocess.run([REPO_DIR / "scripts/start-kafka.sh"], env=env, capture_output=True, text=True, timeout=180)
        assert start.returncode == 0, start.stdout + start.stderr
        pid = int(pid_file.read_text().split()[0])
        assert (tmp_path / "kafka-private" / "data" / "meta.properties").is_file()

        # Its secrets are its own: credentials (read_credentials refuses a readable file) and the
        # broker's properties, which hold the admin's password.
        secrets = tmp_path / "kafka-private" / "credentials"
        admin = kafka_client.read_credentials(secrets / "admin.properties")
        assert {kafka_client.read_credentials(secrets / f"{who}.properties").username
                for who in ("admin", "control-plane", "agent")} == {"admin", "throwbox-control-plane", "throwbox-agent"}
        assert (tmp_path / "kafka-private" / "server.properties").stat().st_mode & 0o077 == 0
        assert {spec.name for spec in TOPICS} <= asyncio.run(list_topics(f"127.0.0.1:{port}", admin))

        again = subprocess.run([REPO_DIR / "scripts/start-kafka.sh"], env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert int(pid_file.read_text().split()[0]) == pid, "a second start must keep the running broker"
    finally:
        stop = subprocess.run([REPO_DIR / "scripts/stop-kafka.sh"], env=env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not pid_file.exists()
    assert not pid_running(pid)

    # Storage formatted before the brokers were secured has no SCRAM users: refused, with the way out.
    (tmp_path / "kafka-private" / "scram-users-added").unlink()
    old = subprocess.run([REPO_DIR / "scripts/start-kafka.sh"], env=env, capture_output=True, text=True, timeout=120)
    assert old.returncode != 0 and "before Kafka authentication" in old.stderr, old.stderr
    assert not pid_file.exists()
