# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Control-plane API against the real Kafka and Consul: auth, errors, catalogue, operations."""

from __future__ import annotations

import base64

import pytest
from cp_stack import Api, control_plane, tenant_key  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)
RUN = {"language": "python", "files": [{"name": "main.py", "content": "print(1)"}]}


def assert_error(reply, status: int, code: str, field: str | None = None) -> None:
    assert reply.status == status, reply
    body = reply.json
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["details"][0]["field"] == field, body


async def test_health_readiness_metrics_and_openapi_need_no_key(control_plane):
    api = Api(control_plane.url, None)
    assert (await api.call("GET", "/healthz")).status == 200
    ready = await api.call("GET", "/readyz")
    assert ready.status in (200, 503)
    assert {"kafka", "consul", "nomad", "run_view"} <= set(ready.json["checks"])
    assert ready.json["checks"]["kafka"] == "ok" and ready.json["checks"]["consul"] == "ok"
    assert (ready.status == 200) == (ready.json["down"] == [])
    metrics = await api.call("GET", "/metrics")
    assert metrics.status == 200
    for name in (b"throwbox_runs_finished_total", b"throwbox_http_request_duration_seconds",
                 b"throwbox_runs_queued", b"throwbox_events_consumer_lag_records"):
        assert name in metrics.body
    doc = await api.call("GET", "/v1/openapi.json")
    assert doc.status == 200 and doc.json["openapi"].startswith("3.1")
    assert "/v1/runs" in doc.json["paths"]


async def test_a_missing_or_unknown_key_is_401_unauthorized(control_plane):
    assert_error(await Api(control_plane.url, None).call("GET", "/v1/runtimes"), 401, "unauthorized")
    assert_error(await Api(control_plane.url, "tbx_not-a-key").call("GET", "/v1/runtimes"), 401, "unauthorized")
    assert_error(await Api(control_plane.url, "tbx_x").call("GET", "/v1/runs/run_000000000000000000000000"),
                 401, "unauthorized")


async def test_a_revoked_key_stops_working(control_plane, tenant_key):
    import asyncio

    from cp_stack import revoke_key
    _, key = tenant_key()
    api = Api(control_plane.url, key)
    assert (await api.call("GET", "/v1/runtimes")).status == 200
    revoke_key(key)
    for _ in range(50):  # within the key cache TTL (0.5 s in tests)
        if (await api.call("GET", "/v1/runtimes")).status == 401:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("revoked key still accepted")


async def test_runtimes_lists_the_registry(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    reply = await api.call("GET", "/v1/runtimes")
    assert reply.status == 200
    python = [r for r in reply.json if r["language"] == "python"]
    assert python and set(python[0]) >= {"language", "version", "aliases", "compiled"}
    assert python[0]["compiled"] is False


async def test_unknown_routes_are_404_not_found_in_the_error_shape(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    assert_error(await api.call("GET", "/v1/nothing-here"), 404, "not_found")
    assert_error(await api.call("GET", "/nothing"), 404, "not_found")
    assert_error(await api.call("GET", "/v1/runs/run_ffffffffffffffffffffffff"), 404, "not_found")
    assert_error(await api.call("GET", "/v1/runs/not-an-id"), 404, "not_found")
    assert_error(await api.call("DELETE", "/v1/runs/run_ffffffffffffffffffffffff"), 404, "not_found")


async def test_bad_requests_are_400_with_the_field_named(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "surprise": 1}), 400, "invalid_request", "surprise")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "files": [{"name": "../x", "content": ""}]}),
                 400, "invalid_request", "files[0].name")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "files": []}), 400, "invalid_request", "files")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "entrypoint": "other.py"}),
                 400, "invalid_request", "entrypoint")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "limits": {"memory_mb": 10**6}}),
                 400, "invalid_request", "limits.memory_mb")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "files": [{"name": "a", "content": "!",
                                                                        "encoding": "base64"}]}),
                 400, "invalid_request", "files[0].content")
    assert_error(await api.call("POST", "/v1/runs", data=b"{not json", headers={"Content-Type": "application/json"}),
                 400, "invalid_request")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "args": "not-a-list"}), 400, "invalid_request", "args")
    assert_error(await api.call("POST", "/v1/runs?wait=maybe", RUN), 400, "invalid_request", "wait")


async def test_a_body_that_is_not_json_is_415(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    assert_error(await api.call("POST", "/v1/runs", data=b'{"language":"python"}',
                                headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert_error(await api.call("POST", "/v1/runs", data=b"x"), 415, "unsupported_media_type")


async def test_an_unknown_runtime_is_422(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "language": "intercal"}), 422, "unknown_runtime", "language")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "version": "0.0.1"}), 422, "unknown_runtime", "version")


async def test_size_caps_are_413_payload_too_large(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    big_file = "x" * (128 * 1024 + 1)
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "files": [{"name": "main.py", "content": big_file}]}),
                 413, "payload_too_large", "files[0].content")
    part = base64.b64encode(b"y" * (100 * 1024)).decode()
    three = [{"name": "main.py", "content": "1"}] + [
        {"name": f"d{i}.bin", "content": part, "encoding": "base64"} for i in range(3)]
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "files": three}), 413, "payload_too_large", "files")
    assert_error(await api.call("POST", "/v1/runs", {**RUN, "stdin": "s" * (32 * 1024 + 1)}),
                 413, "payload_too_large", "stdin")
    huge = b'{"language":"python","files":[{"name":"a","content":"' + b"z" * (600 * 1024) + b'"}]}'
    assert_error(await api.call("POST", "/v1/runs", data=huge, headers={"Content-Type": "application/json"}),
                 413, "payload_too_large")


def test_keys_list_shows_the_tenant_but_never_the_key(tenant_key):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from stack import CONSUL_ADDR

    tenant, key = tenant_key(max_concurrent=3, runs_per_minute=9)
    out = subprocess.run([str(Path(sys.executable).parent / "throwbox"), "keys", "list", "--tenant", tenant],
                         capture_output=True, text=True, timeout=30,
                         env={**os.environ, "THROWBOX_CONSUL_ADDR": CONSUL_ADDR})
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if tenant in line]
    assert len(rows) == 1 and " 3 " in rows[0] and " 9 " in rows[0]
    assert key not in out.stdout
