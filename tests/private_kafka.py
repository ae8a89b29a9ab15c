"""A private Kafka broker for a test that must stop and restart Kafka without touching the
shared one: the stack's own scripts (scripts/start-kafka.sh, stop-kafka.sh) with their
environment settings (scripts/kafka/env.sh), as bench/infra.py starts the benchmark broker.

    with private_kafka(port=19192) as kafka:     # fresh data dir under /tmp, project topics created
        ... kafka.bootstrap ...
        kafka.stop()                             # SIGTERM, waits until it is gone
        kafka.start()                            # same data dir: topics, offsets and records kept

Pick a port nobody else uses (the shared broker is 9092, the benchmarks' 19092); the controller
listens on port + 1. It is secured as the stack's is (SASL/SCRAM, ACLs): `kafka.credentials()`
is its admin, `kafka.credentials_file("control-plane")` / `("agent")` the components'.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from stack import REPO_DIR

from throwbox_common import kafka_client

SCRIPTS = REPO_DIR / "scripts"
STATE_DIR = Path(os.environ.get("THROWBOX_STATE_DIR", REPO_DIR / ".state"))


class PrivateKafka:
    def __init__(self, port: int, name: str | None = None, data_dir: Path | None = None, heap: str = "384m"):
        self.port = port
        self.name = name or f"kafka-test-{port}"            # its pid/log file names in .state
        self.dir = data_dir or Path("/tmp") / f"throwbox-{self.name}"
        self.env = {**os.environ, "THROWBOX_KAFKA_NAME": self.name, "THROWBOX_KAFKA_PORT": str(port),
                    "THROWBOX_KAFKA_CONTROLLER_PORT": str(port + 1), "THROWBOX_KAFKA_DIR": str(self.dir),
                    "THROWBOX_KAFKA_HEAP": heap, "THROWBOX_KAFKA_CREDENTIALS_DIR": str(self.dir / "credentials")}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def credentials_file(self, who: str = "admin") -> Path:
        """admin, control-plane or agent (scripts/kafka/broker.sh writes them)."""
        return self.dir / "credentials" / f"{who}.properties"

    def credentials(self, who: str = "admin") -> kafka_client.Credentials:
        return kafka_client.read_credentials(self.credentials_file(who))

    def options(self, who: str = "admin") -> dict:
        """aiokafka keyword arguments of a client of this broker, as `who`."""
        return kafka_client.options(self.bootstrap, self.credentials(who))

    @property
    def log_path(self) -> Path:
        return STATE_DIR / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int((STATE_DIR / "run" / f"{self.name}.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _script(self, name: str) -> None:
        out = subprocess.run([str(SCRIPTS / name)], env=self.env, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise AssertionError(f"{name} for {self.name} failed:\n{out.stdout[-1500:]}{out.stderr[-1500:]}")

    def start(self) -> None:
        """Start it (its data dir is formatted on first use) and wait until it has the project's
        topics (start-kafka.sh runs scripts/create_topics.py)."""
        self._script("start-kafka.sh")
        kafka_client.use_for(self.bootstrap, self.credentials())   # this process's clients of it: as its admin

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 60 s; returns once the process is gone."""
        self._script("stop-kafka.sh")

    def purge(self) -> None:
        """Stopped and its data dir removed."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_kafka(port: int, name: str | None = None):
    """A started PrivateKafka on a fresh data dir; stopped and removed afterwards."""
    kafka = PrivateKafka(port, name)
    kafka.purge()              # a previous run's leftovers
    try:
        kafka.start()          # (a start that timed out may still bring the broker up later)
        yield kafka
    finally:
        kafka.purge()
