# ruff: noqa: F811 - pytest fixtures imported from cp_stack/compat_stack are used as arguments
"""Piston v2 compatibility against a private control plane and the deployed agent: the real npm
piston-client under Node.js, HTTP refusals in Piston's shape, and /api/v2/connect message by message."""

from __future__ import annotations

import json

import aiohttp
import pytest
from compat_stack import compat_plane, piston_client  # noqa: F401 - fixture
from cp_stack import tenant_key  # noqa: F401 - fixture

from throwbox_common.runtimes import load as load_runtimes

pytestmark = pytest.mark.timeout(420)

ECHO_TWO_LINES = "a = input()\nprint('got ' + a, flush=True)\nb = input()\nprint('then ' + b)\n"
C_HELLO = '#include <stdio.h>\nint main(void) { printf("hello from c\\n"); return 0; }\n'


def test_piston_client_reads_the_runtimes_and_runs_several_languages_with_pistons_statuses(compat_plane):
    calls = [
        {"method": "runtimes"},
        {"method": "execute", "language": "python", "code": "import sys\nprint(sys.argv[1:], input())",
         "config": {"stdin": "hey"}},
        {"method": "execute", "language": "cpp",
         "code": "#include <iostream>\nint main(int c, char** v) { std::cout << c - 1 << v[3]; }"},
        {"method": "execute", "language": "javascript", "code": "console.error('oops'); process.exit(3)"},
        {"method": "execute", "language": "c", "code": "int main(void) { return missing; }"},
        {"method": "execute", "language": "python", "code": "while True:\n    pass", "config": {"runTimeout": 1500}},
        {"method": "execute", "language": "intercal", "code": "x", "config": {"version": "1.0"}},
    ]
    runtimes, py, cpp, js, c_error, spin, cobol = piston_client(compat_plane.url, calls)
    assert {"python", "javascript", "c", "cpp"} <= {r["language"] for r in runtimes}
    assert all({"language", "version", "aliases"} <= set(r) for r in runtimes)

    # piston-client sends args ["1", "2", "3"] unless told otherwise, and Piston ends stdin with a newline.
    assert py["language"] == "python" and "compile" not in py
    assert (py["run"]["stdout"], py["run"]["code"], py["run"]["status"]) == ("['1', '2', '3'] hey\n", 0, None)
    assert py["run"]["wall_time"] >= 0 and py["run"]["memory"] > 0

    assert cpp["compile"]["code"] == 0
    assert (cpp["run"]["stdout"], cpp["run"]["code"]) == ("33", 0)

    assert (js["run"]["stderr"], js["run"]["code"], js["run"]["status"]) == ("oops\n", 3, "RE")

    assert c_error["compile"]["status"] == "RE" and c_error["compile"]["code"] != 0
    assert "missing" in c_error["compile"]["stderr"]
    assert c_error["run"] == c_error["compile"]   # Piston repeats the compile stage when nothing ran

    assert (spin["run"]["status"], spin["run"]["signal"]) == ("TO", "SIGKILL")

    assert cobol == {"message": "intercal-1.0 runtime is unknown"}


