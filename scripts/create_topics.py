"""Create the project's Kafka topics (common/throwbox_common/topics.py) when missing, and the
ACLs of the platform's principals (throwbox_common.kafka_access.platform_acls).

--runs-topic/--agent-group: a second deployment on the same Kafka (terraform/modules/throwbox
with another name_prefix) gets its own runs topic and agent group, with their ACLs; --remove
deletes exactly those (never a shared topic or binding).

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
from throwbox_common.topics import AGENT_GROUP, RUNS, deployment_topics


class TopicsMissing(Exception):
    pass


@dataclass(frozen=True)
class Layout:
    """How a broker set holds the topics: one broker (the stack) or a replicated cluster."""
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    runs_partitions: int | None = None    # more partitions: more agents can share the runs
    runs_topic: str = RUNS
    agent_group: str = AGENT_GROUP

    def partitions(self, spec) -> int:
        return self.runs_partitions if spec.name == self.runs_topic and self.runs_partitions else spec.partitions

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
        missing = [spec for spec in deployment_topics(layout.runs_topic) if spec.name not in existing]
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
            await kafka_access.create_acls(admin, kafka_access.platform_acls(layout.runs_topic, layout.agent_group))
        return [s.name for s in missing]
    finally:
        await admin.close()


async def _remove(bootstrap: str, layout: "Layout") -> None:
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap), request_timeout_ms=10_000)
    await admin.start()
    try:
        await kafka_access.delete_acl_bindings(
            admin, kafka_access.deployment_only_acls(layout.runs_topic, layout.agent_group))
        await kafka_access.delete_topics(admin, [layout.runs_topic])
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
    parser.add_argument("--runs-topic", default=RUNS, help="the deployment's runs topic")
    parser.add_argument("--agent-group", default=AGENT_GROUP, help="its agents' consumer group")
    parser.add_argument("--remove", action="store_true",
                        help="delete --runs-topic and the ACLs of it and --agent-group (a second deployment's)")
    args = parser.parse_args()
    if args.min_insync_replicas and not 1 <= args.min_insync_replicas <= args.replication_factor:
        parser.error("--min-insync-replicas must be from 1 to --replication-factor")
    layout = Layout(args.replication_factor, args.min_insync_replicas, args.runs_partitions,
                    args.runs_topic, args.agent_group)
    if args.remove:
        if args.runs_topic == RUNS or args.agent_group == AGENT_GROUP:
            parser.error(f"--remove needs a second deployment's --runs-topic and --agent-group, not {RUNS} or "
                         f"{AGENT_GROUP}")
        asyncio.run(_remove(args.bootstrap, layout))
        print(f"removed {args.runs_topic} and the ACLs of it and {args.agent_group}")
        return 0
    return asyncio.run(main_async(args.bootstrap, args.wait_s, args.check, layout))


if __name__ == "__main__":
    sys.exit(main())
