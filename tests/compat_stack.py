"""A private control plane for the compatibility tests, with a key-less tenant for Piston clients.

    from compat_stack import compat_plane   # fixture: CompatPlane(cp, keyless_tenant)

One process per test session (shared by every module that imports the fixture, as cp_stack
does), started with THROWBOX_CP_COMPAT_KEYLESS_TENANT and a wait cap long enough for Piston's
synchronous execute. `piston_client(cp, calls)` runs the real npm piston-client under Node.js.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from cp_stack import TEST_SETTINGS, ControlPlane, unique_tenant
from stack import REPO_DIR, missing, require_stack

COMPAT_DIR = REPO_DIR / "tests" / "compat"


@dataclass
class CompatPlane:
    cp: ControlPlane
    keyless_tenant: str

    @property
    def url(self) -> str:
        return self.cp.url

    @property
    def ws_url(self) -> str:
        return self.cp.ws_url


_shared: CompatPlane | None = None


@pytest.fixture(scope="session")
def compat_plane():
    global _shared
    require_stack("kafka", "consul", "nomad", "agent")
    if _shared is not None and _shared.cp.proc is not None and _shared.cp.proc.poll() is None:
        yield _shared
        return
    tenant = unique_tenant("keyless")
    cp = ControlPlane(**{**TEST_SETTINGS, "wait_cap_ms": 60_000, "compat_keyless_tenant": tenant}).start()
    _shared = CompatPlane(cp, tenant)
    yield _shared
    cp.stop()


def piston_client(url: str, calls: list[dict], timeout_s: float = 240) -> list:
    """The npm piston-client's answers to `calls` ({"method": "runtimes"} or {"method": "execute",
    "language", "code", "config"}), installed by scripts/ensure-compat-clients.sh (run here if needed)."""
    if shutil.which("node") is None:
        missing("node is not installed (scripts/install-host-packages.sh installs it)")
    subprocess.run([str(REPO_DIR / "scripts" / "ensure-compat-clients.sh")], check=True, timeout=300)
    out = subprocess.run(["node", str(COMPAT_DIR / "piston_client_run.mjs")], cwd=COMPAT_DIR,
                         input=json.dumps({"server": url, "calls": calls}), capture_output=True, text=True,
                         timeout=timeout_s)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
