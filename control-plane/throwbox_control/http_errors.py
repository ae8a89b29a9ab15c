"""Error answers: always the contract's shape, never internals (no 500, no stack trace)."""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    SanicException,
)

from .config import Settings
from .errors import ApiError, DependencyError, error_body, invalid, overloaded, too_large
from .http_common import error_response, json_response

log = logging.getLogger("throwbox.http")


def register(app: Sanic, settings: Settings) -> None:
    @app.exception(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return error_response(e)

    @app.exception(NotFound)
    async def _not_found(request: Request, e: Exception):
        return error_response(ApiError(404, "not_found", "no such route"))

    @app.exception(MethodNotAllowed)
    async def _method(request: Request, e: MethodNotAllowed):
        allow = ", ".join(allowed_methods(app, request.path))
        return json_response(error_body("method_not_allowed", f"{request.method} is not allowed here"), 405,
                             {"Allow": allow} if allow else None)

    @app.exception(PayloadTooLarge)
    async def _too_large(request: Request, e: Exception):
        return error_response(too_large("body", f"body is larger than {settings.max_body_bytes} bytes"))

    @app.exception(RequestTimeout)
    async def _timeout(request: Request, e: Exception):
        return json_response(error_body("request_timeout", "the request took too long to arrive"), 408)

    @app.exception(BadRequest)
    async def _bad_request(request: Request, e: Exception):
        return error_response(invalid("request", "malformed HTTP request"))

    @app.exception(DependencyError)
    async def _dependency(request: Request, e: Exception):
        log.warning("dependency unavailable", extra={"path": request.path, "error": str(e)})
        return error_response(overloaded("a backing service is unavailable; retry shortly", 2))

    @app.exception(SanicException)
    async def _sanic(request: Request, e: SanicException):
        status = getattr(e, "status_code", 400) or 400
        if status >= 500:
            log.warning("server-side HTTP error", extra={"path": request.path, "error": str(e)})
            return error_response(overloaded("temporarily unable to answer; retry shortly", 2))
        return json_response(error_body("invalid_request", "the request could not be handled"), status)

    @app.exception(Exception)
    async def _unexpected(request: Request, e: Exception):
        # A bug: log everything, tell the client nothing about internals.
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(overloaded("temporarily unable to answer; retry shortly", 2))


def allowed_methods(app: Sanic, path: str) -> list[str]:
    """The methods some route answers on this path, for a 405's Allow header."""
    allowed = []
    for method in ("GET", "POST", "PUT", "DELETE"):
        try:
            app.router.get(path, method, None)
            allowed.append(method)
        except SanicException:
            continue
    return allowed
