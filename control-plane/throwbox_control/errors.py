"""API errors: one root exception; each answer has the contract's JSON shape."""

from __future__ import annotations

import msgspec


class ControlPlaneError(Exception):
    """Root of every control-plane exception."""


class DependencyError(ControlPlaneError):
    """Consul, Kafka or Nomad could not be reached or answered nonsense."""


class ApiError(ControlPlaneError):
    def __init__(self, status: int, code: str, message: str,
                 details: list[dict[str, str]] | None = None, retry_after_s: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.retry_after_s = retry_after_s

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.details)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else {}


def error_body(code: str, message: str, details: list[dict[str, str]] | None = None) -> bytes:
    return msgspec.json.encode({"error": {"code": code, "message": message, "details": details or []}})


def invalid(field: str, problem: str, message: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message or f"{field}: {problem}", [{"field": field, "problem": problem}])


def too_large(field: str, problem: str) -> ApiError:
    return ApiError(413, "payload_too_large", f"{field}: {problem}", [{"field": field, "problem": problem}])


def not_found(what: str = "not found") -> ApiError:
    return ApiError(404, "not_found", what)


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "missing or unknown API key")


def overloaded(message: str, retry_after_s: int = 1) -> ApiError:
    return ApiError(503, "overloaded", message, retry_after_s=max(1, retry_after_s))
