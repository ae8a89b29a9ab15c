"""The local cluster of `make cluster` as the tests see it (scripts/cluster/lib.sh's topology).

Runs go through the control planes' public API; nodes are started, stopped and killed with
scripts/cluster/node.sh, the way an operator (or a crash) would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_DIR = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("THROWBOX_STATE_DIR", REPO_DIR / ".state"))
CLUSTER_DIR = Path(os.environ.get("THROWBOX_CLUSTER_DIR", STATE_DIR / "cluster"))
NET = os.environ.get("THROWBOX_CLUSTER_NET", "10.77.0")
SERVERS = ("s1", "s2", "s3")
CONTROL_PLANES = ("c1", "c2")
TERMINAL = ("completed", "failed", "cancelled")
NOMAD = f"http://{NET}.11:4646"
# ACLs (docs/security.md): the tests act as the operator, with the management tokens.
SECRETS = CLUSTER_DIR / "secrets"


def nomad_headers() -> dict[str, str]:
    f = SECRETS / "nomad-management.token"
    return {"X-Nomad-Token": f.read_text().split()[0]} if f.exists() else {}


def ip(node: str) -> str:
    base = {"s": 10, "c": 20, "w": 30}[node[0]]
    return f"{NET}.{base + int(node[1:])}"


def script(*args: str, timeout_s: float = 300) -> str:
    out = subprocess.run([str(REPO_DIR / "scripts/cluster" / args[0]), *args[1:]], capture_output=True,
                         text=True, timeout=timeout_s)
    assert out.returncode == 0, f"{args}: {out.stderr[-2000:]}"
    return out.stdout


def node(action: str, name: str, *rest: str) -> None:
    script("node.sh", action, name, *rest)


def healthy() -> tuple[bool, str]:
    out = subprocess.run([str(REPO_DIR / "scripts/cluster/status.sh")], capture_output=True, text=True, timeout=120)
    return out.returncode == 0, out.stdout + out.stderr


def wait_until(check, timeout_s: float, what: str, every_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(every_s)


def nomad(path: str):
    for server in SERVERS:   # whichever server answers (one may be down in a test)
        try:
            return httpx.get(f"http://{ip(server)}:4646{path}", headers=nomad_headers(), timeout=5).json()
        except (httpx.HTTPError, ValueError):
            continue
    raise AssertionError(f"no Nomad server answered {path}")


def workers() -> dict[str, dict]:
    """Nomad nodes of the worker class by name (the newest of a reused name)."""
    out: dict[str, dict] = {}
    for n in sorted(nomad("/v1/nodes"), key=lambda n: n["CreateIndex"]):
        if n.get("NodeClass") == "throwbox-worker":
            out[n["Name"]] = n
    return out


def up_workers() -> list[str]:
    """Workers whose Nomad client is up, eligible or not (a drained one is ineligible)."""
    return sorted(name for name, n in workers().items() if n["Status"] == "ready")


def ready_workers() -> list[str]:
    return sorted(name for name, n in workers().items()
                  if n["Status"] == "ready" and n["SchedulingEligibility"] == "eligible")


def agent_health(worker: str) -> dict | None:
    try:
        return httpx.get(f"http://{ip(worker)}:9464/healthz", timeout=3).json()
    except (httpx.HTTPError, ValueError):
        return None


def pools_full(worker: str) -> bool:
    h = agent_health(worker)
    return bool(h and h.get("status") == "ok" and h["pools"]
                and all(p["idle"] >= p["size"] for p in h["pools"].values()))


@dataclass
class Api:
    """The cluster's API through one control plane (falling back to the other)."""
    key: str
    answers: list[int] = field(default_factory=list)    # every HTTP status seen

    def call(self, method: str, path: str, **kw) -> httpx.Response:
        last: Exception | None = None
        for cp in CONTROL_PLANES:
            try:
                r = httpx.request(method, f"http://{ip(cp)}:8080{path}", timeout=30,
                                  headers={"Authorization": f"Bearer {self.key}"}, **kw)
            except httpx.HTTPError as e:
                last = e
                continue
            self.answers.append(r.status_code)
            return r
        raise AssertionError(f"no control plane answered {method} {path}: {last!r}")

    def submit(self, code: str, **extra) -> str:
        body = {"language": "python", "files": [{"name": "main.py", "content": code}], **extra}
        for _ in range(60):
            r = self.call("POST", "/v1/runs", json=body)
            if r.status_code == 503:      # documented: overloaded / a dependency away; retry later
                time.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))
                continue
            assert r.status_code == 202, r.text
            return r.json()["id"]
        raise AssertionError("the cluster answered 503 to every submission for a minute")

    def result(self, run_id: str) -> dict:
        return self.call("GET", f"/v1/runs/{run_id}").json()

    def wait_all(self, ids: list[str], timeout_s: float) -> dict[str, dict]:
        done: dict[str, dict] = {}

        def check():
            for run_id in ids:
                if run_id not in done:
                    r = self.result(run_id)
                    if r.get("status") in TERMINAL:
                        done[run_id] = r
            return len(done) == len(ids)

        wait_until(check, timeout_s, f"{len(ids) - len(done)} of {len(ids)} runs without an end", every_s=1)
        return done

    def stdout_events(self, run_id: str) -> str:
        """All stdout the run ever streamed (every attempt's), from its event log."""
        r = self.call("GET", f"/v1/runs/{run_id}/events")
        chunks = []
        for line in r.text.splitlines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("type") == "stdout" and event.get("stage") == "run":
                    chunks.append(event["data"])
        return "".join(chunks)


