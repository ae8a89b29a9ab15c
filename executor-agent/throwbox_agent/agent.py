"""The executor agent: Kafka in, sandboxes through the warm pool, events out.

- runs: consumer group on throwbox.runs, offsets committed by hand once the run's Finished
  record is acknowledged; at most `max_in_flight` runs in flight (a runtime's at most its pool
  size) and `lookahead` more held back (partitions paused when full), started round robin
  across tenants per runtime (fair_queue), their start rate measured for admission (start_rate);
- events: every partition from the beginning, so a run id that has a result never runs again
  and a run another agent started but never finished is recognised (agent_lost);
- control: every partition from the end, stdin/cancel dispatched to the run's lifecycle;
- Consul: a service with an HTTP check on /healthz, deregistered on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError, KafkaTimeoutError, OutOfOrderSequenceNumber, ProducerFenced
from aiokafka.structs import TopicPartition

from throwbox_common import capacity_meta, results, topics
from throwbox_common.capacity_meta import RuntimeCapacity
from throwbox_common.consuming import BoundedFetch, commit_done
from throwbox_common.event_log import EventLogReader, TopicMissing, topic_partitions
from throwbox_common.messages import (
    ControlRecord,
    Finished,
    Output,
    RunEventRecord,
    RunJob,
    control_decoder,
    encoder,
    now_ms,
    run_job_decoder,
)
from throwbox_common.offsets import OffsetTracker
from throwbox_common.runtimes import Registry

from . import sandbox_job, sandbox_runtime
from .config import AgentConfig
from .docker_api import DockerClient
from .errors import AgentError, NomadError, PublishError
from .factory import NomadDockerFactory
from .fair_queue import FairQueue
from .ledger import LRU, Ledger, StartedBy, peek_decoder
from .liveness import agent_alive, node_draining
from .metrics import AgentMetrics
from .nomad_api import NomadClient
from .outcome import KillReason
from .pool import RuntimePool, WarmPool
from .pool_sizing import ArrivalMeter, target_sizes
from .run import RESULT_RETRY_S, RunAbandoned, RunDeps, RunLifecycle, RunState, publish_until_acked
from .start_rate import StartRateMeter

log = logging.getLogger(__name__)

SERVICE_NAME = "throwbox-agent"
LOST_GRACE_MS = 30_000        # a live agent's started run may still finish this long after its wall limit
COMMIT_TIMEOUT_S = 10
POOL_SIZING_S = 2                    # how often the pools' sizes follow the arrivals
NODE_WATCH_S = 2                     # how often the agent looks whether its Nomad node is drained
MIN_ADVERTISED_RATE_PER_S = 0.1
CONTROL_READY_TIMEOUT_S = 60         # a commit that hangs (broker gone) must not stall the loop or a rebalance
# Records of one partition go to Kafka in one batch per produce request: a run's last output
# and its Finished (which repeats the output) share a request only if both fit (aiokafka's
# default is 16 KiB). Memory grows with what is queued, not with this bound.
PRODUCE_BATCH_BYTES = 1024 * 1024


# After these, aiokafka's idempotent producer never sends again (its sender task has ended):
# the broker no longer accepts its sequence numbers, as after a broker restart that lost the
# producer's last batches. Only a new producer (a new producer id) publishes again.
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, ProducerFenced)


class KafkaPublisher:
    """Events out through the agent's producer (acks=all, idempotent: a batch it has sent is
    retried by aiokafka until the broker takes it, so an ack may simply arrive late). A producer
    that hit a fatal error is replaced by a new one, and the failed publish may be retried."""

    def __init__(self, make_producer: Callable[[], Awaitable[AIOKafkaProducer]]):
        self._make_producer = make_producer
        self._producer: AIOKafkaProducer | None = None
        self._renewing = asyncio.Lock()

    async def start(self) -> None:
        self._producer = await self._make_producer()

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()

    async def _send(self, event: RunEventRecord) -> asyncio.Future:
        producer = self._producer
        assert producer is not None, "KafkaPublisher.start() first"
        try:
            return await producer.send(topics.EVENTS, encoder.encode(event), key=event.run_id.encode())
        except FATAL_PRODUCER_ERRORS:
            await self._renew(producer)
            raise

    async def _renew(self, broken: AIOKafkaProducer) -> None:
        """Replace a producer that hit a fatal error. If the new one cannot start (the broker is
        still away), the broken one stays and the next publish that fails tries again."""
        async with self._renewing:
            if self._producer is not broken:
                return          # another publish renewed it already
            log.warning("the Kafka producer hit a fatal error: replacing it")
            try:
                self._producer = await self._make_producer()
            except KafkaError as e:
                log.warning("a new Kafka producer could not start yet: %s", e)
                return
        with contextlib.suppress(Exception):
            await broken.stop()

    async def publish(self, event: RunEventRecord) -> None:
        """Enqueue only (aiokafka's send returns once the record is in the partition's open batch)."""
        await self._send(event)

    async def publish_acked(self, event: RunEventRecord, preceded_by: Sequence[Output] = ()) -> None:
        # send() does not wait while the topic's metadata is known and the open batch has room:
        # the chunks and `event` land in the same batch, before the sender task can take it.
        try:
            for chunk in preceded_by:
                await self.publish(chunk)
        except KafkaError as e:
            log.warning("run %s: publishing its last output: %s; it is only in the result", event.run_id, e)
        producer = self._producer
        try:
            await (await self._send(event))
        except KafkaError as e:
            if isinstance(e, FATAL_PRODUCER_ERRORS):
                await self._renew(producer)     # the batch died with the producer: send it anew
            # A timeout here means the broker was away (buffer full, or no leader): worth another try.
            raise PublishError(f"{type(e).__name__}: {e}",
                               retriable=e.retriable or isinstance(e, (KafkaTimeoutError, *FATAL_PRODUCER_ERRORS))) from e


class Agent:
    def __init__(self, config: AgentConfig, registry: Registry):
        self.config = config
        self.registry = registry
        self.metrics = AgentMetrics()
        self.ledger = Ledger()
        self.offsets = OffsetTracker()
        self.active: dict[str, RunLifecycle] = {}
        self.pending_controls = LRU(2000)      # controls for runs not (yet) held here
        self._events: EventLogReader | None = None   # the throwbox.events reader feeding the ledger
        self.run_partitions: dict[str, tuple[TopicPartition, RunLifecycle]] = {}
        self.held_back: FairQueue[tuple[TopicPartition, int, RunJob]] = FairQueue()  # taken, not in flight
        self.start_rates: dict[str, StartRateMeter] = {}   # runtime key → its meter (set at start)
        self.arrivals = ArrivalMeter(config.pool_window_s)
        self.status = "starting"
        self.pool: WarmPool | None = None
        self.alloc_root: Path | None = None     # Nomad's data_dir/alloc, read at start
        self.node_name: str | None = None       # the Nomad node's name, read at start
        self.node_id: str | None = None
        self.node_draining = False              # its Nomad node is drained: drain, then await SIGTERM
        self.signalled = asyncio.Event()        # SIGTERM/SIGINT
        self._nomad = NomadClient(config.nomad_addr)
        self._docker = DockerClient(config.docker_socket)
        self._http: aiohttp.ClientSession | None = None
        self._publisher = KafkaPublisher(self._new_producer)
        self._runs: AIOKafkaConsumer | None = None
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self._control_ready = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._factory: NomadDockerFactory | None = None
        self._service_id = f"{SERVICE_NAME}-{config.name}"
        self._consul_registered = False
        self._last_meta: dict | None = None

    # ------------------------------------------------------------------ life

    def request_stop(self) -> None:
        self.signalled.set()
        self._stop.set()

    def _drain_for_node(self) -> None:
        log.info("node %s is being drained: draining this agent", self.node_name)
        self.node_draining = True
        self._stop.set()

    async def _follow_demand(self) -> None:
        """Pools follow demand: each runtime keeps its floor, the burst budget goes to the
        runtimes whose recent arrivals need more (pool_sizing)."""
        assert self.pool is not None
        floors = {key: p.size for key, p in self.pool.pools.items()}
        while not self._stop.is_set():
            sizes = target_sizes(floors, self.arrivals.rates_per_s(time.monotonic()),
                                 self.config.sandbox_replace_s, self.config.pool_burst)
            for key, size in sizes.items():
                self.pool.resize(key, size)
            await asyncio.sleep(POOL_SIZING_S)

    async def _watch_node_drain(self) -> None:
        """Nomad drains a node's batch allocations (our sandboxes) before its system jobs (us):
        the agent notices the drain itself, hands its partitions over and empties the node."""
        while not self._stop.is_set():
            try:
                if node_draining(await self._nomad.node(self.node_id)):
                    self._drain_for_node()
                    return
            except (NomadError, aiohttp.ClientError, TimeoutError) as e:
                log.debug("node drain watch: %s", e)
            await asyncio.sleep(NODE_WATCH_S)

    async def run(self) -> None:
        try:
            await self._start()
            self.status = "ok"
            log.info("agent %s ready: pools %s", self.config.name, self.pool.snapshot())
            await self._consume_runs()
        finally:
            await self._shutdown()

    async def _new_producer(self) -> AIOKafkaProducer:
        # No linger: Started and Finished are waited for on a run's path; output is already coalesced
        # per run, and what queues while a request is in flight goes out together in the next one.
        producer = AIOKafkaProducer(
            bootstrap_servers=self.config.kafka_bootstrap, acks="all", enable_idempotence=True,
            max_request_size=topics.MAX_RECORD_BYTES, max_batch_size=PRODUCE_BATCH_BYTES, linger_ms=0,
            client_id=f"throwbox-agent-{self.config.name}")
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()      # its client and connections, half set up
            raise
        return producer

    async def _start(self) -> None:
        await self._nomad.start()
        await self._docker.start()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
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
        self._factory = NomadDockerFactory(self.config, self.registry, self._nomad, self._docker, node_id, oci)
        pools = {}
        for r in self.registry.runtimes:
            size = self.config.pool_sizes.get(r.key, 0)
            if size > 0:
                pools[r.key] = RuntimePool(r, size, sandbox_job.job_id(self.config.name, r))
        self.pool = WarmPool(self._factory, self.metrics, pools)
        self.start_rates = {k: StartRateMeter(self.config.start_rate_prior_per_s * p.size) for k, p in pools.items()}
        await self._publisher.start()
        await self.pool.start()
        await self._catch_up_events()
        self._spawn(self._follow_control(), "control")
        # Take no run before the control reader has its position: a stdin or cancel record sent
        # for an early run would otherwise fall before it and be lost.
        await asyncio.wait_for(self._control_ready.wait(), CONTROL_READY_TIMEOUT_S)
        self._spawn(self._commit_loop(), "commit")
        self._spawn(self._watch_node_drain(), "node-drain")
        if self.config.pool_burst > 0:
            self._spawn(self._follow_demand(), "pool-sizing")
        if self.config.register_consul:
            self._spawn(self._consul_loop(), "consul")

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self) -> None:
        self.status = "draining"
        if self._consul_registered:
            # First: admission stops counting this agent's capacity while it drains (it stays
            # registered: its runs in flight are not lost).
            with contextlib.suppress(Exception):
                await self._register(self.service_meta())
        if self.node_draining:
            await self._hand_over_partitions()
        if self.active:
            log.info("draining: waiting for %d running run(s)", len(self.active))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_runs_done(), self.config.drain_timeout_s)
        for lc in list(self.active.values()):
            lc.kill(KillReason.CANCEL)   # past the drain timeout: end them as cancelled
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_runs_done(), 10)
        if any(lc.state is RunState.FINISHING for lc in self.active.values()):
            # Results still being sent while Kafka is away: exiting now would lose them. Each
            # gives up by itself after RESULT_RETRY_S (Nomad's kill_timeout may end us first).
            log.info("draining: waiting for %d result(s) Kafka has not acknowledged yet", len(self.active))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._results_sent(), RESULT_RETRY_S + 10)
        if self._runs is not None:
            with contextlib.suppress(Exception):
                await self._commit_all()
            with contextlib.suppress(Exception):
                await self._runs.stop()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consul_registered:
            with contextlib.suppress(Exception):
                await self._consul("PUT", f"/v1/agent/service/deregister/{self._service_id}")
        if self.pool is not None:
            await self.pool.close()
            if (self.config.stop_pools_on_exit or self.node_draining) and self._factory is not None:
                await self._factory.stop_pools([p.runtime for p in self.pool.pools.values()])
        await self._publisher.stop()
        await self._nomad.close()
        await self._docker.close()
        if self._http is not None:
            await self._http.close()

    async def _hand_over_partitions(self) -> None:
        """On a node drain, leave the runs group before finishing the running runs: the other
        agents take this agent's partitions now, with the runs it held back or had not started
        (uncommitted, so redelivered to them), instead of after its last run. (On SIGTERM alone
        the agent keeps them: with Kafka away, leaving the group would stall the drain.)"""
        if self._runs is None:
            return
        dropped = self.held_back.remove_if(lambda _: True)
        abandoned = [lc for _, lc in list(self.run_partitions.values()) if lc.abandon()]
        log.info("draining: %d held-back and %d unstarted run(s) left to the other agents", len(dropped), len(abandoned))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._commit_all(), COMMIT_TIMEOUT_S)
        runs, self._runs = self._runs, None
        with contextlib.suppress(Exception):
            await runs.stop()

    async def _all_runs_done(self) -> None:
        while self.active:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _results_sent(self) -> None:
        while any(lc.state is RunState.FINISHING for lc in self.active.values()):
            self._slot_freed.clear()
            await self._slot_freed.wait()

    # ------------------------------------------------------------------ throwbox.events

    async def _catch_up_events(self) -> None:
        """Read every partition from the beginning up to now before taking any run, then follow."""
        reader = EventLogReader(
            lambda: AIOKafkaConsumer(bootstrap_servers=self.config.kafka_bootstrap, enable_auto_commit=False,
                                     fetch_max_wait_ms=100, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES,
                                     fetch_max_bytes=4 * topics.MAX_RECORD_BYTES),
            topics.EVENTS, peek_decoder.decode, self.ledger.note,
            poll_timeout_ms=1000, catch_up_poll_timeout_ms=500)
        self._events = reader
        try:
            await reader.connect()
            await reader.consume(until_caught_up=True)
        except TopicMissing as e:
            await reader.close()
            raise AgentError(str(e)) from e
        except BaseException:
            await reader.close()
            raise
        log.info("events caught up: %d finished, %d started-only", len(self.ledger.finished), len(self.ledger.started))
        self._spawn(self._follow_events(reader), "events")

    @staticmethod
    async def _follow_events(reader: EventLogReader) -> None:
        try:
            await reader.consume()
        finally:
            await reader.close()

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
        try:
            return await topic_partitions(consumer, topic)
        except TopicMissing as e:
            raise AgentError(str(e)) from e

    # ------------------------------------------------------------------ throwbox.control

    async def _follow_control(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.config.kafka_bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=20)
        await consumer.start()
        try:
            parts = await self._partitions(consumer, topics.CONTROL)
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            for tp in parts:   # seek_to_end is lazy: resolve the end offsets now
                await consumer.position(tp)
            self._control_ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        try:
                            msg = control_decoder.decode(rec.value)
                        except (msgspec.ValidationError, msgspec.DecodeError) as e:
                            log.warning("ignoring a bad control record at %s/%d: %s", rec.partition, rec.offset, e)
                            continue
                        self.dispatch_control(msg)
        finally:
            await consumer.stop()

    def dispatch_control(self, msg: ControlRecord) -> None:
        lc = self.active.get(msg.run_id)
        if lc is not None:
            lc.control(msg)
            return
        if msg.run_id in self.ledger.finished:
            return
        # Not here (yet): keep it for when the run is picked up here; another agent may hold it.
        queued = self.pending_controls.get(msg.run_id) or []
        queued.append(msg)
        self.pending_controls.put(msg.run_id, queued[-1000:])

    # ------------------------------------------------------------------ throwbox.runs

    async def _consume_runs(self) -> None:
        agent = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                # Runs of these partitions that have not started here go to the new owner.
                revoked_set = set(revoked)
                for tp, lc in list(agent.run_partitions.values()):
                    if tp in revoked_set and lc.abandon():
                        log.info("run %s: partition revoked before it started; left to its new owner",
                                 lc.job.run_id)
                dropped = agent.held_back.remove_if(lambda held: held[0] in revoked_set)
                if dropped:
                    log.info("%d held-back run(s) of revoked partitions left to their new owner", len(dropped))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(agent._commit_all(revoked), COMMIT_TIMEOUT_S)
                agent.offsets.forget(revoked)

            async def on_partitions_assigned(self, assigned):
                log.info("assigned %s", sorted(tp.partition for tp in assigned))

        self._runs = consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.kafka_bootstrap, group_id=self.config.consumer_group,
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=20,
            max_partition_fetch_bytes=topics.MAX_RECORD_BYTES, fetch_max_bytes=4 * topics.MAX_RECORD_BYTES,
            max_poll_interval_ms=600_000, session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
            client_id=f"throwbox-agent-{self.config.name}")
        await consumer.start()
        consumer.subscribe([self.config.runs_topic], listener=Listener())
        fetch = BoundedFetch(consumer, self._slot_freed, full_wait_s=1)
        self._spawn(self._measure_start_rate(), "start-rate")
        while not self._stop.is_set():
            room = self.config.max_in_flight + self.config.lookahead - len(self.active) - len(self.held_back)
            batch = await fetch.next(room, stop=self._stop)
            for tp, records in batch.items():
                for rec in records:
                    self._hold(tp, rec)
            self._start_held()

    def _hold(self, tp: TopicPartition, rec) -> None:
        """A fetched run joins the held-back runs of its runtime and tenant (an unreadable one is
        settled at once)."""
        self.offsets.begin(tp, rec.offset)
        try:
            job = run_job_decoder.decode(rec.value)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            self._spawn(self._reject(tp, rec, str(e)), f"reject-{rec.offset}")
            return
        key = f"{job.language}-{job.version}"
        self.arrivals.note(key, time.monotonic())
        self.held_back.push(key, job.tenant, (tp, rec.offset, job))

    def runtime_room(self, runtime_key: str, in_flight: dict[str, int]) -> int:
        """How many more runs of this runtime may be in flight: its pool's size, counting those
        that wait for or hold a sandbox (one beyond it would only wait in the pool, where the order
        is no longer fair), within max_in_flight."""
        pool = self.pool.pools.get(runtime_key) if self.pool else None
        total_room = self.config.max_in_flight - len(self.active)
        if pool is None:
            return total_room         # no such runtime here: ends at once as unknown_runtime
        return min(total_room, max(1, pool.size) - in_flight.get(runtime_key, 0))

    def _start_held(self) -> None:
        """Move held-back runs into flight, fairly, as far as each runtime has room. A draining
        agent starts none: their records stay uncommitted for the partitions' next owner."""
        if not self.held_back or self.status == "draining" or self._stop.is_set():
            return
        in_flight: dict[str, int] = {}
        for lc in self.active.values():
            if lc.wants_sandbox:
                in_flight[lc.runtime.key] = in_flight.get(lc.runtime.key, 0) + 1
        for runtime_key in self.held_back.runtimes():
            while self.runtime_room(runtime_key, in_flight) > 0:
                held = self.held_back.pop(runtime_key)
                if held is None:
                    break
                tp, offset, job = held
                if self._take(tp, offset, job):
                    in_flight[runtime_key] = in_flight.get(runtime_key, 0) + 1

    def backlogged(self, runtime_key: str) -> bool:
        """Runs of the runtime wait for this agent to start them (held back, or in flight
        without a sandbox yet)."""
        return self.held_back.waiting(runtime_key) > 0 or any(
            lc.runtime.key == runtime_key and lc.state in (RunState.QUEUED, RunState.ACQUIRING)
            for lc in self.active.values())

    def run_started(self, runtime_key: str) -> None:
        """A run got its sandbox (RunDeps.on_started)."""
        meter = self.start_rates.get(runtime_key)
        if meter is not None:
            meter.started(time.monotonic())

    def _sandbox_released(self) -> None:
        asyncio.get_running_loop().call_soon(self._start_held)

    async def _measure_start_rate(self) -> None:
        while True:
            now = time.monotonic()
            for key, meter in self.start_rates.items():
                meter.observe(now, self.backlogged(key))
            await asyncio.sleep(0.25)

    def _take(self, tp: TopicPartition, offset: int, job: RunJob) -> bool:
        """Start the run's lifecycle, or settle a run that needs none; True if it is now in flight."""
        if self.ledger.is_finished(job.run_id):
            log.info("run %s already has a result: skipped", job.run_id)
            self._spawn(self._done(tp, offset), f"skip-{job.run_id}")
            return False
        if job.run_id in self.active:
            # Redelivered (a rebalance) while it runs or its result is still being sent here:
            # the offset is done only once that result is acknowledged.
            log.info("run %s is running here: redelivery skipped", job.run_id)
            self._spawn(self._done_with_result(tp, offset, self.active[job.run_id]), f"skip-{job.run_id}")
            return False
        started = self.ledger.started_by(job.run_id)
        if started is not None:
            self._spawn(self._settle_started_elsewhere(tp, offset, job, started), f"lost-{job.run_id}")
            return False
        runtime = self.registry.by_key.get(f"{job.language}-{job.version}")
        if runtime is None or runtime.key not in self.pool.pools:
            self._spawn(self._publish_failed(tp, offset, job, "unknown_runtime",
                                             f"this agent has no runtime {job.language}-{job.version}"),
                        f"noruntime-{job.run_id}")
            return False
        lc = RunLifecycle(job, runtime, RunDeps(
            config=self.config, pool=self.pool, docker=self._docker, publisher=self._publisher,
            metrics=self.metrics, agent_name=self.config.name, node_name=self.node_name, alloc_root=self.alloc_root,
            on_started=lambda key=runtime.key: self.run_started(key), on_released=self._sandbox_released))
        self.active[job.run_id] = lc
        self.run_partitions[job.run_id] = (tp, lc)
        for msg in self.pending_controls.pop(job.run_id) or []:
            lc.control(msg)
        self.metrics.in_flight.set(len(self.active))
        self._spawn(self._execute(tp, offset, lc), f"run-{job.run_id}")
        return True

    async def _execute(self, tp: TopicPartition, offset: int, lc: RunLifecycle) -> None:
        run_id = lc.job.run_id
        try:
            result = await lc.execute()
            self.ledger.finished.put(run_id)
            log.info("run %s: %s %s in %d ms", run_id, result.status, result.outcome or "", result.timings.total_ms)
        except RunAbandoned:
            return
        except PublishError as e:
            # Not acknowledged even after RESULT_RETRY_S of retries: leave the offset uncommitted
            # so the run is redelivered (and then settled as agent_lost / already finished).
            log.error("run %s: its result could not be published: %s", run_id, e)
            return
        except Exception:
            # The result was not made durable: leave the offset uncommitted so the run is redelivered
            # (and then settled as agent_lost / already finished).
            log.exception("run %s failed inside the agent", run_id)
            return
        finally:
            self.run_partitions.pop(run_id, None)
            if run_id in self.active:
                self.active.pop(run_id, None)
                self.metrics.in_flight.set(len(self.active))
                self._slot_freed.set()
                self._start_held()
        await self._done(tp, offset)

    async def _done(self, tp: TopicPartition, offset: int) -> None:
        self.offsets.done(tp, offset)
        self._commit_wanted.set()

    async def _done_with_result(self, tp: TopicPartition, offset: int, lc: RunLifecycle) -> None:
        """A redelivered record of a run held here: done once that run's result is acknowledged
        (without a result it stays uncommitted, like the run's own record)."""
        await lc.done.wait()
        if lc.result_published:
            await self._done(tp, offset)

    async def _commit_loop(self) -> None:
        """One commit in flight at a time, covering every run finished since the last one.

        A commit per record (thousands when skipping old runs) outlived the group session and
        cost the agent its partitions."""
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            try:
                await asyncio.wait_for(self._commit_all(), COMMIT_TIMEOUT_S)
            except (KafkaError, TimeoutError) as e:
                log.warning("commit: %s (finished runs may be redelivered; they have results)", e)

    async def _commit_all(self, tps=None) -> None:
        if self._runs is None:
            return
        # Revoked partitions are committed while they are being taken away (still ours to commit).
        await commit_done(self._runs, self.offsets, tps if tps is not None else self._runs.assignment())

    async def _reject(self, tp: TopicPartition, rec, problem: str) -> None:
        log.warning("unreadable run record at %s/%d: %s", tp.topic, rec.offset, problem)
        try:
            run_id = json.loads(rec.value).get("run_id")
        except (ValueError, AttributeError):
            run_id = None
        if isinstance(run_id, str) and run_id and not self.ledger.is_finished(run_id):
            data = json.loads(rec.value)
            job_like = RunJob(run_id=run_id, tenant=str(data.get("tenant", "")), language=str(data.get("language", "")),
                              version=str(data.get("version", "")), files=[], entrypoint="",
                              limits=None, created_at_ms=int(data.get("created_at_ms") or now_ms()))  # type: ignore[arg-type]
            await self._publish_failed(tp, rec.offset, job_like, "invalid_job", f"the run record is not valid: {problem}")
            return
        await self._done(tp, rec.offset)

    async def _publish_failed(self, tp: TopicPartition, offset: int, job: RunJob, code: str, message: str) -> None:
        result = results.failed(job.run_id, job.language, job.version, code, message, job.created_at_ms)
        await publish_until_acked(self._publisher,
                                  Finished(run_id=job.run_id, result=result, agent=self.config.name),
                                  time.monotonic() + RESULT_RETRY_S)
        self.ledger.finished.put(job.run_id)
        self.metrics.runs.labels(f"{job.language}-{job.version}", "failed", "").inc()
        await self._done(tp, offset)

    async def _settle_started_elsewhere(self, tp: TopicPartition, offset: int, job: RunJob,
                                        started: StartedBy) -> None:
        """A redelivered run that some agent started: wait while that agent lives and may still
        finish it; once it is gone, the run ends failed/agent_lost and its orphan sandbox is stopped."""
        give_up_ms = started.at_ms + job.limits.wall_time_ms + LOST_GRACE_MS
        while not self.ledger.is_finished(job.run_id):
            if started.agent == self.config.name or now_ms() > give_up_ms or not await self._agent_alive(started.agent):
                break
            await asyncio.sleep(1)
        if self.ledger.is_finished(job.run_id):
            await self._done(tp, offset)
            return
        if started.sandbox:
            try:
                # Through Nomad: the sandbox may be on the lost agent's node. Its job, not the
                # allocation: a stopped allocation would be replaced.
                await self._nomad.stop_job((await self._nomad.allocation(started.sandbox))["JobID"])
            except NomadError as e:
                log.info("orphan sandbox %s of run %s: %s", started.sandbox, job.run_id, e)
        log.warning("run %s was started by agent %s which is gone: agent_lost", job.run_id, started.agent)
        await self._publish_failed(tp, offset, job, "agent_lost",
                                   f"the agent running it ({started.agent}) stopped before it finished")

    # ------------------------------------------------------------------ Consul

    async def _consul(self, method: str, path: str, body: dict | None = None):
        assert self._http is not None
        async with self._http.request(method, self.config.consul_addr + path, json=body) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise AgentError(f"consul {method} {path}: {resp.status} {text[:200]}")
            return json.loads(text) if text else None

    async def _agent_alive(self, name: str) -> bool:
        try:
            entries = await self._consul("GET", f"/v1/health/service/{SERVICE_NAME}")
        except (AgentError, aiohttp.ClientError, TimeoutError):
            return True    # cannot tell: do not declare it lost
        return agent_alive(entries, name)

    def service_meta(self) -> dict[str, str]:
        """What the control planes read: the pools, and admission's figures (throwbox_control.capacity)."""
        meta = {"agent": self.config.name, "oci_runtime": getattr(self, "oci_runtime", ""),
                "runs_topic": self.config.runs_topic}
        if getattr(self, "sandbox_runtime", None) is not None:
            meta.update(self.sandbox_runtime.meta())
        meta.update(capacity_meta.encode(self.capacity()))
        if self.status == "draining":
            meta["draining"] = "true"
        return meta

    def capacity(self) -> dict[str, RuntimeCapacity]:
        """Per runtime: warm sandboxes idle and kept, and the start rate (never advertised as 0:
        a backlog that started nothing must not shut admission for good)."""
        out = {}
        for key, snap in (self.pool.snapshot() if self.pool else {}).items():
            meter = self.start_rates.get(key)
            rate = meter.rate_per_s if meter is not None else self.config.start_rate_prior_per_s
            out[key] = RuntimeCapacity(idle=snap["idle"], size=snap["size"],
                                       start_rate_per_s=max(MIN_ADVERTISED_RATE_PER_S, rate))
        return out

    async def _register(self, meta: dict[str, str]) -> None:
        check_url = f"http://{self.config.metrics_host}:{self.config.metrics_port}/healthz"
        await self._consul("PUT", "/v1/agent/service/register", {
            "ID": self._service_id, "Name": SERVICE_NAME, "Meta": meta,
            "Address": self.config.metrics_host, "Port": self.config.metrics_port,
            # Passing from the start (Consul's default is critical until the first check, up to
            # an interval later): the agent registers once it serves, and admission counts only
            # passing agents, so a new agent's capacity counts at once.
            "Check": {"HTTP": check_url, "Interval": "5s", "Timeout": "2s", "Status": "passing",
                      "DeregisterCriticalServiceAfter": "1m"},
        })
        self._consul_registered = True
        self._last_meta = meta

    async def _consul_loop(self) -> None:
        """Register (again whenever the pool counts change: the control plane reads them)."""
        while self.status != "draining":
            meta = self.service_meta()
            if meta != self._last_meta:
                try:
                    await self._register(meta)
                except (AgentError, aiohttp.ClientError, TimeoutError) as e:
                    log.warning("consul registration: %s", e)
            await asyncio.sleep(2)

    def _events_positions(self) -> dict[str, int]:
        """throwbox.events partition -> the next offset the ledger reads there."""
        read = self._events.next_offsets if self._events is not None else {}
        return {str(tp.partition): o for tp, o in sorted(read.items())}

    def health(self) -> tuple[int, dict]:
        body = {"status": self.status, "agent": self.config.name, "in_flight": len(self.active),
                "held_back": len(self.held_back),
                "start_rate_per_s": {k: round(m.rate_per_s, 3) for k, m in sorted(self.start_rates.items())},
                "max_in_flight": self.config.max_in_flight, "oci_runtime": getattr(self, "oci_runtime", None),
                "pools": self.pool.snapshot() if self.pool else {},
                "events_positions": self._events_positions(),
                "time_ms": int(time.time() * 1000)}
        return (200 if self.status == "ok" else 503), body
