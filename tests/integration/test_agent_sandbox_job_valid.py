"""Every runtime's rendered warm-pool job (`throwbox-agent render-sandbox-job`) passes Nomad's validation."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from stack import NOMAD_ADDR, require_stack

from throwbox_common import runtimes

REGISTRY = runtimes.load()
AGENT = Path(sys.executable).parent / "throwbox-agent"


@pytest.mark.parametrize("runtime", REGISTRY.runtimes, ids=lambda r: r.key)
def test_the_rendered_pool_job_passes_nomad_job_validation(runtime):
    require_stack("nomad")
    out = subprocess.run([str(AGENT), "render-sandbox-job", f"{runtime.language}:{runtime.version}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    body = json.dumps(json.loads(out.stdout)).encode()
    req = urllib.request.Request(f"{NOMAD_ADDR}/v1/validate/job", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.load(r)
    except urllib.error.HTTPError as e:
        raise AssertionError(e.read().decode()) from None
    assert not answer.get("ValidationErrors"), answer
    assert not answer.get("Error"), answer
