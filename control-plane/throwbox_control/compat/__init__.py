"""Drop-in Piston v2 (/api/v2) and Judge0 CE (/judge0) APIs over Throwbox's own runs (docs/compat.md).

Each peer has a pure mapping module (piston.py, judge0.py: fields, units, statuses, refusals)
and a routes module that submits through Services.submit and reads the run view, so quotas,
limits, isolation and streaming stay Throwbox's.
"""

from __future__ import annotations

import logging

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from throwbox_common.runtimes import Registry

from ..config import Settings
from ..services import Services
from . import judge0_routes, piston_routes
from .keys import CompatAuth

log = logging.getLogger("throwbox.compat")


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry) -> None:
    auth = CompatAuth(svc.keys, settings)
    if settings.compat_keyless_tenant:
        log.warning("key-less requests on /api/v2 and /judge0 run as tenant %r (THROWBOX_CP_COMPAT_KEYLESS_TENANT)",
                    settings.compat_keyless_tenant, extra={"tenant": settings.compat_keyless_tenant})
    else:
        log.info("compatibility routes /api/v2 and /judge0 need a key (no key-less tenant configured)")
    piston_routes.register(app, svc, settings, registry, auth)
    judge0_routes.register(app, svc, settings, registry, auth)

    @app.on_response
    async def _peer_error_shape(request: Request, response: HTTPResponse):
        # The app's own answers on these paths (no such route, wrong method, body too large,
        # malformed HTTP...) come in Throwbox's shape: give the peer's clients their own.
        shape = peer_of(request.path)
        if shape is None or response is None or response.status < 400 or not response.body:
            return None
        message = throwbox_error_message(response.body)
        if message is None:
            return None
        body = {"message": message} if shape == "piston" else {"error": message}
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("allow", "retry-after")}
        return raw(msgspec.json.encode(body), status=response.status, headers=headers,
                   content_type="application/json")


def peer_of(path: str) -> str | None:
    if path.startswith(piston_routes.PREFIX):
        return "piston"
    if path == judge0_routes.PREFIX or path.startswith(judge0_routes.PREFIX + "/"):
        return "judge0"
    return None


class _ThrowboxError(msgspec.Struct):
    code: str
    message: str


class _ThrowboxErrorBody(msgspec.Struct):
    error: _ThrowboxError


_error_decoder = msgspec.json.Decoder(_ThrowboxErrorBody)


def throwbox_error_message(body: bytes) -> str | None:
    """The message of a body in Throwbox's error shape, None for anything else."""
    try:
        return _error_decoder.decode(body).error.message
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
