"""Kafka topic names and their settings: the one place both sides read them from."""

from dataclasses import dataclass

RUNS = "throwbox.runs"                # RunJob, key run id; agents consume as one group
EVENTS = "throwbox.events"            # RunEventRecord, key run id; the record of every run
CONTROL = "throwbox.control"          # ControlRecord, key run id; every agent reads all of it
INVOCATIONS = "throwbox.invocations"  # public: event-driven callers' requests
RESULTS = "throwbox.results"          # public: default reply topic
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
    TopicSpec(INVOCATIONS, 4, {}),
    TopicSpec(RESULTS, 4, {}),
    TopicSpec(DLQ, 1, {}),
)
