"""A run's records that must reach Kafka: Started before anything runs, Finished after every
Output of the run. While Kafka is away they are sent again (backoff doubling from the first to
the longest pause) until acknowledged (`publish_until_acked`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from throwbox_common.deadlines import START_GRACE_MS
from throwbox_common.messages import Finished, RunEventRecord, RunJob, RunResult, Started, now_ms

from .errors import AgentError, PublishError
from .metrics import AgentMetrics
from .run_seams import Publisher

log = logging.getLogger(__name__)

PUBLISH_BACKOFF_FIRST_S = 0.5
PUBLISH_BACKOFF_MAX_S = 5.0
# A finished run's result is given up only after RESULT_RETRY_S: its offset then stays
# uncommitted and the run is settled on redelivery.
RESULT_RETRY_S = 300.0
START_GRACE_S = START_GRACE_MS / 1000     # the control plane reaps a run not started by then
START_RETRY_MIN_S = 10.0


class StartNotAcknowledged(AgentError):
    """Kafka did not acknowledge the run's Started before its start deadline: the run does not start."""


async def publish_until_acked(publisher: Publisher, event: RunEventRecord, give_up_at: float,
                              preceded_by: Sequence[RunEventRecord] = ()) -> int:
    """Publish `event` and wait for the broker's ack; while Kafka is away, send it again with
    backoff until the monotonic time `give_up_at`. The number of attempts it took; PublishError
    (the last one) when it gives up, or at once when sending again cannot help.

    The chunks `preceded_by` go with the first attempt only (in its produce request, before
    `event`): chunks are best-effort, and one that failed with that attempt stays lost.

    A record sent again after a failed attempt may reach the log twice (the first copy may have
    been written before the ack was lost): readers keep the first Finished and the first Started."""
    what = type(event).__name__
    delay = PUBLISH_BACKOFF_FIRST_S
    attempt = 0
    while True:
        attempt += 1
        try:
            lead, preceded_by = preceded_by, ()
            await asyncio.wait_for(publisher.publish_acked(event, lead), max(give_up_at - time.monotonic(), 0.0))
            if attempt > 1:
                log.info("run %s: %s acknowledged after %d attempts", event.run_id, what, attempt)
            return attempt
        except TimeoutError as e:
            raise PublishError(f"{what} not acknowledged in time ({attempt} attempts)", retriable=True) from e
        except PublishError as e:
            if not e.retriable or time.monotonic() + delay >= give_up_at:
                raise
            if attempt == 1 or attempt % 10 == 0:
                log.warning("run %s: publishing %s (attempt %d): %s; sending it again until Kafka acknowledges it",
                            event.run_id, what, attempt, e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, PUBLISH_BACKOFF_MAX_S)


async def publish_started(publisher: Publisher, job: RunJob, agent: str, sandbox_id: str) -> None:
    """Started, acknowledged before anything runs. While Kafka is away it is sent again until
    the start deadline (+ the control plane's grace) has passed: a run the control plane has
    given up as queue_timeout by then is not started late (StartNotAcknowledged)."""
    give_up_s = RESULT_RETRY_S
    if job.start_deadline_ms is not None:
        give_up_s = max((job.start_deadline_ms - now_ms()) / 1000 + START_GRACE_S, START_RETRY_MIN_S)
    try:
        await publish_until_acked(publisher, Started(run_id=job.run_id, agent=agent, sandbox=sandbox_id, at_ms=now_ms()),
                                  time.monotonic() + give_up_s)
    except PublishError as e:
        if not e.retriable:
            raise
        raise StartNotAcknowledged(f"Kafka did not acknowledge the run's start before its start deadline: {e}") from e


async def publish_result(publisher: Publisher, metrics: AgentMetrics, runtime_key: str, agent: str,
                         result: RunResult, last_output: Sequence[RunEventRecord]) -> None:
    """Finished with the run's last chunks before it, in one produce request (same key, same
    partition, same order for every reader). Sent again while Kafka is away until acknowledged
    or RESULT_RETRY_S has passed (then PublishError: the run is settled on redelivery). The run
    holds its in-flight slot meanwhile, so an agent that cannot publish results takes no more runs."""
    await publish_until_acked(publisher, Finished(run_id=result.id, result=result, agent=agent),
                              time.monotonic() + RESULT_RETRY_S, preceded_by=last_output)
    metrics.runs.labels(runtime_key, result.status, result.outcome or "").inc()
    for test in result.tests or ():
        metrics.tests.labels(runtime_key, test.verdict).inc()
