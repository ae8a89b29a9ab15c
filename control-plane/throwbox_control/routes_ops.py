"""The catalogue and operations routes: runtimes, the OpenAPI document, health, readiness, metrics."""

from __future__ import annotations

import msgspec
from sanic import Request, Sanic
from sanic.response import raw

from throwbox_common.runtimes import Registry

from . import metrics, openapi
from .http_common import json_response
from .services import Services

_enc = msgspec.json.Encoder()


def runtimes_json(registry: Registry) -> bytes:
    """GET /v1/runtimes' body: the runtimes offered now (a runtime whose image the workers do
    not have yet is left out until they do)."""
    return _enc.encode([
        {"language": r.language, "version": r.version, "aliases": list(r.aliases), "compiled": r.compiled}
        for r in registry.offered_runtimes()])


def register(app: Sanic, svc: Services, registry: Registry) -> None:
    @app.get("/v1/runtimes")
    async def runtimes(request: Request):
        return json_response(runtimes_json(registry))

    @app.get("/v1/openapi.json")
    async def openapi_doc(request: Request):
        return json_response(openapi.document())

    @app.get("/healthz")
    async def healthz(request: Request):
        return json_response(b'{"status":"ok"}')

    @app.get("/readyz")
    async def readyz(request: Request):
        checks = await svc.health.readiness()
        down = sorted(k for k, v in checks.items() if v != "ok")
        return json_response(_enc.encode({"ready": not down, "checks": checks, "down": down,
                                          "capacity": svc.health.capacity_report()}),
                             503 if down else 200)

    @app.get("/metrics")
    async def metrics_route(request: Request):
        await svc.health.refresh_gauges()
        return raw(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
