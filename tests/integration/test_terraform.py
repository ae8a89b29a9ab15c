"""The OpenTofu modules under terraform/: formatted, valid, their own `tofu test` suites pass,
and the Nomad and Consul files node-config renders are accepted by the real `nomad config
validate` and `consul validate`.

scripts/ensure-tofu.sh builds tofu and the OpenStack provider into the cache first (minutes,
once). Everything runs offline on a copy of terraform/, so no .terraform dir or lock file
lands in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stack import REPO_DIR, binary, missing
from tofu_tools import TERRAFORM_DIR, Tofu, ensure_tofu

# The first test waits for the cold build of tofu and the provider: ~440 CPU-seconds, an
# estimated 4-5 min on 2 idle cores, 14 min measured on 2 cores shared with other builds.
pytestmark = pytest.mark.timeout(1500)

MODULES = sorted(p.parent.relative_to(TERRAFORM_DIR) for p in TERRAFORM_DIR.glob("modules/*/versions.tf"))
EXAMPLES = sorted(p.parent.relative_to(TERRAFORM_DIR)
                  for pattern in ("modules/*/examples/*/main.tf", "provider/examples/*/main.tf")
                  for p in TERRAFORM_DIR.glob(pattern))
NODE_CONFIG_EXAMPLE = Path("modules/node-config/examples/basic")


@pytest.fixture(scope="module")
def tofu(tmp_path_factory) -> Tofu:
    return ensure_tofu(tmp_path_factory.mktemp("tofu"))


def validator(name: str) -> str:
    found = binary(name)
    if not found:
        missing(f"no {name} binary (scripts/ensure-{name}.sh builds one; `make up` runs it)")
    return found


def test_the_built_tofu_is_the_pinned_opentofu_release(tofu):
    version = json.loads(tofu.ok(REPO_DIR, "version", "-json"))
    assert version["terraform_version"] == "1.12.6"
    assert "Terraform v" not in tofu.ok(REPO_DIR, "version"), "this must be OpenTofu, never the BSL terraform"


def test_a_second_ensure_tofu_run_builds_nothing_and_names_the_same_files(tofu):
    started = time.monotonic()
    out = subprocess.run([str(REPO_DIR / "scripts/ensure-tofu.sh")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "building" not in out.stderr
    assert f"TOFU={tofu.path}" in out.stdout.splitlines()
    assert time.monotonic() - started < 30


def test_init_finds_only_the_mirrored_provider_and_never_waits_on_a_registry(tofu, tmp_path):
    (tmp_path / "main.tf").write_text(
        'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n')
    started = time.monotonic()
    out = tofu.run(tmp_path, "init", "-no-color")
    assert out.returncode != 0
    assert "hashicorp/null" in out.stderr and "search locations" in " ".join(out.stderr.split())
    assert time.monotonic() - started < 30


def test_there_are_modules_and_examples_to_check():
    assert {str(m) for m in MODULES} >= {"modules/node-config", "modules/cluster-openstack", "modules/throwbox"}
    assert {m.parts[1] for m in EXAMPLES} >= {"node-config", "cluster-openstack", "throwbox", "examples"}, \
        "every module and the provider need an example"


def test_every_terraform_file_is_formatted_as_tofu_fmt_writes_it(tofu):
    out = tofu.run(TERRAFORM_DIR, "fmt", "-check", "-recursive", "-diff", "-no-color")
    assert out.returncode == 0, f"run `tofu fmt -recursive terraform/`:\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize("relative", MODULES + EXAMPLES, ids=str)
def test_the_configuration_initializes_offline_and_validates(tofu, relative):
    directory = tofu.init(relative)
    out = tofu.ok(directory, "validate", "-no-color")
    assert "Success! The configuration is valid." in out


@pytest.mark.parametrize("relative", MODULES + EXAMPLES, ids=str)
def test_the_configurations_own_tofu_tests_pass(tofu, relative):
    directory = tofu.init(relative)
    assert list((directory / "tests").glob("*.tftest.hcl")), f"{relative} has no tests/*.tftest.hcl"
    out = tofu.ok(directory, "test", "-no-color")
    summary = out.strip().splitlines()[-1]
    assert "0 failed" in summary and "Success!" in summary, out
    minimum_runs = 5 if relative in MODULES else 1
    assert int(summary.split("Success! ")[1].split(" passed")[0]) >= minimum_runs, f"too few runs: {summary}"


@pytest.fixture(scope="module")
def rendered(tofu, tmp_path_factory) -> dict[str, Path]:
    """node-config's example applied (it creates nothing), its files written out per role."""
    directory = tofu.init(NODE_CONFIG_EXAMPLE)
    tofu.ok(directory, "apply", "-auto-approve", "-no-color")
    outputs = json.loads(tofu.ok(directory, "output", "-json"))
    out_dir = tmp_path_factory.mktemp("rendered")
    files = {}
    for role in ("server", "worker"):
        for key, name in (("nomad_hcl", "nomad.hcl"), ("consul_hcl", "consul.hcl")):
            path = out_dir / f"{role}-{name}"
            path.write_text(outputs[role]["value"][key])
            files[f"{role}-{name}"] = path
    path = out_dir / "worker-daemon.json"
    path.write_text(outputs["worker"]["value"]["docker_daemon_json"])
    files["worker-daemon.json"] = path
    return files


