"""The cluster's Prometheus configuration and alert rules (ops/prometheus), checked with promtool
(Debian's prometheus package): the config as scripts/cluster/ops.sh renders it, the rules, and
the rules' unit tests, with a firing case for every alert. Also the Consul -> file_sd bridge."""

import http.server
import importlib.util
import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from stack import binary, missing

REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "ops"
RULES = OPS / "prometheus" / "rules" / "throwbox.rules.yml"
RULE_TESTS = OPS / "prometheus" / "tests" / "throwbox.rules.test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = binary("promtool")
    if not found:
        missing("promtool is not installed (Debian package prometheus: scripts/ensure-prometheus.sh)")
    return found


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_the_rendered_config_is_valid(promtool, tmp_path):
    r = run(str(REPO / "scripts" / "cluster" / "ops.sh"), "render", str(tmp_path))
    assert r.returncode == 0, r.stderr
    config = tmp_path / "prometheus" / "prometheus.yml"
    r = run(promtool, "check", "config", str(config))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rule files found" in r.stdout
    jobs = {j["job_name"] for j in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert {"throwbox-control-plane", "throwbox-agent", "nomad-client"} <= jobs


def test_the_rules_are_valid(promtool):
    r = run(promtool, "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_rules_unit_tests_pass(promtool):
    r = run(promtool, "test", "rules", str(RULE_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_case():
    alerts = {rule["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for rule in g["rules"]}
    assert {"ThrowboxQueueDepthHigh", "ThrowboxWorkerLost", "ThrowboxAgentLost", "ThrowboxWarmPoolEmpty",
            "ThrowboxAdmissionShedding", "ThrowboxKafkaUnderReplicated"} <= alerts
    firing = {case["alertname"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts == firing


def test_a_broken_rule_fails_its_unit_test(promtool, tmp_path):
    """The rule tests are not vacuous: a queue threshold moved out of reach fails them."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / RULES.name).write_text(RULES.read_text().replace("max(throwbox_runs_queued) > 20",
                                                                         "max(throwbox_runs_queued) > 30"))
    (tmp_path / "tests" / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    r = run(promtool, "test", "rules", str(tmp_path / "tests" / RULE_TESTS.name))
    assert r.returncode != 0
    assert "ThrowboxQueueDepthHigh" in r.stdout + r.stderr


# ---- the Consul catalog -> file_sd bridge

def bridge():
    spec = importlib.util.spec_from_file_location("consul_file_sd", OPS / "consul_file_sd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AGENTS = [
    {"Node": "w2", "Address": "10.77.0.32", "ServiceAddress": "10.77.0.32", "ServicePort": 9464,
     "ServiceMeta": {"agent": "w2-agent", "draining": "false"}},
    {"Node": "w1", "Address": "10.77.0.31", "ServiceAddress": "", "ServicePort": 9464, "ServiceMeta": {}},
]
CLIENTS = [{"Node": "w1", "Address": "10.77.0.31", "ServiceAddress": "10.77.0.31", "ServicePort": 4646,
            "ServiceTags": ["http"]}]


def test_bridge_targets_carry_address_port_and_labels():
    b = bridge()
    assert b.agent_targets(AGENTS) == [
        {"targets": ["10.77.0.31:9464"], "labels": {"node": "w1"}},
        {"targets": ["10.77.0.32:9464"], "labels": {"node": "w2", "agent": "w2-agent"}},
    ]
    assert b.nomad_client_targets(CLIENTS) == [{"targets": ["10.77.0.31:4646"], "labels": {"node": "w1"}}]
    assert b.static_targets("10.77.0.21:8080, 10.77.0.22:8080") == [{"targets": ["10.77.0.21:8080", "10.77.0.22:8080"]}]
    assert b.static_targets("") == []


def test_bridge_writes_files_once_per_change(tmp_path):
    b = bridge()
    path = tmp_path / "x.json"
    assert b.write_json(str(path), [{"targets": ["a:1"]}])
    assert not b.write_json(str(path), [{"targets": ["a:1"]}])
    assert json.loads(path.read_text()) == [{"targets": ["a:1"]}]
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]   # no temporary file left


class FakeConsul(http.server.BaseHTTPRequestHandler):
    catalog: dict = {"/v1/catalog/service/throwbox-agent": AGENTS,
                     "/v1/catalog/service/nomad-client?tag=http": CLIENTS}

    def do_GET(self):
        body = json.dumps(self.catalog.get(self.path, [])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_bridge_once_against_a_catalog_and_without_one(tmp_path):
    b = bridge()
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeConsul)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert b.main(["--consul", url, "--out", str(tmp_path), "--control-planes", "10.77.0.21:8080", "--once"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert len(json.loads((tmp_path / "throwbox-agent.json").read_text())) == 2
    assert json.loads((tmp_path / "nomad-client.json").read_text())[0]["targets"] == ["10.77.0.31:4646"]
    assert json.loads((tmp_path / "throwbox-control-plane.json").read_text()) == [{"targets": ["10.77.0.21:8080"]}]
    # Consul gone: exit 1, the targets stay as they were.
    assert b.main(["--consul", url, "--out", str(tmp_path), "--once"]) == 1
    assert len(json.loads((tmp_path / "throwbox-agent.json").read_text())) == 2
