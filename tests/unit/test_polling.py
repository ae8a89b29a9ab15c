"""throwbox_common.polling.wait_until: returns the first truthy value, retries only what it is told to."""

import pytest

from throwbox_common.polling import wait_until


def test_the_first_truthy_value_is_returned():
    values = iter([0, None, "", {"ready": True}])
    assert wait_until(lambda: next(values), 60, "a value", interval_s=0) == {"ready": True}


def test_after_the_deadline_the_error_names_what_was_awaited():
    with pytest.raises(AssertionError, match="timed out after 0s waiting for the pools"):
        wait_until(lambda: False, 0, "the pools", interval_s=0)


def test_a_chosen_error_type_is_raised_instead():
    class BenchError(Exception):
        pass
    with pytest.raises(BenchError):
        wait_until(lambda: False, 0, "x", interval_s=0, error=BenchError)


def test_errors_named_in_retry_on_mean_not_yet_and_the_last_is_reported():
    def refused():
        raise ConnectionRefusedError("still starting")
    with pytest.raises(AssertionError, match="last error: ConnectionRefusedError"):
        wait_until(refused, 0, "a service", interval_s=0, retry_on=(OSError,))


def test_any_other_error_propagates_at_once():
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("pools")
    with pytest.raises(KeyError):
        wait_until(broken, 60, "a service", interval_s=0, retry_on=(OSError,))
    assert len(calls) == 1
