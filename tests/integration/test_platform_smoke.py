"""The single-node stack is real: Kafka, Consul, Nomad and Docker+gVisor each do their job."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from urllib.parse import urlparse

import consul
import nomad
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, NOMAD_ADDR, SANDBOX_RUNTIME, require_image, require_stack

from throwbox_common import kafka_client
from throwbox_common.polling import wait_until
from throwbox_common.runtimes import load as load_runtimes
from throwbox_common.topics import MAX_RECORD_BYTES, TOPICS

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def private_topic():
    """A topic of this test alone (auto-creation is off on the broker), deleted afterwards."""
    require_stack("kafka")
    name = f"throwbox-test.smoke-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(**kafka_client.options(KAFKA_BOOTSTRAP))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def test_the_project_topics_exist_with_their_partition_counts():
    require_stack("kafka")
    admin = AIOKafkaAdminClient(**kafka_client.options(KAFKA_BOOTSTRAP))
    await admin.start()
    try:
        described = await admin.describe_topics([spec.name for spec in TOPICS])
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    assert partitions == {spec.name: spec.partitions for spec in TOPICS}


async def test_a_record_of_the_largest_allowed_size_makes_a_kafka_round_trip(private_topic):
    # A 16 MiB value: the broker's message.max.bytes must leave room for the batch around it.
    value = os.urandom(MAX_RECORD_BYTES)
    producer = AIOKafkaProducer(**kafka_client.options(KAFKA_BOOTSTRAP), max_request_size=MAX_RECORD_BYTES + 65536)
    await producer.start()
    try:
        await producer.send_and_wait(private_topic, b"small", key=b"k1")
        await producer.send_and_wait(private_topic, value, key=b"k2")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        private_topic, **kafka_client.options(KAFKA_BOOTSTRAP), auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=100, fetch_max_bytes=2 * MAX_RECORD_BYTES,
        max_partition_fetch_bytes=2 * MAX_RECORD_BYTES,
    )
    await consumer.start()
    try:
        records = []
        deadline = time.monotonic() + 60
        while len(records) < 2 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            records += [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    assert [(r.key, r.value) for r in records] == [(b"k1", b"small"), (b"k2", value)]


def test_a_consul_kv_write_can_be_read_back():
    require_stack("consul")
    url = urlparse(CONSUL_ADDR)
    client = consul.Consul(host=url.hostname, port=url.port or 8500, scheme=url.scheme)
    key = f"throwbox-test/smoke/{uuid.uuid4().hex}"
    try:
        assert client.kv.put(key, "hello from the smoke test") is True
        _, entry = client.kv.get(key)
        assert entry["Value"] == b"hello from the smoke test"
    finally:
        client.kv.delete(key)
    _, gone = client.kv.get(key)
    assert gone is None


def sandbox_image() -> str:
    """The first runtime image of the registry (THROWBOX_SMOKE_IMAGE overrides, for development)."""
    return os.environ.get("THROWBOX_SMOKE_IMAGE") or load_runtimes().runtimes[0].image


def smoke_job(job_id: str, image: str) -> dict:
    second_ns = 1_000_000_000
    return {
        "ID": job_id,
        "Name": job_id,
        "Type": "service",
        "Datacenters": ["*"],
        "TaskGroups": [{
            "Name": "smoke",
            "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
            "EphemeralDisk": {"SizeMB": 10},
            "Tasks": [{
                "Name": "sandbox",
                "Driver": "docker",
                "User": "65534:65534",
                "KillTimeout": 2 * second_ns,
                "LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1, "Disabled": True},
                "Config": {
                    "image": image,
                    "force_pull": False,
                    "runtime": SANDBOX_RUNTIME,
                    "network_mode": "none",
                    "readonly_rootfs": True,
                    "cap_drop": ["all"],
                    "pids_limit": 64,
                    "entrypoint": ["sleep"],
                    "args": ["600"],
                    "mount": [{"type": "tmpfs", "target": "/tmp", "tmpfs_options": {"size": 16 * 1024 * 1024}}],
                },
                "Resources": {"CPU": 100, "MemoryMB": 64},
            }],
        }],
    }


def docker_inspect(name: str) -> dict | None:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def test_a_nomad_job_runs_its_container_under_gvisor_without_network_read_only_as_nobody():
    require_stack("docker", "nomad")
    image = sandbox_image()
    require_image(image)
    url = urlparse(NOMAD_ADDR)
    client = nomad.Nomad(host=url.hostname, port=url.port or 4646, timeout=30)
    job_id = f"throwbox-test-smoke-{uuid.uuid4().hex[:8]}"
    client.job.register_job(job_id, {"Job": smoke_job(job_id, image)})
    container = None
    try:
        def running_alloc():
            allocs = client.job.get_allocations(job_id)
            failed = [a for a in allocs if a["ClientStatus"] == "failed"]
            if failed:
                raise AssertionError(f"allocation failed: {client.allocation.get_allocation(failed[0]['ID'])['TaskStates']}")
            return next((a for a in allocs if a["ClientStatus"] == "running"), None)

        alloc = wait_until(running_alloc, 120, "the smoke allocation runs")
        container = f"sandbox-{alloc['ID']}"   # Nomad's docker driver names it <task>-<alloc id>
        info = docker_inspect(container)
        assert info is not None, f"no container {container}"
        assert info["State"]["Running"] is True
        assert info["HostConfig"]["Runtime"] == SANDBOX_RUNTIME
        assert info["HostConfig"]["NetworkMode"] == "none"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["Config"]["User"] == "65534:65534"
        assert info["Config"]["Image"] == image
        assert info["Config"]["Labels"]["com.hashicorp.nomad.alloc_id"] == alloc["ID"]
        # scripts/down.sh finds this node's leftover containers by this label.
        assert info["Config"]["Labels"]["com.hashicorp.nomad.node_id"] == alloc["NodeID"]
    finally:
        client.job.deregister_job(job_id, purge=True)
    wait_until(lambda: docker_inspect(container) is None, 120, "the smoke container is removed after the purge")
