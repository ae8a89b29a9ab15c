"""The OpenAPI 3.1 document of the public API (contract: docs/api-v1.md).

Request and result schemas come from the msgspec types the server itself decodes with, so
the document cannot drift from the validation; the rest is written here by hand.
"""

from __future__ import annotations

from functools import cache

import msgspec

from throwbox_common.messages import RunRequest, RunResult

from .compat import openapi_paths as compat_openapi
from .schemas import FUNCTION_NAME_PATTERN, FunctionSpec, InvokeRequest

REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict:
    return {"$ref": REF.format(name=name)}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _err(description: str, retry_after: bool = False) -> dict:
    resp = {"description": description, **_json(_ref("Error"))}
    if retry_after:
        resp["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return resp


COMMON_ERRORS = {"401": _err("missing or unknown API key")}
BODY_ERRORS = {
    "400": _err("invalid_request"),
    "413": _err("payload_too_large"),
    "415": _err("unsupported_media_type"),
}
RUN_ERRORS = {
    "422": _err("unknown_runtime"),
    "429": _err("quota_exceeded or rate_limited", retry_after=True),
    "503": _err("overloaded", retry_after=True),
}
RUN_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
FN_NAME = {"name": "name", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": FUNCTION_NAME_PATTERN}}
WAIT = {"name": "wait", "in": "query", "required": False, "schema": {"type": "boolean"},
        "description": "wait for the result (up to the server's wait cap)"}


def _accepted_or_result() -> dict:
    return {
        "200": {"description": "the run result (wait=true)", **_json(_ref("RunResult"))},
        "202": {"description": "accepted (or still running after the wait cap)", **_json(_ref("RunAccepted"))},
    }


@cache
def document() -> bytes:
    _, components = msgspec.json.schema_components(
        [RunRequest, RunResult, FunctionSpec, InvokeRequest], ref_template=REF)
    # What msgspec types cannot say: 1..64 files, and input or stdin but not both.
    for name in ("RunRequest", "FunctionSpec"):
        components[name]["properties"]["files"].update({"minItems": 1, "maxItems": 64})
    components["InvokeRequest"]["not"] = {"required": ["input", "stdin"]}
    # Tests: 1..100 of them, instead of stdin (and input).
    for name in ("RunRequest", "InvokeRequest"):
        components[name]["properties"]["tests"]["anyOf"][0].update({"minItems": 1, "maxItems": 100})
    components["RunRequest"]["not"] = {"required": ["tests", "stdin"]}
    components.update({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "details": {"type": "array", "items": {
                        "type": "object", "required": ["field", "problem"],
                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
                }}},
        },
        "RunAccepted": {
            "type": "object", "required": ["id", "status", "links"],
            "properties": {
                "id": {"type": "string"}, "status": {"type": "string"},
                "links": {"type": "object", "required": ["self", "events", "ws"], "properties": {
                    "self": {"type": "string"}, "events": {"type": "string"}, "ws": {"type": "string"}}},
            },
        },
        "Runtime": {
            "type": "object", "required": ["language", "version", "aliases", "compiled"],
            "properties": {"language": {"type": "string"}, "version": {"type": "string"},
                           "aliases": {"type": "array", "items": {"type": "string"}},
                           "compiled": {"type": "boolean"}},
        },
        "Function": {
            "type": "object", "required": ["name", "revision", "language"],
            "properties": {"name": {"type": "string"}, "revision": {"type": "integer"},
                           "language": {"type": "string"}, "version": {"type": ["string", "null"]},
                           "files": {"type": "array"}, "entrypoint": {"type": ["string", "null"]},
                           "env": {"type": "object"}, "limits": {}, "description": {"type": ["string", "null"]},
                           "created_at": {"type": "string"}, "updated_at": {"type": "string"}},
        },
        "Readiness": {
            "type": "object", "required": ["ready", "checks"],
            "properties": {"ready": {"type": "boolean"}, "checks": {"type": "object"},
                           "down": {"type": "array", "items": {"type": "string"}}},
        },
    })
    auth = [{"bearer": []}]
    paths = {
        "/v1/runtimes": {"get": {
            "operationId": "listRuntimes", "security": auth,
            "responses": {"200": {"description": "installed runtimes",
                                  **_json({"type": "array", "items": _ref("Runtime")})}, **COMMON_ERRORS}}},
        "/v1/runs": {"post": {
            "operationId": "createRun", "security": auth, "parameters": [WAIT],
            "requestBody": {"required": True, **_json(_ref("RunRequest"))},
            "responses": {**_accepted_or_result(), **COMMON_ERRORS, **BODY_ERRORS, **RUN_ERRORS}}},
        "/v1/runs/{id}": {
            "get": {"operationId": "getRun", "security": auth, "parameters": [RUN_ID],
                    "responses": {"200": {"description": "the run (partial while it runs)",
                                          **_json(_ref("RunResult"))},
                                  **COMMON_ERRORS, "404": _err("not_found"),
                                  "503": _err("overloaded (instance still catching up)", True)}},
            "delete": {"operationId": "cancelRun", "security": auth, "parameters": [RUN_ID],
                       "responses": {"202": {"description": "cancellation requested",
                                             **_json(_ref("RunAccepted"))},
                                     **COMMON_ERRORS, "404": _err("not_found"),
                                     "503": _err("overloaded", True)}},
        },
        "/v1/runs/{id}/events": {"get": {
            "operationId": "runEvents", "security": auth,
            "parameters": [RUN_ID,
                           {"name": "after", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0}},
                           {"name": "Last-Event-ID", "in": "header", "required": False,
                            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}}],
            "responses": {"200": {"description": "Server-Sent Events: `id: <seq>` and `data: <event JSON>`",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                          **COMMON_ERRORS, "400": _err("invalid_request"), "404": _err("not_found"),
                          "503": _err("overloaded", True)}}},
        "/v1/functions": {"get": {
            "operationId": "listFunctions", "security": auth,
            "responses": {"200": {"description": "the tenant's functions",
                                  **_json({"type": "array", "items": _ref("Function")})},
                          **COMMON_ERRORS, "503": _err("overloaded", True)}}},
        "/v1/functions/{name}": {
            "put": {"operationId": "putFunction", "security": auth, "parameters": [FN_NAME],
                    "requestBody": {"required": True, **_json(_ref("FunctionSpec"))},
                    "responses": {"200": {"description": "updated", **_json(_ref("Function"))},
                                  "201": {"description": "created", **_json(_ref("Function"))},
                                  **COMMON_ERRORS, **BODY_ERRORS, "404": _err("not_found (bad name)"),
                                  "422": _err("unknown_runtime"), "503": _err("overloaded", True)}},
            "get": {"operationId": "getFunction", "security": auth, "parameters": [FN_NAME],
                    "responses": {"200": {"description": "the function", **_json(_ref("Function"))},
                                  **COMMON_ERRORS, "404": _err("not_found"), "503": _err("overloaded", True)}},
            "delete": {"operationId": "deleteFunction", "security": auth, "parameters": [FN_NAME],
                       "responses": {"204": {"description": "deleted"},
                                     **COMMON_ERRORS, "404": _err("not_found"),
                                     "503": _err("overloaded", True)}},
        },
        "/v1/functions/{name}/invoke": {"post": {
            "operationId": "invokeFunction", "security": auth, "parameters": [FN_NAME, WAIT],
            "requestBody": {"required": True, **_json(_ref("InvokeRequest"))},
            "responses": {**_accepted_or_result(), **COMMON_ERRORS, **BODY_ERRORS, **RUN_ERRORS,
                          "404": _err("not_found")}}},
        "/healthz": {"get": {"operationId": "healthz", "security": [],
                             "responses": {"200": {"description": "process up",
                                                   **_json({"type": "object"})}}}},
        "/readyz": {"get": {"operationId": "readyz", "security": [],
                            "responses": {"200": {"description": "ready", **_json(_ref("Readiness"))},
                                          "503": {"description": "not ready", **_json(_ref("Readiness"))}}}},
        "/metrics": {"get": {"operationId": "metrics", "security": [],
                             "responses": {"200": {"description": "Prometheus text format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    # Piston v2 and Judge0 CE compatible routes (docs/compat.md).
    paths.update(compat_openapi.paths())
    components.update(compat_openapi.components())
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "Throwbox API", "version": "1.0.0",
                 "description": "Run untrusted code in single-use gVisor sandboxes. "
                                "WebSocket: GET /v1/runs/{id}/ws (same events as SSE; client sends "
                                "stdin, stdin_eof, cancel). Piston v2 (/api/v2, WebSocket /api/v2/connect) and "
                                "Judge0 CE (/judge0) compatible routes: docs/compat.md."},
        "servers": [{"url": "/"}],
        "security": auth,
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    return msgspec.json.encode(doc)
