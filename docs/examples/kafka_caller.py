#!/usr/bin/env python3
"""A minimal event-driven caller of Throwbox (see docs/kafka-callers.md).

Sends one request to the tenant's request topic `throwbox.invocations.<tenant>` and prints the
result that comes back on its reply topic `throwbox.results.<tenant>`, matched by request_id.
Connects with the tenant's Kafka credentials (SASL/SCRAM-SHA-512; the file `throwbox keys kafka`
wrote). Needs only aiokafka.

  python docs/examples/kafka_caller.py --credentials acme.properties --tenant acme \
      --function add --input '{"a": 1, "b": 2}'
  python docs/examples/kafka_caller.py --credentials acme.properties --tenant acme --python 'print("hello")'

Exit status: 0 when the run completed, 1 when it ended otherwise (the result is printed either way),
2 when no reply came within --timeout-s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


def sasl(credentials_file: str) -> dict:
    """aiokafka's SASL/SCRAM arguments from a `username=` / `password=` file."""
    values = dict(line.split("=", 1) for line in open(credentials_file).read().splitlines() if "=" in line)
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": values["username"].strip(), "sasl_plain_password": values["password"].strip()}


async def call(bootstrap: str, credentials_file: str, tenant: str, request: dict, timeout_s: float = 120) -> dict:
    """Produce `request` and return the reply value ({"request_id", "result"}) addressed to it."""
    reply_to = f"throwbox.results.{tenant}"
    auth = sasl(credentials_file)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, **auth)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **auth)
    await consumer.start()
    await producer.start()
    try:
        # Start listening before sending, from the end: only replies written from now on matter.
        partitions = consumer.partitions_for_topic(reply_to) or await _partitions(consumer, reply_to)
        tps = [TopicPartition(reply_to, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        rid = request["request_id"]
        # key = request_id: a retried send lands in the same partition and yields the same run.
        await producer.send_and_wait(f"throwbox.invocations.{tenant}", json.dumps(request).encode(), key=rid.encode())
        async with asyncio.timeout(timeout_s):
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for rec in records:
                        if rec.key == rid.encode():
                            return json.loads(rec.value)
    finally:
        await producer.stop()
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public wait
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return parts
        await asyncio.sleep(0.1)
    raise SystemExit(f"topic {topic} does not exist")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--credentials", required=True, metavar="FILE", help="the tenant's Kafka credentials file")
    p.add_argument("--tenant", required=True, help="whose topics to use (the credentials' tenant)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--function", help="name of a stored function (PUT /v1/functions/NAME)")
    what.add_argument("--python", metavar="CODE", help="run this Python program")
    p.add_argument("--input", default=None, help="JSON given to the function on its stdin")
    p.add_argument("--request-id", default=None, help="default: a new uuid (reuse one to retry safely)")
    p.add_argument("--timeout-s", type=float, default=120)
    args = p.parse_args()
    # No "tenant" field needed: the topic is the tenant's, and only its principal may write it.
    request: dict = {"request_id": args.request_id or str(uuid.uuid4())}
    if args.function:
        request["function"] = args.function
        if args.input is not None:
            request["input"] = json.loads(args.input)
    else:
        request["run"] = {"language": "python", "files": [{"name": "main.py", "content": args.python}]}
    try:
        reply = asyncio.run(call(args.bootstrap, args.credentials, args.tenant, request, args.timeout_s))
    except TimeoutError:
        print(f"no reply to {request['request_id']} within {args.timeout_s:.0f}s", file=sys.stderr)
        return 2
    print(json.dumps(reply, indent=2))
    return 0 if reply["result"]["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
