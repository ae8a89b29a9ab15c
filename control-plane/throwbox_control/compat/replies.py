"""What the compatibility routes share: JSON replies, and handlers that answer every refusal in
their peer's error shape (never Throwbox's)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from ..errors import ApiError, DependencyError, overloaded
from .keys import CompatAuth

log = logging.getLogger("throwbox.compat")
_enc = msgspec.json.Encoder()


def reply(body: object, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return raw(_enc.encode(body), status=status, headers=headers, content_type="application/json")


def require_key(app: Sanic, auth: CompatAuth, applies: Callable[[str], bool],
                error_reply: Callable[[ApiError], HTTPResponse], unauthorized: dict) -> None:
    """A request hook for one peer's routes (`applies(path)`): the caller's principal from its key
    (or the key-less tenant), else `unauthorized` with 401, or 503 while keys cannot be checked."""
    async def authenticate(request: Request):
        if not applies(request.path):
            return None
        try:
            principal = await auth.principal(request.headers)
        except DependencyError:
            return error_reply(overloaded("cannot verify API keys right now (Consul unreachable)", 2))
        if principal is None:
            return reply(unauthorized, 401)
        request.ctx.principal = principal
        return None
    app.on_request(authenticate)


def in_peer_shape(error_reply: Callable[[ApiError], HTTPResponse]):
    """A decorator: the handler's ApiError (and a dependency outage, as 503) through `error_reply`."""
    def decorate(handler):
        @functools.wraps(handler)
        async def wrapped(request: Request, *args, **kwargs):
            try:
                return await handler(request, *args, **kwargs)
            except ApiError as e:
                return error_reply(e)
            except DependencyError as e:
                log.warning("dependency unavailable", extra={"path": request.path, "error": str(e)})
                return error_reply(overloaded("a backing service is unavailable; retry shortly", 2))
        return wrapped
    return decorate
