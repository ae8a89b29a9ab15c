"""The executor agent: Kafka in, sandboxes through the warm pool, events out. `Agent` keeps the
lifecycle (start, run, shutdown) and hands each part to its own module:

- runs: run_intake.py (consumer group on throwbox.runs, held back then taken into flight),
  in_flight.py (the runs in flight), commits.py (offsets committed by hand), settling.py (runs
  that need no sandbox here: invalid, unknown runtime, started by a lost agent);
- events: events_catchup.py (every partition from the beginning into the ledger, then followed);
- control: control_follower.py (every partition from the end, stdin/cancel to the run);
- Consul: consul_service.py (a service with an HTTP check on /healthz, deregistered on exit);
- node_drain.py (its Nomad node drained: hand the partitions over, then empty the node) and
  pool_demand.py (the pools' sizes follow the arrivals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from throwbox_common import acl_tokens
from throwbox_common.capacity_meta import RuntimeCapacity
from throwbox_common.event_log import EventLogReader
from throwbox_common.runtimes import Registry

from . import consul_service, events_catchup, images, sandbox_job, sandbox_runtime
from .commits import OffsetCommits
from .config import AgentConfig
from .consul_service import ConsulService
from .control_follower import ControlFollower
from .docker_api import DockerClient
from .factory import NomadDockerFactory
from .in_flight import InFlight
from .kafka_publisher import KafkaPublisher, new_producer
from .ledger import Ledger
from .metrics import AgentMetrics
from .node_drain import watch_node_drain
from .nomad_api import NomadClient
from .pool import RuntimePool, WarmPool
from .pool_demand import follow_demand
from .run import RunDeps
from .run_intake import RunIntake
from .settling import Settler

log = logging.getLogger(__name__)

CONTROL_READY_TIMEOUT_S = 60         # a commit that hangs (broker gone) must not stall the loop or a rebalance


class Agent:
    def __init__(self, config: AgentConfig, registry: Registry):
        self.config = config
        self.registry = registry
        self.metrics = AgentMetrics()
        self.ledger = Ledger()
        self.status = "starting"
        self.pool: WarmPool | None = None
        self.alloc_root: Path | None = None     # Nomad's data_dir/alloc, read at start
        self.node_name: str | None = None       # the Nomad node's name, read at start
        self.node_id: str | None = None
        self.oci_runtime: str | None = None     # the sandboxes' OCI runtime, chosen at start
        self.sandbox_runtime: sandbox_runtime.SandboxRuntime | None = None
        self.node_draining = False              # its Nomad node is drained: drain, then await SIGTERM
        self.signalled = asyncio.Event()        # SIGTERM/SIGINT
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._nomad = NomadClient(config.nomad_addr, config.nomad_namespace,
                                  acl_tokens.nomad_headers(config.nomad_token_file))
        self._docker = DockerClient(config.docker_socket)
        self._factory: NomadDockerFactory | None = None
        self._publisher = KafkaPublisher(lambda: new_producer(config))
        self._consul = ConsulService(config)
        self._events: EventLogReader | None = None   # the throwbox.events reader feeding the ledger
        self.flight = InFlight(self.metrics)
        self.commits = OffsetCommits()
        self.controls = ControlFollower(config, self.flight.active, self.ledger)
        self.settler = Settler(config.name, self.ledger, self.commits, self._publisher, self.metrics,
                               self._nomad, self._consul.agent_alive)
        self.intake = RunIntake(config, registry, ledger=self.ledger, flight=self.flight, commits=self.commits,
                                settler=self.settler, controls=self.controls, run_deps=self._run_deps,
                                spawn=self._spawn, stop=self._stop)

    # ------------------------------------------------------------------ life

    def request_stop(self) -> None:
        self.signalled.set()
        self._stop.set()

    def _drain_for_node(self) -> None:
        log.info("node %s is being drained: draining this agent", self.node_name)
        self.node_draining = True
        self._stop.set()

    async def run(self) -> None:
        try:
            await self._start()
            self.status = "ok"
            log.info("agent %s ready: pools %s", self.config.name, self.pool.snapshot())
            await self.intake.consume()
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        await self._nomad.start()
        await self._docker.start()
        self._consul.start()
        await self._find_node()
        self._factory = NomadDockerFactory(self.config, self.registry, self._nomad, self._docker,
                                           self.node_id, self.oci_runtime)
        self.pool = WarmPool(self._factory, self.metrics, self._pools())
        self.intake.use_pool(self.pool)
        await images.check_once(self._docker, self.pool)   # before any sandbox is created
        await self._publisher.start()
        await self.pool.start()
        self._events = events_catchup.events_reader(self.config, self.ledger)
        await events_catchup.catch_up(self._events, self.ledger)
        self._spawn(events_catchup.follow(self._events), "events")
        self._spawn(self.controls.follow(), "control")
        # Take no run before the control reader has its position: a stdin or cancel record sent
        # for an early run would otherwise fall before it and be lost.
        await asyncio.wait_for(self.controls.ready.wait(), CONTROL_READY_TIMEOUT_S)
        self._spawn(self.commits.loop(), "commit")
        self._spawn(images.follow_images(self._docker, self.pool, self._stop), "images")
        self._spawn(watch_node_drain(self._nomad, self.node_id, self._stop, self._drain_for_node), "node-drain")
        if self.config.pool_burst > 0:
            self._spawn(follow_demand(self.pool, self.intake.arrivals, self.config, self._stop,
                                      self.intake.waiting), "pool-sizing")
        if self.config.register_consul:
            self._spawn(self._consul.follow(self.service_meta, lambda: self.status == "draining"), "consul")

    async def _find_node(self) -> None:
        """This agent's Nomad node, its alloc dir and the sandboxes' OCI runtime (the node's
        `throwbox.sandbox_runtime` meta wins over the setting)."""
        node_id = self.config.node_id
        nomad_self = await self._nomad.agent_self()
        if node_id is None:
            node_id = nomad_self["stats"]["client"]["node_id"]
        # Task dirs of our sandboxes live here (this agent runs on the Nomad client's host).
        self.alloc_root = Path(nomad_self["config"]["DataDir"]) / "alloc"
        oci = self.config.oci_runtime
        node = await self._nomad.node(node_id)
        self.node_id = node_id
        self.node_name = node.get("Name") or node_id
        node_meta = node.get("Meta") or {}
        if node_meta.get("throwbox.sandbox_runtime") in sandbox_runtime.OCI_RUNTIMES:
            oci = node_meta["throwbox.sandbox_runtime"]
        self.sandbox_runtime = await sandbox_runtime.resolve(self._docker, oci)   # ConfigError: not registered
        log.info("sandbox runtime %s", self.sandbox_runtime.describe())
        self.oci_runtime = oci

    def _pools(self) -> dict[str, RuntimePool]:
        pools = {}
        for r in self.registry.runtimes:
            size = self.config.pool_sizes.get(r.key)
            if size is not None:     # 0: on demand (a sandbox only for a waiting run)
                pools[r.key] = RuntimePool(r, size, sandbox_job.job_id(self.config.name, r))
        return pools

    def _run_deps(self, runtime_key: str) -> RunDeps:
        return RunDeps(
            config=self.config, pool=self.pool, docker=self._docker, publisher=self._publisher,
            metrics=self.metrics, agent_name=self.config.name, node_name=self.node_name, alloc_root=self.alloc_root,
            on_started=lambda: self.intake.run_started(runtime_key), on_released=self.intake.sandbox_released)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self) -> None:
        self.status = "draining"
        self.intake.draining = True
        if self._consul.registered:
            # First: admission stops counting this agent's capacity while it drains (it stays
            # registered: its runs in flight are not lost).
            with contextlib.suppress(Exception):
                await self._consul.register(self.service_meta())
        if self.node_draining:
            await self.intake.hand_over_partitions()
        await self.flight.drain(self.config.drain_timeout_s)
        await self.intake.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consul.registered:
            with contextlib.suppress(Exception):
                await self._consul.deregister()
        if self.pool is not None:
            await self.pool.close()
            if (self.config.stop_pools_on_exit or self.node_draining) and self._factory is not None:
                await self._factory.stop_pools([p.runtime for p in self.pool.pools.values()])
        await self._publisher.stop()
        await self._nomad.close()
        await self._docker.close()
        await self._consul.close()

    # ------------------------------------------------------------------ what it reports

    def service_meta(self) -> dict[str, str]:
        """What the control planes read: the pools, and admission's figures (throwbox_control.capacity)."""
        runtime_meta = self.sandbox_runtime.meta() if self.sandbox_runtime is not None else {}
        return consul_service.service_meta(self.config, self.oci_runtime or "", runtime_meta,
                                           self.capacity(), self.status == "draining")

    def capacity(self) -> dict[str, RuntimeCapacity]:
        return consul_service.capacity(self.pool.snapshot() if self.pool else {}, self.intake.start_rates,
                                       self.config.start_rate_prior_per_s)

    def health(self) -> tuple[int, dict]:
        body = {"status": self.status, "agent": self.config.name, "in_flight": len(self.flight),
                "held_back": len(self.intake.held_back),
                "start_rate_per_s": {k: round(m.rate_per_s, 3) for k, m in sorted(self.intake.start_rates.items())},
                "max_in_flight": self.config.max_in_flight, "oci_runtime": self.oci_runtime,
                "pools": self.pool.snapshot() if self.pool else {},
                "events_positions": events_catchup.positions(self._events),
                "time_ms": int(time.time() * 1000)}
        return (200 if self.status == "ok" else 503), body
