"""Nobody acts on Kafka as a tenant, or a component, it is not: against a real broker secured as
the stack's (tests/private_kafka.py: scripts/start-kafka.sh on this module's own ports, so the
shared broker is never restarted), with tenants provisioned by the code `throwbox keys` runs and
a private control plane consuming their request topics as its own principal.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest
from cp_stack import ControlPlane
from kafka_callers import TopicWatcher, python_run, send
from private_kafka import private_kafka

from throwbox_common import kafka_access, kafka_client, topics
from throwbox_control import cli, kafka_tenants

pytestmark = pytest.mark.timeout(420)
KAFKA_PORT = 56110          # this module's broker (+1: its controller); shared 9092, outage test 19192
CP_PORT = 56120
REPLY_S = 60
REFUSED = (KafkaConnectionError, KafkaError, OSError, asyncio.TimeoutError)


@pytest.fixture(scope="module")
def kafka():
    with private_kafka(KAFKA_PORT, name="kafka-security") as k:
        yield k


@pytest.fixture(scope="module")
def tenants(kafka, tmp_path_factory):
    """Two tenants, provisioned as `throwbox keys kafka` does (as the Kafka admin)."""
    out, names = tmp_path_factory.mktemp("kafka-tenants"), {}
    env = {"THROWBOX_KAFKA_BOOTSTRAP": kafka.bootstrap,
           "THROWBOX_KAFKA_CREDENTIALS_FILE": str(kafka.credentials_file())}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for label in ("a", "b"):
            name = f"ks-{label}-{uuid.uuid4().hex[:6]}"
            names[label] = (name, kafka_tenants.grant(name, out / f"{name}.properties"))
            assert os.stat(out / f"{name}.properties").st_mode & 0o077 == 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return names


async def produce(kafka, credentials, topic: str, value: bytes = b"{}") -> None:
    producer = AIOKafkaProducer(**kafka_client.options(kafka.bootstrap, credentials), acks="all",
                                enable_idempotence=True, request_timeout_ms=10_000)
    await producer.start()
    try:
        await (await producer.send(topic, value, key=b"k"))
    finally:
        await producer.stop()


async def read(kafka, credentials, topic: str) -> list[bytes]:
    """Every record value of the topic's partition 0 the client can fetch (aiokafka's consumer
    does not raise on an unauthorized topic: it logs and fetches nothing)."""
    consumer = AIOKafkaConsumer(**kafka_client.options(kafka.bootstrap, credentials), enable_auto_commit=False,
                                request_timeout_ms=10_000)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        batch = await consumer.getmany(tp, timeout_ms=3_000)
        return [r.value for r in batch.get(tp, [])]
    finally:
        await consumer.stop()


async def topic_error(kafka, credentials, topic: str) -> int:
    """The error code a Metadata request for the topic answers the client (29: not authorized)."""
    admin = AIOKafkaAdminClient(**kafka_client.options(kafka.bootstrap, credentials), request_timeout_ms=10_000)
    await admin.start()
    try:
        response = await admin._send_request(MetadataRequest([topic]))      # noqa: SLF001
        return next(t[0] for t in response.topics if t[1] == topic)
    finally:
        await admin.close()


async def connects(kafka, credentials) -> bool:
    admin = AIOKafkaAdminClient(**kafka_client.options(kafka.bootstrap, credentials), request_timeout_ms=5_000)
    try:
        await asyncio.wait_for(admin.start(), 20)
        await asyncio.wait_for(admin.list_topics(), 20)
        return True
    except REFUSED:
        return False
    finally:
        await admin.close()


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(kafka, tenants):
    _, a = tenants["a"]
    assert await connects(kafka, a)                        # the same client, authenticated, gets in
    assert not await connects(kafka, None)
    assert not await connects(kafka, kafka_client.Credentials(a.username, a.password + "x"))
    assert not await connects(kafka, kafka_client.Credentials("nobody", "nothing"))


async def test_a_tenant_writes_its_own_request_topic_and_no_other(kafka, tenants):
    (a_name, a), (b_name, _) = tenants["a"], tenants["b"]
    await produce(kafka, a, kafka_access.invocations_topic(a_name))
    for topic in (kafka_access.invocations_topic(b_name), topics.RUNS, topics.EVENTS, topics.CONTROL,
                  kafka_access.results_topic(a_name), topics.DLQ):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(kafka, a, topic)


async def test_a_tenant_reads_its_own_replies_and_nothing_else(kafka, tenants):
    (a_name, a), (b_name, _) = tenants["a"], tenants["b"]
    admin = kafka.credentials()
    for topic in (kafka_access.results_topic(a_name), kafka_access.results_topic(b_name), topics.EVENTS):
        await produce(kafka, admin, topic, f"for {topic}".encode())
    assert f"for {kafka_access.results_topic(a_name)}".encode() in await read(kafka, a, kafka_access.results_topic(a_name))
    for topic in (kafka_access.results_topic(b_name), topics.RUNS, topics.EVENTS,
                  kafka_access.invocations_topic(b_name)):
        assert await topic_error(kafka, a, topic) == TopicAuthorizationFailedError.errno, topic
        assert await read(kafka, a, topic) == [], topic


async def test_an_agent_cannot_write_requests_runs_or_replies(kafka, tenants):
    a_name, _ = tenants["a"]
    agent = kafka.credentials("agent")
    await produce(kafka, agent, topics.EVENTS, b"")       # what it is for
    for topic in (kafka_access.invocations_topic(a_name), topics.RUNS, kafka_access.results_topic(a_name)):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(kafka, agent, topic)
    assert await topic_error(kafka, agent, kafka_access.invocations_topic(a_name)) == TopicAuthorizationFailedError.errno


async def test_the_brokers_hold_exactly_the_planned_acls(kafka, tenants):
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        acls = set(await kafka_access.describe_acls(admin))
    finally:
        await admin.close()
    planned = set(kafka_access.platform_acls())
    for name, _ in tenants.values():
        planned |= set(kafka_access.tenant_acls(name))
    assert acls == planned


def test_a_record_naming_another_tenant_is_refused_unauthorized_on_the_writers_reply_topic(kafka, tenants):
    (a_name, a), (b_name, _) = tenants["a"], tenants["b"]
    cp = ControlPlane(port=CP_PORT, THROWBOX_KAFKA_BOOTSTRAP=kafka.bootstrap,
                      THROWBOX_KAFKA_CREDENTIALS_FILE=str(kafka.credentials_file("control-plane")),
                      # No Consul or Nomad here: what is checked is decided before either is asked.
                      THROWBOX_CONSUL_ADDR="http://127.0.0.1:56198", THROWBOX_NOMAD_ADDR="http://127.0.0.1:56197")
    cp.start()
    try:
        asyncio.run(_impersonation(kafka, a_name, a, b_name, cp))
    finally:
        cp.stop()


async def _impersonation(kafka, a_name, a, b_name, cp) -> None:
    forged, bad_reply = f"forged-{uuid.uuid4().hex}", f"reply-{uuid.uuid4().hex}"
    b_replies = [TopicPartition(kafka_access.results_topic(b_name), p) for p in range(topics.TENANT_TOPIC_PARTITIONS)]
    b_before = await end_offsets(kafka, b_replies)
    async with TopicWatcher(kafka.bootstrap, kafka_access.results_topic(a_name), credentials=a) as replies:
        await send(kafka.bootstrap, {"request_id": forged, "tenant": b_name, "run": python_run("print(1)")},
                   tenant=a_name, credentials=a)
        await send(kafka.bootstrap, {"request_id": bad_reply, "run": python_run("print(1)"),
                                     "reply_to": kafka_access.results_topic(b_name)}, tenant=a_name, credentials=a)
        try:
            refused = await replies.reply(forged, REPLY_S)
            misdirected = await replies.reply(bad_reply, REPLY_S)
        except TimeoutError:
            raise AssertionError(f"no reply on {a_name}'s topic; control plane log:\n{cp.log_tail()}") from None
    assert refused["result"]["status"] == "failed" and refused["result"]["id"] == ""
    assert refused["result"]["error"]["code"] == "unauthorized", refused
    assert b_name in refused["result"]["error"]["message"]
    assert misdirected["result"]["error"]["code"] == "invalid_request", misdirected
    # B's reply topic got nothing: both answers went to the writer's own topic.
    assert await end_offsets(kafka, b_replies) == b_before


async def end_offsets(kafka, tps: list[TopicPartition]) -> dict:
    consumer = AIOKafkaConsumer(**kafka.options())
    await consumer.start()
    try:
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def test_granting_again_rotates_and_revoking_removes_login_acls_and_topics(kafka, tmp_path, monkeypatch):
    monkeypatch.setenv("THROWBOX_KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("THROWBOX_KAFKA_CREDENTIALS_FILE", str(kafka.credentials_file()))
    name = f"ks-c-{uuid.uuid4().hex[:6]}"
    first = await asyncio.to_thread(kafka_tenants.grant, name, tmp_path / "first.properties")
    second = await asyncio.to_thread(kafka_tenants.grant, name, tmp_path / "second.properties")
    assert first.password != second.password
    assert kafka_client.read_credentials(tmp_path / "second.properties") == second
    assert not await connects(kafka, first)
    await produce(kafka, second, kafka_access.invocations_topic(name))
    with pytest.raises(kafka_tenants.KafkaAccessError):            # an existing file is never overwritten
        await asyncio.to_thread(kafka_tenants.grant, name, tmp_path / "second.properties")

    await asyncio.to_thread(kafka_tenants.revoke, name)
    assert not await connects(kafka, second)
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        assert await kafka_access.describe_acls(admin, kafka_access.user(kafka_access.tenant_principal(name))) == []
        assert not {s.name for s in kafka_access.tenant_topics(name)} & set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_components_password_is_rotated_in_place_and_the_admins_is_not(kafka, tmp_path, monkeypatch):
    """`throwbox kafka rotate FILE`: the agents' principal gets a new password, its file is
    replaced (0600), the old password is refused; the admin's file is refused with a reason."""
    monkeypatch.setenv("THROWBOX_KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("THROWBOX_KAFKA_CREDENTIALS_FILE", str(kafka.credentials_file()))
    original = kafka_client.read_credentials(kafka.credentials_file("agent"))
    path = tmp_path / "agent.properties"
    path.write_text(kafka_client.format_credentials(original))
    path.chmod(0o600)
    try:
        assert await asyncio.to_thread(cli.main, ["kafka", "rotate", str(path)]) == 0
        rotated = kafka_client.read_credentials(path)
        assert rotated.username == original.username and rotated.password != original.password
        assert os.stat(path).st_mode & 0o077 == 0
        assert await connects(kafka, rotated)
        assert not await connects(kafka, original)
        assert await asyncio.to_thread(cli.main, ["kafka", "rotate", str(kafka.credentials_file())]) == 1
        assert await connects(kafka, kafka_client.read_credentials(kafka.credentials_file()))
    finally:        # the module's broker keeps the agent's password its file holds
        admin = AIOKafkaAdminClient(**kafka.options())
        await admin.start()
        try:
            await kafka_access.set_scram(admin, original.username, original.password)
        finally:
            await admin.close()
