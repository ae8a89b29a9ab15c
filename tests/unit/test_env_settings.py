"""throwbox_common.env: typed settings whose every error names the variable."""

import pytest

from throwbox_common import env


@pytest.mark.parametrize("call,problem", [
    (lambda: env.integer("X_N", "ten"), "X_N: 'ten' is not an integer"),
    (lambda: env.integer("X_N", "0", minimum=1), "X_N: must be at least 1, got 0"),
    (lambda: env.integer("X_N", "70000", 1, 65535), "X_N: 70000 is outside 1..65535"),
    (lambda: env.boolean("X_B", "maybe"), "X_B: 'maybe' is not true/false"),
    (lambda: env.http_address("X_A", "consul:8500"), "X_A: 'consul:8500' is not http(s)://host:port"),
    (lambda: env.log_level("X_L", "loud"), "X_L: 'loud' is not DEBUG/INFO/WARNING/ERROR"),
    (lambda: env.non_empty("X_S", "  "), "X_S: must not be empty"),
    (lambda: env.reject_unknown({"X_TYPO": "1", "Y_OTHER": "2"}, "X_", ["X_N"]), "unknown setting(s): X_TYPO; known: X_N"),
])
def test_a_bad_value_is_an_error_naming_the_variable(call, problem):
    with pytest.raises(env.SettingError) as e:
        call()
    assert str(e.value) == problem


def test_good_values_come_back_typed_and_normalised():
    assert env.integer("X_N", " 42 ", 1, 100) == 42
    assert (env.boolean("X_B", "Yes"), env.boolean("X_B", "0")) == (True, False)
    assert env.http_address("X_A", "http://127.0.0.1:8500/") == "http://127.0.0.1:8500"
    assert env.log_level("X_L", "debug") == "DEBUG"
    env.reject_unknown({"X_N": "1", "OTHER": "x"}, "X_", ["X_N"])
