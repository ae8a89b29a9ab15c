# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Functions stored in the real Consul; invocations become jobs on the real Kafka."""

from __future__ import annotations

import json

import pytest
from cp_stack import Api, ControlPlane, control_plane, tenant_key  # noqa: F401 - fixtures
from test_api_runs import TopicTail

from throwbox_common import topics
from throwbox_common.messages import run_job_decoder

pytestmark = pytest.mark.timeout(180)
SPEC = {"language": "python", "files": [{"name": "main.py", "content": "import json,sys\nprint(json.load(sys.stdin))"}],
        "description": "echo"}


async def test_put_creates_then_updates_with_a_new_revision(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    created = await api.call("PUT", "/v1/functions/echo", SPEC)
    assert created.status == 201, created
    assert (created.json["name"], created.json["revision"], created.json["language"]) == ("echo", 1, "python")
    updated = await api.call("PUT", "/v1/functions/echo", {**SPEC, "description": "v2"})
    assert updated.status == 200 and updated.json["revision"] == 2
    got = await api.call("GET", "/v1/functions/echo")
    assert got.status == 200 and got.json["description"] == "v2" and got.json["files"][0]["name"] == "main.py"
    listed = await api.call("GET", "/v1/functions")
    assert [f["name"] for f in listed.json] == ["echo"] and listed.json[0]["revision"] == 2


async def test_functions_are_isolated_between_tenants(control_plane, tenant_key):
    a = Api(control_plane.url, tenant_key()[1])
    b = Api(control_plane.url, tenant_key()[1])
    assert (await a.call("PUT", "/v1/functions/secret", SPEC)).status == 201
    for method, path, body in (("GET", "/v1/functions/secret", None), ("DELETE", "/v1/functions/secret", None),
                               ("POST", "/v1/functions/secret/invoke", {"input": 1})):
        r = await b.call(method, path, body)
        assert (r.status, r.error_code) == (404, "not_found"), (method, r)
    assert (await b.call("GET", "/v1/functions")).json == []
    assert (await b.call("PUT", "/v1/functions/secret", SPEC)).status == 201  # b's own, separate


async def test_delete_removes_the_function(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    await api.call("PUT", "/v1/functions/gone", SPEC)
    assert (await api.call("DELETE", "/v1/functions/gone")).status == 204
    assert (await api.call("GET", "/v1/functions/gone")).error_code == "not_found"
    assert (await api.call("DELETE", "/v1/functions/gone")).status == 404


async def test_bad_names_and_specs_are_refused(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    bad_name = await api.call("PUT", "/v1/functions/Bad_Name", SPEC)
    assert (bad_name.status, bad_name.error_code) == (400, "invalid_request")
    assert (await api.call("PUT", "/v1/functions/" + "a" * 64, SPEC)).status == 400
    assert (await api.call("PUT", "/v1/functions/" + "a" * 63, SPEC)).status == 201
    assert (await api.call("GET", "/v1/functions/-x")).status == 404
    r = await api.call("PUT", "/v1/functions/x", {**SPEC, "args": []})
    assert (r.status, r.json["error"]["details"][0]["field"]) == (400, "args")
    assert (await api.call("PUT", "/v1/functions/x", {**SPEC, "language": "intercal"})).status == 422
    assert (await api.call("PUT", "/v1/functions/x", {**SPEC, "entrypoint": "nope.py"})).status == 400


async def test_invoke_runs_the_files_with_the_input_as_json_on_stdin(control_plane, tenant_key):
    tenant, key = tenant_key()
    api = Api(control_plane.url, key)
    await api.call("PUT", "/v1/functions/echo", SPEC)
    async with TopicTail(topics.RUNS) as tail:
        r = await api.call("POST", "/v1/functions/echo/invoke", {"input": {"a": [1, 2]}})
        assert r.status == 202, r
        job = run_job_decoder.decode((await tail.record_for(r.json["id"])).value)
    assert job.tenant == tenant and job.entrypoint == "main.py"
    assert json.loads(job.stdin) == {"a": [1, 2]}
    async with TopicTail(topics.RUNS) as tail:
        r = await api.call("POST", "/v1/functions/echo/invoke", {"stdin": "raw", "args": ["x"]})
        job = run_job_decoder.decode((await tail.record_for(r.json["id"])).value)
    assert (job.stdin, job.args) == (b"raw", ["x"])
    both = await api.call("POST", "/v1/functions/echo/invoke", {"input": 1, "stdin": "x"})
    assert (both.status, both.error_code) == (400, "invalid_request")
    unknown = await api.call("POST", "/v1/functions/echo/invoke", {"inptu": 1})
    assert (unknown.status, unknown.json["error"]["details"][0]["field"]) == (400, "inptu")


async def test_functions_survive_a_control_plane_restart(tenant_key):
    _, key = tenant_key()
    with ControlPlane() as cp:
        assert (await Api(cp.url, key).call("PUT", "/v1/functions/durable", SPEC)).status == 201
    with ControlPlane() as cp:
        got = await Api(cp.url, key).call("GET", "/v1/functions/durable")
        assert got.status == 200 and got.json["revision"] == 1
