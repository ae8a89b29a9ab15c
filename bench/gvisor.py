"""What the gVisor release and platform cost: Debian's runsc (release 20221219, ptrace), the
fallback, against runsc-go, the default sandbox runtime (a current runsc built from the Go module
proxy by scripts/ensure-runsc-go.sh, registered by scripts/start-docker.sh with the platform its
probe picked: systrap, else ptrace). Both are registered by `make up`.

Everything is measured in one run, interleaved (one sample of every runtime per round, the
order turned each round), with the sandbox's hardening (dockerio.host_config / the cold CLI):
  cold      `docker run --rm` of a python hello (CLI)
  exec      `docker exec` of the python hello into a running container (the floor latency uses)
  launcher  Throwbox's own path: attach to a fresh launcher container, header, until its exit frame
  create    containers created + started per second by W workers (each removes its own again)
  inside    inside one running container, no Docker in the path: a python3 start (spawned by
            python, mean of 10) and one getppid() system call (mean of 200,000): the platform's
            own cost
  seccomp   does the OCI seccomp filter reach a process started by `docker exec`?
Needs only dockerd: no Kafka, Nomad or control plane.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path

from dockerio import Docker
from infra import loadavg, log
from latency import _timed, docker_run_cli, launcher_sample
from workloads import FLOOR_ENV, HELLO, floor_command, percentiles

from throwbox_agent.config import DEFAULT_SECCOMP
from throwbox_common.runtimes import Registry, Runtime

BASELINE = "runsc"                                    # Debian's runsc, the fallback
CANDIDATES = ("runsc-go",)                            # the default (scripts/start-docker.sh)
SAMPLE_ATTEMPTS = 3


def _runtimes() -> dict[str, dict]:
    out = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return json.loads(out)


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except OSError as e:
        return f"unknown ({e})"
    return out.splitlines()[0] if out else "unknown"


def _rounds(names: list[str], n: int):
    """n rounds; every round has each name once, the order turned by one each round."""
    for i in range(n):
        k = i % len(names)
        yield names[k:] + names[:k]


def _ratio(a: dict, b: dict, key: str = "p50") -> float | None:
    if not a.get(key) or not b.get(key):
        return None
    return round(a[key] / b[key], 2)


async def _cold(image: str, names: list[str], n: int) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {k: [] for k in names}
    for order in _rounds(names, n):
        for oci in order:
            got[oci].append(await asyncio.to_thread(_timed, docker_run_cli(image, oci)))
    return got


async def _exec_floor(docker: Docker, py: Runtime, names: list[str], n: int) -> dict[str, list[float]]:
    content = base64.b64encode(HELLO["python"].encode()).decode()
    setup = f"mkdir -p /tmp/run && echo {content} | base64 -d > /tmp/run/{py.entrypoint}"
    boxes = {}
    got: dict[str, list[float]] = {k: [] for k in names}
    try:
        for oci in names:
            cid = await docker.run_detached(py.image, oci, entrypoint=["/bin/sleep"], cmd=["infinity"],
                                            open_stdin=False)
            boxes[oci] = cid
            await docker.exec(cid, ["sh", "-c", setup])
            for _ in range(2):                               # warm caches
                await docker.exec(cid, floor_command(py), "/tmp/run", FLOOR_ENV)
        for order in _rounds(names, n):
            for oci in order:
                secs, out = await docker.exec(boxes[oci], floor_command(py), "/tmp/run", FLOOR_ENV)
                if b"hello" not in out:
                    raise RuntimeError(f"exec floor under {oci}: unexpected output {out[:300]!r}")
                got[oci].append(secs * 1000)
    finally:
        await asyncio.gather(*(docker.remove(c) for c in boxes.values()), return_exceptions=True)
    return got


INSIDE_PROGRAM = """
import os, subprocess, sys, time
t = time.perf_counter()
for _ in range(10):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
spawn_ms = (time.perf_counter() - t) / 10 * 1000
t = time.perf_counter()
for _ in range(200_000):
    os.getppid()
