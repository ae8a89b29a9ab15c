"""Piston v2 routes: GET /api/v2/runtimes, POST /api/v2/execute, WebSocket /api/v2/connect.

Errors are Piston's `{"message": "..."}`; runs go through Services.submit like every run.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from throwbox_common.aio import cancel_and_wait
from throwbox_common.messages import RunResult, StdinData
from throwbox_common.runtimes import Registry

from ..config import Settings
from ..errors import ApiError, DependencyError, overloaded
from ..runview import RunState
from ..services import Services
from ..validation import encode_stdin
from . import piston
from .keys import CompatAuth
from .live import StageTracker, outputs_of
from .replies import in_peer_shape, reply, require_key

log = logging.getLogger("throwbox.compat.piston")
PREFIX = "/api/v2/"
_enc = msgspec.json.Encoder()
_result = msgspec.json.Decoder(RunResult)
_event = msgspec.json.Decoder(dict)


def error_reply(e: ApiError) -> HTTPResponse:
    return reply({"message": e.message}, piston.error_status(e), e.headers())


piston_errors = in_peer_shape(error_reply)   # every refusal in Piston's shape, never Throwbox's


# piston-client (npm) posts its JSON without a Content-Type, which node-fetch labels text/plain:
# a JSON body is taken under those labels too. Form-encoded bodies (PyPI pistonapi) cannot carry
# Piston's nested files and are refused with 415, as Piston does.
JSON_MEDIA = ("application/json", "text/plain", "")


def require_json(request: Request) -> None:
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media not in JSON_MEDIA:
        raise ApiError(415, "unsupported_media_type", "requests must be of type application/json")


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry, auth: CompatAuth) -> None:
    require_key(app, auth, lambda path: path.startswith(PREFIX), error_reply,
                {"message": "missing or unknown API key (Authorization: Bearer <key>, or the key alone)"})

    @app.get("/api/v2/runtimes")
    async def piston_runtimes(request: Request):
        return raw(_enc.encode(piston.runtimes_body(registry)), content_type="application/json")

    @app.post("/api/v2/execute")
    @piston_errors
    async def piston_execute(request: Request):
        require_json(request)
        req = piston.decode_execute(request.body or b"")
        checked = piston.to_run(req, registry, settings)
        run_id, st = await svc.submit(request.ctx.principal, checked)
        st = st or svc.view.get(run_id)
        try:
            finished = st is not None and await svc.view.wait_finished(st, settings.wait_cap_ms / 1000)
        except asyncio.CancelledError:
            if st is not None:   # the client went away: nobody can ever read this run
                await asyncio.shield(svc.cancel(st))
            raise
        if not finished:
            if st is not None:
                await svc.cancel(st)   # nobody could ever read it: Piston has no later lookup
            raise overloaded(f"the run did not finish within the server's wait cap of {settings.wait_cap_ms} ms "
                             "and was cancelled", 2)
        assert st.result is not None
        result = _result.decode(st.result)
        return reply(piston.execute_body(result, checked.runtime.compiled, outputs_of(st)))

    @app.websocket("/api/v2/connect")
    async def piston_connect(request: Request, ws):
        await Session(svc, settings, registry, request.ctx.principal, ws).serve()


class Session:
    """One /api/v2/connect connection: an init, then a live interactive run. A connection that
    ends before its run does cancels the run (nobody could read its output any more)."""

    def __init__(self, svc: Services, settings: Settings, registry: Registry, principal, ws):
        self.svc, self.settings, self.registry, self.principal, self.ws = svc, settings, registry, principal, ws
        self.st: RunState | None = None
        self.close_code = piston.CLOSE_JOB_COMPLETED
        self.close_reason = "Job Completed"

    async def send(self, message: dict) -> None:
        await self.ws.send(_enc.encode(message).decode())

    async def fail(self, message: str, code: int = piston.CLOSE_NOTIFIED_ERROR, reason: str = "Notified Error") -> None:
        # A close reason is at most 123 bytes: the message goes first, as Piston does.
        await self.send({"type": "error", "message": message})
        await self.ws.close(code, reason)

    async def serve(self) -> None:
        try:
            first = await asyncio.wait_for(self.ws.recv(), piston.INIT_TIMEOUT_S)
        except TimeoutError:
            await self.ws.close(piston.CLOSE_INIT_TIMEOUT, "Initialization Timeout")
            return
        if first is None:
            return
        try:
            msg = piston.decode_execute(first if isinstance(first, bytes) else first.encode(), piston.ws_decoder)
        except ApiError as e:
            await self.fail(e.message)
            return
        if not isinstance(msg, piston.WsInit):
            await self.ws.close(piston.CLOSE_NOT_INITIALIZED, "Not yet initialized")
            return
        try:
            checked = piston.to_run(msg, self.registry, self.settings, interactive=True)
            encode_stdin(msg.stdin, self.settings)   # before the run exists: a refusal leaves nothing behind
            run_id, st = await self.svc.submit(self.principal, checked)
            self.st = st or self.svc.view.get(run_id)
            if self.st is None:
                raise overloaded("the run is not visible yet", 1)
        except ApiError as e:
            await self.fail(e.message)
            return
        except DependencyError:
            await self.fail("a backing service is unavailable; retry shortly")
            return
        await self.send({"type": "runtime", "language": checked.runtime.language, "version": checked.runtime.version})
        tracker = StageTracker(checked.runtime.compiled)
        sender = asyncio.create_task(self.forward(tracker))
        receiver = asyncio.create_task(self.receive(first_stdin=msg.stdin))
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done and sender.exception() is None:
                await self.ws.close(self.close_code, self.close_reason)
        finally:
            await cancel_and_wait(sender, receiver)
            if not self.st.finished:
                try:
                    await self.svc.cancel(self.st)
                except DependencyError:
                    log.warning("could not cancel the run of a closed connection", extra={"run_id": self.st.run_id})

    async def stdin(self, data: str) -> None:
        assert self.st is not None
        encode_stdin(data, self.settings)
        await self.svc.bus.publish_control(StdinData(run_id=self.st.run_id, data=data))

    async def forward(self, tracker: StageTracker) -> None:
        assert self.st is not None
        async for item in self.svc.view.follow(self.st, 0):
            if item is None:
                continue
            event = _event.decode(item[1])
            match event.get("type"):
                case "status":
                    messages = tracker.started()
                case "stdout" | "stderr":
                    messages = tracker.output(event["type"], event.get("stage", "run"), event.get("data", ""))
                case "result":
                    result = msgspec.convert(event["result"], RunResult)
                    messages = tracker.finished(result)
                    if result.status == "failed":
                        self.close_code, self.close_reason = piston.CLOSE_NOTIFIED_ERROR, "Notified Error"
                case _:
                    messages = []
            for m in messages:
                await self.send(m)

    async def receive(self, first_stdin: str | None = None) -> None:
        """Client messages until the client leaves or breaks the protocol (then the socket closes).
        `first_stdin`: init's stdin (Piston ignores it on the WebSocket; Throwbox sends it first)."""
        assert self.st is not None
        if first_stdin:
            try:
                await self.stdin(first_stdin)
            except DependencyError:
                await self.send({"type": "error", "message": "could not forward init's stdin"})
        while True:
            raw_msg = await self.ws.recv()
            if raw_msg is None:
                return
            try:
                msg = piston.decode_execute(raw_msg if isinstance(raw_msg, bytes) else raw_msg.encode(),
                                            piston.ws_decoder)
            except ApiError as e:
                await self.fail(e.message)
                return
            match msg:
                case piston.WsInit():
                    await self.ws.close(piston.CLOSE_ALREADY_INITIALIZED, "Already Initialized")
                    return
                case piston.WsData(stream=stream) if stream != "stdin":
                    await self.ws.close(piston.CLOSE_ONLY_STDIN, "Can only write to stdin")
                    return
                case piston.WsData(data=data):
                    if self.st.finished:
                        continue   # the program has ended; its exit message is on its way
                    try:
                        await self.stdin(data)
                    except ApiError as e:
                        await self.fail(e.message)
                        return
                    except DependencyError:
                        await self.send({"type": "error", "message": "could not forward stdin; send it again"})
                case piston.WsSignal(signal=name):
                    action = piston.signal_action(name)
                    if action == "cancel":
                        await self.svc.cancel(self.st)
                    elif action == "unsupported":
                        await self.fail(f"{name} cannot be delivered: Throwbox can only end the program "
                                        f"({', '.join(piston.ENDING_SIGNALS)})", piston.CLOSE_INVALID_SIGNAL,
                                        "Invalid signal")
                        return
                    else:
                        await self.ws.close(piston.CLOSE_INVALID_SIGNAL, "Invalid signal")
                        return
