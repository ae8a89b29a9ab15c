"""Who may do what on Kafka: the platform's principals and each tenant's, their ACLs (pure
plans), and the Admin API calls that apply them (SCRAM users, ACLs) over aiokafka's connection.

aiokafka's admin client has no create_acls or alter_user_scram_credentials method, but its
protocol layer carries the request structs; the few missing ones are declared here, so a tenant
is provisioned in one Python process (a JVM tool per call costs seconds each). Topics are
created with aiokafka's own admin call.

Principals (docs/security.md, "Kafka"):
- `admin`: the brokers' super user; scripts and the operator CLI (`throwbox keys`) only.
- `throwbox-control-plane`: queues runs, follows events, consumes every tenant's invocation
  topic, writes every tenant's reply topic and the dead-letter topic.
- `throwbox-agent`: consumes runs and control records, writes events. Nothing else.
- `tenant.<name>`: writes throwbox.invocations.<name>, reads throwbox.results.<name>, uses
  consumer groups named `<name>:...`. Nothing else.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from . import topics

CONTROL_PLANE = "throwbox-control-plane"
AGENT = "throwbox-agent"
TENANT_PREFIX = "tenant."
GROUP_SEPARATOR = ":"          # a tenant's consumer groups are "<tenant>:..." (':' is not in tenant names)
SCRAM_SHA_512 = 2              # Kafka's ScramMechanism id
SCRAM_ITERATIONS = 8192        # Kafka accepts 4096..16384 for SHA-512

# Kafka's ACL enums (org.apache.kafka.common.acl / resource).
TOPIC, GROUP, CLUSTER = 2, 3, 4
LITERAL, PREFIXED = 3, 4
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3
ANY = 1


@dataclass(frozen=True, order=True)
class Acl:
    principal: str                 # "User:name"
    resource_type: int
    name: str
    pattern: int
    operation: int


def user(name: str) -> str:
    return "User:" + name


def tenant_principal(tenant: str) -> str:
    return TENANT_PREFIX + tenant


def invocations_topic(tenant: str) -> str:
    return topics.INVOCATIONS_PREFIX + tenant


def results_topic(tenant: str) -> str:
    return topics.RESULTS_PREFIX + tenant


def _topic(principal: str, name: str, *ops: int, pattern: int = LITERAL) -> list[Acl]:
    return [Acl(user(principal), TOPIC, name, pattern, op) for op in ops]


def platform_acls(runs_topic: str = topics.RUNS, agent_group: str = topics.AGENT_GROUP,
                  invocations_group: str = "throwbox-invocations") -> list[Acl]:
    """Pure: what the control plane and the agents may do (nothing else is allowed)."""
    cp, agent = CONTROL_PLANE, AGENT
    return [
        *_topic(cp, runs_topic, WRITE, DESCRIBE),
        *_topic(cp, topics.EVENTS, READ, WRITE, DESCRIBE),
        *_topic(cp, topics.CONTROL, WRITE, DESCRIBE),
        *_topic(cp, topics.DLQ, WRITE, DESCRIBE),
        *_topic(cp, topics.INVOCATIONS_PREFIX, READ, DESCRIBE, pattern=PREFIXED),
        *_topic(cp, topics.RESULTS_PREFIX, WRITE, DESCRIBE, pattern=PREFIXED),
        Acl(user(cp), GROUP, invocations_group, LITERAL, READ),
        *_topic(agent, runs_topic, READ, DESCRIBE),
        *_topic(agent, topics.EVENTS, READ, WRITE, DESCRIBE),
        *_topic(agent, topics.CONTROL, READ, DESCRIBE),
        Acl(user(agent), GROUP, agent_group, LITERAL, READ),
    ]


def deployment_only_acls(runs_topic: str, agent_group: str) -> list[Acl]:
    """Pure: the bindings a second deployment's runs topic and agent group add to the platform's
    (what removing that deployment deletes; never one the shared topics need)."""
    return sorted(set(platform_acls(runs_topic, agent_group)) - set(platform_acls()))


def tenant_acls(tenant: str) -> list[Acl]:
    """Pure: a tenant's caller writes its own requests and reads its own replies, nothing else."""
    p = tenant_principal(tenant)
    return [
        *_topic(p, invocations_topic(tenant), WRITE, DESCRIBE),
        *_topic(p, results_topic(tenant), READ, DESCRIBE),
        Acl(user(p), GROUP, tenant + GROUP_SEPARATOR, PREFIXED, READ),
    ]


def tenant_topics(tenant: str) -> list[topics.TopicSpec]:
    return [topics.TopicSpec(invocations_topic(tenant), topics.TENANT_TOPIC_PARTITIONS, {}),
            topics.TopicSpec(results_topic(tenant), topics.TENANT_TOPIC_PARTITIONS, {})]


