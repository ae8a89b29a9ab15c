"""throwbox.events into the ledger: every partition read from the beginning up to now before
the agent takes any run (so a run with a result never runs again, and a run another agent
started is recognised), then followed."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer

from throwbox_common import kafka_client, topics
from throwbox_common.event_log import EventLogReader, TopicMissing

from .config import AgentConfig
from .errors import AgentError
from .ledger import Ledger, peek_decoder

log = logging.getLogger(__name__)


def events_reader(config: AgentConfig, ledger: Ledger) -> EventLogReader:
    return EventLogReader(
        lambda: AIOKafkaConsumer(**kafka_client.options(config.kafka_bootstrap), enable_auto_commit=False,
                                 fetch_max_wait_ms=100, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES,
                                 fetch_max_bytes=4 * topics.MAX_RECORD_BYTES),
        topics.EVENTS, peek_decoder.decode, ledger.note,
        poll_timeout_ms=1000, catch_up_poll_timeout_ms=500)


async def catch_up(reader: EventLogReader, ledger: Ledger) -> None:
    """Read every partition up to now (the reader is closed if this fails)."""
    try:
        await reader.connect()
        await reader.consume(until_caught_up=True)
    except TopicMissing as e:
        await reader.close()
        raise AgentError(str(e)) from e
    except BaseException:
        await reader.close()
        raise
    log.info("events caught up: %d finished, %d started-only", len(ledger.finished), len(ledger.started))


async def follow(reader: EventLogReader) -> None:
    try:
        await reader.consume()
    finally:
        await reader.close()


def positions(reader: EventLogReader | None) -> dict[str, int]:
    """throwbox.events partition -> the next offset the ledger reads there."""
    read = reader.next_offsets if reader is not None else {}
    return {str(tp.partition): o for tp, o in sorted(read.items())}
