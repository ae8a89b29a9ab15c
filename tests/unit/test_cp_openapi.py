"""The OpenAPI document: loadable by schemathesis, and exactly the app's routes."""

import json
import re

import schemathesis

from throwbox_common.runtimes import Limits, Registry, Runtime
from throwbox_control import config, openapi
from throwbox_control.app import create_app


def registry() -> Registry:
    limits = Limits(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1 << 20)
    py = Runtime("python", "3.11.2", "throwbox/python:3.11.2-1", "py", ("python3", "{entrypoint}"))
    return Registry([py], limits, limits)


def test_the_document_is_openapi_3_1_and_loads_in_schemathesis():
    doc = json.loads(openapi.document())
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    assert len(list(schema.get_all_operations())) >= 12


def test_every_http_route_of_the_app_is_documented_and_nothing_else():
    app = create_app(config.Settings(), registry(), name="throwbox_openapi_test")
    documented = {(m.upper(), p) for p, ops in json.loads(openapi.document())["paths"].items() for m in ops}
    served = set()
    for route in app.router.routes:
        path = "/" + re.sub(r"<(\w+):\w+>", r"{\1}", route.path).lstrip("/")
        path = path.replace("{run_id}", "{id}")
        for method in route.methods:
            if route.extra.websocket or path == "/v1/openapi.json" or method in ("HEAD", "OPTIONS"):
                continue
            if path == "/" or path.startswith("/playground/"):   # the playground's page, not API
                continue
            served.add((method, path))
    assert served == documented
