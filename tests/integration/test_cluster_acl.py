"""Nomad and Consul with ACLs, as the local cluster and the Terraform deployment run them:
a private Nomad + Consul (tests/private_nomad.py, acl=True) secured by the cluster's own
scripts/nomad/acl.py and policies (scripts/nomad/acl/*.hcl). Anonymous clients are refused; each
component's token does what that component needs, through the component's own client code
(the agent's NomadClient and ConsulService, the control plane's KV), and no more.

Ports 571xx: nobody else's (reserved against ephemeral use by `make up`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from private_nomad import private_nomad
from stack import KAFKA_BOOTSTRAP, REPO_DIR, require_image, require_stack

from throwbox_agent import sandbox_job
from throwbox_agent.config import AgentConfig
from throwbox_agent.consul_service import SERVICE_NAME, ConsulService
from throwbox_agent.errors import NomadError
from throwbox_agent.nomad_api import NomadClient
from throwbox_common import acl_tokens
from throwbox_common import runtimes as runtime_registry
from throwbox_control.consul import KV, ConsulError

pytestmark = pytest.mark.timeout(900)

NOMAD_PORT, CONSUL_PORT = 57146, 57150
DYNAMIC_PORTS = (57160, 57179)
AGENT_METRICS_PORT = 57190
NS = "throwbox-sandboxes"


@pytest.fixture(scope="module")
def acl_stack():
    require_stack("docker")
    with private_nomad("tbxacltest", NOMAD_PORT, CONSUL_PORT, DYNAMIC_PORTS, acl=True) as stack:
        yield stack


def http(method: str, url: str, headers: dict | None = None, body=None) -> tuple[int, object]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def raw_exec_job(job_id: str, namespace: str = "default") -> dict:
    """What a thief would register: a host command."""
    return {"Job": {"ID": job_id, "Name": job_id, "Type": "batch", "Namespace": namespace, "Datacenters": ["*"],
                    "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
                        "Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}}


def test_anonymous_clients_are_refused(acl_stack):
    s = acl_stack
    for method, path, body in (("GET", "/v1/jobs", None), ("GET", "/v1/nodes", None),
                               ("POST", "/v1/jobs", raw_exec_job("anon")), ("GET", f"/v1/jobs?namespace={NS}", None),
                               ("GET", "/v1/var/nomad/jobs/throwbox-executor-agent", None)):
        status, out = http(method, s.nomad_addr + path, body=body)
        assert status == 403, f"nomad {method} {path} without a token: {status} {out}"
    status, _ = http("PUT", s.consul_addr + "/v1/kv/throwbox/keys/anon", body=b"x")
    assert status == 403
    # A key that exists, written with the management token: an anonymous read gets nothing.
    assert http("PUT", s.consul_addr + "/v1/kv/throwbox/keys/probe", s.consul_headers, b"secret")[0] == 200
    status, out = http("GET", s.consul_addr + "/v1/kv/throwbox/keys/probe")
    assert status in (403, 404) and "secret" not in str(out), (status, out)
    status, out = http("GET", s.consul_addr + "/v1/kv/throwbox/?recurse=true")
    assert status in (403, 404) and not out, (status, out)
    status, _ = http("PUT", s.consul_addr + "/v1/agent/service/register", body={"Name": SERVICE_NAME, "ID": "fake"})
    assert status == 403


def test_the_agents_nomad_token_cannot_register_an_arbitrary_job(acl_stack):
    s = acl_stack
    h = {"X-Nomad-Token": s.token("nomad-agent")}
    status, out = http("POST", s.nomad_addr + "/v1/jobs", h, raw_exec_job("stolen"))
    assert status == 403, (status, out)
    # In its own namespace only the docker driver is enabled: no host command either.
    status, out = http("POST", f"{s.nomad_addr}/v1/jobs?namespace={NS}", h, raw_exec_job("stolen", NS))
    assert status != 200 and "raw_exec" in str(out), (status, out)
    assert http("GET", f"{s.nomad_addr}/v1/job/stolen?namespace={NS}", s.nomad_headers)[0] == 404
    # Nor may it read other jobs, variables (not even the one holding its own tokens: only the
    # agent job's tasks can), ACLs, or drain nodes.
    subprocess.run([sys.executable, str(REPO_DIR / "scripts/nomad/acl.py"), "agent-vars", str(s.secrets),
                    "--nomad", s.nomad_addr], check=True)
    for method, path in (("GET", "/v1/jobs"), ("GET", "/v1/acl/tokens"),
                         ("GET", "/v1/var/nomad/jobs/throwbox-executor-agent"),
                         ("POST", f"/v1/node/{s.node_id}/eligibility")):
        status, out = http(method, s.nomad_addr + path, h, {"Eligibility": "ineligible"} if method == "POST" else None)
        assert status == 403, f"{method} {path}: {status} {out}"
    assert http("GET", s.nomad_addr + "/v1/vars?prefix=nomad/", h) == (200, [])


def test_the_agents_consul_token_reads_no_control_plane_key(acl_stack):
    s = acl_stack
    h = {"X-Consul-Token": s.token("consul-agent")}
    assert http("PUT", s.consul_addr + "/v1/kv/throwbox/keys/probe", s.consul_headers, b"secret")[0] == 200
    for key in ("throwbox/keys/probe", "throwbox/admission/t", "throwbox/functions/t/f"):
        status, out = http("GET", f"{s.consul_addr}/v1/kv/{key}", h)
        assert status == 403 and "secret" not in str(out), (key, status, out)
        assert http("PUT", f"{s.consul_addr}/v1/kv/{key}", h, b"forged")[0] == 403, key
    status, out = http("GET", s.consul_addr + "/v1/kv/throwbox/keys/?recurse=true", h)
    assert status in (403, 404) and not out, (status, out)


def test_the_control_planes_consul_token_covers_its_prefixes_only(acl_stack):
    s = acl_stack

    async def go():
        kv = KV(s.consul_addr, 5000, acl_tokens.consul_headers(str(s.token_file("consul-control-plane"))))
        try:
            for prefix in ("throwbox/keys/", "throwbox/admission/", "throwbox/functions/", "throwbox/idempotency/"):
                key = f"{prefix}acltest-{uuid.uuid4().hex[:8]}"
                await kv.put(key, b"v1")
                entry = await kv.get(key)
                assert entry is not None and entry.value == b"v1"
                assert await kv.cas(key, b"v2", entry.modify_index) is not None
                assert [e.key for e in await kv.list(prefix) if e.key == key] == [key]
                assert await kv.delete(key)
            for foreign in ("other/x", "throwbox/elsewhere/x", "vault/x"):
                with pytest.raises(ConsulError, match="403"):
                    await kv.put(foreign, b"x")
            # The agents' health (capacity, readiness) is readable.
            await kv.healthy_service_meta(SERVICE_NAME)
        finally:
            await kv.close()
    asyncio.run(go())
    h = {"X-Consul-Token": s.token("consul-control-plane")}
    assert http("PUT", s.consul_addr + "/v1/agent/service/register", h, {"Name": SERVICE_NAME, "ID": "fake"})[0] == 403
    assert http("GET", s.consul_addr + "/v1/acl/tokens", h)[0] == 403


def test_the_agents_tokens_do_what_the_agent_does(acl_stack, tmp_path):
    """The agent's own clients with its tokens: its local agent and node, a real sandbox job
    in its namespace registered, dispatched, its allocation seen and read, the job stopped; its
    Consul service registered and deregistered, the other agents' health read."""
    s = acl_stack
    registry = runtime_registry.load()
    runtime = registry.runtimes[0]
    require_image(runtime.image)
    config = AgentConfig(name="acltest", nomad_addr=s.nomad_addr, consul_addr=s.consul_addr, nomad_namespace=NS,
                         nomad_token_file=str(s.token_file("nomad-agent")),
                         consul_token_file=str(s.token_file("consul-agent")),
                         metrics_host="127.0.0.1", metrics_port=AGENT_METRICS_PORT)

    async def go():
        nomad = NomadClient(config.nomad_addr, config.nomad_namespace, acl_tokens.nomad_headers(config.nomad_token_file))
        await nomad.start()
        try:
            me = await nomad.agent_self()
            assert me["stats"]["client"]["node_id"] == s.node_id
            assert (await nomad.node(s.node_id))["ID"] == s.node_id
            job = sandbox_job.render(config, registry, runtime, s.node_id)
            assert await nomad.register_job(job) > 0
            assert (await nomad.job(job["ID"]))["Namespace"] == NS
            dispatched = await nomad.dispatch(job["ID"])
            deadline = time.monotonic() + 120
            live: list = []
            while not live and time.monotonic() < deadline:
                live, _ = await nomad.live_allocs([job["ID"]])
                await asyncio.sleep(0.5)
            assert live, "the dispatched sandbox never got an allocation"
            assert (await nomad.allocation(live[0].id))["JobID"] == dispatched
            await nomad.stop_job(dispatched)
            await nomad.stop_job(job["ID"], purge=True)
            assert (await nomad.job(job["ID"])) is None
            # Outside its namespace it can do nothing with jobs.
            other = NomadClient(config.nomad_addr, "default", acl_tokens.nomad_headers(config.nomad_token_file))
            await other.start()
            try:
                with pytest.raises(NomadError, match="403"):
                    await other.register_job({**job, "Namespace": "default"})
            finally:
                await other.close()
        finally:
            await nomad.close()

        consul = ConsulService(config)
        consul.start()
        try:
            await consul.register({"agent": config.name})
            status, entries = http("GET", f"{s.consul_addr}/v1/health/service/{SERVICE_NAME}", s.consul_headers)
            assert status == 200 and [e["Service"]["ID"] for e in entries] == [consul.service_id]
            assert await consul.agent_alive("acltest") in (True, False)   # answered, not refused
            await consul.deregister()
        finally:
            await consul.close()
    asyncio.run(go())


