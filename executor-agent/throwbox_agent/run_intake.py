"""throwbox.runs in: the consumer group, offsets committed by hand once a run's Finished is
acknowledged (commits.py); at most `max_in_flight` runs in flight (a runtime's at most its pool
size) and `lookahead` more held back (partitions paused when full), started round robin across
tenants per runtime (fair_queue), their start rate measured for admission (start_rate)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from throwbox_common import kafka_client, topics
from throwbox_common.consuming import BoundedFetch
from throwbox_common.messages import RunJob, run_job_decoder
from throwbox_common.runtimes import Registry

from .commits import COMMIT_TIMEOUT_S, OffsetCommits
from .config import AgentConfig
from .control_follower import ControlFollower
from .errors import PublishError
from .fair_queue import FairQueue
from .in_flight import InFlight
from .ledger import Ledger
from .pool import WarmPool
from .pool_sizing import ArrivalMeter
from .run import RunAbandoned, RunDeps, RunLifecycle
from .settling import Settler
from .start_rate import StartRateMeter

log = logging.getLogger(__name__)

START_RATE_SAMPLE_S = 0.25
Spawn = Callable[[Coroutine, str], asyncio.Task]


class RunIntake:
    def __init__(self, config: AgentConfig, registry: Registry, *, ledger: Ledger, flight: InFlight,
                 commits: OffsetCommits, settler: Settler, controls: ControlFollower,
                 run_deps: Callable[[str], RunDeps], spawn: Spawn, stop: asyncio.Event):
        self.config = config
        self.registry = registry
        self.ledger = ledger
        self.flight = flight
        self.commits = commits
        self.settler = settler
        self.controls = controls
        self._run_deps = run_deps
        self._spawn = spawn
        self._stop = stop
        self.pool: WarmPool | None = None                 # set by use_pool at start
        self.held_back: FairQueue[tuple[TopicPartition, int, RunJob]] = FairQueue()  # taken, not in flight
        self.start_rates: dict[str, StartRateMeter] = {}   # runtime key → its meter
        self.arrivals = ArrivalMeter(config.pool_window_s)
        self.draining = False                              # start no more runs

    def use_pool(self, pool: WarmPool) -> None:
        self.pool = pool
        self.start_rates = {k: StartRateMeter(self.config.start_rate_prior_per_s * max(1, p.size))
                            for k, p in pool.pools.items()}

    # ------------------------------------------------------------------ the consumer

    async def consume(self) -> None:
        """Fetch runs while there is room for them, until the agent stops."""
        self.commits.consumer = consumer = AIOKafkaConsumer(
            **kafka_client.options(self.config.kafka_bootstrap), group_id=self.config.consumer_group,
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=20,
            max_partition_fetch_bytes=topics.MAX_RECORD_BYTES, fetch_max_bytes=4 * topics.MAX_RECORD_BYTES,
            max_poll_interval_ms=600_000, session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
            client_id=f"throwbox-agent-{self.config.name}")
        await consumer.start()
        consumer.subscribe([self.config.runs_topic], listener=_Rebalance(self))
        fetch = BoundedFetch(consumer, self.flight.slot_freed, full_wait_s=1)
        self._spawn(self._measure_start_rate(), "start-rate")
        while not self._stop.is_set():
            room = self.config.max_in_flight + self.config.lookahead - len(self.flight) - len(self.held_back)
            batch = await fetch.next(room, stop=self._stop)
            for tp, records in batch.items():
                for rec in records:
                    self._hold(tp, rec)
            self.start_held()

    async def partitions_revoked(self, revoked) -> None:
        """Runs of these partitions that have not started here go to the new owner."""
        revoked_set = set(revoked)
        for lc in self.flight.abandon_unstarted(lambda tp: tp in revoked_set):
            log.info("run %s: partition revoked before it started; left to its new owner", lc.job.run_id)
        dropped = self.held_back.remove_if(lambda held: held[0] in revoked_set)
        if dropped:
            log.info("%d held-back run(s) of revoked partitions left to their new owner", len(dropped))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.commits.commit_all(revoked), COMMIT_TIMEOUT_S)
        self.commits.forget(revoked)

    async def hand_over_partitions(self) -> None:
        """On a node drain, leave the runs group before finishing the running runs: the other
        agents take this agent's partitions now, with the runs it held back or had not started
        (uncommitted, so redelivered to them), instead of after its last run. (On SIGTERM alone
        the agent keeps them: with Kafka away, leaving the group would stall the drain.)"""
        if self.commits.consumer is None:
            return
        dropped = self.held_back.remove_if(lambda _: True)
        abandoned = self.flight.abandon_unstarted(lambda _: True)
        log.info("draining: %d held-back and %d unstarted run(s) left to the other agents", len(dropped), len(abandoned))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.commits.commit_all(), COMMIT_TIMEOUT_S)
        runs, self.commits.consumer = self.commits.consumer, None
        with contextlib.suppress(Exception):
            await runs.stop()

    async def close(self) -> None:
        """At shutdown: commit what is done and leave the group (if not left already)."""
        runs = self.commits.consumer
        if runs is None:
            return
        with contextlib.suppress(Exception):
            await self.commits.commit_all()
        with contextlib.suppress(Exception):
            await runs.stop()

    # ------------------------------------------------------------------ held back, then in flight

    def _hold(self, tp: TopicPartition, rec) -> None:
        """A fetched run joins the held-back runs of its runtime and tenant (an unreadable one is
        settled at once)."""
        self.commits.begin(tp, rec.offset)
        try:
            job = run_job_decoder.decode(rec.value)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            self._spawn(self.settler.reject(tp, rec, str(e)), f"reject-{rec.offset}")
            return
        key = f"{job.language}-{job.version}"
        self.arrivals.note(key, time.monotonic())
        self.held_back.push(key, job.tenant, (tp, rec.offset, job))

    def waiting(self) -> dict[str, int]:
        """Runs per runtime key taken and not started: held back, or in flight wanting a sandbox."""
        counts = dict(self.flight.wanting_sandbox())
        for key in self.held_back.runtimes():
            counts[key] = counts.get(key, 0) + self.held_back.waiting(key)
        return counts

    def runtime_room(self, runtime_key: str, in_flight: dict[str, int]) -> int:
        """How many more runs of this runtime may be in flight: its pool's size, counting those
        that wait for or hold a sandbox (one beyond it would only wait in the pool, where the order
        is no longer fair), within max_in_flight."""
        pool = self.pool.pools.get(runtime_key) if self.pool else None
        total_room = self.config.max_in_flight - len(self.flight)
        if pool is None or pool.dormant:
            return total_room         # no such runtime here (or no image yet): ends at once as unknown_runtime
        return min(total_room, max(1, pool.size) - in_flight.get(runtime_key, 0))

    def start_held(self) -> None:
        """Move held-back runs into flight, fairly, as far as each runtime has room. A draining
        agent starts none: their records stay uncommitted for the partitions' next owner."""
        if not self.held_back or self.draining or self._stop.is_set():
            return
        in_flight = self.flight.wanting_sandbox()
        for runtime_key in self.held_back.runtimes():
            while self.runtime_room(runtime_key, in_flight) > 0:
                held = self.held_back.pop(runtime_key)
                if held is None:
                    break
                tp, offset, job = held
                if self._take(tp, offset, job):
                    in_flight[runtime_key] = in_flight.get(runtime_key, 0) + 1

    def _take(self, tp: TopicPartition, offset: int, job: RunJob) -> bool:
        """Start the run's lifecycle, or settle a run that needs none; True if it is now in flight."""
        if self.ledger.is_finished(job.run_id):
            log.info("run %s already has a result: skipped", job.run_id)
            self._spawn(self.commits.done(tp, offset), f"skip-{job.run_id}")
            return False
        if job.run_id in self.flight.active:
            # Redelivered (a rebalance) while it runs or its result is still being sent here:
            # the offset is done only once that result is acknowledged.
            log.info("run %s is running here: redelivery skipped", job.run_id)
            self._spawn(self.commits.done_with_result(tp, offset, self.flight.active[job.run_id]), f"skip-{job.run_id}")
            return False
        started = self.ledger.started_by(job.run_id)
        if started is not None:
            self._spawn(self.settler.started_elsewhere(tp, offset, job, started), f"lost-{job.run_id}")
            return False
        runtime = self.registry.by_key.get(f"{job.language}-{job.version}")
        if runtime is None or not self.pool.active(runtime.key):
            why = "has no runtime" if runtime is None or runtime.key not in self.pool.pools else "has no image yet for"
            self._spawn(self.settler.publish_failed(tp, offset, job, "unknown_runtime",
                                                    f"this agent {why} {job.language}-{job.version}"),
                        f"noruntime-{job.run_id}")
            return False
        lc = RunLifecycle(job, runtime, self._run_deps(runtime.key))
        self.flight.add(tp, lc)
        self.controls.take_pending(lc)
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
            if self.flight.remove(run_id):
                self.start_held()
        await self.commits.done(tp, offset)

    # ------------------------------------------------------------------ start rates

    def backlogged(self, runtime_key: str) -> bool:
        """Runs of the runtime wait for this agent to start them (held back, or in flight
        without a sandbox yet)."""
        return self.held_back.waiting(runtime_key) > 0 or self.flight.waiting_to_start(runtime_key)

    def run_started(self, runtime_key: str) -> None:
        """A run got its sandbox (RunDeps.on_started)."""
        meter = self.start_rates.get(runtime_key)
        if meter is not None:
            meter.started(time.monotonic())

    def sandbox_released(self) -> None:
        """A run gave its sandbox back (RunDeps.on_released): a held-back run may start."""
        asyncio.get_running_loop().call_soon(self.start_held)

    async def _measure_start_rate(self) -> None:
        while True:
            now = time.monotonic()
            for key, meter in self.start_rates.items():
                meter.observe(now, self.backlogged(key))
            await asyncio.sleep(START_RATE_SAMPLE_S)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, intake: RunIntake):
        self._intake = intake

    async def on_partitions_revoked(self, revoked):
        await self._intake.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned):
        log.info("assigned %s", sorted(tp.partition for tp in assigned))
