"""The function routes: PUT, GET, DELETE /v1/functions/{name}, the list, and invoke."""

from __future__ import annotations

import json
import re

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from throwbox_common.runtimes import Registry

from .auth import Principal
from .config import Settings
from .errors import ApiError, invalid, too_large
from .http_common import body_of, json_response, principal_of, wants_wait
from .routes_runs import answer_run
from .schemas import FUNCTION_NAME_PATTERN, InvokeRequest, function_spec_decoder, invoke_decoder
from .services import Services
from .validation import CheckedRun, check_invocation_tests, check_program, decode, encode_stdin

FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)
MAX_FUNCTION_BYTES = 400 * 1024  # a Consul KV value is at most 512 KiB
_enc = msgspec.json.Encoder()


def check_name(name: str, for_write: bool = False) -> None:
    if not FUNCTION_NAME.match(name):
        if for_write:
            raise invalid("name", "must match [a-z0-9][a-z0-9-]{0,62}")
        raise ApiError(404, "not_found", "function not found")


def function_json(fn, with_files: bool = True) -> dict:
    d = msgspec.to_builtins(fn)
    if not with_files:
        d.pop("files", None)
    return d


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry) -> None:
    @app.put("/v1/functions/<name:str>")
    async def put_function(request: Request, name: str):
        principal = principal_of(request)
        check_name(name, for_write=True)
        body = body_of(request, settings)
        spec = decode(body, function_spec_decoder)
        check_program(registry, settings, language=spec.language, version=spec.version, files=spec.files,
                      entrypoint=spec.entrypoint, env=spec.env, limits=spec.limits)
        if len(body) > MAX_FUNCTION_BYTES:
            raise too_large("body", f"a function may be at most {MAX_FUNCTION_BYTES} bytes")
        fn, created = await svc.functions.put(principal.tenant, name, spec)
        return json_response(_enc.encode(function_json(fn)), 201 if created else 200)

    @app.get("/v1/functions")
    async def list_functions(request: Request):
        fns = await svc.functions.list(principal_of(request).tenant)
        return json_response(_enc.encode([function_json(f, with_files=False) for f in fns]))

    @app.get("/v1/functions/<name:str>")
    async def get_function(request: Request, name: str):
        check_name(name)
        fn = await svc.functions.get(principal_of(request).tenant, name)
        if fn is None:
            raise ApiError(404, "not_found", "function not found")
        return json_response(_enc.encode(function_json(fn)))

    @app.delete("/v1/functions/<name:str>")
    async def delete_function(request: Request, name: str):
        check_name(name)
        if not await svc.functions.delete(principal_of(request).tenant, name):
            raise ApiError(404, "not_found", "function not found")
        return HTTPResponse(status=204)

    @app.post("/v1/functions/<name:str>/invoke")
    async def invoke_function(request: Request, name: str):
        principal = principal_of(request)
        check_name(name)
        wait = wants_wait(request)
        req = decode(body_of(request, settings), invoke_decoder)
        return await invoke(svc, settings, registry, principal, name, req, wait)


async def invoke(svc: Services, settings: Settings, registry: Registry, principal: Principal, name: str,
                 req: InvokeRequest, wait: bool) -> HTTPResponse:
    """One invocation of a stored function: its program checked again, the request's input as stdin."""
    if req.input is not msgspec.UNSET and req.stdin is not None:
        raise invalid("stdin", "give either input or stdin, not both")
    fn = await svc.functions.get(principal.tenant, name)
    if fn is None:
        raise ApiError(404, "not_found", "function not found")
    stdin = req.stdin
    if req.input is not msgspec.UNSET:
        stdin = json.dumps(req.input)
    runtime, files, entry, limits = check_program(
        registry, settings, language=fn.language, version=fn.version, files=fn.files,
        entrypoint=fn.entrypoint, env=fn.env, limits=fn.limits)
    tests = check_invocation_tests(
        req.tests, req.compare, req.stop_on_first_failure,
        {"input": req.input is not msgspec.UNSET, "stdin": req.stdin is not None, "args": bool(req.args)},
        limits, settings)
    checked = CheckedRun(runtime, files, entry, list(req.args), dict(fn.env),
                         encode_stdin(stdin, settings), False, limits, None, tests)
    run_id, st = await svc.submit(principal, checked, function=name)
    return await answer_run(svc, settings, run_id, st, wait)
