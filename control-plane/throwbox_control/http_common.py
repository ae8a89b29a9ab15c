"""Small helpers every route module shares: JSON answers, the caller, the body, `?wait`."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, raw

from .auth import Principal
from .config import Settings
from .errors import ApiError, invalid, too_large
from .validation import check_content_type

JSON = "application/json"


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return raw(body, status=status, headers=headers, content_type=JSON)


def error_response(e: ApiError) -> HTTPResponse:
    return json_response(e.body(), e.status, e.headers())


def principal_of(request: Request) -> Principal:
    """The caller the authentication hook found (every /v1/ route but the OpenAPI document has one)."""
    p = request.ctx.principal
    assert p is not None
    return p


def body_of(request: Request, settings: Settings) -> bytes:
    check_content_type(request.headers.get("content-type"))
    body = request.body or b""
    if len(body) > settings.max_body_bytes:
        raise too_large("body", f"body is larger than {settings.max_body_bytes} bytes")
    return body


def wants_wait(request: Request) -> bool:
    value = request.args.get("wait", "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise invalid("wait", "must be true or false")
    return value in ("true", "1")
