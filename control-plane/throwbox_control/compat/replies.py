"""What the compatibility routes share: JSON replies, and handlers that answer every refusal in
their peer's error shape (never Throwbox's)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import msgspec
from sanic import Request
from sanic.response import HTTPResponse, raw

from ..errors import ApiError, DependencyError, overloaded

log = logging.getLogger("throwbox.compat")
_enc = msgspec.json.Encoder()


def reply(body: object, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return raw(_enc.encode(body), status=status, headers=headers, content_type="application/json")


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
