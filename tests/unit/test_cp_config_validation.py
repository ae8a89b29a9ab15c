"""Control plane: settings and request validation (pure, no services)."""

import base64

import pytest

from throwbox_common.messages import FileSpec, LimitsRequest, RunRequest
from throwbox_common.runtimes import Limits, Registry, Runtime
from throwbox_control import config
from throwbox_control.errors import ApiError
from throwbox_control.validation import (
    check_content_type,
    check_file_name,
    check_run,
    decode,
    run_request_decoder,
)

SETTINGS = config.Settings(max_file_bytes=100, max_files_total_bytes=150, max_stdin_bytes=10, max_body_bytes=1000)


def registry() -> Registry:
    limits = Limits(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1 << 20)
    big = Limits(wall_time_ms=60_000, cpu_time_ms=60_000, memory_mb=1024, pids=256, output_bytes=8 << 20)
    py = Runtime("python", "3.11.2", "throwbox/python:3.11.2-1", "py", ("python3", "{entrypoint}"),
                 aliases=("py", "python3"))
    return Registry([py], big, limits)


def run(body: bytes):
    return check_run(decode(body, run_request_decoder), registry(), SETTINGS)


def error_of(body: bytes) -> ApiError:
    with pytest.raises(ApiError) as e:
        run(body)
    return e.value


# ---- settings


def test_settings_defaults_listen_on_localhost_8080():
    s = config.load({})
    assert (s.host, s.port) == ("127.0.0.1", 8080)


def test_an_unknown_control_plane_setting_is_rejected_at_start_up():
    with pytest.raises(config.ConfigError, match="THROWBOX_CP_MAX_BODY_BYTE"):
        config.load({"THROWBOX_CP_MAX_BODY_BYTE": "1"})


def test_settings_of_other_components_are_left_alone():
    assert config.load({"THROWBOX_AGENT_ID": "x", "THROWBOX_API_KEY": "k"}).port == 8080


def test_a_non_integer_or_non_positive_size_is_rejected():
    with pytest.raises(config.ConfigError, match="integer"):
        config.load({"THROWBOX_CP_PORT": "eighty"})
    with pytest.raises(config.ConfigError, match="at least 1"):
        config.load({"THROWBOX_CP_MAX_QUEUE_DEPTH": "0"})


def test_shared_dependency_addresses_come_from_the_shared_names():
    s = config.load({"THROWBOX_KAFKA_BOOTSTRAP": "k:1", "THROWBOX_CONSUL_ADDR": "http://c:1"})
    assert (s.kafka_bootstrap, s.consul_addr) == ("k:1", "http://c:1")


# ---- request validation


def test_a_valid_request_resolves_runtime_entrypoint_and_limits():
    r = run(b'{"language":"py","files":[{"name":"main.py","content":"print(1)"}],"limits":{"memory_mb":128}}')
    assert r.runtime.key == "python-3.11.2"
    assert r.entrypoint == "main.py"
    assert r.limits.memory_mb == 128 and r.limits.wall_time_ms == 10_000
    assert r.files[0].content == b"print(1)"


def test_an_unknown_field_names_its_full_path():
    e = error_of(b'{"language":"python","files":[{"name":"a.py","content":"","mode":1}]}')
    assert (e.status, e.code) == (400, "invalid_request")
    assert e.details == [{"field": "files[0].mode", "problem": "unknown field"}]


def test_a_wrong_type_names_the_field():
    e = error_of(b'{"language":"python","files":[{"name":"a.py","content":5}]}')
    assert e.details[0]["field"] == "files[0].content"


def test_a_missing_required_field_is_named():
    e = error_of(b'{"files":[{"name":"a.py","content":""}]}')
    assert e.details == [{"field": "language", "problem": "required field is missing"}]


def test_malformed_json_is_invalid_request():
    assert error_of(b'{"language":').code == "invalid_request"
    assert error_of(b"").code == "invalid_request"


@pytest.mark.parametrize("name", ["../x.py", "a/../../x", "/etc/passwd", "a\\b.py", "a\x00b", "", "a//b", "./a"])
def test_unsafe_file_names_are_refused(name):
    assert check_file_name(name) is not None
    spec = RunRequest(language="python", files=[FileSpec(name=name, content="x")])
    with pytest.raises(ApiError) as e:
        check_run(spec, registry(), SETTINGS)
    assert e.value.details[0]["field"] == "files[0].name"


@pytest.mark.parametrize("name", ["main.py", "pkg/mod.py", "a..b.py", ".hidden"])
def test_ordinary_relative_names_are_accepted(name):
    assert check_file_name(name) is None


