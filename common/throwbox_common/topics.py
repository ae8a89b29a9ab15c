"""Kafka topic names and their settings: the one place both sides read them from."""

from dataclasses import dataclass, replace

RUNS = "throwbox.runs"                # RunJob, key run id; agents consume as one group
EVENTS = "throwbox.events"            # RunEventRecord, key run id; the record of every run
CONTROL = "throwbox.control"          # ControlRecord, key run id; every agent reads all of it
# Event-driven callers (public): one request topic and one reply topic per tenant, created with
# the tenant's Kafka principal (throwbox_common.kafka_access); the tenant is the topic's.
INVOCATIONS_PREFIX = "throwbox.invocations."   # + tenant: only that tenant writes it
RESULTS_PREFIX = "throwbox.results."           # + tenant: only that tenant reads it
TENANT_TOPIC_PARTITIONS = 2
DLQ = "throwbox.dlq"                  # invocations whose request_id could not be read

AGENT_GROUP = "throwbox-agents"
MAX_RECORD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


TOPICS = (
    TopicSpec(RUNS, 4, {"retention.ms": str(24 * 3600 * 1000)}),
    TopicSpec(EVENTS, 4, {"retention.ms": str(7 * 24 * 3600 * 1000)}),
    TopicSpec(CONTROL, 4, {"retention.ms": str(3600 * 1000)}),
    TopicSpec(DLQ, 1, {}),
)


def deployment_topics(runs_topic: str = RUNS) -> tuple[TopicSpec, ...]:
    """The topics a deployment uses: TOPICS with its own runs topic in place of throwbox.runs (a
    second deployment on one Kafka queues its runs apart; events, control and the DLQ are shared)."""
    return tuple(replace(s, name=runs_topic) if s.name == RUNS else s for s in TOPICS)
