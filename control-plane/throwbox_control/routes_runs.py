"""The run routes: POST /v1/runs, GET and DELETE /v1/runs/{id}."""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from throwbox_common.runtimes import Registry

from .config import Settings
from .http_common import body_of, json_response, principal_of, wants_wait
from .runview import RunState
from .services import Services, accepted_body
from .validation import check_run, decode, run_request_decoder


async def answer_run(svc: Services, settings: Settings, run_id: str, st: RunState | None,
                     wait: bool) -> HTTPResponse:
    """A just-submitted run: its result when `wait` and it ends within the cap, else 202 and its status."""
    if wait:
        if st is None:
            st = svc.view.get(run_id)
        if st is not None and await svc.view.wait_finished(st, settings.wait_cap_ms / 1000):
            return json_response(st.snapshot(), 200)
    status = st.status if st is not None else "queued"
    return json_response(accepted_body(run_id, status), 202)


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry) -> None:
    @app.post("/v1/runs")
    async def create_run(request: Request):
        principal = principal_of(request)
        wait = wants_wait(request)
        req = decode(body_of(request, settings), run_request_decoder)
        checked = check_run(req, registry, settings)
        run_id, st = await svc.submit(principal, checked)
        return await answer_run(svc, settings, run_id, st, wait)

    @app.get("/v1/runs/<run_id:str>")
    async def get_run(request: Request, run_id: str):
        st = await svc.find_run(principal_of(request), run_id)
        return json_response(st.snapshot())

    @app.delete("/v1/runs/<run_id:str>")
    async def cancel_run(request: Request, run_id: str):
        st = await svc.find_run(principal_of(request), run_id)
        await svc.cancel(st)
        return json_response(accepted_body(run_id, st.status), 202)
