# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""A control plane whose Consul or Nomad cannot be reached degrades to clear answers, never a 500."""

from __future__ import annotations

import pytest
from cp_stack import Api, ControlPlane, free_port, tenant_key  # noqa: F401 - fixtures
from stack import require_stack

pytestmark = pytest.mark.timeout(120)


async def test_unreachable_consul_and_nomad_are_named_by_readyz_and_requests_get_503(tenant_key):
    require_stack("kafka")
    _, key = tenant_key()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with ControlPlane(THROWBOX_CONSUL_ADDR=dead, THROWBOX_NOMAD_ADDR=dead) as cp:
        ready = await Api(cp.url, None).call("GET", "/readyz")
        assert ready.status == 503
        assert {"consul", "nomad"} <= set(ready.json["down"]) and "kafka" not in ready.json["down"]
        assert ready.json["checks"]["consul"].startswith("down")
        api = Api(cp.url, key)
        r = await api.call("GET", "/v1/runtimes")  # the key cannot be verified
        assert (r.status, r.error_code) == (503, "overloaded") and int(r.headers["Retry-After"]) >= 1
        assert (await Api(cp.url, None).call("GET", "/v1/runtimes")).status == 401  # no key at all
        assert (await Api(cp.url, None).call("GET", "/healthz")).status == 200
