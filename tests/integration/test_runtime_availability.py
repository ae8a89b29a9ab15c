"""A runtime whose image the node lacks is not offered until the image appears, on a real agent:
its pool stays dormant (no sandbox created), the agent's Consul capacity leaves it out (so the
control planes do not offer it) and a run of it ends `unknown_runtime`; once the image is there
(here: tagged by the test, as build-images.sh would create it) the pool fills, the runtime is
advertised and runs of it complete. The control plane's side (offered = advertised by a live
agent) is tests/unit/test_runtime_offered_decision.py."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest
from agent_process import AgentProcess, get_json, private_pipeline, wait_until
from pipeline import delete_topic, ensure_topic, make_job
from stack import CONSUL_ADDR, KAFKA_BOOTSTRAP, require_image, require_stack

from throwbox_common import capacity_meta, runtimes

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
BASH = runtimes.load().resolve("bash")


def registry_file(tmp_path: Path, missing_image: str) -> Path:
    """runtimes.toml's limits and two bash runtimes: the built image, and one never built."""
    committed = (REPO / "runtimes" / "runtimes.toml").read_text()
    entry = '[[runtime]]\nlanguage = "bash"\nversion = "{v}"\nimage = "{i}"\nextension = "sh"\nrun = ["bash", "{{entrypoint}}"]\n'
    path = tmp_path / "runtimes.toml"
    path.write_text(committed[:committed.index("[[runtime]]")] + entry.format(v=BASH.version, i=BASH.image)
                    + entry.format(v="9.9.9", i=missing_image))
    return path


def advertised(agent: AgentProcess) -> set[str]:
    _, entries = get_json(f"{CONSUL_ADDR}/v1/health/service/throwbox-agent")
    for e in entries or []:
        if e["Service"]["Meta"].get("agent") == agent.name:
            return set(capacity_meta.decode(e["Service"]["Meta"]) or {})
    return set()


async def test_a_runtime_is_dormant_until_its_image_appears_then_offered_and_run(tmp_path):
    require_stack("docker", "kafka", "consul", "nomad")
    require_image(BASH.image)
    missing_image = f"throwbox/bash:9.9.9-test{uuid.uuid4().hex[:8]}"
    registry = runtimes.load(registry_file(tmp_path, missing_image))
    present, missing = registry.by_key[BASH.key], registry.by_key["bash-9.9.9"]
    a = AgentProcess({present: 1, missing: 1}, prefix="dormant", start_timeout_s=180,
                     settings={"THROWBOX_RUNTIMES_FILE": str(tmp_path / "runtimes.toml")})
    await ensure_topic(KAFKA_BOOTSTRAP, a.runs_topic)
    try:
        await asyncio.to_thread(a.start)
        pools = a.health()["pools"]
        assert pools[missing.key]["dormant"] and not pools[present.key]["dormant"], pools
        assert pools[missing.key]["idle"] == pools[missing.key]["creating"] == pools[missing.key]["pending"] == 0
        await asyncio.to_thread(wait_until, lambda: present.key in advertised(a), 30, "capacity advertised")
        assert missing.key not in advertised(a)

        async with private_pipeline(a) as pipe:
            r = (await pipe.run(make_job('echo "$BASH_VERSION"', language="bash", version="9.9.9",
                                         entrypoint="main.sh"), 60)).result
            assert (r.status, r.error.code if r.error else None) == ("failed", "unknown_runtime"), r

            await asyncio.to_thread(subprocess.run, ["docker", "tag", BASH.image, missing_image], check=True, timeout=60)
            await asyncio.to_thread(wait_until, lambda: missing.key in advertised(a), 60,
                                    "the runtime advertised once its image is there")
            assert not a.health()["pools"][missing.key]["dormant"]
            r = (await pipe.run(make_job('echo "ran $BASH_VERSION"', language="bash", version="9.9.9",
                                         entrypoint="main.sh"), 120)).result
            assert (r.status, r.outcome, r.stdout.startswith("ran 5.")) == ("completed", "ok", True), r
    finally:
        await asyncio.to_thread(a.stop)
        await asyncio.to_thread(subprocess.run, ["docker", "rmi", missing_image],   # the tag only
                                capture_output=True, timeout=60)
        await delete_topic(KAFKA_BOOTSTRAP, a.runs_topic)
