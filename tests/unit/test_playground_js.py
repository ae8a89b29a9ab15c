"""The playground page's pure functions (playground/tests/*.test.mjs), run with `node --test`."""

from __future__ import annotations

import shutil
import subprocess

from stack import REPO_DIR, missing


def test_the_playground_logic_tests_pass_under_node():
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (scripts/install-host-packages.sh)")
    out = subprocess.run([node, "--test", "playground/tests/"], cwd=REPO_DIR, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout
