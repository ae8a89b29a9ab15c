"""Kafka credentials and ACL plans (pure parts; tests/integration/test_kafka_security.py checks
them against a broker)."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from throwbox_common import kafka_access as ka
from throwbox_common import kafka_client as kc
from throwbox_common import topics
from throwbox_common.env import SettingError


def test_credentials_parse_and_never_show_the_password():
    c = kc.parse_credentials("# written by broker.sh\nusername=tenant.acme\npassword=s3cret=x\n")
    assert (c.username, c.password) == ("tenant.acme", "s3cret=x")
    assert "s3cret" not in repr(c)
    assert kc.parse_credentials(kc.format_credentials(c)) == c


@pytest.mark.parametrize("text", ["", "username=a\n", "password=b\n", "user=a\npassword=b\n", "username=a\nnonsense\n"])
def test_incomplete_credentials_are_refused(text):
    with pytest.raises(SettingError):
        kc.parse_credentials(text, "f")


def test_a_credentials_file_others_may_read_is_refused(tmp_path):
    f = tmp_path / "c.properties"
    f.write_text("username=a\npassword=b\n")
    os.chmod(f, 0o644)
    with pytest.raises(SettingError, match="chmod 600"):
        kc.read_credentials(f)
    os.chmod(f, 0o600)
    assert kc.read_credentials(f).username == "a"
    with pytest.raises(SettingError, match="cannot read"):
        kc.from_env({kc.CREDENTIALS_FILE.env: str(tmp_path / "missing")})
    assert kc.from_env({}) is None


def test_client_options_add_scram_only_with_credentials():
    assert kc.options("h:1", None) == {"bootstrap_servers": "h:1"}
    o = kc.options("h:1", kc.Credentials("u", "p"))
    assert o["security_protocol"] == "SASL_PLAINTEXT" and o["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (o["sasl_plain_username"], o["sasl_plain_password"]) == ("u", "p")


def test_a_tenant_may_write_only_its_requests_and_read_only_its_replies():
    acls = ka.tenant_acls("acme")
    assert {a.principal for a in acls} == {"User:tenant.acme"}
    writes = {a.name for a in acls if a.operation == ka.WRITE}
    reads = {(a.resource_type, a.name) for a in acls if a.operation == ka.READ}
    assert writes == {"throwbox.invocations.acme"}
    assert reads == {(ka.TOPIC, "throwbox.results.acme"), (ka.GROUP, "acme:")}
    # Topic ACLs are literal: tenant "a" gets nothing of tenant "a.b"'s topics.
    assert all(a.pattern == ka.LITERAL for a in acls if a.resource_type == ka.TOPIC)


def test_agents_cannot_write_requests_runs_or_replies_and_the_control_plane_reads_no_replies():
    acls = ka.platform_acls()
    agent_writes = {a.name for a in acls if a.principal == "User:throwbox-agent" and a.operation == ka.WRITE}
    assert agent_writes == {topics.EVENTS}
    cp = [a for a in acls if a.principal == "User:throwbox-control-plane"]
    assert not any(a.name == topics.RESULTS_PREFIX and a.operation == ka.READ for a in cp)
    assert not any(a.resource_type == ka.CLUSTER for a in acls)     # nobody but the admin alters the cluster


def test_the_salted_password_is_rfc_5802_hi():
    salt, pw = b"salt", "pencil"
    u = hmac.new(pw.encode(), salt + b"\0\0\0\1", hashlib.sha512).digest()
    expected, prev = bytearray(u), u
    for _ in range(4095):
        prev = hmac.new(pw.encode(), prev, hashlib.sha512).digest()
        expected = bytearray(x ^ y for x, y in zip(expected, prev, strict=True))
    assert ka.salted_password(pw, salt, 4096) == bytes(expected)


def test_a_second_deployment_queues_its_runs_on_its_own_topic_and_shares_the_rest():
    own = {s.name: s for s in topics.deployment_topics("throwbox.runs.tf")}
    assert set(own) == {"throwbox.runs.tf", topics.EVENTS, topics.CONTROL, topics.DLQ}
    runs = next(s for s in topics.TOPICS if s.name == topics.RUNS)
    assert (own["throwbox.runs.tf"].partitions, own["throwbox.runs.tf"].config) == (runs.partitions, runs.config)
    assert topics.deployment_topics() == topics.TOPICS


def test_removing_a_second_deployment_deletes_only_its_runs_topic_and_group_bindings():
    extra = ka.deployment_only_acls("throwbox.runs.tf", "tf-agents")
    assert {(a.principal, a.name) for a in extra} == {
        (ka.user(ka.CONTROL_PLANE), "throwbox.runs.tf"), (ka.user(ka.AGENT), "throwbox.runs.tf"),
        (ka.user(ka.AGENT), "tf-agents")}
    shared = set(ka.platform_acls())
    assert not shared & set(extra)
    # What it adds is exactly what the agent and control plane need beyond the shared topics.
    assert set(ka.platform_acls("throwbox.runs.tf", "tf-agents")) - set(extra) <= shared
    assert ka.deployment_only_acls(topics.RUNS, topics.AGENT_GROUP) == []