def salted_password(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """SCRAM's SaltedPassword (RFC 5802 Hi()) for SHA-512: what the broker stores keys from."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


# ------------------------------------------------------------------ protocol: SCRAM users


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("iterations", Int32),
                                    ("salt", CompactBytes), ("salted_password", CompactBytes),
                                    ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


_ScramStruct: TypeAlias = AlterUserScramCredentialsRequest_v0


class AlterUserScramCredentials(Request[_ScramStruct]):
    API_KEY = 51

    def __init__(self, upsert: dict[str, str] | None = None, delete: list[str] | None = None):
        self.upsert, self.delete = upsert or {}, delete or []

    def build(self, request_struct_class: type[_ScramStruct]) -> _ScramStruct:
        ups = []
        for name, password in self.upsert.items():
            salt = os.urandom(32)
            ups.append((name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted_password(password, salt), {}))
        return request_struct_class([(n, SCRAM_SHA_512, {}) for n in self.delete], ups, {})


# ------------------------------------------------------------------ protocol: ACLs (v1 = patterns)


class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, acls: list[Acl]):
        self.acls = acls

    def build(self, request_struct_class):
        return request_struct_class([(a.resource_type, a.name, a.pattern, a.principal, "*", a.operation, ALLOW)
                                     for a in self.acls])


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, principal: str):
        self.principal = principal

    def build(self, request_struct_class):
        # Every binding of the principal, on any resource and pattern.
        return request_struct_class([(ANY, None, ANY, self.principal, None, ANY, ANY)])


class _DeleteAclBindings(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, acls: list[Acl]):
        self.acls = acls

    def build(self, request_struct_class):
        # Exactly these bindings (any host), one filter each.
        return request_struct_class([(a.resource_type, a.name, a.pattern, a.principal, None, a.operation, ALLOW)
                                     for a in self.acls])


class _DescribeAcls(Request[DescribeAclsRequest_v1]):
    API_KEY = 29

    def __init__(self, principal: str | None):
        self.principal = principal

    def build(self, request_struct_class):
        return request_struct_class(ANY, None, ANY, self.principal, None, ANY, ANY)


class AccessError(KafkaError):
    """The broker refused an access change (message names what and why)."""


async def _send(admin: AIOKafkaAdminClient, request: Request) -> Response:
    return await admin._send_request(request)       # noqa: SLF001 - no public raw-request call


def _check(errors: list[tuple[int, str | None]], what: str) -> None:
    bad = [(code, msg) for code, msg in errors if code != 0]
    if bad:
        raise AccessError(f"{what}: broker error {bad[0][0]} {bad[0][1] or ''}".strip())


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Idempotent: an existing binding is kept."""
    if acls:
        resp = await _send(admin, _CreateAcls(acls))
        _check([(r[0], r[1]) for r in resp.creation_responses], "creating ACLs")


async def delete_acls(admin: AIOKafkaAdminClient, principal: str) -> None:
    resp = await _send(admin, _DeleteAcls(principal))
    _check([(r[0], r[1]) for r in resp.filter_responses], "deleting ACLs")


async def delete_acl_bindings(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Exactly these bindings (gone already: fine)."""
    if acls:
        resp = await _send(admin, _DeleteAclBindings(acls))
        _check([(r[0], r[1]) for r in resp.filter_responses], "deleting ACLs")


async def describe_acls(admin: AIOKafkaAdminClient, principal: str | None = None) -> list[Acl]:
    resp = await _send(admin, _DescribeAcls(principal))
    _check([(resp.error_code, resp.error_message)], "describing ACLs")
    out = []
    for rtype, name, pattern, acls in resp.resources:
        for p, _host, op, _perm in acls:
            out.append(Acl(p, rtype, name, pattern, op))
    return sorted(out)


async def set_scram(admin: AIOKafkaAdminClient, username: str, password: str) -> None:
    """Create or replace the user's SCRAM-SHA-512 credential (a new password takes effect at once
    for new connections; open ones stay authenticated until they reconnect)."""
    resp = await _send(admin, AlterUserScramCredentials(upsert={username: password}))
    _check([(r[1], r[2]) for r in resp.results], f"setting SCRAM credentials of {username}")


async def delete_scram(admin: AIOKafkaAdminClient, username: str) -> None:
    resp = await _send(admin, AlterUserScramCredentials(delete=[username]))
    # RESOURCE_NOT_FOUND (91): the user had no credential; gone either way.
    _check([(r[1], r[2]) for r in resp.results if r[1] != 91], f"deleting SCRAM credentials of {username}")


async def create_topics(admin: AIOKafkaAdminClient, specs: list[topics.TopicSpec], replication_factor: int = 0,
                        config: dict[str, str] | None = None) -> list[str]:
    """Create the missing ones; the names created. replication_factor 0: as many brokers as
    there are, at most 3 (min.insync.replicas is the brokers' default)."""
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    if missing and replication_factor <= 0:
        replication_factor = max(1, min(3, len((await admin.describe_cluster())["brokers"])))
    if missing:
        resp = await admin.create_topics([NewTopic(s.name, s.partitions, replication_factor,
                                                   topic_configs={**s.config, **(config or {})}) for s in missing])
        for name, code, *_ in resp.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):   # another creator won the race: fine
                raise AccessError(f"creating topic {name} failed with error code {code}")
    return [s.name for s in missing]


async def delete_topics(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    existing = set(await admin.list_topics())
    gone = [n for n in names if n in existing]
    if gone:
        resp = await admin.delete_topics(gone)
        for name, code, *_ in resp.topic_error_codes:
            if code not in (0, UnknownTopicOrPartitionError.errno):
                raise AccessError(f"deleting topic {name} failed with error code {code}")


async def provision_tenant(admin: AIOKafkaAdminClient, tenant: str, password: str) -> None:
    """The tenant's topics, SCRAM user (this password) and ACLs; safe to repeat."""
    await create_topics(admin, tenant_topics(tenant))
    await set_scram(admin, tenant_principal(tenant), password)
    await create_acls(admin, tenant_acls(tenant))


async def remove_tenant(admin: AIOKafkaAdminClient, tenant: str) -> None:
    """The tenant can no longer log in, its ACLs and its topics (and unread replies) are gone."""
    await delete_scram(admin, tenant_principal(tenant))
    await delete_acls(admin, user(tenant_principal(tenant)))
    await delete_topics(admin, [s.name for s in tenant_topics(tenant)])