async def call(url: str, path: str, body: bytes | str, headers: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        async with s.post(url + path, data=body, headers=headers or {"Content-Type": "application/json"}) as r:
            return r.status, json.loads(await r.read())


async def test_what_throwbox_cannot_honour_is_refused_in_pistons_shape(compat_plane, tenant_key):
    url = compat_plane.url
    body = {"language": "python", "version": "*", "files": [{"content": "print(1)"}]}
    assert await call(url, "/api/v2/execute", json.dumps({**body, "run_timeout": 10**6})) == (
        400, {"message": "run_timeout cannot exceed the configured limit of 10000"})
    status, answer = await call(url, "/api/v2/execute", json.dumps({**body, "enable_network": True}))
    assert status == 400 and "enable_network" in answer["message"]
    assert await call(url, "/api/v2/execute", "language=python&files=x",
                      {"Content-Type": "application/x-www-form-urlencoded"}) == (
        415, {"message": "requests must be of type application/json"})
    status, answer = await call(url, "/api/v2/execute", json.dumps(body),
                                {"Content-Type": "application/json", "Authorization": "not-a-key"})
    assert status == 401 and set(answer) == {"message"}
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/api/v2/packages") as r:   # Piston's package manager is not served
            assert (r.status, await r.json()) == (404, {"message": "no such route"})
        async with s.get(url + "/v1/runtimes") as r:   # the key-less tenant is for /api/v2 and /judge0 only
            assert r.status == 401
    # A real key, alone in Authorization as Piston clients send it, runs as its own tenant.
    _, key = tenant_key()
    status, answer = await call(url, "/api/v2/execute", json.dumps(body),
                                {"Content-Type": "application/json", "Authorization": key})
    assert (status, answer["run"]["stdout"]) == (200, "1\n")


# ---- /api/v2/connect, message by message


async def until_closed(ws, timeout_s: float = 60) -> tuple[list[dict], int, str]:
    """Every message until the server closes: (messages, close code, close reason)."""
    messages = []
    while True:
        msg = await ws.receive(timeout=timeout_s)
        if msg.type == aiohttp.WSMsgType.TEXT:
            messages.append(json.loads(msg.data))
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return messages, ws.close_code, msg.extra or ""
        else:
            raise AssertionError(f"unexpected frame {msg}")


async def next_message(ws, timeout_s: float = 60) -> dict:
    msg = await ws.receive(timeout=timeout_s)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


def init(language: str, code: str, **extra) -> dict:
    return {"type": "init", "language": language, "version": "*", "files": [{"content": code}], **extra}


async def stdout_line(ws) -> str:
    """Data messages up to a newline (an unbuffered program may write a line in pieces)."""
    text = ""
    while not text.endswith("\n"):
        message = await next_message(ws)
        assert (message["type"], message["stream"]) == ("data", "stdout"), message
        text += message["data"]
    return text


async def test_an_interactive_program_talks_over_the_websocket_and_ends_with_4999(compat_plane):
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        await ws.send_json(init("python", ECHO_TWO_LINES))
        newest = load_runtimes().resolve("python").version
        assert await next_message(ws) == {"type": "runtime", "language": "python", "version": newest}
        assert await next_message(ws) == {"type": "stage", "stage": "run"}
        await ws.send_json({"type": "data", "stream": "stdin", "data": "one\n"})
        assert await stdout_line(ws) == "got one\n"   # while the program runs, waiting for more
        await ws.send_json({"type": "data", "stream": "stdin", "data": "two\n"})
        messages, code, reason = await until_closed(ws)
    assert "".join(m["data"] for m in messages if m["type"] == "data") == "then two\n"
    assert messages[-1].items() >= {"type": "exit", "stage": "run", "code": 0, "signal": None}.items()
    assert (code, reason) == (4999, "Job Completed")


async def test_a_compiled_program_reports_its_compile_and_run_stages(compat_plane):
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        await ws.send_json(init("c", C_HELLO))
        messages, code, _ = await until_closed(ws)
    kinds = [(m["type"], m.get("stage") or m.get("stream")) for m in messages]
    assert kinds == [("runtime", None), ("stage", "compile"), ("exit", "compile"), ("stage", "run"),
                     ("data", "stdout"), ("exit", "run")]
    assert messages[4]["data"] == "hello from c\n"
    assert (messages[2]["code"], messages[5]["code"], code) == (0, 0, 4999)


async def test_a_kill_signal_ends_the_program_with_sigkill(compat_plane):
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        await ws.send_json(init("python", ECHO_TWO_LINES))
        assert (await next_message(ws))["type"] == "runtime"
        assert await next_message(ws) == {"type": "stage", "stage": "run"}
        await ws.send_json({"type": "signal", "signal": "SIGKILL"})
        messages, code, _ = await until_closed(ws)
    assert messages[-1].items() >= {"type": "exit", "stage": "run", "code": None, "signal": "SIGKILL"}.items()
    assert code == 4999


@pytest.mark.parametrize(("first", "then", "code", "reason"), [
    (None, None, 4001, "Initialization Timeout"),
    ({"type": "data", "stream": "stdin", "data": "x"}, None, 4003, "Not yet initialized"),
    (init("python", ECHO_TWO_LINES), init("python", "print(1)"), 4000, "Already Initialized"),
    (init("python", ECHO_TWO_LINES), {"type": "data", "stream": "stdout", "data": "x"}, 4004,
     "Can only write to stdin"),
    (init("python", ECHO_TWO_LINES), {"type": "signal", "signal": "NOPE"}, 4005, "Invalid signal"),
    (init("python", ECHO_TWO_LINES), {"type": "signal", "signal": "SIGUSR1"}, 4005, "Invalid signal"),
    (init("intercal", "x"), None, 4002, "Notified Error"),
])
async def test_protocol_mistakes_close_with_pistons_codes(compat_plane, first, then, code, reason):
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        if first is not None:
            await ws.send_json(first)
        if then is not None:
            assert (await next_message(ws))["type"] == "runtime"
            await ws.send_json(then)
        messages, got_code, got_reason = await until_closed(ws)
    assert (got_code, got_reason) == (code, reason)
    if code in (4002,) or then == {"type": "signal", "signal": "SIGUSR1"}:
        assert messages[-1]["type"] == "error" and messages[-1]["message"]


async def test_an_init_carries_a_program_larger_than_a_stdin_chunk(compat_plane):
    code = "# " + "x" * 110_000 + "\nprint('big program ran')\n"   # > max_stdin_bytes + 64 KiB, < max_file_bytes (TEST_SETTINGS)
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        await ws.send_json(init("python", code))
        messages, code_, _ = await until_closed(ws)
    assert "".join(m["data"] for m in messages if m["type"] == "data") == "big program ran\n"
    assert code_ == 4999


async def test_the_stdin_of_an_init_is_the_programs_first_input(compat_plane):
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect") as ws:
        await ws.send_json(init("python", ECHO_TWO_LINES, stdin="first\n"))
        assert (await next_message(ws))["type"] == "runtime"
        assert await next_message(ws) == {"type": "stage", "stage": "run"}
        assert await stdout_line(ws) == "got first\n"
        await ws.send_json({"type": "data", "stream": "stdin", "data": "second\n"})
        messages, code, _ = await until_closed(ws)
    assert "".join(m["data"] for m in messages if m["type"] == "data") == "then second\n"
    assert code == 4999


async def test_the_tenants_quota_applies_and_is_refused_in_pistons_shape(compat_plane, tenant_key):
    _, key = tenant_key(max_concurrent=1)
    body = json.dumps({"language": "python", "files": [{"content": "print(1)"}]})
    headers = {"Authorization": key}
    async with aiohttp.ClientSession() as s, s.ws_connect(compat_plane.url + "/api/v2/connect", headers=headers) as ws:
        await ws.send_json(init("python", ECHO_TWO_LINES))   # holds the tenant's one slot while it waits
        assert (await next_message(ws))["type"] == "runtime"
        async with s.post(compat_plane.url + "/api/v2/execute", data=body,
                          headers={**headers, "Content-Type": "application/json"}) as r:
            answer = await r.json()
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        assert set(answer) == {"message"} and "concurrent" in answer["message"]
