"""Create the project's Kafka topics (common/throwbox_common/topics.py) when missing, and the
ACLs of the platform's principals (throwbox_common.kafka_access.platform_acls).

Idempotent: existing topics and ACLs are left as they are. Retries until the broker accepts
admin requests or --wait-s runs out, so it doubles as the broker's readiness check. Connects as
THROWBOX_KAFKA_CREDENTIALS_FILE says (the admin's: start-kafka.sh and the cluster pass it).
"""

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from throwbox_common import kafka_access, kafka_client
from throwbox_common.topics import RUNS, TOPICS


class TopicsMissing(Exception):
    pass


@dataclass(frozen=True)
class Layout:
    """How a broker set holds the topics: one broker (the stack) or a replicated cluster."""
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    runs_partitions: int | None = None    # more partitions: more agents can share the runs

    def partitions(self, spec) -> int:
        return self.runs_partitions if spec.name == RUNS and self.runs_partitions else spec.partitions

    def config(self, spec) -> dict[str, str]:
        config = dict(spec.config)
        if self.min_insync_replicas:
            config["min.insync.replicas"] = str(self.min_insync_replicas)
            config["unclean.leader.election.enable"] = "false"
        return config


async def _create_missing(bootstrap: str, check_only: bool, layout: "Layout") -> list[str]:
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap), request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in TOPICS if spec.name not in existing]
        if missing and check_only:
            raise TopicsMissing(", ".join(s.name for s in missing))
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, layout.partitions(s), layout.replication_factor, topic_configs=layout.config(s))
                 for s in missing]
            )
            for name, code, *_ in response.topic_errors:
                # Another creator may win the race between list and create: that is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaError(f"creating {name} failed with error code {code}")
        if not check_only and kafka_client.configure() is not None:
            await kafka_access.create_acls(admin, kafka_access.platform_acls())
        return [s.name for s in missing]
    finally:
        await admin.close()


async def main_async(bootstrap: str, wait_s: float, check_only: bool, layout: Layout) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            created = await _create_missing(bootstrap, check_only, layout)
            print(f"kafka topics ready on {bootstrap}" + (f" (created {', '.join(created)})" if created else ""))
            return 0
        except TopicsMissing as exc:
            print(f"kafka at {bootstrap} lacks topics: {exc}", file=sys.stderr)
            return 1
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                print(f"kafka at {bootstrap} not ready after {wait_s:.0f}s: {exc!r}", file=sys.stderr)
                return 1
            await asyncio.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--wait-s", type=float, default=60.0)
    parser.add_argument("--check", action="store_true", help="only check that every topic exists")
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--min-insync-replicas", type=int, default=None)
    parser.add_argument("--runs-partitions", type=int, default=None)
    args = parser.parse_args()
    if args.min_insync_replicas and not 1 <= args.min_insync_replicas <= args.replication_factor:
        parser.error("--min-insync-replicas must be from 1 to --replication-factor")
    layout = Layout(args.replication_factor, args.min_insync_replicas, args.runs_partitions)
    return asyncio.run(main_async(args.bootstrap, args.wait_s, args.check, layout))


if __name__ == "__main__":
    sys.exit(main())
