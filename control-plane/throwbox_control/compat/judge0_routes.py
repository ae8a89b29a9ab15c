"""Judge0 CE routes under /judge0: submissions (single, batch), languages, statuses, about, config_info.

Errors are Judge0's: `{"<field>": ["<problem>"]}` (422) for a submission, `{"error": "..."}` otherwise.
A token carries its run id (tokens.py): no store; the run view answers, for its tenant only.
"""

from __future__ import annotations

import msgspec
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from throwbox_common.messages import RunResult, rfc3339
from throwbox_common.runtimes import Registry

from ..config import Settings
from ..errors import ApiError
from ..runview import RunState
from ..services import Services
from . import judge0
from .keys import CompatAuth
from .replies import in_peer_shape, reply, require_key
from .tokens import run_of, token_for

PREFIX = "/judge0"
_enc = msgspec.json.Encoder()
_result = msgspec.json.Decoder(RunResult)


def error_reply(e: ApiError) -> HTTPResponse:
    status, body = judge0.error_body(e)
    return reply(body, status, e.headers())


judge0_errors = in_peer_shape(error_reply)   # every refusal in Judge0's shape, never Throwbox's


def flag(request: Request, name: str) -> bool:
    return request.args.get(name, "false").strip().lower() == "true"


def require_json(request: Request) -> None:
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")