@pytest.mark.parametrize("name", ["server-nomad.hcl", "worker-nomad.hcl"])
def test_the_rendered_nomad_config_passes_nomad_config_validate(rendered, name):
    out = subprocess.run([validator("nomad"), "config", "validate", str(rendered[name])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Configuration is valid" in out.stdout + out.stderr


@pytest.mark.parametrize("name", ["server-consul.hcl", "worker-consul.hcl"])
def test_the_rendered_consul_config_passes_consul_validate(rendered, name, tmp_path):
    # `consul validate` resolves go-sockaddr templates on the validating host: the default
    # advertise address `{{ GetPrivateIP }}` is empty on a host (or network namespace) without a
    # private interface. A node resolves it on itself at start; here it stands for one address.
    text = rendered[name].read_text()
    assert 'bind_addr            = "{{ GetPrivateIP }}"' in text
    resolved = tmp_path / name
    resolved.write_text(text.replace("{{ GetPrivateIP }}", "10.0.0.5"))
    out = subprocess.run([validator("consul"), "validate", str(resolved)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Configuration is valid!" in out.stdout


def test_the_rendered_daemon_json_registers_runsc_exactly_as_the_local_stack_does(rendered):
    # scripts/start-docker.sh writes its runtime entry from a `want='{...}'` line.
    script = (REPO_DIR / "scripts/start-docker.sh").read_text()
    local = json.loads(re.search(r"^want='(.*)'$", script, re.M).group(1))
    daemon = json.loads(rendered["worker-daemon.json"].read_text())
    assert daemon == local
    assert daemon["runtimes"]["runsc"]["runtimeArgs"] == ["--network=none", "--oci-seccomp"]


def _settings(text: str) -> dict[str, str]:
    """`key = value` lines of an HCL text, whitespace-normalized (last one wins)."""
    return {m["key"]: m["value"].strip() for m in re.finditer(r"^\s*(?P<key>\w+)\s*=\s*(?P<value>.+)$", text, re.M)}


def _block(text: str, start: str, end: str) -> str:
    body = text[text.index(start):text.index(end)]
    return re.sub(r"\s+", "", "".join(line.split("#")[0] for line in body.splitlines()))


def test_the_rendered_nomad_settings_are_those_of_the_local_stack(rendered):
    # scripts/start-nomad.sh and the blocks it shares with the local cluster
    # (scripts/nomad/config.sh) are the source of these values (node-config's README lists them).
    script = "".join((REPO_DIR / "scripts" / f).read_text() for f in ("start-nomad.sh", "nomad/config.sh"))
    local = _settings(script)
    cluster = {**_settings(rendered["server-nomad.hcl"].read_text()), **_settings(rendered["worker-nomad.hcl"].read_text())}
    keys = ["job_gc_interval", "job_gc_threshold", "eval_gc_threshold", "batch_eval_gc_threshold",
            "deployment_gc_threshold", "gc_interval", "gc_max_allocs", "gc_parallel_destroys",
            "max_kill_timeout", "disable_update_check"]
    assert {k: cluster[k] for k in keys} == {k: local[k] for k in keys}
    # The docker plugin block, comments and layout aside; dangling-container reconciliation is
    # a variable in both (off locally, on in a cluster: see node-config's README).
    local_docker = _block(script, 'plugin "docker"', 'plugin "raw_exec"').replace("$1", "true")
    worker = rendered["worker-nomad.hcl"].read_text()
    assert _block(worker, 'plugin "docker"', 'plugin "raw_exec"') == local_docker


BLOCK = re.compile(r'^(?P<kind>variable|output)\s+"(?P<name>[\w-]+)"\s*\{(?P<body>.*?)^\}', re.M | re.S)


@pytest.mark.parametrize("relative", MODULES, ids=str)
def test_every_variable_and_output_is_described_and_listed_in_the_readme(relative):
    module = TERRAFORM_DIR / relative
    readme = (module / "README.md").read_text()
    blocks = [m for f in ("variables.tf", "outputs.tf") for m in BLOCK.finditer((module / f).read_text())]
    assert blocks
    for m in blocks:
        description = re.search(r'^\s*description\s*=\s*"(.*)"', m["body"], re.M)
        assert description and len(description.group(1).split()) >= 5, f"{m['kind']} {m['name']} needs a real description"
        if m["kind"] == "variable":
            assert re.search(r"^\s*type\s*=", m["body"], re.M), f"variable {m['name']} has no type"
        assert f"`{m['name']}`" in readme, f"{relative}/README.md does not list {m['kind']} {m['name']}"


# The local cluster (`make cluster`) renders its agents through node-config
# (modules/cluster-local, scripts/cluster/render.sh): its files, with a real CA and certificates
# from scripts/nomad/tls.sh and secrets from scripts/nomad/acl.py init, must pass the real
# validators, and the blocks scripts/nomad/config.sh still renders for the single-node stack and
# the tests' private Nomad must say what node-config says.
CLUSTER_LOCAL = Path("modules/cluster-local")


@pytest.fixture(scope="module")
def cluster_rendered(tofu, tmp_path_factory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("cluster")
    secrets, tls = state / "secrets", state / "secrets" / "tls"
    subprocess.run([sys.executable, str(REPO_DIR / "scripts/nomad/acl.py"), "init", str(secrets)],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([str(REPO_DIR / "scripts/nomad/tls.sh"), str(tls), "dc1", "global", "10.79.0.11", "10.79.0.31"],
                   check=True, capture_output=True, timeout=120)
    root = state / "root"
    root.mkdir()
    (root / "main.tf.json").write_text(json.dumps({
        "module": {"cluster": {
            # Relative: an absolute source is copied as a package without node-config beside it.
            "source": os.path.relpath(tofu.workdir / CLUSTER_LOCAL, root), "cluster_name": "tbxv", "cluster_dir": str(state),
            "servers": {"s1": "10.79.0.11"}, "control_planes": {"c1": "10.79.0.21"}, "workers": {"w1": "10.79.0.31"},
            "secrets_dir": str(secrets), "tls_dir": str(tls)}},
        "output": {"files": {"value": "${module.cluster.files}", "sensitive": True}},
    }))
    tofu.ok(root, "init", "-no-color")
    tofu.ok(root, "apply", "-auto-approve", "-no-color")
    files = json.loads(tofu.ok(root, "output", "-json", "files"))
    return {str(Path(p).relative_to(state)): text for p, text in files.items()} | {"_tls": str(tls), "_secrets": str(secrets)}


@pytest.mark.parametrize("name", ["s1/nomad/agent.hcl", "w1/nomad/agent.hcl"])
def test_the_local_clusters_nomad_configs_pass_nomad_config_validate(cluster_rendered, name, tmp_path):
    path = tmp_path / "agent.hcl"
    path.write_text(cluster_rendered[name])
    out = subprocess.run([validator("nomad"), "config", "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tls {" in cluster_rendered[name] and "acl {" in cluster_rendered[name]


@pytest.mark.parametrize("name", ["s1/consul/consul.hcl", "c1/consul/consul.hcl", "w1/consul/consul.hcl"])
def test_the_local_clusters_consul_configs_pass_consul_validate(cluster_rendered, name, tmp_path):
    path = tmp_path / "consul.hcl"
    path.write_text(cluster_rendered[name])
    out = subprocess.run([validator("consul"), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Configuration is valid!" in out.stdout


def _hcl_block(text: str, opener: str) -> str:
    """The block that starts at `opener` (e.g. 'tls {'), braces balanced, comments and
    whitespace removed."""
    start = text.index(opener)
    depth, i = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0 and text[i - 1] == "}":
            break
    body = "\n".join(line.split("#")[0] for line in text[start:i].splitlines())
    return re.sub(r"\s+", "", body)


def _config_sh(function: str, *args: str) -> str:
    out = subprocess.run(["bash", "-c", f'source "$0"/scripts/nomad/config.sh; {function} "$@"', str(REPO_DIR), *args],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout


@pytest.mark.parametrize(("node", "role"), [("s1", "server"), ("w1", "client")])
def test_config_sh_renders_the_tls_and_acl_blocks_node_config_renders(cluster_rendered, node, role):
    tls, secrets = cluster_rendered["_tls"], cluster_rendered["_secrets"]
    nomad, consul = cluster_rendered[f"{node}/nomad/agent.hcl"], cluster_rendered[f"{node}/consul/consul.hcl"]
    assert _hcl_block(_config_sh("nomad_tls_block", tls, role), "tls {") == _hcl_block(nomad, "tls {")
    assert _hcl_block(_config_sh("consul_tls_block", tls, role), "tls {") == _hcl_block(consul, "tls {")
    assert _hcl_block(_config_sh("nomad_acl_block"), "acl {") == _hcl_block(nomad, "acl {")
    acl_sh = _config_sh("consul_acl_block", secrets, "true" if role == "server" else "false")
    assert _hcl_block(acl_sh, "acl {") == _hcl_block(consul, "acl {")
    assert _settings(acl_sh)["encrypt"] == _settings(consul)["encrypt"]
    token_line = re.sub(r"\s+", "", _config_sh("nomad_consul_token", secrets))
    assert token_line.startswith('token="') and token_line in _hcl_block(nomad, "consul {")
