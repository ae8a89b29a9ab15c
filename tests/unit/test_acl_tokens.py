"""ACL tokens reach the components as files: a path setting, read at start-up, sent as a header;
a bad path stops the component with a message naming the setting. The token never sits in a
config object (which may be logged)."""

import pytest

from throwbox_agent import config as agent_config
from throwbox_agent import sandbox_job
from throwbox_agent.errors import ConfigError
from throwbox_common import acl_tokens, env, runtimes
from throwbox_control import config as cp_config

REGISTRY = runtimes.load()


def test_a_token_file_gives_its_header_and_no_file_gives_none(tmp_path):
    f = tmp_path / "t"
    f.write_text("s3cret-token\nignored\n")
    assert acl_tokens.nomad_headers(str(f)) == {"X-Nomad-Token": "s3cret-token"}
    assert acl_tokens.consul_headers(str(f)) == {"X-Consul-Token": "s3cret-token"}
    assert acl_tokens.nomad_headers("") == {} and acl_tokens.consul_headers("") == {}


@pytest.mark.parametrize("content,problem", [(None, "cannot read the token file"), ("\n", "is empty")])
def test_a_missing_or_empty_token_file_is_an_error_naming_the_setting(tmp_path, content, problem):
    f = tmp_path / "t"
    if content is not None:
        f.write_text(content)
    with pytest.raises(env.SettingError, match=f"^X_TOKEN_FILE: .*{problem}"):
        env.token_file("X_TOKEN_FILE", str(f))
    assert env.token_file("X_TOKEN_FILE", "  ") == ""


def test_the_agent_takes_both_token_files_and_its_namespace_by_their_shared_names(tmp_path):
    nomad, consul = tmp_path / "n", tmp_path / "c"
    nomad.write_text("nomad-secret\n")
    consul.write_text("consul-secret\n")
    cfg = agent_config.load({"THROWBOX_NOMAD_TOKEN_FILE": str(nomad), "THROWBOX_CONSUL_TOKEN_FILE": str(consul),
                             "THROWBOX_AGENT_NOMAD_NAMESPACE": "throwbox-sandboxes"}, registry=REGISTRY)
    assert (cfg.nomad_token_file, cfg.consul_token_file) == (str(nomad), str(consul))
    assert "secret" not in repr(cfg)
    job = sandbox_job.render(cfg, REGISTRY, REGISTRY.runtimes[0], "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    assert job["Namespace"] == "throwbox-sandboxes"
    with pytest.raises(ConfigError, match="THROWBOX_NOMAD_TOKEN_FILE"):
        agent_config.load({"THROWBOX_NOMAD_TOKEN_FILE": str(tmp_path / "missing")}, registry=REGISTRY)
    with pytest.raises(ConfigError, match="THROWBOX_AGENT_NOMAD_NAMESPACE"):
        agent_config.load({"THROWBOX_AGENT_NOMAD_NAMESPACE": "no/slash"}, registry=REGISTRY)
    assert agent_config.load({}, registry=REGISTRY).nomad_namespace == "default"


def test_the_control_plane_takes_its_consul_token_file(tmp_path):
    f = tmp_path / "c"
    f.write_text("cp-secret\n")
    s = cp_config.load({"THROWBOX_CONSUL_TOKEN_FILE": str(f)})
    assert s.consul_token_file == str(f) and "cp-secret" not in repr(s)
    with pytest.raises(Exception, match="THROWBOX_CONSUL_TOKEN_FILE"):
        cp_config.load({"THROWBOX_CONSUL_TOKEN_FILE": str(tmp_path / "missing")})
