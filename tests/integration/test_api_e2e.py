# ruff: noqa: F811 - pytest fixtures imported from cp_stack are used as arguments
"""End to end through the control plane and the real executor agent (Kafka, Consul, Nomad,
Docker+gVisor): results, functions and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cp_stack import Api, control_plane, tenant_key  # noqa: F401 - fixtures
from stack import require_stack

pytestmark = pytest.mark.timeout(420)
CLI = str(Path(sys.executable).parent / "throwbox")


@pytest.fixture(autouse=True)
def _agent():
    require_stack("agent")


async def test_wait_true_returns_the_finished_result(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    r = await api.call("POST", "/v1/runs?wait=true",
                       {"language": "python", "files": [{"name": "main.py", "content":
                        "import sys\nprint(sys.argv[1], sys.stdin.read())\nsys.exit(3)"}],
                        "args": ["hello"], "stdin": "world"}, timeout_s=240)
    if r.status == 202:  # a loaded machine: follow it to the end instead
        events = await api.sse(f"/v1/runs/{r.json['id']}/events", timeout_s=240)
        result = events[-1][1]["result"]
    else:
        assert r.status == 200, r
        result = r.json
    assert (result["status"], result["outcome"], result["exit_code"]) == ("completed", "nonzero_exit", 3)
    assert result["stdout"] == "hello world\n"
    assert result["finished_at"] is not None and result["timings"]["total_ms"] > 0
    again = await api.call("GET", f"/v1/runs/{result['id']}")
    assert again.json == result


async def test_a_function_invocation_reads_its_input_as_json(control_plane, tenant_key):
    api = Api(control_plane.url, tenant_key()[1])
    code = "import json,sys\nd = json.load(sys.stdin)\nprint(d['a'] + d['b'])"
    assert (await api.call("PUT", "/v1/functions/add", {"language": "python", "files": [
        {"name": "main.py", "content": code}]})).status == 201
    r = await api.call("POST", "/v1/functions/add/invoke?wait=true", {"input": {"a": 2, "b": 40}}, timeout_s=240)
    result = r.json if r.status == 200 else (await api.sse(f"/v1/runs/{r.json['id']}/events", timeout_s=240))[-1][1]["result"]
    assert (result["status"], result["outcome"], result["stdout"]) == ("completed", "ok", "42\n")


def test_the_cli_runs_a_file_and_exits_with_the_programs_code(control_plane, tenant_key, tmp_path):
    _, key = tenant_key()
    prog = tmp_path / "main.py"
    prog.write_text("import sys\nprint('out:' + sys.stdin.read())\nsys.exit(7)\n")
    env = {**os.environ, "THROWBOX_API_URL": control_plane.url, "THROWBOX_API_KEY": key}
    out = subprocess.run([CLI, "run", str(prog), "--lang", "python"], input="piped", capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 7, out.stderr
    assert out.stdout == "out:piped\n"


def test_the_cli_follows_an_interactive_run_forwarding_stdin(control_plane, tenant_key, tmp_path):
    _, key = tenant_key()
    prog = tmp_path / "main.py"
    prog.write_text("import sys\nfor line in sys.stdin:\n    print('got', line.strip(), flush=True)\n")
    env = {**os.environ, "THROWBOX_API_URL": control_plane.url, "THROWBOX_API_KEY": key}
    out = subprocess.run([CLI, "run", str(prog), "--lang", "python", "--follow"], input="a\nb\n",
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "got a\ngot b\n"


def test_the_cli_deploys_lists_and_invokes_a_function(control_plane, tenant_key, tmp_path):
    _, key = tenant_key()
    prog = tmp_path / "main.py"
    prog.write_text("import json,sys\nprint(json.load(sys.stdin)['name'])\n")
    env = {**os.environ, "THROWBOX_API_URL": control_plane.url, "THROWBOX_API_KEY": key}
    deploy = subprocess.run([CLI, "fn", "deploy", "greet", str(prog), "--lang", "python"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert deploy.returncode == 0 and "created greet revision 1" in deploy.stdout, deploy.stderr
    listed = subprocess.run([CLI, "fn", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "greet" in listed.stdout
    inv = subprocess.run([CLI, "fn", "invoke", "greet", "--input", '{"name": "ada"}'],
                         capture_output=True, text=True, env=env, timeout=300)
    assert (inv.returncode, inv.stdout) == (0, "ada\n"), inv.stderr
