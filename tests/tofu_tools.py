"""The built OpenTofu, for the terraform tests: scripts/ensure-tofu.sh builds tofu, the
OpenStack provider and the Throwbox provider into the cache and a local provider mirror
(minutes, once), and Tofu runs tofu with the CLI config that names only that mirror.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from stack import REPO_DIR, missing

TERRAFORM_DIR = REPO_DIR / "terraform"
ENSURE_TIMEOUT_S = 1400
TOFU_TIMEOUT_S = 300


class Tofu:
    """The built tofu, run with the CLI config that names the local provider mirror."""

    def __init__(self, path: str, cli_config: str, workdir: Path):
        self.path = path
        self.workdir = workdir          # a copy of terraform/
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": cli_config,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        self._initialized: set[Path] = set()

    def run(self, directory: Path, *args: str, timeout_s: float = TOFU_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run([self.path, *args], cwd=directory, env=self.env, capture_output=True,
                              text=True, timeout=timeout_s)

    def ok(self, directory: Path, *args: str, timeout_s: float = TOFU_TIMEOUT_S) -> str:
        out = self.run(directory, *args, timeout_s=timeout_s)
        assert out.returncode == 0, f"tofu {' '.join(args)} in {directory}:\n{out.stdout}{out.stderr}"
        return out.stdout

    def init(self, relative: Path) -> Path:
        directory = self.workdir / relative
        if directory not in self._initialized:
            self.ok(directory, "init", "-no-color", "-backend=false")
            self._initialized.add(directory)
        return directory


def ensure_tofu(workdir: Path) -> Tofu:
    """Build (once) and return tofu working on a copy of terraform/ in workdir (no .terraform
    dir or lock file lands in the checkout)."""
    out = subprocess.run([str(REPO_DIR / "scripts/ensure-tofu.sh")], capture_output=True, text=True,
                         timeout=ENSURE_TIMEOUT_S)
    if out.returncode != 0 and shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        missing("tofu is not built and there is no Go toolchain to build it (scripts/ensure-tofu.sh)")
    assert out.returncode == 0, f"scripts/ensure-tofu.sh failed:\n{out.stderr[-4000:]}"
    settings = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    copy = workdir / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "terraform.tfstate*"))
    # The module reads the job files next to terraform/.
    shutil.copytree(REPO_DIR / "nomad-jobs", workdir / "nomad-jobs")
    return Tofu(settings["TOFU"], settings["TF_CLI_CONFIG_FILE"], copy)
