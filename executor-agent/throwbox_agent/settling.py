"""Runs settled without a sandbox of this agent: an unreadable run record (invalid_job), a run
of a runtime this agent does not have (unknown_runtime), and a redelivered run some agent
started and never finished (agent_lost once that agent is gone). Each ends with a Finished
acknowledged by Kafka, then its record is done."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka.structs import TopicPartition

from throwbox_common import results
from throwbox_common.messages import Finished, RunJob, now_ms

from .commits import OffsetCommits
from .errors import NomadError
from .kafka_publisher import KafkaPublisher
from .ledger import Ledger, StartedBy
from .metrics import AgentMetrics
from .nomad_api import NomadClient
from .publish import RESULT_RETRY_S, publish_until_acked

log = logging.getLogger(__name__)

LOST_GRACE_MS = 30_000        # a live agent's started run may still finish this long after its wall limit
ALIVE_CHECK_S = 1             # how often a started run's agent is looked at while it may finish


class Settler:
    def __init__(self, agent_name: str, ledger: Ledger, commits: OffsetCommits, publisher: KafkaPublisher,
                 metrics: AgentMetrics, nomad: NomadClient, agent_alive: Callable[[str], Awaitable[bool]]):
        self.agent_name = agent_name
        self.ledger = ledger
        self.commits = commits
        self.publisher = publisher
        self.metrics = metrics
        self.nomad = nomad
        self.agent_alive = agent_alive

    async def reject(self, tp: TopicPartition, rec, problem: str) -> None:
        """An unreadable run record: failed as invalid_job if it names a run, else only done."""
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
            await self.publish_failed(tp, rec.offset, job_like, "invalid_job", f"the run record is not valid: {problem}")
            return
        await self.commits.done(tp, rec.offset)

    async def publish_failed(self, tp: TopicPartition, offset: int, job: RunJob, code: str, message: str) -> None:
        result = results.failed(job.run_id, job.language, job.version, code, message, job.created_at_ms)
        await publish_until_acked(self.publisher,
                                  Finished(run_id=job.run_id, result=result, agent=self.agent_name),
                                  time.monotonic() + RESULT_RETRY_S)
        self.ledger.finished.put(job.run_id)
        self.metrics.runs.labels(f"{job.language}-{job.version}", "failed", "").inc()
        await self.commits.done(tp, offset)

    async def started_elsewhere(self, tp: TopicPartition, offset: int, job: RunJob, started: StartedBy) -> None:
        """A redelivered run that some agent started: wait while that agent lives and may still
        finish it; once it is gone, the run ends failed/agent_lost and its orphan sandbox is stopped."""
        give_up_ms = started.at_ms + job.limits.wall_time_ms + LOST_GRACE_MS
        while not self.ledger.is_finished(job.run_id):
            if started.agent == self.agent_name or now_ms() > give_up_ms or not await self.agent_alive(started.agent):
                break
            await asyncio.sleep(ALIVE_CHECK_S)
        if self.ledger.is_finished(job.run_id):
            await self.commits.done(tp, offset)
            return
        if started.sandbox:
            await self._stop_orphan(job.run_id, started.sandbox)
        log.warning("run %s was started by agent %s which is gone: agent_lost", job.run_id, started.agent)
        await self.publish_failed(tp, offset, job, "agent_lost",
                                  f"the agent running it ({started.agent}) stopped before it finished")

    async def _stop_orphan(self, run_id: str, alloc_id: str) -> None:
        try:
            # Through Nomad: the sandbox may be on the lost agent's node. Its job, not the
            # allocation: a stopped allocation would be replaced.
            await self.nomad.stop_job((await self.nomad.allocation(alloc_id))["JobID"])
        except NomadError as e:
            log.info("orphan sandbox %s of run %s: %s", alloc_id, run_id, e)