print(spawn_ms, (time.perf_counter() - t) / 200_000 * 1e9)
"""


async def _inside(docker: Docker, py: Runtime, names: list[str], n: int) -> dict[str, dict]:
    boxes = {}
    spawn: dict[str, list[float]] = {k: [] for k in names}
    syscall: dict[str, list[float]] = {k: [] for k in names}
    try:
        for oci in names:
            boxes[oci] = await docker.run_detached(py.image, oci, entrypoint=["/bin/sleep"], cmd=["infinity"],
                                                   open_stdin=False)
        for order in _rounds(names, n):
            for oci in order:
                _, out = await docker.exec(boxes[oci], ["python3", "-c", INSIDE_PROGRAM], "/tmp", FLOOR_ENV)
                try:
                    a, b = (float(x) for x in out.split())
                except ValueError as e:
                    raise RuntimeError(f"inside under {oci}: unexpected output {out[:300]!r}") from e
                spawn[oci].append(a)
                syscall[oci].append(b)
    finally:
        await asyncio.gather(*(docker.remove(c) for c in boxes.values()), return_exceptions=True)
    return {k: {"python_start_ms": percentiles(spawn[k]), "getppid_ns": percentiles(syscall[k])} for k in names}


async def _launcher(docker: Docker, py: Runtime, names: list[str], n: int) -> tuple[dict, list]:
    header = json.dumps({
        "files": [{"name": py.entrypoint, "content_b64": base64.b64encode(HELLO["python"].encode()).decode()}],
        "compile": py.compile_command(py.entrypoint), "run": py.run_command(py.entrypoint, []),
        "env": {}, "cpu_time_s": 10, "nproc": 64, "nofile": 256, "fsize_bytes": 64 << 20}).encode()
    got: dict[str, list[float]] = {k: [] for k in names}
    retried: list[str] = []
    for order in _rounds(names, n):
        for oci in order:
            for attempt in range(1, SAMPLE_ATTEMPTS + 1):
                try:
                    got[oci].append(await launcher_sample(docker, py.image, header, oci=oci))
                    break
                except (RuntimeError, TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                    retried.append(f"{oci}: {e!r}"[:300])
                    if attempt == SAMPLE_ATTEMPTS:
                        raise
    return got, retried


async def _creation(docker: Docker, image: str, names: list[str], workers: int, window_s: float,
                    windows: int) -> dict[str, dict]:
    """Containers started per second by `workers` workers (create + start, then remove), one
    window per runtime in turn, `windows` rounds; the rate is the total over all its windows."""
    counts = {k: 0 for k in names}
    secs = {k: 0.0 for k in names}
    lat: dict[str, list[float]] = {k: [] for k in names}
    for order in _rounds(names, windows):
        for oci in order:
            stop_at = time.monotonic() + window_s

            async def worker(oci=oci, stop_at=stop_at):
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    cid = await docker.run_detached(image, oci)
                    lat[oci].append((time.perf_counter() - t0) * 1000)
                    counts[oci] += 1
                    await docker.remove(cid)
            t0 = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(workers)))
            secs[oci] += time.monotonic() - t0
    return {k: {"per_s": round(counts[k] / secs[k], 2), "started": counts[k],
                "create_start_ms": percentiles(lat[k])} for k in names}


def _seccomp_reaches_exec(image: str, oci: str) -> dict:
    """Our profile minus mkdir/mkdirat: is mkdir denied for a child of PID 1 and for `docker exec`?"""
    profile = json.loads(DEFAULT_SECCOMP.read_text())
    for rule in profile["syscalls"]:
        if rule.get("action") == "SCMP_ACT_ALLOW":
            rule["names"] = [s for s in rule["names"] if s not in ("mkdir", "mkdirat")]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(profile, f)
    try:
        script = "mkdir /tmp/a 2>/dev/null && echo child:allowed || echo child:denied; exec sleep 600"
        cli = ["docker", "run", "-d", f"--runtime={oci}", "--network=none", "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--security-opt", f"seccomp={f.name}",
               "--user", "65534:65534", "--tmpfs", "/tmp:size=16m,uid=65534,gid=65534,mode=0700",
               "--entrypoint", "sh", image, "-c", script]
        cid = subprocess.run(cli, capture_output=True, text=True, timeout=120, check=True).stdout.strip()
        try:
            child = ""
            for _ in range(120):
                child = subprocess.run(["docker", "logs", cid], capture_output=True, text=True, timeout=30).stdout
                if "child:" in child:
                    break
                time.sleep(0.5)
            ex = subprocess.run(["docker", "exec", cid, "mkdir", "/tmp/b"], capture_output=True, text=True, timeout=60)
            return {"child_of_pid1_mkdir": "denied" if "child:denied" in child else "allowed",
                    "docker_exec_mkdir": "allowed" if ex.returncode == 0 else "denied"}
        finally:
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
    finally:
        Path(f.name).unlink(missing_ok=True)


async def measure(registry: Registry, quick: bool) -> dict:
    have = _runtimes()
    names = [BASELINE] + [c for c in CANDIDATES if c in have]
    if len(names) == 1:
        raise RuntimeError(f"none of {CANDIDATES} is registered with dockerd: "
                           "scripts/start-docker.sh registers runsc-go (THROWBOX_SANDBOX_RUNTIME=runsc-go)")
    py = registry.resolve("python")
    plan = ({"cold": 5, "exec": 20, "launcher": 4, "inside": 2, "workers": 4, "window_s": 6, "windows": 1}
            if quick else
            {"cold": 15, "exec": 60, "launcher": 12, "inside": 6, "workers": 4, "window_s": 15, "windows": 2})
    out: dict = {"baseline": BASELINE, "plan": plan,
                 "runtimes": {k: {"path": have[k]["path"], "args": have[k].get("runtimeArgs", []),
                                  "version": _version(have[k]["path"])} for k in names}}
    docker = Docker()
    try:
        log(f"  gvisor: {', '.join(names)} (load {loadavg()})")
        parts = {}
        for part in ("seccomp", "inside", "cold", "exec", "launcher", "create"):
            load0 = loadavg()
            t0 = time.monotonic()
            match part:
                case "seccomp":
                    data = {k: await asyncio.to_thread(_seccomp_reaches_exec, py.image, k) for k in names}
                case "inside":
                    data = await _inside(docker, py, names, plan["inside"])
                case "cold":
                    data = {k: percentiles(v) for k, v in (await _cold(py.image, names, plan["cold"])).items()}
                case "exec":
                    data = {k: percentiles(v) for k, v in (await _exec_floor(docker, py, names, plan["exec"])).items()}
                case "launcher":
                    got, retried = await _launcher(docker, py, names, plan["launcher"])
                    data = {k: percentiles(v) for k, v in got.items()}
                    if retried:
                        data["retried"] = retried
                case "create":
                    data = await _creation(docker, py.image, names, plan["workers"], plan["window_s"], plan["windows"])
            parts[part] = {"loadavg_before": load0, "loadavg_after": loadavg(),
                           "duration_s": round(time.monotonic() - t0, 1), "by_runtime": data}
            log(f"  gvisor {part}: {json.dumps(data)[:400]}")
        out["parts"] = parts
    finally:
        await docker.close()
    ratios = {}
    for k in names[1:]:
        p = out["parts"]
        ratios[k] = {
            "cold_p50": _ratio(p["cold"]["by_runtime"][k], p["cold"]["by_runtime"][BASELINE]),
            "exec_p50": _ratio(p["exec"]["by_runtime"][k], p["exec"]["by_runtime"][BASELINE]),
            "exec_p95": _ratio(p["exec"]["by_runtime"][k], p["exec"]["by_runtime"][BASELINE], "p95"),
            "launcher_p50": _ratio(p["launcher"]["by_runtime"][k], p["launcher"]["by_runtime"][BASELINE]),
            "create_per_s": _ratio(p["create"]["by_runtime"][k], p["create"]["by_runtime"][BASELINE], "per_s"),
            "python_start_p50": _ratio(p["inside"]["by_runtime"][k]["python_start_ms"],
                                       p["inside"]["by_runtime"][BASELINE]["python_start_ms"]),
            "getppid_p50": _ratio(p["inside"]["by_runtime"][k]["getppid_ns"],
                                  p["inside"]["by_runtime"][BASELINE]["getppid_ns"]),
        }
    out["ratio_to_baseline"] = ratios
    return out


def _pct(p: dict | None) -> str:
    if not p or not p.get("n"):
        return "–"
    return f"{p['p50']:.0f} / {p['p95']:.0f} / {p['p99']:.0f}"


def markdown(g: dict) -> list[str]:
    """The measured table for docs/benchmarks.md (report.py puts it in)."""
    rt, p, r = g["runtimes"], g["parts"], g["ratio_to_baseline"]
    names = list(rt)
    L = ["", "## gVisor release and platform (measured)", "",
         f"Run {g['run_id']}{' (quick)' if g.get('quick') else ''}, started {g['started_at']}, all samples "
         "interleaved (one per runtime per round, order turned each round), same hardening as a sandbox. "
         "Runtimes: " + "; ".join(f"`{k}` = {v['version']} `{' '.join(v['args'])}`" for k, v in rt.items()) + ".",
         "", "| measurement (python hello) | " + " | ".join(f"`{k}`" for k in names) + " | load avg before → after |",
         "|---|" + "---|" * len(names) + "---|"]

    def row(label: str, part: str, cell) -> str:
        d = p[part]
        return (f"| {label} | " + " | ".join(cell(k, d["by_runtime"][k]) for k in names) +
                f" | {d['loadavg_before'][0]:.1f} → {d['loadavg_after'][0]:.1f} |")

    def with_ratio(part: str, key: str = "p50", field: str | None = None, ratio: str | None = None):
        def cell(k, v):
            v = v[field] if field else v
            text = _pct(v) if key != "per_s" else f"{v['per_s']}/s"
            if k == g["baseline"]:
                return text
            return f"{text} (×{r[k][ratio or f'{part}_{key}']})"
        return cell
    L += [row("inside a running container: python3 start (spawned by python), ms", "inside",
              with_ratio("inside", field="python_start_ms", ratio="python_start_p50")),
          row("inside a running container: one getppid() system call, ns", "inside",
              with_ratio("inside", field="getppid_ns", ratio="getppid_p50")),
row("`docker run --rm`, cold, ms p50 / p95 / p99", "cold", with_ratio("cold")),
          row("`docker exec` into a running container (the floor), ms", "exec", with_ratio("exec")),
          row("Throwbox launcher path, fresh sandbox (attach → exit frame), ms", "launcher", with_ratio("launcher")),
          row(f"containers created + started per second, {g['plan']['workers']} workers", "create",
              with_ratio("create", "per_s")),
          row("OCI seccomp filter (mkdir denied) reaches: child of PID 1 / `docker exec`", "seccomp",
              lambda k, v: f"{v['child_of_pid1_mkdir']} / {v['docker_exec_mkdir']}")]
    L += ["", f"(×N) = ratio to `{g['baseline']}` in the same run (p50; for the creation rate, runs per second: "
          "above 1 is faster there, below 1 is faster for the latencies). n per cell in "
          "`docs/benchmarks/results.json` (section `gvisor`)."]
    return L