class Submissions:
    """Judge0 submissions over the run view: found for their tenant only, shown in Judge0's body;
    a batch made of runs (tests of one program share one run)."""

    def __init__(self, svc: Services, settings: Settings, registry: Registry):
        self.svc, self.settings, self.registry = svc, settings, registry

    def language_of(self, st: RunState) -> tuple[int, str] | None:
        try:
            lang_id = int((st.compat or {}).get("language_id", ""))
        except ValueError:
            return None
        runtime = self.registry.by_key.get(f"{st.language}-{st.version}")   # the version it ran with
        return (lang_id, judge0.language_name(runtime)) if runtime is not None else None

    def body(self, token: str, st: RunState) -> dict:
        result = _result.decode(st.result) if st.result is not None else None
        compat = st.compat or {}
        slot = (run_of(token) or ("", 0))[1]
        if slot and result is not None:
            result, compat = judge0.test_of(result, compat, slot)
        runtime = self.registry.by_key.get(f"{st.language}-{st.version}")
        compiled = runtime.compiled if runtime is not None else False
        return judge0.view(token, st.status, rfc3339(st.created_ms), result, compat, compiled,
                           self.language_of(st))

    async def find(self, principal, token: str) -> RunState:
        """The caller's Judge0 submission, or 404 for anything else (no probing of ids)."""
        parsed = run_of(token)
        if parsed is None:
            raise ApiError(404, "not_found", "submission not found")
        try:
            st = await self.svc.find_run(principal, parsed[0])
        except ApiError as e:
            if e.status == 404:
                raise ApiError(404, "not_found", "submission not found") from None
            raise
        compat = st.compat or {}
        tests = int(compat["tests"]) if compat.get("tests", "").isdigit() else 0
        if compat.get("api") != "judge0" or not 0 <= parsed[1] <= tests or (tests and parsed[1] == 0):
            raise ApiError(404, "not_found", "submission not found")   # a batch run answers by its tests
        return st

    async def create(self, request: Request) -> HTTPResponse:
        require_json(request)
        fields = judge0.requested_fields(request.args.get("fields"))
        b64 = flag(request, "base64_encoded")
        planned = judge0.plan(judge0.decode_submission(request.body or b""), b64, self.registry, self.settings)
        run_id, st = await self.svc.submit(request.ctx.principal, planned.run, compat=planned.compat)
        token = token_for(run_id)
        if not flag(request, "wait"):
            return reply({"token": token}, 201)
        st = st or self.svc.view.get(run_id)
        if st is None:
            return reply({"token": token}, 201)
        await self.svc.view.wait_finished(st, self.settings.wait_cap_ms / 1000)   # else: its current status, to poll
        return reply(judge0.select(self.body(token, st), fields, b64), 201)

    async def show(self, request: Request, token: str) -> HTTPResponse:
        fields = judge0.requested_fields(request.args.get("fields"))
        st = await self.find(request.ctx.principal, token)
        return reply(judge0.select(self.body(token, st), fields, flag(request, "base64_encoded")))

    async def show_batch(self, request: Request) -> HTTPResponse:
        fields = judge0.requested_fields(request.args.get("fields"))
        b64 = flag(request, "base64_encoded")
        tokens = [t.strip() for t in (request.args.get("tokens") or "").split(",") if t.strip()]
        if not tokens:
            raise judge0.request_error("there should be at least one submission in a batch")
        if len(tokens) > judge0.MAX_BATCH:
            raise judge0.request_error(
                f"number of submissions in a batch should be less than or equal to {judge0.MAX_BATCH}")
        out: list[dict | None] = []
        for token in tokens:
            try:
                st = await self.find(request.ctx.principal, token)
            except ApiError as e:
                if e.status != 404:
                    raise
                out.append(None)   # as Judge0: an unknown token is a null entry
                continue
            out.append(judge0.select(self.body(token, st), fields, b64))
        return reply({"submissions": out})

    async def create_batch(self, request: Request) -> HTTPResponse:
        require_json(request)
        b64 = flag(request, "base64_encoded")
        planned: list[judge0.Planned | ApiError] = []
        for entry in judge0.decode_batch(request.body or b""):
            try:
                planned.append(judge0.plan(judge0.decode_submission(entry), b64, self.registry, self.settings))
            except ApiError as e:
                planned.append(e)
        answers: list[dict] = [judge0.error_body(p)[1] if isinstance(p, ApiError) else {} for p in planned]
        submitted = 0
        for group in judge0.plan_batch(planned):
            members = [planned[i] for i in group]
            assert all(isinstance(p, judge0.Planned) for p in members)
            one = judge0.batch_run(members) if len(group) > 1 else members[0]   # type: ignore[arg-type]
            try:
                run_id, _ = await self.svc.submit(request.ctx.principal, one.run, compat=one.compat)   # type: ignore[union-attr]
            except ApiError as e:
                if submitted == 0:
                    raise   # nothing accepted: the whole batch is refused (429/503 with Retry-After)
                for i in group:
                    answers[i] = {"error": e.message}
                continue
            for slot, i in enumerate(group, start=1):
                answers[i] = {"token": token_for(run_id, slot if len(group) > 1 else 0)}
                submitted += 1
        return reply(answers, 201 if submitted else 422)


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry, auth: CompatAuth) -> None:
    subs = Submissions(svc, settings, registry)
    statuses_body = _enc.encode([{"id": i, "description": d} for i, d in judge0.STATUSES.items()])

    require_key(app, auth, lambda path: path == PREFIX or path.startswith(PREFIX + "/"), error_reply,
                {"error": "missing or unknown API key (X-Auth-Token, or Authorization: Bearer <key>)"})

    for method, path, handler, name in (
            ("POST", "/judge0/submissions", subs.create, "judge0_create"),
            ("GET", "/judge0/submissions/batch", subs.show_batch, "judge0_batch_show"),
            ("POST", "/judge0/submissions/batch", subs.create_batch, "judge0_batch_create"),
            ("GET", "/judge0/submissions/<token:str>", subs.show, "judge0_show")):
        app.add_route(judge0_errors(handler), path, methods=[method], name=name)

    @app.get("/judge0/languages")
    async def judge0_languages(request: Request):
        return raw(_enc.encode([{"id": i, "name": judge0.language_name(r)}
                                for i, r in sorted(judge0.languages(registry), key=lambda x: x[0])]),
                   content_type="application/json")

    @app.get("/judge0/languages/<lang_id:str>")
    async def judge0_language(request: Request, lang_id: str):
        runtime = dict(judge0.languages(registry)).get(int(lang_id)) if lang_id.isdigit() and len(lang_id) < 10 else None
        if runtime is None:
            return reply({"error": f"language with id {lang_id} doesn't exist"}, 404)
        return reply(judge0.language_detail(int(lang_id), runtime))

    @app.get("/judge0/statuses")
    async def judge0_statuses(request: Request):
        return raw(statuses_body, content_type="application/json")

    @app.get("/judge0/about")
    async def judge0_about(request: Request):
        return reply(judge0.about())

    @app.get("/judge0/config_info")
    async def judge0_config_info(request: Request):
        return reply(judge0.config_info(registry, settings))
