# ruff: noqa: F811 - pytest fixtures imported from cp_stack/compat_stack are used as arguments
"""Judge0 CE compatibility against a private control plane and the deployed agent: the official
Python SDK (`judge0`), verdicts, refusals in Judge0's shape, tokens readable by their tenant only."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import judge0
import pytest
from compat_stack import compat_plane  # noqa: F401 - fixture
from cp_stack import tenant_key  # noqa: F401 - fixture
from judge0 import Status

from throwbox_control.compat.tokens import run_of

pytestmark = pytest.mark.timeout(420)


def sdk_client(compat_plane, key: str) -> judge0.Client:
    # Client() reads /languages and /config_info at once; it fails loudly if either is wrong.
    return judge0.Client(compat_plane.url + "/judge0", headers={"X-Auth-Token": key})


def test_the_judge0_sdk_reads_the_catalogue_and_judges_programs_in_several_languages(compat_plane, tenant_key):
    _, key = tenant_key()
    client = sdk_client(compat_plane, key)
    ids = {lang.id for lang in client.languages}
    assert {71, 54, 50, 63, 62} <= ids and client.config.enable_network is False
    assert client.version == "1.13.1"
    assert client.get_language(71).name.startswith("Python (3.")

    accepted = judge0.run(client=client, source_code="print(int(input()) * 2)", language=judge0.PYTHON,
                          stdin="21", expected_output="42")
    assert (accepted.status, accepted.stdout) == (Status.ACCEPTED, "42\n")
    assert accepted.time is not None and accepted.memory > 0

    wrong = judge0.run(client=client, source_code="print(41)", language=judge0.PYTHON, expected_output="42")
    assert wrong.status == Status.WRONG_ANSWER

    cpp = judge0.run(client=client, language=judge0.CPP, expected_output="7",
                     source_code="#include <cstdio>\nint main() { std::printf(\"7   \\n\\n\"); }")
    assert cpp.status == Status.ACCEPTED   # Judge0 ignores trailing whitespace and empty lines

    ce = judge0.run(client=client, source_code="int main( {", language=judge0.C)
    assert ce.status == Status.COMPILATION_ERROR and "error" in ce.compile_output

    segv = judge0.run(client=client, language=judge0.C,
                      source_code="#include <signal.h>\nint main(void) { raise(SIGSEGV); return 0; }")
    assert (segv.status, segv.exit_signal) == (Status.RUNTIME_ERROR_SIGSEGV, 11)

    nzec = judge0.run(client=client, source_code="process.exit(4)", language=judge0.JAVASCRIPT)
    assert (nzec.status, nzec.exit_code) == (Status.RUNTIME_ERROR_NZEC, 4)

    tle = judge0.run(client=client, source_code="while True:\n    pass", language=judge0.PYTHON,
                     cpu_time_limit=1, wall_time_limit=2)
    assert tle.status == Status.TIME_LIMIT_EXCEEDED


def test_test_cases_go_through_a_batch_as_one_run_and_each_gets_its_verdict(compat_plane, tenant_key):
    _, key = tenant_key()
    client = sdk_client(compat_plane, key)
    cases = [("1 2", "3"), ("2 2", "4"), ("5 5", "11")]
    results = judge0.run(client=client, source_code="a, b = map(int, input().split())\nprint(a + b)",
                         language=judge0.PYTHON, test_cases=cases)
    assert [r.status for r in results] == [Status.ACCEPTED, Status.ACCEPTED, Status.WRONG_ANSWER]
    assert [r.stdout for r in results] == ["3\n", "4\n", "10\n"]
    # One program, one language: the batch was one run (compiled once) with a test per case.
    runs = [run_of(r.token) for r in results]
    assert len({run for run, _ in runs}) == 1 and [slot for _, slot in runs] == [1, 2, 3]


async def post(url: str, path: str, body: dict, headers: dict) -> tuple[int, object]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as s:
        async with s.post(url + path, json=body, headers=headers) as r:
            return r.status, json.loads(await r.read())


async def get(url: str, path: str, headers: dict) -> tuple[int, object]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        async with s.get(url + path, headers=headers) as r:
            return r.status, json.loads(await r.read())


async def test_fields_throwbox_cannot_honour_are_refused_in_judge0s_shape(compat_plane, tenant_key):
    _, key = tenant_key()
    auth = {"X-Auth-Token": key}
    base = {"source_code": "print(1)", "language_id": 71}
    for field, value in (("enable_network", True), ("callback_url", "http://example.com/hook"),
                         ("memory_limit", 10**9), ("compiler_options", "-O3"), ("number_of_runs", 5)):
        status, body = await post(compat_plane.url, "/judge0/submissions", {**base, field: value}, auth)
        assert status == 422 and list(body) == [field], (field, body)
    status, body = await post(compat_plane.url, "/judge0/submissions", {**base, "additional_files": "bm90IGEgemlw"}, auth)
    assert (status, list(body)) == (422, ["additional_files"])
    assert await post(compat_plane.url, "/judge0/submissions", {**base, "language_id": 70}, auth) == (
        422, {"language_id": ["language with id 70 doesn't exist"]})
    status, body = await get(compat_plane.url, "/judge0/submissions/00000000-0000-4000-8000-000000000000", auth)
    assert (status, body) == (404, {"error": "submission not found"})
    status, body = await get(compat_plane.url, "/judge0/languages", {"X-Auth-Token": "wrong"})
    assert status == 401 and "error" in body


async def test_wait_and_base64_answer_with_the_submission_and_only_its_tenant_reads_it(compat_plane, tenant_key):
    _, key_a = tenant_key()
    _, key_b = tenant_key()
    code = base64.b64encode(b"print(input()[::-1])").decode()
    status, body = await post(compat_plane.url, "/judge0/submissions?wait=true&base64_encoded=true&fields=*",
                              {"source_code": code, "language_id": 71, "stdin": base64.b64encode(b"abc").decode(),
                               "expected_output": base64.b64encode(b"cba").decode()},
                              {"Authorization": f"Bearer {key_a}"})
    assert status == 201
    assert (body["status"], base64.b64decode(body["stdout"])) == ({"id": 3, "description": "Accepted"}, b"cba\n")
    assert body["language"]["id"] == 71 and body["time"] is not None
    token = body["token"]

    status, mine = await get(compat_plane.url, f"/judge0/submissions/{token}?fields=status_id,stdout",
                             {"X-Auth-Token": key_a})
    assert (status, mine) == (200, {"status_id": 3, "stdout": "cba\n"})
    # Another tenant, or the key-less one, cannot read it; a batch read gives null for it.
    assert (await get(compat_plane.url, f"/judge0/submissions/{token}", {"X-Auth-Token": key_b}))[0] == 404
    assert (await get(compat_plane.url, f"/judge0/submissions/{token}", {}))[0] == 404
    status, batch = await get(compat_plane.url, f"/judge0/submissions/batch?tokens={token}", {"X-Auth-Token": key_b})
    assert (status, batch) == (200, {"submissions": [None]})


async def test_an_invalid_submission_in_a_batch_gets_its_errors_in_its_place_and_the_others_run(
        compat_plane, tenant_key):
    _, key = tenant_key()
    auth = {"X-Auth-Token": key}
    status, answers = await post(compat_plane.url, "/judge0/submissions/batch", {"submissions": [
        {"source_code": "print('a')", "language_id": 71},
        {"source_code": "print('b')", "language_id": 71, "enable_network": True},
        {"source_code": "console.log('c')", "language_id": 63, "expected_output": "c"},
    ]}, auth)
    assert status == 201
    assert answers[1] == {"enable_network": ["cannot be true: Throwbox sandboxes have no network"]}
    tokens = [answers[0]["token"], answers[2]["token"]]
    for _ in range(120):   # poll as a Judge0 client does (bounded)
        _, batch = await get(compat_plane.url, f"/judge0/submissions/batch?tokens={','.join(tokens)}"
                                               "&fields=token,status_id,stdout", auth)
        if all(s["status_id"] > 2 for s in batch["submissions"]):
            break
        await asyncio.sleep(0.5)
    assert [(s["token"], s["status_id"], s["stdout"]) for s in batch["submissions"]] == [
        (tokens[0], 3, "a\n"), (tokens[1], 3, "c\n")]


async def test_additional_files_are_beside_the_source_when_it_runs(compat_plane, tenant_key):
    import io
    import zipfile

    _, key = tenant_key()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data/numbers.txt", "4 5\n")
    status, body = await post(compat_plane.url, "/judge0/submissions?wait=true", {
        "language_id": 71, "expected_output": "20",
        "source_code": "a, b = map(int, open('data/numbers.txt').read().split())\nprint(a * b)",
        "additional_files": base64.b64encode(buf.getvalue()).decode()}, {"X-Auth-Token": key})
    assert (status, body["status"]["id"], body["stdout"]) == (201, 3, "20\n"), body
