"""A run's live events: Server-Sent Events, and the WebSocket that also takes stdin and cancel."""

from __future__ import annotations

import asyncio

import msgspec
from sanic import Request, Sanic

from throwbox_common.aio import cancel_and_wait
from throwbox_common.messages import StdinData, StdinEof

from . import sse
from .config import Settings
from .errors import ApiError, DependencyError, invalid
from .http_common import principal_of
from .runview import RunState
from .schemas import WsCancel, WsStdin, WsStdinEof, ws_message_decoder
from .services import Services
from .validation import encode_stdin

_enc = msgspec.json.Encoder()


def register(app: Sanic, svc: Services, settings: Settings) -> None:
    @app.get("/v1/runs/<run_id:str>/events")
    async def run_events(request: Request, run_id: str):
        after = sse.parse_after(request.args.get("after"), request.headers.get("last-event-id"))
        if after is None:
            raise invalid("after", "must be a non-negative integer")
        st = await svc.find_run(principal_of(request), run_id)
        response = await request.respond(
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        async for item in svc.view.follow(st, after):
            if item is None:
                await response.send(sse.sse_comment())
            else:
                await response.send(sse.sse_event(*item))
        await response.eof()

    @app.websocket("/v1/runs/<run_id:str>/ws")
    async def run_ws(request: Request, ws, run_id: str):
        # The authentication hook found the run before the upgrade (a wrong id is a plain 404).
        after = sse.parse_after(request.args.get("after"), None) or 0
        await serve_websocket(svc, settings, ws, request.ctx.run, after)


async def serve_websocket(svc: Services, settings: Settings, ws, st: RunState, after: int) -> None:
    """Events out and client messages in, until the run has finished or the client goes away."""
    async def send_events() -> None:
        async for item in svc.view.follow(st, after):
            if item is not None:
                await ws.send(item[1].decode())

    async def receive() -> None:
        while True:
            message = await ws.recv()
            if message is None:
                return
            reply = await handle_client_message(svc, settings, st, message)
            if reply is not None:
                await ws.send(reply)

    sender = asyncio.create_task(send_events())
    receiver = asyncio.create_task(receive())
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and sender.exception() is None:
            await ws.close(1000, "run finished")
    finally:
        await cancel_and_wait(sender, receiver)  # the client went away: nothing left to tell it


def _error(code: str, text: str) -> str:
    return _enc.encode({"type": "error", "error": {"code": code, "message": text, "details": []}}).decode()


async def handle_client_message(svc: Services, settings: Settings, st: RunState,
                                message: str | bytes) -> str | None:
    """Publish one client message; an error reply (never a dropped connection) when it is bad."""
    try:
        msg = ws_message_decoder.decode(message)
    except msgspec.ValidationError as e:
        return _error("invalid_request", f"bad message: {e}")
    except msgspec.DecodeError:
        return _error("invalid_request", "messages must be JSON objects with a type: stdin, stdin_eof, cancel")
    try:
        match msg:
            case WsCancel():
                await svc.cancel(st)
            case WsStdin() | WsStdinEof() if st.finished:
                return _error("invalid_request", "the run has finished")
            case WsStdin() if not st.interactive:
                return _error("invalid_request", "the run is not interactive (stdin was given at submit)")
            case WsStdin(data=data):
                encode_stdin(data, settings)
                await svc.bus.publish_control(StdinData(run_id=st.run_id, data=data))
            case WsStdinEof():
                await svc.bus.publish_control(StdinEof(run_id=st.run_id))
    except ApiError as e:
        return _error(e.code, e.message)
    except DependencyError:
        return _error("overloaded", "could not forward the message; retry")
    return None
