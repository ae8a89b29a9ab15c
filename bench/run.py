"""`make bench` (ARGS="--quick", "--only latency,cold"): Throwbox's benchmarks on the real stack.

Sections (each measures its own floor/reference in the same run):
  latency     warm hello of every runtime end to end (1 and 4 clients) vs docker-exec floors
  streaming   WebSocket arrival minus write time of timestamps the program prints
  cold        a run that finds its pool empty vs a cold `docker run --rm` under the sandbox runtime
  throughput  sustained runs/s vs the raw sandbox creation rate; host CPU per run
(floors and raw rates use the sandbox runtime, THROWBOX_SANDBOX_RUNTIME: runsc-go by default;
keys and labels say "runsc" for gVisor)
  admission   requests/s of one control plane on one core, p99, then past its queue cap
  overload    six tenants x 50 runs at once against the capacity-derived queue bound:
              accepted-then-failed (target 0), time to 503, per-tenant completion spread
  cost        host memory per warm sandbox at several pool sizes
  judging     one run with 100 test cases of a C program vs the same 100 inputs as 100 runs
  pools       demand-following warm pools vs fixed pools of the same total under a changing
              language mix: runs that waited for a cold sandbox, demand/fixed
  cluster     (only with --only; needs `make cluster`) runs/s with 2 workers, then 1, and the
              host CPU per run of servers, control planes, workers and the rest
  gvisor      Debian's runsc (the fallback) vs runsc-go (the default, a current gVisor) in one
              run: cold docker run, exec floor, launcher path, creation rate; only dockerd

The shared stack is only used (dockerd, Nomad, Consul); everything else is private: a Kafka
broker on 19092, control planes and an executor agent with their own names and ports.
Raw data goes to bench/results/<run id>/; docs/benchmarks/*.json|png and docs/benchmarks.md
are (re)written from the newest result of every section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import capacity  # noqa: E402
import cluster  # noqa: E402
import cost  # noqa: E402
import demand_pools  # noqa: E402
import dockerio  # noqa: E402
import gvisor  # noqa: E402
import infra  # noqa: E402
import judging  # noqa: E402
import latency  # noqa: E402
import overload  # noqa: E402
import report  # noqa: E402
from workloads import Api  # noqa: E402

from throwbox_common import runtimes as runtime_registry  # noqa: E402

SECTIONS = ["latency", "streaming", "cold", "throughput", "pools", "judging", "admission", "overload", "cost", "gvisor"]
OPT_IN = ["cluster"]          # sections only run when named with --only (cluster: needs make cluster)
DOCKER_ONLY = {"gvisor", "cluster"}  # sections that need no Kafka, control plane or agent
ALIASES = {"warm": "latency", "floor": "latency", "memory": "cost", "stream": "streaming"}
NEEDS_AGENT = {"latency": "python=4,*=4", "streaming": "python=2,*=0", "cold": "python=1,*=0",
               "judging": f"c={judging.POOL},*=0"}
THROUGHPUT_POOLS = (8, 16)   # warm python sandboxes; clients = 2 x pool


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ("-quick" if args.quick else "")
        self.results_dir = infra.REPO / "bench" / "results" / self.run_id
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.registry = runtime_registry.load()
        self.cp: infra.ControlPlane | None = None
        self.agent: infra.Agent | None = None
        self.tenant = f"bench-{uuid.uuid4().hex[:8]}"
        self.key: str | None = None
        self.api: Api | None = None

    # ---- private infrastructure, started lazily

    def ensure_cp(self) -> None:
        if self.cp is None:
            self.cp = infra.ControlPlane(self.results_dir).start()

    def ensure_agent(self, pools: str, env: dict[str, str] | None = None) -> infra.Agent:
        env = env or {}
        if self.agent is not None and self.agent.pool_sizes == pools and self.agent.extra_env == env:
            return self.agent
        if self.agent is not None:
            self.agent.stop()
        infra.log(f"starting a private agent with pools {pools}")
        self.agent = infra.Agent(self.results_dir, pools, env).start()
        return self.agent

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    async def section(self, name: str) -> dict:
        q = self.quick
        if name in NEEDS_AGENT or name in ("throughput", "pools"):
            self.ensure_cp()
            if self.api is None:
                self.api = Api(self.cp.url, self.key)
        match name:
            case "latency":
                pools = ",".join(f"{lang}=4" for lang in latency.QUICK_LANGUAGES) + ",*=0" if q else NEEDS_AGENT[name]
                return await latency.warm(self.api, self.ensure_agent(pools), self.registry, q)
            case "streaming":
                agent = self.agent if self.agent and "python=4" in self.agent.pool_sizes else self.ensure_agent(NEEDS_AGENT[name])
                return await latency.streaming(self.api, agent, self.registry, q)
            case "cold":
                return await latency.cold(self.api, self.ensure_agent(NEEDS_AGENT[name]), self.registry, q)
            case "pools":
                self.stop_agent()
                return await demand_pools.measure(self, q)
            case "judging":
                return await judging.tests_vs_runs(self.api, self.ensure_agent(NEEDS_AGENT[name]), q)
            case "throughput":
                raw = await capacity.raw_creation(self.registry.resolve("python").image, q)
                by_pool, refill = {}, {}
                for pool in THROUGHPUT_POOLS[:1] if q else THROUGHPUT_POOLS:
                    agent = self.ensure_agent(f"python={pool},*=0")
                    by_pool[str(pool)] = await capacity.throughput(self.api, agent, self.cp, self.registry, q,
                                                                   clients=2 * pool)
                    infra.log(f"  pool {pool}: {by_pool[str(pool)]['runs_per_s']} runs/s")
                    if pool == THROUGHPUT_POOLS[0]:
                        refill = await capacity.refill(agent, self.registry, q)
                        infra.log(f"  refill, pool {pool}, no runs: {refill['per_s']}/s")
                best = max(by_pool, key=lambda p: by_pool[p]["runs_per_s"])
                return {"raw_creation": raw, "sustained": by_pool[best], "sustained_by_pool": by_pool,
                        "refill": refill}
            case "admission":
                self.stop_agent()
                return await capacity.admission(self.results_dir, self.key, q)
            case "overload":
                self.stop_agent()
                return await overload.burst(self.results_dir, q)
            case "cost":
                self.stop_agent()
                return await cost.memory(self.registry, q)
            case "cluster":
                return await cluster.measure(q)
            case "gvisor":
                self.stop_agent()
                return await gvisor.measure(self.registry, q)
        raise ValueError(name)

    async def main(self, names: list[str]) -> dict:
        out = {}
        infra.log(f"bench run {self.run_id}: {', '.join(names)} (load {infra.loadavg()})")
        infra.log(f"containers' cgroup parent: cpu.shares {dockerio.weigh_containers()}")
        needs_kafka = any(n not in DOCKER_ONLY for n in names)
        if needs_kafka:
            infra.log("private Kafka broker (fresh) on " + infra.KAFKA_BOOTSTRAP)
            await asyncio.to_thread(infra.kafka_start, True)
            self.key = infra.create_key(self.tenant)
        try:
            for name in names:
                infra.log(f"== {name}")
                started = time.time()
                load_before = infra.loadavg()
                try:
                    data = await self.section(name)
                except Exception as e:   # one broken section must not cost the others
                    infra.log(f"== {name} FAILED: {e!r}")
                    data = {"error": repr(e)[:2000]}
                out[name] = {"run_id": self.run_id, "quick": self.quick,
                             "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                             "duration_s": round(time.time() - started, 1),
                             "loadavg_before": load_before, "loadavg_after": infra.loadavg(), **data}
                (self.results_dir / f"{name}.json").write_text(json.dumps(out[name], indent=1))
                infra.log(f"== {name} done in {out[name]['duration_s']} s")
        finally:
            if self.api is not None:
                await self.api.close()
            self.stop_agent()
            if self.cp is not None:
                self.cp.stop()
            if needs_kafka:
                infra.drop_tenant(self.key, self.tenant)
            if needs_kafka and not self.args.keep_kafka:
                await asyncio.to_thread(infra.kafka_stop)
        return out


def machine() -> dict:
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except OSError:
            return ""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu_model": cpu,
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "kernel": os.uname().release, "runsc": sh(["runsc", "--version"]).splitlines()[:2],
            "sandbox_runtime": dockerio.SANDBOX_OCI,
            "sandbox_runtime_version": runtime_version(sh, dockerio.SANDBOX_OCI),
            "docker": sh(["docker", "version", "--format", "{{.Server.Version}}"]),
            "containers_cpu_shares": sh(["cat", str(dockerio.CONTAINERS_CPU_SHARES)]),
            "commit": sh(["git", "-C", str(infra.REPO), "rev-parse", "--short", "HEAD"])}


def runtime_version(sh, name: str) -> str:
    """The first line of `--version` of the binary dockerd runs as OCI runtime `name`."""
    try:
        path = (json.loads(sh(["docker", "info", "--format", "{{json .Runtimes}}"]) or "{}").get(name) or {}).get("path")
    except ValueError:
        path = None
    return (sh([path or name, "--version"]).splitlines() or [""])[0]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples, shorter windows (< 5 min)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ", ".join(SECTIONS + OPT_IN))
    p.add_argument("--report-only", action="store_true", help="only rewrite docs/ from the stored results")
    p.add_argument("--keep-kafka", action="store_true", help="leave the private broker running afterwards")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = SECTIONS
    if args.only:
        names = [ALIASES.get(n.strip(), n.strip()) for n in args.only.split(",") if n.strip()]
        bad = [n for n in names if n not in SECTIONS + OPT_IN]
        if bad:
            print(f"unknown section(s): {bad}; known: {SECTIONS + OPT_IN}", file=sys.stderr)
            return 2
    if not args.report_only:
        bench = Bench(args)
        results = asyncio.run(bench.main(names))
        report.merge(results, machine())
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
