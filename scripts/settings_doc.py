"""Writes docs/settings.md from the settings' declarations (or, with --check, exits 1 when the
page is stale). The control plane, the agent and the CLI declare theirs next to the code that
reads them; the stack scripts' own variables (read by bash) are declared here.

    .venv/bin/python scripts/settings_doc.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from throwbox_agent import config as agent_config
from throwbox_common.kafka_client import CREDENTIALS_FILE
from throwbox_common.settings import Setting, markdown_table
from throwbox_control import cli
from throwbox_control import config as cp_config

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "settings.md"

SHARED = (
    Setting("THROWBOX_RUNTIMES_FILE", "runtimes/runtimes.toml", "the runtime registry (languages, images, limits) "
            "the control plane, the agent and the tests read; image tags are computed from "
            "images/ and launcher/ beside it"),
    CREDENTIALS_FILE,
)

# Read by scripts/*.sh (defaults as there), the tests and the bench.
STACK = (
    Setting("THROWBOX_STATE_DIR", "<checkout>/.state", "the single-node stack's data, logs and pid files"),
    Setting("THROWBOX_CACHE_DIR", "~/.cache/throwbox", "built binaries (Nomad, Consul), the Kafka jars, images' inputs"),
    Setting("THROWBOX_BUILD_JOBS", "3", "runtime images built in parallel (scripts/build-images.sh)"),
    Setting("THROWBOX_SANDBOX_RUNTIME", "runsc-go", "the sandbox runtime: runsc-go (a current gVisor built from the "
            "Go module proxy, platform systrap or ptrace as a probe decides), runsc (Debian's gVisor of 2022-12-19, "
            "the fallback) or runc (no gVisor: development only); start-docker.sh registers it, start-nomad.sh "
            "allows it and sets it as node meta throwbox.sandbox_runtime, which the agents follow"),
    Setting("THROWBOX_RUNSC_GO_VERSION", "v0.0.0-20260905035102-160fafc42237", "gvisor.dev/gvisor version "
            "(pseudo-version of its `go` branch) scripts/ensure-runsc-go.sh builds runsc-go from"),
    Setting("THROWBOX_KAFKA_NAME", "kafka", "name of a broker's pid/log files and data folder (the bench runs "
            "`kafka-bench`)"),
    Setting("THROWBOX_KAFKA_HOST", "127.0.0.1", "address the broker listens on"),
    Setting("THROWBOX_KAFKA_PORT", "9092", "the broker's client port"),
    Setting("THROWBOX_KAFKA_CONTROLLER_PORT", "9093", "the broker's KRaft controller port"),
    Setting("THROWBOX_KAFKA_HEAP", "512m", "the broker's JVM heap (-Xmx)"),
    Setting("THROWBOX_KAFKA_DIR", "$THROWBOX_STATE_DIR/<name>", "the broker's server.properties and data"),
    Setting("THROWBOX_KAFKA_VERSION", "4.1.1", "Kafka release fetched from Maven Central"),
    Setting("THROWBOX_KAFKA_CREDENTIALS_DIR", "$THROWBOX_KAFKA_DIR/credentials", "where the broker scripts write "
            "(once, mode 0600) the SCRAM credentials of the admin, the control plane and the agents "
            "(admin.properties, control-plane.properties, agent.properties); the cluster's is "
            "$THROWBOX_CLUSTER_DIR/kafka-credentials"),
    Setting("THROWBOX_CONSUL_HTTP", "127.0.0.1:8500", "Consul's HTTP address (host:port) for start-consul.sh and "
            "start-nomad.sh"),
    Setting("THROWBOX_NOMAD_HTTP_PORT", "4646", "Nomad's HTTP port"),
    Setting("THROWBOX_NOMAD_GOGC", "400", "GOGC of the Nomad agent (its collector was ~19% of its CPU per sandbox)"),
    Setting("THROWBOX_NOMAD_CGROUP_PARENT", "nomad", "Nomad client's cgroup parent (the CI rehearsal uses another)"),
    Setting("THROWBOX_NOMAD_RECONCILE_DANGLING", "false", "Nomad's docker plugin removes containers it did not "
            "start (off: the stack's sandboxes are all Nomad's)"),
    Setting("THROWBOX_API_URL", "http://127.0.0.1:8080", "the stack's API, for the tests (the CLI reads it too)"),
    Setting("THROWBOX_ACL_SECRETS_DIR", "unset", "scripts/nomad/acl.py's secrets dir: set, scripts/deploy-agent.sh "
            "deploys to a Nomad with ACLs (the agent's tokens into its Nomad Variable, sandboxes in throwbox-sandboxes); "
            "the local cluster sets its own"),
    Setting("THROWBOX_AGENT_HEALTH_URL", "http://127.0.0.1:9464/healthz", "the deployed agent's health, polled by "
            "scripts/deploy-agent.sh and the tests"),
    Setting("THROWBOX_ARTIFACTS_DIR", "<checkout>/.state/artifacts", "where scripts/build-artifacts.sh writes the "
            "wheel, bundle, image tarballs and manifest (`make artifacts`), served by scripts/serve-artifacts.sh"),
    Setting("THROWBOX_ARTIFACTS_HOST", "127.0.0.1", "address scripts/serve-artifacts.sh listens on"),
    Setting("THROWBOX_ARTIFACTS_PORT", "8089", "port scripts/serve-artifacts.sh listens on"),
    Setting("THROWBOX_PYTHON", "python3", "the interpreter the bundle's launchers (bin/ of the artifact) run"),
    Setting("THROWBOX_SMOKE_IMAGE", "the registry's first image", "image of the platform smoke test (development)"),
    Setting("THROWBOX_BENCH_QUICK_LANGUAGES", "python,c", "`make bench ARGS=--quick`: the runtimes measured"),
    Setting("THROWBOX_CLUSTER_NAME", "tbx", "`make cluster`: prefix of its network namespaces and bridge (namespace "
            "names are global: the CI rehearsal uses tbxci)"),
    Setting("THROWBOX_CLUSTER_DIR", "$THROWBOX_STATE_DIR/cluster", "`make cluster`: every node's data, logs and pids"),
    Setting("THROWBOX_CLUSTER_NET", "10.77.0", "`make cluster`: the /24 of its bridge (the host is .1)"),
    Setting("THROWBOX_CLUSTER_WORKERS", "2", "`make cluster`: workers started (at most 9)"),
    Setting("THROWBOX_CLUSTER_QUEUE_TIMEOUT_MS", "120000", "`make cluster`: the control planes' queue timeout", "ms"),
    Setting("THROWBOX_CLUSTER_AUTOSCALE", "unset", "1: `make cluster` also starts nomad-autoscaler (the burst "
            "test starts and stops it itself)"),
    Setting("THROWBOX_CLUSTER_DOCKER_TEST", "unset", "1: tests/cluster also restarts this machine's Docker engine "
            "(always under CI=true)"),
)


def page() -> str:
    cli_names = {s.env for s in cli.SETTINGS}
    stack = [s for s in STACK if s.env not in cli_names]
    agent = [s for s in agent_config.declarations() if s.env != "THROWBOX_AGENT_HEALTH_URL"]
    parts = [
        "# Settings",
        "",
        "Every `THROWBOX_*` variable the code reads, generated from the declarations by "
        "`scripts/settings_doc.py` (a unit test fails when this page is stale). Each component validates its "
        "own at start-up and stops on an unknown `THROWBOX_CP_*` / `THROWBOX_AGENT_*` name. Dependencies have "
        "one name everywhere (`THROWBOX_KAFKA_BOOTSTRAP`, `THROWBOX_CONSUL_ADDR`, `THROWBOX_NOMAD_ADDR`, "
        "`THROWBOX_API_URL`); a renamed variable is still read for one release, with a warning.",
        "",
        "## Control plane (`throwbox-control-plane`)", "", *markdown_table(cp_config.declarations()),
        "",
        "## Executor agent (`throwbox-agent`)", "", *markdown_table(agent),
        "",
        "## CLI (`throwbox`)", "", *markdown_table(cli.SETTINGS),
        "",
        "## Shared", "", *markdown_table(SHARED),
        "",
        "## The stack's scripts, tests and bench", "", *markdown_table(stack),
    ]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = page()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(REPO)} is stale: run .venv/bin/python scripts/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
