# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""Live events over SSE and WebSocket (real Kafka and Consul); the output-while-running test
also needs the executor agent."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from cp_stack import Api, control_plane, tenant_key  # noqa: F401 - fixtures
from stack import require_stack

pytestmark = pytest.mark.timeout(420)
WAIT_FOR_STDIN = "import sys\nfor line in sys.stdin:\n    print('echo:' + line, end='', flush=True)\n"


async def ws_connect(session: aiohttp.ClientSession, cp, key: str, run_id: str):
    return await session.ws_connect(f"{cp.url}/v1/runs/{run_id}/ws", headers={"Authorization": f"Bearer {key}"})


async def next_json(ws, timeout_s: float = 30) -> dict:
    msg = await ws.receive(timeout=timeout_s)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_sse_of_a_cancelled_run_ends_with_the_result_and_can_be_resumed(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    follower = asyncio.create_task(api.sse(f"/v1/runs/{run_id}/events"))
    await asyncio.sleep(0.3)
    assert not follower.done()  # a live stream stays open until the result
    await api.call("DELETE", f"/v1/runs/{run_id}")
    events = await asyncio.wait_for(follower, 30)
    seqs = [seq for seq, _ in events]
    assert seqs == list(range(1, len(events) + 1))
    assert all(e["seq"] == seq for seq, e in events)
    assert events[-1][1]["type"] == "result" and events[-1][1]["result"]["status"] == "cancelled"
    last = events[-1][0]
    assert await api.sse(f"/v1/runs/{run_id}/events?after={last}") == []
    assert await api.sse(f"/v1/runs/{run_id}/events?after={last - 1}") == [events[-1]]
    assert await api.sse(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": str(last - 1)}) == [events[-1]]


async def test_sse_rejects_a_bad_after(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    r = await api.call("GET", f"/v1/runs/{run_id}/events?after=-3")
    assert (r.status, r.error_code) == (400, "invalid_request")
    await api.call("DELETE", f"/v1/runs/{run_id}")


async def test_websocket_answers_bad_messages_with_an_error_and_keeps_the_connection(control_plane, tenant_key):
    _, key = tenant_key()
    api = Api(control_plane.url, key)
    run_id = (await api.submit("print(1)", stdin="x")).json["id"]  # not interactive
    async with aiohttp.ClientSession() as s:
        ws = await ws_connect(s, control_plane, key, run_id)
        for bad in ("not json", json.dumps({"type": "shout"}), json.dumps({"type": "stdin"}),
                    json.dumps({"type": "stdin", "data": "x"})):
            await ws.send_str(bad)
            reply = await next_json(ws)
            while reply["type"] != "error":  # live events may interleave
                reply = await next_json(ws)
            assert reply["error"]["code"] == "invalid_request", reply
        assert not ws.closed
        await ws.send_str(json.dumps({"type": "cancel"}))
        while True:
            event = await next_json(ws)
            if event["type"] == "result":
                break
        assert event["result"]["status"] in ("cancelled", "completed")
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        await ws.close()


async def test_websocket_stdin_and_eof_are_published_to_the_control_topic(control_plane, tenant_key):
    from test_api_runs import TopicTail

    from throwbox_common import topics

    _, key = tenant_key()
    api = Api(control_plane.url, key)
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    async with TopicTail(topics.CONTROL) as tail, aiohttp.ClientSession() as s:
        ws = await ws_connect(s, control_plane, key, run_id)
        await ws.send_str(json.dumps({"type": "stdin", "data": "hello\n"}))
        first = json.loads((await tail.record_for(run_id)).value)
        await ws.send_str(json.dumps({"type": "stdin_eof"}))
        second = json.loads((await tail.record_for(run_id)).value)
        await ws.close()
    assert first == {"type": "stdin", "run_id": run_id, "data": "hello\n"}
    assert second == {"type": "stdin_eof", "run_id": run_id}
    await api.call("DELETE", f"/v1/runs/{run_id}")


async def test_websocket_of_another_tenants_run_is_refused_before_the_upgrade(control_plane, tenant_key):
    owner_key = tenant_key()[1]
    other_key = tenant_key()[1]
    run_id = (await Api(control_plane.url, owner_key).submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await ws_connect(s, control_plane, other_key, run_id)
        assert e.value.status == 404
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(f"{control_plane.url}/v1/runs/{run_id}/ws")
        assert e.value.status == 401
    await Api(control_plane.url, owner_key).call("DELETE", f"/v1/runs/{run_id}")


async def test_output_reaches_the_client_while_the_program_runs(control_plane, tenant_key):
    require_stack("agent")
    _, key = tenant_key()
    api = Api(control_plane.url, key)
    code = "import time\nprint('first', flush=True)\ntime.sleep(5)\nprint('second', flush=True)\n"
    run_id = (await api.submit(code)).json["id"]
    seen: list[tuple[float, dict]] = []
    async with aiohttp.ClientSession() as s:
        ws = await ws_connect(s, control_plane, key, run_id)
        while True:
            event = await next_json(ws, 200)
            seen.append((time.monotonic(), event))
            if event["type"] == "result":
                break
    result_at, result = seen[-1]
    assert result["result"]["stdout"] == "first\nsecond\n", result
    first_at = next(t for t, e in seen if e["type"] == "stdout" and "first" in e["data"])
    assert result_at - first_at > 2.0  # "first" arrived about 3 s before the end
    assert [e["seq"] for _, e in seen] == list(range(1, len(seen) + 1))


async def test_an_interactive_run_echoes_websocket_stdin(control_plane, tenant_key):
    require_stack("agent")
    _, key = tenant_key()
    api = Api(control_plane.url, key)
    run_id = (await api.submit(WAIT_FOR_STDIN, interactive=True)).json["id"]
    async with aiohttp.ClientSession() as s:
        ws = await ws_connect(s, control_plane, key, run_id)
        await ws.send_str(json.dumps({"type": "stdin", "data": "ping\n"}))
        out = ""
        while "echo:ping" not in out:
            event = await next_json(ws, 200)
            assert event["type"] != "result", event
            if event["type"] == "stdout":
                out += event["data"]
        await ws.send_str(json.dumps({"type": "stdin_eof"}))
        while (event := await next_json(ws, 200))["type"] != "result":
            pass
    assert (event["result"]["status"], event["result"]["outcome"]) == ("completed", "ok")