def marked_program(sleep_s: float) -> str:
    """Prints a start mark, sleeps, prints done: a rerun shows as a second start in its events."""
    return f"import time\nprint('start', flush=True)\ntime.sleep({sleep_s})\nprint('done')\n"


def submit_many(api: Api, count: int, sleep_s: float) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda i: api.submit(marked_program(sleep_s) + f"# {i} {uuid.uuid4()}\n"),
                             range(count)))


def assert_ran_once(api: Api, results: dict[str, dict]) -> None:
    """No run's program ran twice, and no answer was a 5xx other than the documented 503."""
    for run_id in results:
        assert api.stdout_events(run_id).count("start") <= 1, f"run {run_id} ran twice"
    assert not [s for s in api.answers if s >= 500 and s != 503], api.answers


def record(name: str, **figures) -> None:
    """Measured bounds of a test, for docs/cluster.md (CLUSTER_DIR/measurements.json)."""
    path = CLUSTER_DIR / "measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    print(name, data[name])


def node_id(worker: str) -> str:
    return workers()[worker]["ID"]


def make_eligible(worker: str) -> None:
    """Cancel a drain (one a failed test left) and let the scheduler place work on it again."""
    wid = node_id(worker)
    for path, body in ((f"/v1/node/{wid}/drain", {"NodeID": wid, "DrainSpec": None}),
                       (f"/v1/node/{wid}/eligibility", {"NodeID": wid, "Eligibility": "eligible"})):
        r = httpx.post(f"{NOMAD}{path}", json=body, headers=nomad_headers(), timeout=10)
        assert r.status_code == 200, r.text


def in_flight(worker: str) -> int:
    return (agent_health(worker) or {}).get("in_flight", 0)


def sandboxes_of(worker_id: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.hashicorp.nomad.node_id={worker_id}"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.split()


PROMETHEUS = "http://127.0.0.1:19090"


def firing() -> set[str]:
    """Names of the alerts the cluster's Prometheus (scripts/cluster/ops.sh) has firing."""
    alerts = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def wait_for_alert(name: str, timeout_s: float = 180) -> float:
    """Seconds until alert `name` fires (its rule's `for` included)."""
    began = time.monotonic()
    wait_until(lambda: name in firing(), timeout_s, f"alert {name} firing", every_s=2)
    return time.monotonic() - began
