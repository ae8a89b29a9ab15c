"""Every Nomad job file is formatted (`nomad fmt -check`) and valid (`nomad job validate`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from stack import REPO_DIR, binary, missing

JOB_FILES = sorted((REPO_DIR / "nomad-jobs").glob("*.nomad.hcl"))
VARIABLE_BLOCK = re.compile(r'^variable\s+"(?P<name>[\w-]+)"\s*\{(?P<body>.*?)^\}', re.M | re.S)
# Values for variables without a default, so validation runs on a real rendering.
REQUIRED_VALUES = {"repo_dir": str(REPO_DIR)}


def nomad_bin() -> str:
    found = binary("nomad")
    if not found:
        missing("no nomad binary (scripts/ensure-nomad.sh builds one)")
    return found


def variables(path: Path) -> dict[str, str]:
    return {m["name"]: m["body"] for m in VARIABLE_BLOCK.finditer(path.read_text())}


def test_there_are_job_files_to_check():
    assert any(p.name == "executor-agent.nomad.hcl" for p in JOB_FILES)


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_the_job_file_is_formatted_as_nomad_fmt_writes_it(path):
    out = subprocess.run([nomad_bin(), "fmt", "-check", "-list=true", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"run `nomad fmt {path.relative_to(REPO_DIR)}`: {out.stdout}{out.stderr}"


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_every_variable_of_the_job_file_has_a_type_and_a_real_description(path):
    for name, body in variables(path).items():
        description = re.search(r'description\s*=\s*"(.*)"', body)
        assert re.search(r"^\s*type\s*=", body, re.M), f"variable {name} has no type"
        assert description and len(description.group(1).split()) >= 5, f"variable {name} needs a real description"


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_the_job_file_passes_nomad_job_validate(path):
    args = [nomad_bin(), "job", "validate"]
    for name, body in variables(path).items():
        if not re.search(r"^\s*default\s*=", body, re.M):
            assert name in REQUIRED_VALUES, f"add a test value for required variable {name} to REQUIRED_VALUES"
            args += ["-var", f"{name}={REQUIRED_VALUES[name]}"]
    out = subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Job validation successful" in out.stdout
