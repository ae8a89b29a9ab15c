"""Latency: warm runs end to end against their floors, streaming, cold starts.

Every sample of a warm run is taken with the runtime's pool full (idle == size): the sandbox
is warm and no replacement is being created at that moment. Floors are measured in the same
section, interleaved with the end-to-end samples, in containers made like a sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
import subprocess
import time
import uuid

import aiohttp
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from dockerio import SANDBOX_OCI, ContainerDied, Docker, demux, pids_limit
from infra import KAFKA_BOOTSTRAP, NOMAD, Agent, http, log, sandbox_allocs
from workloads import FLOOR_ENV, HELLO, STREAM_PROGRAM, Api, floor_command, hello_request, percentiles

from throwbox_agent import sandbox_job
from throwbox_agent.config import DEFAULT_SECCOMP
from throwbox_common import kafka_client, topics
from throwbox_common.messages import Output, run_event_decoder
from throwbox_common.runtimes import Registry, Runtime

# --quick: one interpreted and one compiled runtime (THROWBOX_BENCH_QUICK_LANGUAGES=python,go,... to choose)
QUICK_LANGUAGES = tuple(os.environ.get("THROWBOX_BENCH_QUICK_LANGUAGES", "python,c").split(","))
FLOOR_ATTEMPTS = 4      # a floor burst (or launcher sample) whose container died is retried this often


async def _pool_full(agent: Agent, key: str, timeout_s: float = 120) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not await asyncio.to_thread(agent.full, key):
        if loop.time() > end:
            raise RuntimeError(f"pool {key} of {agent.name} not refilled after {timeout_s:.0f}s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)   # let the new sandbox's boot settle (its last CPU is not ours)


async def _bursts(burst, n: int, budget_s: float, before=None) -> list:
    """burst() (a list of samples taken together) until there are n samples or `budget_s` is spent."""
    out: list = []
    t0 = time.monotonic()
    while len(out) < n and (not out or time.monotonic() - t0 < budget_s):
        if before is not None:
            await before()
        out += await burst()
    return out


# ---------------------------------------------------------------- floors

class FloorBoxes:
    """Long-running containers of one runtime image with the hello files in /tmp/run.

    A container that dies during a burst (runsc under concurrent compiles: the sandbox exits and
    Docker keeps the exec open) is replaced and the whole burst taken again, so every sample of
    a burst ran next to the others; each such event is kept in `replaced` for the report."""

    def __init__(self, docker: Docker, runtime: Runtime, oci: str, count: int, label: str = ""):
        self.docker, self.runtime, self.oci, self.count = docker, runtime, oci, count
        self.label = label or f"{oci} x{count}"
        self.ids: list[str] = []
        self.replaced: list[dict] = []

    async def __aenter__(self) -> FloorBoxes:
        self.ids = list(await asyncio.gather(*(self._new_box() for _ in range(self.count))))
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.gather(*(self.docker.remove(c) for c in self.ids), return_exceptions=True)

    async def _new_box(self) -> str:
        content = base64.b64encode(HELLO[self.runtime.language].encode()).decode()
        setup = f"mkdir -p /tmp/run && echo {content} | base64 -d > /tmp/run/{self.runtime.entrypoint}"
        for attempt in range(1, FLOOR_ATTEMPTS + 1):
            # 1 GiB, not the sandbox's 256 MB: a long-lived floor sandbox keeps the files of every
            # earlier exec cached (javac runs out of 256 MB by the third exec); speed is unaffected.
            cid = await self.docker.run_detached(self.runtime.image, self.oci, entrypoint=["/bin/sleep"],
                                                 cmd=["infinity"], open_stdin=False, memory_mb=1024, tmpfs_mb=512)
            try:
                await self.docker.exec(cid, ["sh", "-c", setup])
                await self._exec_hello(cid, FLOOR_ENV)   # warm caches
                return cid
            except ContainerDied as e:
                self._lost(e, "while warming up")
                await self.docker.remove(cid)
                if attempt == FLOOR_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _lost(self, e: Exception, when: str) -> None:
        log(f"  floor {self.runtime.key} ({self.label}): {e} ({when}); replacing the container")
        self.replaced.append({"floor": self.label, "when": when, "error": str(e)[:300]})

    async def _exec_hello(self, cid: str, env: list[str]) -> float:
        secs, out = await self.docker.exec(cid, floor_command(self.runtime), "/tmp/run", env)
        if b"hello" not in out:
            for _ in range(20):    # the stream ended early because the sandbox died (or is dying)?
                up, status = await self.docker.running(cid)
                if not up:
                    raise ContainerDied(f"container {cid[:12]} stopped during an exec: {status}")
                await asyncio.sleep(0.1)
            raise RuntimeError(f"floor {self.runtime.key}: unexpected output {out[:300]!r}")
        return secs * 1000

    async def _sample(self, i: int) -> float:
        # A fresh HOME per sample, as each sandbox has: no build cache (go) carried between runs.
        # (the go image pins GOCACHE under /tmp/run, which is fresh in every sandbox: so here too)
        fresh = f"/tmp/run/h{uuid.uuid4().hex[:8]}"
        env = [e for e in FLOOR_ENV if not e.startswith("HOME=")] + [
            f"HOME={fresh}", f"XDG_CACHE_HOME={fresh}/.cache", f"GOCACHE={fresh}/.cache/go-build"]
        return await self._exec_hello(self.ids[i], env)

    async def burst(self) -> list[float]:
        """One sample in each container at once; retried whole after a container died."""
        for attempt in range(1, FLOOR_ATTEMPTS + 1):
            got = await asyncio.gather(*(self._sample(i) for i in range(self.count)), return_exceptions=True)
            died = [i for i, g in enumerate(got) if isinstance(g, ContainerDied)]
            other = [g for g in got if isinstance(g, BaseException) and not isinstance(g, ContainerDied)]
            if other:
                raise other[0]
            if not died:
                return got
            for i in died:
                self._lost(got[i], f"burst attempt {attempt}")
                await self.docker.remove(self.ids[i])
                self.ids[i] = await self._new_box()
            if attempt == FLOOR_ATTEMPTS:
                raise got[died[0]]
        raise AssertionError("unreachable")


def _frame(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">cI", kind, len(payload)) + payload


async def launcher_floor(docker: Docker, runtime: Runtime, n: int, budget_s: float,
                         seccomp: bool = True, replaced: list | None = None) -> list[float]:
    """Throwbox's own in-sandbox path without the platform around it: a launcher container
    started beforehand (as a warm sandbox is), then attach + header + stdin end, until X.
    A sample whose container died (or never answered) is taken again in a new container and
    the event appended to `replaced`."""
    header = json.dumps({
        "files": [{"name": runtime.entrypoint, "content_b64": base64.b64encode(HELLO[runtime.language].encode()).decode()}],
        "compile": runtime.compile_command(runtime.entrypoint), "run": runtime.run_command(runtime.entrypoint, []),
        "env": {}, "cpu_time_s": 10, "nproc": 64, "nofile": 256, "fsize_bytes": 64 << 20}).encode()
    out: list[float] = []
    t_start = time.monotonic()
    failures = 0
    while len(out) < n and (not out or time.monotonic() - t_start < budget_s):
        try:
            out.append(await launcher_sample(docker, runtime.image, header, seccomp=seccomp))
        except (ContainerDied, TimeoutError, OSError, asyncio.IncompleteReadError) as e:
            failures += 1
            log(f"  launcher floor {runtime.key}: {e!r}; taking the sample again in a new container")
            if replaced is not None:
                replaced.append({"floor": "launcher" + ("" if seccomp else " unconfined"), "error": repr(e)[:300]})
            if failures >= FLOOR_ATTEMPTS:
                raise
    return out


async def launcher_sample(docker: Docker, image: str, header: bytes, *, oci: str = SANDBOX_OCI,
                          seccomp: bool = True) -> float:
    """ms from attaching to a fresh, idle launcher container to its exit (or launch-error) frame."""
    cid = await docker.run_detached(image, oci, seccomp=seccomp)
    await asyncio.sleep(1.0)     # booted and blocked on stdin, like an idle sandbox
    try:
        t0 = time.perf_counter()
        reader, writer = await docker.attach(cid)
        try:
            writer.write(_frame(b"H", header) + _frame(b"Z"))
            await writer.drain()
            raw = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 60)
                if not chunk:
                    break
                raw += chunk
                kinds = _kinds(demux(raw))
                if b"X" in kinds or b"L" in kinds:
                    return (time.perf_counter() - t0) * 1000
            _, status = await docker.running(cid)
            raise ContainerDied(f"launcher container {cid[:12]} ended without an exit frame ({status})")
        finally:
            writer.close()
    finally:
        await docker.remove(cid)


def _kinds(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos + 5 <= len(data):
        kind, length = struct.unpack(">cI", data[pos:pos + 5])
        if pos + 5 + length > len(data):
            break
        kinds.append(kind)
        pos += 5 + length
    return kinds


# ---------------------------------------------------------------- warm end to end

def _timings_summary(bodies: list[dict]) -> dict:
    out = {}
    for f in ("queued_ms", "sandbox_ms", "run_ms", "total_ms"):
        out[f] = percentiles([float(b["timings"][f]) for b in bodies])
    out["cpu_ms"] = percentiles([float(b["usage"]["cpu_ms"]) for b in bodies])
    return out


async def warm_runtime(api: Api, agent: Agent, docker: Docker, runtime: Runtime, plan: dict,
                       replaced: list) -> dict:
    """`replaced`: floor containers that died and were replaced (appended to, kept on failure)."""
    body = hello_request(runtime)
    res: dict = {"runtime": runtime.key, "errors": [], "floor_replaced": replaced}

    async def e2e(_i: int):
        r = await api.run(body)
        ok = r.status == 200 and r.body.get("status") == "completed" and r.body.get("stdout") == "hello\n"
        if not ok:
            res["errors"].append({"status": r.status, "body": {k: r.body.get(k) for k in (
                "status", "outcome", "error", "stderr", "compile")} if isinstance(r.body, dict) else r.body})
        return r

    for conc in (1, 4):
        n, budget = plan["n"][conc], plan["budget_s"][conc]
        boxes = FloorBoxes(docker, runtime, SANDBOX_OCI, conc, label=f"exec runsc, {conc} client(s)")
        try:
            async with boxes:
                floor = await _bursts(boxes.burst, n, budget)
        finally:
            res["floor_replaced"] += boxes.replaced
        replies = await _bursts(lambda c=conc: asyncio.gather(*(e2e(i) for i in range(c))), n, budget,
                                before=lambda: _pool_full(agent, runtime.key))
        good = [r for r in replies if r.status == 200 and r.body.get("status") == "completed"]
        res[f"c{conc}"] = {
            "floor_exec_runsc_ms": percentiles(floor),
            "e2e_ms": percentiles([r.e2e_ms for r in good]),
            "timings": _timings_summary([r.body for r in good]) if good else {},
            # The client's view minus the agent's total: HTTP, admission, Kafka to the agent
            # before created_at and from Finished back to the waiting request.
            "outside_total_ms": percentiles([r.e2e_ms - r.body["timings"]["total_ms"] for r in good]),
            "failed": len(replies) - len(good),
        }
        log(f"  {runtime.key} c={conc}: e2e {res[f'c{conc}']['e2e_ms']}  floor {res[f'c{conc}']['floor_exec_runsc_ms']}")
    res["c1"]["floor_launcher_runsc_ms"] = percentiles(
        await launcher_floor(docker, runtime, plan["launcher_n"], plan["budget_s"][1], replaced=res["floor_replaced"]))
    if runtime.language == "python":
        boxes = FloorBoxes(docker, runtime, "runc", 1, label="exec runc, 1 client")
        try:
            async with boxes:
                res["c1"]["floor_exec_runc_ms"] = percentiles(await _bursts(boxes.burst, plan["n"][1], plan["budget_s"][1]))
        finally:
            res["floor_replaced"] += boxes.replaced
        res["c1"]["floor_launcher_runsc_unconfined_ms"] = percentiles(await launcher_floor(
            docker, runtime, plan["launcher_n"], plan["budget_s"][1], seccomp=False, replaced=res["floor_replaced"]))
        log(f"  floors python: runc exec {res['c1']['floor_exec_runc_ms']}, launcher {res['c1']['floor_launcher_runsc_ms']}, "
            f"launcher without seccomp {res['c1']['floor_launcher_runsc_unconfined_ms']}")
    res["errors"] = res["errors"][:5]
    return res


async def warm(api: Api, agent: Agent, registry: Registry, quick: bool) -> dict:
    docker = Docker()
    out = {"runtimes": {}}
    try:
        chosen = [r for r in registry.runtimes if r.language in QUICK_LANGUAGES] if quick else registry.runtimes
        for runtime in chosen:
            py = runtime.language == "python"
            if quick:
                plan = {"n": {1: 6 if py else 2, 4: 8 if py else 4}, "budget_s": {1: 20, 4: 20},
                        "launcher_n": 3 if py else 2}
            else:
                plan = {"n": {1: 50 if py else 6, 4: 48 if py else 4}, "budget_s": {1: 80 if py else 15, 4: 60 if py else 15},
                        "launcher_n": 12 if py else 2}
            log(f"warm: {runtime.key}")
            replaced: list = []
            try:
                out["runtimes"][runtime.key] = await warm_runtime(api, agent, docker, runtime, plan, replaced)
            except Exception as e:   # one runtime's failure must not cost the others' figures
                log(f"  {runtime.key} FAILED: {e!r}")
                out["runtimes"][runtime.key] = {"runtime": runtime.key, "error": repr(e)[:1000],
                                                "floor_replaced": replaced}
                await docker.remove_all()
        out["floor_containers_replaced"] = {k: len(r.get("floor_replaced", [])) for k, r in out["runtimes"].items()
                                            if r.get("floor_replaced")}
    finally:
        await docker.close()
    return out


# ---------------------------------------------------------------- streaming

async def clock_skew(docker: Docker, runtime: Runtime, n: int = 5) -> dict:
    """Is the sandbox's clock the host's? Host time before/after an exec that prints time_ns."""
    async with FloorBoxes(docker, runtime, SANDBOX_OCI, 1) as boxes:
        lo, hi = [], []
        for _ in range(n):
            before = time.time_ns()
            _, out = await docker.exec(boxes.ids[0], ["python3", "-c", "import time; print(time.time_ns())"])
            after = time.time_ns()
            inside = int(out.decode().split()[-1])
            lo.append((inside - before) / 1e6)
            hi.append((after - inside) / 1e6)
    # Both must be >= 0 if the clocks agree (inside lies between before and after).
    return {"inside_minus_before_ms_min": round(min(lo), 2), "after_minus_inside_ms_min": round(min(hi), 2)}


async def stream_floor(docker: Docker, runtime: Runtime, program: str) -> list[float]:
    """The same program through a pre-started launcher container, read straight off the Docker
    attach stream: what streaming costs before the agent, Kafka and the control plane."""
    header = json.dumps({
        "files": [{"name": "main.py", "content_b64": base64.b64encode(program.encode()).decode()}],
        "compile": None, "run": runtime.run_command("main.py", []), "env": {}, "cpu_time_s": 10,
        "nproc": 64, "nofile": 256, "fsize_bytes": 64 << 20}).encode()
    cid = await docker.run_detached(runtime.image, SANDBOX_OCI)
    lat: list[float] = []
    try:
        await asyncio.sleep(1.0)
        reader, writer = await docker.attach(cid)
        writer.write(_frame(b"H", header) + _frame(b"Z"))
        await writer.drain()
        connected = time.time_ns()
        raw = b""
        frames_done = 0
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 60)
            if not chunk:
                break
            arrived = time.time_ns()
            raw += chunk
            payloads = _frames(demux(raw))
            for kind, payload in payloads[frames_done:]:
                if kind == b"o":
                    lat += [(arrived - int(t)) / 1e6 for t in payload.split() if int(t) > connected]
            frames_done = len(payloads)
            if any(k in (b"X", b"L") for k, _ in payloads):
                break
        writer.close()
    finally:
        await docker.remove(cid)
    return lat


def _frames(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 0
    while pos + 5 <= len(data):
        kind, length = struct.unpack(">cI", data[pos:pos + 5])
        if pos + 5 + length > len(data):
            break
        out.append((kind, data[pos + 5:pos + 5 + length]))
        pos += 5 + length
    return out


class KafkaTap:
    """Reads throwbox.events like a control plane does (every partition, fetch_max_wait 5 ms) and
    times each Output line on arrival: the agent + Kafka part of the streaming path."""

    def __init__(self) -> None:
        self.since: dict[str, int] = {}      # run id -> only lines written after this (ns)
        self.lat: list[float] = []
        self._consumer = AIOKafkaConsumer(**kafka_client.options(KAFKA_BOOTSTRAP), enable_auto_commit=False,
                                          fetch_max_wait_ms=5)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._consumer.start()
        parts = [TopicPartition(topics.EVENTS, p) for p in sorted(self._consumer.partitions_for_topic(topics.EVENTS) or [])]
        if not parts:
            await self._consumer._client.force_metadata_update()   # noqa: SLF001
            parts = [TopicPartition(topics.EVENTS, p) for p in sorted(self._consumer.partitions_for_topic(topics.EVENTS) or [])]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            arrived = time.time_ns()
            for records in batch.values():
                for rec in records:
                    ev = run_event_decoder.decode(rec.value)
                    since = self.since.get(ev.run_id)
                    if isinstance(ev, Output) and since is not None:
                        self.lat += [(arrived - int(t)) / 1e6 for t in ev.data.split() if int(t) > since]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def streaming(api: Api, agent: Agent, registry: Registry, quick: bool) -> dict:
    py = registry.resolve("python")
    runs = 2 if quick else 6
    lines, interval = (100, 0.01) if quick else (200, 0.01)
    program = STREAM_PROGRAM.format(delay=0.8, lines=lines, interval=interval)
    lat: list[float] = []
    per_event: list[int] = []
    errors = []
    tap = KafkaTap()
    await tap.start()
    for _ in range(runs):
        await _pool_full(agent, py.key)
        r = await api.run({"language": "python", "files": [{"name": "main.py", "content": program}]}, wait=False)
        if r.status != 202:
            errors.append(r.body)
            continue
        async with api.s.ws_connect(api.ws_url(r.body["id"]), headers=api.headers) as ws:
            connected = time.time_ns()
            tap.since[r.body["id"]] = connected
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                arrived = time.time_ns()
                ev = json.loads(msg.data)
                if ev.get("type") == "stdout":
                    stamps = [int(x) for x in ev["data"].split()]
                    per_event.append(len(stamps))
                    lat += [(arrived - t) / 1e6 for t in stamps if t > connected]
                elif ev.get("type") == "result":
                    break
    await tap.stop()
    docker = Docker()
    floor: list[float] = []
    try:
        skew = await clock_skew(docker, py)
        for _ in range(max(1, runs // 2)):
            floor += await stream_floor(docker, py, program)
    finally:
        await docker.close()
    return {"runs": runs, "lines_per_run": lines, "interval_ms": interval * 1000,
            "arrival_minus_write_ms": percentiles(lat), "floor_docker_attach_ms": percentiles(floor),
            "at_kafka_consumer_ms": percentiles(tap.lat),
            "lines_per_event": percentiles([float(x) for x in per_event]),
            "clock_check": skew, "errors": errors[:3], "samples": [round(x, 2) for x in lat]}


# ---------------------------------------------------------------- cold

def docker_run_cli(image: str, oci: str) -> list[str]:
    return ["docker", "run", "--rm", f"--runtime={oci}", "--network=none", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--security-opt", f"seccomp={DEFAULT_SECCOMP}",
            "--pids-limit", str(pids_limit(oci)), "--ulimit", "nproc=64:64", "--ulimit", "nofile=256:256",
            "--memory", "256m", "--memory-swap", "256m", "--user", "65534:65534", "--log-driver", "none",
            "--tmpfs", "/tmp:exec,size=64m,uid=65534,gid=65534,mode=0700",
            "--entrypoint", "python3", image, "-c", "print('hello')"]


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or out.stdout != "hello\n":
        raise RuntimeError(f"{cmd[:3]}: {out.returncode} {out.stdout!r} {out.stderr[-300:]!r}")
    return (time.perf_counter() - t0) * 1000


async def cold(api: Api, agent: Agent, registry: Registry, quick: bool) -> dict:
    """Back to back through a pool of one: each run arrives while its sandbox is still being
    created (the previous run's sandbox was just destroyed), i.e. the pool is empty."""
    py = registry.resolve("python")
    n = 4 if quick else 15
    body = hello_request(py)
    replies = []
    await _pool_full(agent, py.key)
    await api.run(body)                      # the one warm sandbox is used here
    for _ in range(n):
        replies.append(await api.run(body))
    cold_ones = [r for r in replies if r.status == 200 and r.body.get("status") == "completed"
                 and r.body["timings"]["sandbox_ms"] >= 100]
    runsc = [await asyncio.to_thread(_timed, docker_run_cli(py.image, SANDBOX_OCI)) for _ in range(n)]
    runc = [await asyncio.to_thread(_timed, docker_run_cli(py.image, "runc")) for _ in range(max(3, n // 2))]
    t0 = time.perf_counter()
    await asyncio.to_thread(subprocess.run, ["docker", "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, timeout=30)
    cli_ms = (time.perf_counter() - t0) * 1000
    placement = await asyncio.to_thread(nomad_placement, sandbox_job.job_id(agent.name, py))
    return {"n": n, "cold_runs": len(cold_ones), "nomad_placement_ms": placement,
            "throwbox_cold_e2e_ms": percentiles([r.e2e_ms for r in cold_ones]),
            "throwbox_cold_timings": _timings_summary([r.body for r in cold_ones]) if cold_ones else {},
            "docker_run_rm_runsc_ms": percentiles(runsc), "docker_run_rm_runc_ms": percentiles(runc),
            "docker_cli_roundtrip_ms": round(cli_ms, 1)}


def nomad_placement(pool_job: str) -> dict:
    """Where a new sandbox's time goes inside Nomad, from its own timestamps: the dispatch's
    evaluation -> alloc created (scheduler), -> received by the client, -> task started (docker
    create + start under runsc, alloc dir and task setup)."""
    allocs = sandbox_allocs(pool_job)
    if not allocs:
        return {}
    phases: dict[str, list[float]] = {"eval_to_alloc": [], "alloc_to_client": [], "client_to_started": [],
                                      "eval_to_started": []}
    for a in sorted(allocs, key=lambda a: a["CreateTime"])[1:]:     # the first one is the initial placement
        events = {e["Type"]: e["Time"] for e in (a.get("TaskStates") or {}).get("sandbox", {}).get("Events", [])}
        st, ev = http("GET", f"{NOMAD}/v1/evaluation/{a['EvalID']}")
        if st == 200 and ev.get("CreateTime"):
            phases["eval_to_alloc"].append((a["CreateTime"] - ev["CreateTime"]) / 1e6)
            if "Started" in events:
                phases["eval_to_started"].append((events["Started"] - ev["CreateTime"]) / 1e6)
        if "Received" in events:
            phases["alloc_to_client"].append((events["Received"] - a["CreateTime"]) / 1e6)
        if "Received" in events and "Started" in events:
            phases["client_to_started"].append((events["Started"] - events["Received"]) / 1e6)
    return {k: percentiles(v) for k, v in phases.items()}
