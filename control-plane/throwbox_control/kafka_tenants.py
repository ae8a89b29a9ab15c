"""A tenant's Kafka access, for the operator CLI (`throwbox keys`): its request and reply topics,
its SCRAM principal `tenant.<name>` and the ACLs that confine it to them.

The CLI connects as the Kafka admin (THROWBOX_KAFKA_CREDENTIALS_FILE = the admin's file): only
the brokers' super user may create principals and ACLs, so no long-running component holds that
power. Granting again gives a new password (the old one stops working for new connections): that
is how a tenant's Kafka credentials are rotated or replaced when lost.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from throwbox_common import kafka_access, kafka_client
from throwbox_common.settings import Setting

from .config import TENANT_NAME

KAFKA_BOOTSTRAP = Setting("THROWBOX_KAFKA_BOOTSTRAP", "127.0.0.1:9092",
                          "Kafka bootstrap servers `throwbox keys` provisions tenants' Kafka access on (as the "
                          "Kafka admin: THROWBOX_KAFKA_CREDENTIALS_FILE)")
MARKER_PREFIX = "throwbox/kafka-tenants/"     # Consul: which tenants have Kafka access
SETTLE_S = 30.0     # brokers apply new credentials and ACLs from the metadata log a moment later


class KafkaAccessError(Exception):
    pass


def _bootstrap() -> str:
    return os.environ.get(KAFKA_BOOTSTRAP.env) or KAFKA_BOOTSTRAP.default


def _admin() -> AIOKafkaAdminClient:
    bootstrap = _bootstrap()
    try:
        creds = kafka_client.from_env(os.environ)
    except ValueError as e:
        raise KafkaAccessError(str(e)) from None
    if creds is None:
        raise KafkaAccessError(f"set {kafka_client.CREDENTIALS_FILE.env} to the Kafka admin's credentials file "
                               "(the stack's: .state/kafka/credentials/admin.properties)")
    return AIOKafkaAdminClient(**kafka_client.options(bootstrap, creds), request_timeout_ms=10_000)


async def _with_admin(work) -> None:
    admin = _admin()
    try:
        await asyncio.wait_for(admin.start(), 15)
        await work(admin)
    except (KafkaError, OSError, TimeoutError) as e:
        raise KafkaAccessError(f"Kafka: {e!r}") from None
    finally:
        await admin.close()


def write_new_file(path: Path, text: str) -> None:
    """Created with mode 0600; an existing file is never overwritten (it may hold other secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def grant(tenant: str, out: Path) -> kafka_client.Credentials:
    """Provision (or re-provision with a new password) the tenant's Kafka access; the credentials
    are written to `out` (mode 0600, must not exist yet) and nowhere else."""
    if not TENANT_NAME.match(tenant):
        raise KafkaAccessError(f"{tenant!r} is not a tenant name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")
    creds = kafka_client.Credentials(kafka_access.tenant_principal(tenant), secrets.token_urlsafe(30))
    if out.exists():
        raise KafkaAccessError(f"{out} exists: credentials are written to a new file only")
    asyncio.run(_with_admin(lambda admin: kafka_access.provision_tenant(admin, tenant, creds.password)))
    asyncio.run(_until_usable(tenant, creds))
    write_new_file(out, kafka_client.format_credentials(creds))
    return creds


async def _until_usable(tenant: str, creds: kafka_client.Credentials) -> None:
    """Handed-out credentials work: the tenant logs in and sees its two topics (the broker has
    applied the credential and the ACLs; before that a first login may fail)."""
    await _until_login(creds, [kafka_access.invocations_topic(tenant), kafka_access.results_topic(tenant)], tenant)


async def _until_login(creds: kafka_client.Credentials, wanted: list[str], who: str) -> None:
    """`creds` log in and see every topic of `wanted` (none: the login alone)."""
    deadline, last = time.monotonic() + SETTLE_S, ""
    while time.monotonic() < deadline:
        client = AIOKafkaAdminClient(**kafka_client.options(_bootstrap(), creds), request_timeout_ms=5_000)
        try:
            await asyncio.wait_for(client.start(), 10)
            response = await client._send_request(MetadataRequest(wanted))     # noqa: SLF001
            errors = {t[1]: t[0] for t in response.topics}
            if all(errors.get(name) == 0 for name in wanted):
                return
            last = f"topic errors {errors}"
        except (KafkaError, OSError, TimeoutError) as e:
            last = repr(e)
        finally:
            await client.close()
        await asyncio.sleep(0.3)
    raise KafkaAccessError(f"the new credentials of {who!r} did not work within {SETTLE_S:.0f} s: {last}")


# The platform principals whose password `rotate_component` may change. Not the admin: its
# password is also each broker's inter-broker and controller secret (a rolling restart with two
# passwords at once, which the controllers' static PLAIN entry cannot hold; docs/security.md).
ROTATABLE = (kafka_access.CONTROL_PLANE, kafka_access.AGENT)


def rotate_component(path: Path) -> kafka_client.Credentials:
    """A new password for the component whose credentials file `path` is: set on the brokers
    (as the admin), checked by a login, then `path` replaced atomically (mode 0600). Instances
    already connected keep working until they reconnect; restart them to read the new file."""
    try:
        old = kafka_client.read_credentials(path)
    except (ValueError, OSError) as e:
        raise KafkaAccessError(str(e)) from None
    if old.username not in ROTATABLE:
        raise KafkaAccessError(f"{path} is {old.username!r}'s; only {', '.join(ROTATABLE)} are rotated this way")
    creds = kafka_client.Credentials(old.username, secrets.token_urlsafe(30))
    asyncio.run(_with_admin(lambda admin: kafka_access.set_scram(admin, creds.username, creds.password)))
    asyncio.run(_until_login(creds, [], creds.username))
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    write_new_file(tmp, kafka_client.format_credentials(creds))
    os.replace(tmp, path)
    return creds


def revoke(tenant: str) -> None:
    """The tenant's principal, ACLs and topics (with any unread replies) are removed; returns once
    the broker answering has applied that (its metadata log is ordered: topics go last)."""
    async def work(admin: AIOKafkaAdminClient) -> None:
        await kafka_access.remove_tenant(admin, tenant)
        names = {s.name for s in kafka_access.tenant_topics(tenant)}
        deadline = time.monotonic() + SETTLE_S
        while names & set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise KafkaAccessError(f"the topics of {tenant!r} are still listed after {SETTLE_S:.0f} s")
            await asyncio.sleep(0.3)
    asyncio.run(_with_admin(work))
