"""Create the project's Kafka topics (common/throwbox_common/topics.py) when missing.

Idempotent: existing topics are left as they are. Retries until the broker accepts admin
requests or --wait-s runs out, so it doubles as the broker's readiness check.
"""

import argparse
import asyncio
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from throwbox_common.topics import TOPICS


class TopicsMissing(Exception):
    pass


async def _create_missing(bootstrap: str, check_only: bool) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in TOPICS if spec.name not in existing]
        if missing and check_only:
            raise TopicsMissing(", ".join(s.name for s in missing))
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
            )
            for name, code, *_ in response.topic_errors:
                # Another creator may win the race between list and create: that is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaError(f"creating {name} failed with error code {code}")
        return [s.name for s in missing]
    finally:
        await admin.close()


async def main_async(bootstrap: str, wait_s: float, check_only: bool) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            created = await _create_missing(bootstrap, check_only)
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
    args = parser.parse_args()
    return asyncio.run(main_async(args.bootstrap, args.wait_s, args.check))


if __name__ == "__main__":
    sys.exit(main())