def test_base64_content_is_decoded_and_bad_base64_refused():
    good = base64.b64encode(b"\x00\xffbin").decode()
    r = run(b'{"language":"python","files":[{"name":"main.py","content":"x"},'
            b'{"name":"d.bin","content":"' + good.encode() + b'","encoding":"base64"}]}')
    assert r.files[1].content == b"\x00\xffbin"
    e = error_of(b'{"language":"python","files":[{"name":"m.py","content":"***","encoding":"base64"}]}')
    assert e.details[0] == {"field": "files[0].content", "problem": "not valid base64"}


def test_zero_files_and_more_than_64_files_are_refused():
    assert error_of(b'{"language":"python","files":[]}').details[0]["field"] == "files"
    files = ",".join(f'{{"name":"f{i}.py","content":""}}' for i in range(65))
    assert error_of(f'{{"language":"python","files":[{files}]}}'.encode()).details[0]["field"] == "files"


def test_the_entrypoint_must_be_one_of_the_files():
    e = error_of(b'{"language":"python","files":[{"name":"a.py","content":""}],"entrypoint":"b.py"}')
    assert e.details[0]["field"] == "entrypoint"


def test_duplicate_file_names_are_refused():
    e = error_of(b'{"language":"python","files":[{"name":"a.py","content":""},{"name":"a.py","content":""}]}')
    assert e.details[0]["field"] == "files[1].name"


def test_an_unknown_language_or_version_is_422_unknown_runtime():
    e = error_of(b'{"language":"intercal","files":[{"name":"a","content":""}]}')
    assert (e.status, e.code, e.details[0]["field"]) == (422, "unknown_runtime", "language")
    e = error_of(b'{"language":"python","version":"2","files":[{"name":"a","content":""}]}')
    assert (e.status, e.details[0]["field"]) == (422, "version")


def test_a_version_prefix_selects_the_runtime():
    assert run(b'{"language":"python","version":"3.11","files":[{"name":"a","content":""}]}').runtime.version == "3.11.2"


@pytest.mark.parametrize("limits,field", [('{"wall_time_ms":10001}', "limits.wall_time_ms"),
                                           ('{"memory_mb":0}', "limits.memory_mb"),
                                           ('{"pids":-1}', "limits.pids")])
def test_limits_above_the_default_or_below_one_name_the_limit(limits, field):
    e = error_of(b'{"language":"python","files":[{"name":"a","content":""}],"limits":' + limits.encode() + b"}")
    assert (e.status, e.code, e.details[0]["field"]) == (400, "invalid_request", field)


def test_a_limit_of_exactly_the_default_is_allowed():
    spec = RunRequest(language="python", files=[FileSpec(name="a", content="")],
                      limits=LimitsRequest(wall_time_ms=10_000))
    assert check_run(spec, registry(), SETTINGS).limits.wall_time_ms == 10_000


def test_size_caps_are_413_naming_the_part():
    big = "x" * 101
    e = error_of(b'{"language":"python","files":[{"name":"a","content":"' + big.encode() + b'"}]}')
    assert (e.status, e.code, e.details[0]["field"]) == (413, "payload_too_large", "files[0].content")
    x80 = "x" * 80
    two = f'{{"name":"a","content":"{x80}"}},{{"name":"b","content":"{x80}"}}'
    e = error_of(b'{"language":"python","files":[' + two.encode() + b"]}")
    assert (e.status, e.details[0]["field"]) == (413, "files")
    e = error_of(b'{"language":"python","files":[{"name":"a","content":""}],"stdin":"' + b"y" * 11 + b'"}')
    assert (e.status, e.details[0]["field"]) == (413, "stdin")


def test_nul_in_args_or_env_names_is_refused():
    assert error_of(b'{"language":"python","files":[{"name":"a","content":""}],"args":["a\\u0000"]}'
                    ).details[0]["field"] == "args[0]"
    assert error_of(b'{"language":"python","files":[{"name":"a","content":""}],"env":{"A=B":"1"}}'
                    ).code == "invalid_request"


@pytest.mark.parametrize("ct", ["application/json", "application/json; charset=utf-8", "application/merge+json"])
def test_json_content_types_are_accepted(ct):
    check_content_type(ct)


@pytest.mark.parametrize("ct", [None, "", "text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_415(ct):
    with pytest.raises(ApiError) as e:
        check_content_type(ct)
    assert (e.value.status, e.value.code) == (415, "unsupported_media_type")


def test_an_error_body_has_the_contract_shape():
    import json
    e = error_of(b'{"language":"python","files":[{"name":"/x","content":""}]}')
    body = json.loads(e.body())
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["details"] == [{"field": "files[0].name", "problem": "must be a relative path (no leading /)"}]


def test_the_history_horizon_defaults_to_the_events_retention_and_must_be_positive():
    assert config.load({}).history_ms == 7 * 24 * 3600 * 1000
    with pytest.raises(config.ConfigError):
        config.load({"THROWBOX_CP_HISTORY_MS": "0"})
