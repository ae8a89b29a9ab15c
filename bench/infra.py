"""Private pieces the benchmarks run next to the shared stack, and small measuring helpers.

Nothing here touches the shared services' processes: the benchmarks get their own Kafka
broker (scripts/start-kafka.sh with THROWBOX_KAFKA_NAME=kafka-bench, ports 19092/19093),
their own control plane(s) and executor agent (own names, ports, Nomad pool jobs), and share
only dockerd, Nomad and Consul with the rest of the stack (which is what is being measured).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from throwbox_common import kafka_client, polling

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
STATE = REPO / ".state"
CONSUL = os.environ.get("THROWBOX_CONSUL_ADDR", "http://127.0.0.1:8500")
NOMAD = os.environ.get("THROWBOX_NOMAD_ADDR", "http://127.0.0.1:4646")
KAFKA_ENV = {"THROWBOX_KAFKA_NAME": "kafka-bench", "THROWBOX_KAFKA_PORT": "19092",
             "THROWBOX_KAFKA_CONTROLLER_PORT": "19093", "THROWBOX_KAFKA_HEAP": "512m"}
KAFKA_BOOTSTRAP = "127.0.0.1:19092"
# The bench broker is secured as the stack's; the bench, its control planes and agents connect as
# its admin (their own runs topic has no component ACLs).
KAFKA_ADMIN_FILE = STATE / KAFKA_ENV["THROWBOX_KAFKA_NAME"] / "credentials" / "admin.properties"
# The bench's own runs topic: its agents register in Consul with it, and its control planes
# count only their capacity (the deployed agent consumes `throwbox.runs` of the shared broker).
RUNS_TOPIC = "throwbox.runs.bench"


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ small HTTP helpers

def sandbox_allocs(pool_job: str) -> list[dict]:
    """Allocations (with task events) of the sandboxes dispatched from a pool job."""
    prefix = f"{pool_job}/dispatch-"
    status, allocs = http("GET", f"{NOMAD}/v1/allocations?filter=" + quote(f'JobID contains "{prefix}"'))
    return [a for a in allocs if a["JobID"].startswith(prefix)] if status == 200 and allocs else []


def http(method: str, url: str, body: object = None, timeout_s: float = 10) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            raw = r.read()
            try:
                return r.status, (json.loads(raw) if raw.strip() else None)
            except ValueError:
                return r.status, raw.decode(errors="replace")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except OSError:
        return 0, None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout_s: float, what: str, interval_s: float = 0.1):
    """throwbox_common.polling.wait_until, failing with BenchError."""
    return polling.wait_until(check, timeout_s, what, interval_s, error=BenchError)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ------------------------------------------------------------------ private Kafka

def _kafka_script(name: str) -> None:
    env = {**os.environ, **KAFKA_ENV}
    out = subprocess.run([str(REPO / "scripts" / name)], env=env, capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise BenchError(f"{name} failed: {out.stderr[-2000:]}")


def kafka_start(fresh: bool = True) -> None:
    """A private broker; `fresh` drops its data first (every bench run starts with empty topics)."""
    if fresh:
        _kafka_script("stop-kafka.sh")
        shutil.rmtree(STATE / KAFKA_ENV["THROWBOX_KAFKA_NAME"], ignore_errors=True)
    _kafka_script("start-kafka.sh")
    kafka_client.use_for(KAFKA_BOOTSTRAP, kafka_client.read_credentials(KAFKA_ADMIN_FILE))
    asyncio.run(_create_runs_topic())


async def _create_runs_topic() -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**kafka_client.options(KAFKA_BOOTSTRAP), request_timeout_ms=10_000)
    await admin.start()
    try:
        if RUNS_TOPIC not in set(await admin.list_topics()):
            response = await admin.create_topics([NewTopic(RUNS_TOPIC, 4, 1)])
            for name, code, *_ in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise BenchError(f"creating {name}: error code {code}")
    finally:
        await admin.close()


def kafka_stop() -> None:
    _kafka_script("stop-kafka.sh")


def kafka_pid() -> int | None:
    try:
        return int((STATE / "run" / f"{KAFKA_ENV['THROWBOX_KAFKA_NAME']}.pid").read_text().split()[0])
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ processes we start

def _start(cmd: list[str], env: dict[str, str], log_path: Path, cpus: str | None) -> subprocess.Popen:
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    with open(log_path, "ab") as logf:
        return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen | None, timeout_s: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class ControlPlane:
    """A private control plane on the private broker (own port; optionally pinned to CPUs)."""

    results_dir: Path
    settings: dict[str, object] = field(default_factory=dict)
    cpus: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.results_dir / f"control-plane-{self.port}.log"

    def start(self, timeout_s: float = 90) -> ControlPlane:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_")}
        env.update({"THROWBOX_CP_HOST": "127.0.0.1", "THROWBOX_CP_PORT": str(self.port),
                    "THROWBOX_CP_INSTANCE_ID": f"bench-{self.port}", "THROWBOX_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
                    "THROWBOX_KAFKA_CREDENTIALS_FILE": str(KAFKA_ADMIN_FILE),
                    "THROWBOX_CONSUL_ADDR": CONSUL, "THROWBOX_NOMAD_ADDR": NOMAD, "PYTHONUNBUFFERED": "1",
                    "THROWBOX_CP_LOG_LEVEL": "WARNING", "THROWBOX_CP_RUNS_TOPIC": RUNS_TOPIC})
        env.update({f"THROWBOX_CP_{k.upper()}": str(v) for k, v in self.settings.items()})
        self.proc = _start([str(VENV_BIN / "throwbox-control-plane")], env, self.log_path, self.cpus)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError(f"control plane exited {self.proc.returncode}: {_tail(self.log_path)}")
            status, body = http("GET", self.url + "/readyz", timeout_s=2)
            checks = body.get("checks", {}) if isinstance(body, dict) else {}
            return checks.get("run_view") == "ok" and checks.get("kafka") == "ok"
        wait_until(ready, timeout_s, "the private control plane", 0.2)
        return self

    def stop(self) -> None:
        _stop(self.proc, 30)


@dataclass
class Agent:
    """A private executor agent (plain process, like the integration tests' agents): its own
    name (so its own Nomad pool jobs), metrics port and consumer group on the private broker."""

    results_dir: Path
    pool_sizes: str
    extra_env: dict[str, str] = field(default_factory=dict)   # more THROWBOX_AGENT_* settings
    name: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:6]}")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    @property
    def log_path(self) -> Path:
        return self.results_dir / f"agent-{self.name}.log"

    def start(self, timeout_s: float = 240) -> Agent:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THROWBOX_AGENT_")}
        env.update({
            "THROWBOX_AGENT_NAME": self.name, "THROWBOX_AGENT_METRICS_LISTEN": f"127.0.0.1:{self.port}",
            "THROWBOX_AGENT_POOL_SIZES": self.pool_sizes, "THROWBOX_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
            "THROWBOX_KAFKA_CREDENTIALS_FILE": str(KAFKA_ADMIN_FILE),
            "THROWBOX_CONSUL_ADDR": CONSUL, "THROWBOX_NOMAD_ADDR": NOMAD,
            "THROWBOX_AGENT_STOP_POOLS_ON_EXIT": "true", "THROWBOX_AGENT_RUNS_TOPIC": RUNS_TOPIC,
            "THROWBOX_AGENT_CONSUMER_GROUP": "throwbox-agents-bench",
            "THROWBOX_AGENT_DRAIN_TIMEOUT_S": "20", "THROWBOX_AGENT_LOG_LEVEL": "WARNING",
            # A small reservation, as the integration tests do: the node also hosts the shared pools.
            "THROWBOX_AGENT_SANDBOX_CPU_MHZ": "20", "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        self.proc = _start([str(VENV_BIN / "throwbox-agent")], env, self.log_path, None)
        wait_until(lambda: self.full() if self._up() else False, timeout_s,
                   f"agent {self.name} with full pools ({self.pool_sizes})", 0.25)
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise BenchError(f"agent exited {self.proc.returncode}: {_tail(self.log_path)}")
        status, _ = http("GET", self.health_url, timeout_s=2)
        return status == 200

    def pools(self) -> dict:
        status, body = http("GET", self.health_url, timeout_s=5)
        return body.get("pools", {}) if status == 200 and isinstance(body, dict) else {}

    def full(self, key: str | None = None) -> bool:
        pools = self.pools()
        chosen = [pools[key]] if key else list(pools.values())
        return bool(chosen) and all(p["idle"] >= p["size"] for p in chosen)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        _stop(self.proc, 60)
        # Whatever happened to the agent: none of its pool jobs or registrations stays behind.
        purge_agent_jobs(self.name)
        http("PUT", f"{CONSUL}/v1/agent/service/deregister/throwbox-agent-{self.name}")


class SyntheticCapacity:
    """A Consul registration that advertises a capacity no agent has, for the bench's own runs
    topic: the admission section measures the control plane's request path, not the queue
    bound, so it gives the bound room up to the section's fixed outer limit."""

    SERVICE_ID = "throwbox-agent-bench-synthetic"

    def __enter__(self) -> SyntheticCapacity:
        from throwbox_common import capacity_meta
        from throwbox_common.capacity_meta import RuntimeCapacity
        from throwbox_common.runtimes import load

        meta = {"agent": "bench-synthetic", "runs_topic": RUNS_TOPIC,
                **capacity_meta.encode({r.key: RuntimeCapacity(1_000_000, 1_000_000, 1_000_000.0)
                                        for r in load().runtimes})}
        status, body = http("PUT", f"{CONSUL}/v1/agent/service/register",
                            {"ID": self.SERVICE_ID, "Name": "throwbox-agent", "Meta": meta})
        if status != 200:
            raise BenchError(f"registering the synthetic capacity: {status} {body}")
        return self

    def __exit__(self, *exc) -> None:
        http("PUT", f"{CONSUL}/v1/agent/service/deregister/{self.SERVICE_ID}")


def purge_agent_jobs(agent_name: str) -> None:
    """Purge an agent's pool jobs and its live sandbox jobs; an ended sandbox (a dead job) is
    left to Nomad's job GC (a purge costs an evaluation)."""
    status, jobs = http("GET", f"{NOMAD}/v1/jobs?prefix=throwbox-sandbox-{agent_name}-")
    for job in (jobs if status == 200 and jobs else []):
        if job.get("ParentID") and job.get("Status") == "dead":
            continue
        http("DELETE", f"{NOMAD}/v1/job/{quote(job['ID'], safe='')}?purge=true")


# ------------------------------------------------------------------ API keys and tenants

def create_key(tenant: str) -> str:
    """A key with quotas far above anything a benchmark reaches (quotas are not what is measured)."""
    out = subprocess.run([str(VENV_BIN / "throwbox"), "keys", "create", "--tenant", tenant,
                          "--max-concurrent", "1000000", "--runs-per-minute", "100000000"],
                         capture_output=True, text=True, timeout=30, env={**os.environ, "THROWBOX_CONSUL_ADDR": CONSUL})
    if out.returncode != 0:
        raise BenchError(f"throwbox keys create: {out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def drop_tenant(key: str, tenant: str) -> None:
    subprocess.run([str(VENV_BIN / "throwbox"), "keys", "revoke", key], capture_output=True, timeout=30,
                   env={**os.environ, "THROWBOX_CONSUL_ADDR": CONSUL})
    http("DELETE", f"{CONSUL}/v1/kv/throwbox/admission/{tenant}")
    http("DELETE", f"{CONSUL}/v1/kv/throwbox/idempotency/{tenant}?recurse=true")


# ------------------------------------------------------------------ host readings

def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def host_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot (all cores; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]          # idle + iowait
    total = sum(fields[:8])               # guest time is already inside user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a live process (all its threads), seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def pids_by_cmd(*needles: str) -> list[int]:
    """Live processes whose command line contains every needle."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd and all(n in cmd for n in needles):
            out.append(int(d.name))
    return out


def pid_file(name: str) -> int | None:
    try:
        pid = int((STATE / "run" / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def pss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def mem_available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise BenchError("no MemAvailable in /proc/meminfo")


def shared_service_pids() -> dict[str, list[int]]:
    """Long-lived processes of the platform (the shared stack's), by component."""
    comps = {
        "nomad": [p for p in [pid_file("nomad")] if p],
        "dockerd": pids_by_cmd("dockerd") if not pid_file("dockerd") else [pid_file("dockerd")],
        "containerd": [p for p in pids_by_cmd("containerd") if "shim" not in _cmd(p) and "dockerd" not in _cmd(p)],
        "consul": [p for p in [pid_file("consul")] if p],
        "kafka (shared)": [p for p in [pid_file("kafka")] if p],
        "control plane (shared)": [p for p in [pid_file("control-plane")] if p],
    }
    return comps


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def node_id() -> str:
    status, body = http("GET", f"{NOMAD}/v1/agent/self")
    if status != 200:
        raise BenchError("Nomad agent/self did not answer")
    return body["stats"]["client"]["node_id"]