async def grant_agent(runs_topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from throwbox_common import kafka_access, kafka_client
    admin = AIOKafkaAdminClient(**kafka_client.options(KAFKA_BOOTSTRAP))
    await admin.start()
    try:
        agent = kafka_access.user(kafka_access.AGENT)
        await kafka_access.create_acls(admin, [a for a in kafka_access.platform_acls(runs_topic, runs_topic)
                                               if a.principal == agent])
    finally:
        await admin.close()


def test_an_agent_deployed_with_acls_runs_a_program(acl_stack):
    """The executor agent's system job, deployed by scripts/deploy-agent.sh as on the cluster:
    its tokens come from its Nomad Variable, its sandboxes run in their namespace, a run goes
    through end to end (a private runs topic on the stack's Kafka)."""
    require_stack("kafka")
    from pipeline import Pipeline, ensure_topic, make_job

    s = acl_stack
    registry = runtime_registry.load()
    python = next(r for r in registry.runtimes if r.language == "python")
    require_image(python.image)
    assert (REPO_DIR / ".venv" / "bin" / "throwbox-agent").exists(), "no .venv in the checkout (make up)"
    runs_topic = f"throwbox.runs.acltest-{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_topic(KAFKA_BOOTSTRAP, runs_topic))
    # Kafka authorises too (kafka_access): the agent's principal may consume this private runs
    # topic with its group, as it may the platform's (granted as the stack's admin).
    asyncio.run(grant_agent(runs_topic))
    env = {**os.environ, "THROWBOX_NOMAD_ADDR": s.nomad_addr, "THROWBOX_CONSUL_ADDR": s.consul_addr,
           "THROWBOX_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP, "THROWBOX_ACL_SECRETS_DIR": str(s.secrets),
           "THROWBOX_AGENT_HEALTH_URL": f"http://127.0.0.1:{AGENT_METRICS_PORT}/healthz"}
    agent_env = {"THROWBOX_AGENT_RUNS_TOPIC": runs_topic, "THROWBOX_AGENT_POOL_SIZES": f"{python.key}=1",
                 "THROWBOX_AGENT_CONSUMER_GROUP": runs_topic, "THROWBOX_AGENT_STOP_POOLS_ON_EXIT": "true"}
    out = subprocess.run([str(REPO_DIR / "scripts/deploy-agent.sh"),
                          "-var", f"metrics_listen=127.0.0.1:{AGENT_METRICS_PORT}",
                          "-var", "env=" + json.dumps(agent_env).replace('":', '"=')],
                         env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{s.logs()}"
    # The tokens reached the agent as files, not in its job's spec.
    status, job = http("GET", f"{s.nomad_addr}/v1/job/throwbox-executor-agent", s.nomad_headers)
    assert status == 200 and s.token("nomad-agent") not in json.dumps(job)
    status, jobs = http("GET", f"{s.nomad_addr}/v1/jobs?namespace={NS}", s.nomad_headers)
    assert status == 200 and any(j["ID"].startswith("throwbox-sandbox-") for j in jobs), jobs

    async def run_one():
        pipe = Pipeline(KAFKA_BOOTSTRAP, runs_topic)
        await pipe.start()
        try:
            job = make_job("print(6 * 7)", language=python.language, version=python.version)
            await pipe.submit(job)
            return await pipe.result(job.run_id, timeout_s=120)
        finally:
            await pipe.close()
    finished = asyncio.run(run_one())
    assert finished.result.outcome == "ok" and finished.result.stdout == "42\n", finished
