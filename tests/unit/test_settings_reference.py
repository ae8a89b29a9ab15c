"""docs/settings.md is generated from the settings' declarations and names every THROWBOX_*
variable the code reads; renamed variables still work, with a warning."""

import importlib.util
import logging
import re
from pathlib import Path

from throwbox_agent import config as agent_config
from throwbox_common import settings
from throwbox_common.settings import Setting
from throwbox_control import cli

REPO = Path(__file__).resolve().parents[2]
READERS = ("common", "control-plane", "executor-agent", "scripts", "nomad-jobs", "bench", "tests", "playground/src",
           "Makefile")
NAME = re.compile(r"\bTHROWBOX_[A-Z0-9_]*[A-Z0-9]\b")


def settings_doc():
    spec = importlib.util.spec_from_file_location("settings_doc", REPO / "scripts" / "settings_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def names_read_by_the_code() -> set[str]:
    found: set[str] = set()
    for top in READERS:
        root = REPO / top
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            if "tests/unit" in path.as_posix() or "node_modules" in path.parts or "dist" in path.parts:
                continue     # unit tests name typos on purpose
            if path.suffix not in (".py", ".sh", ".hcl", ".js", ".mjs") and path.name != "Makefile":
                continue
            found |= set(NAME.findall(path.read_text(errors="replace")))
    return {n for n in found if n not in ("THROWBOX_CP", "THROWBOX_AGENT")}


def test_the_settings_page_is_generated_from_the_declarations():
    doc = settings_doc()
    assert doc.PAGE.read_text() == doc.page(), "docs/settings.md is stale: run scripts/settings_doc.py"


def test_every_throwbox_variable_the_code_reads_is_on_the_settings_page():
    page = (REPO / "docs" / "settings.md").read_text()
    missing = sorted(n for n in names_read_by_the_code() if f"`{n}`" not in page)
    assert not missing, missing


def test_a_renamed_variable_is_still_read_with_a_warning(caplog):
    s = Setting("THROWBOX_NEW", "", "", aliases=("THROWBOX_OLD",))
    with caplog.at_level(logging.WARNING):
        assert settings.read({"THROWBOX_OLD": "v"}, s) == "v"
    assert "THROWBOX_OLD is deprecated: set THROWBOX_NEW" in caplog.text
    assert settings.read({"THROWBOX_OLD": "old", "THROWBOX_NEW": "new"}, s) == "new"
    assert settings.read({}, s) is None


def test_the_agent_reads_the_shared_dependency_names_and_its_old_ones(caplog):
    cfg = agent_config.load({"THROWBOX_KAFKA_BOOTSTRAP": "k:1", "THROWBOX_CONSUL_ADDR": "http://c:2"})
    assert (cfg.kafka_bootstrap, cfg.consul_addr) == ("k:1", "http://c:2")
    with caplog.at_level(logging.WARNING):
        old = agent_config.load({"THROWBOX_AGENT_NOMAD_ADDR": "http://n:3"})
    assert old.nomad_addr == "http://n:3" and "THROWBOX_AGENT_NOMAD_ADDR is deprecated" in caplog.text


def test_the_cli_reads_the_api_url_under_its_shared_name_and_the_old_one(monkeypatch):
    monkeypatch.delenv("THROWBOX_API_URL", raising=False)
    monkeypatch.setenv("THROWBOX_URL", "http://old:1")
    monkeypatch.setenv("THROWBOX_API_KEY", "k")
    assert cli._api()[0] == "http://old:1"
    monkeypatch.setenv("THROWBOX_API_URL", "http://new:2/")
    assert cli._api()[0] == "http://new:2"
