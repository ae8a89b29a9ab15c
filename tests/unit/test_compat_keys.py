"""Keys on the compatibility routes, and the key-less tenant setting."""

import pytest

from throwbox_control import config
from throwbox_control.compat.keys import CompatAuth, key_of


def test_a_key_is_read_from_bearer_or_alone_in_authorization_or_from_x_auth_token():
    assert key_of({"authorization": "Bearer tbx_a"}) == "tbx_a"
    assert key_of({"authorization": "tbx_b"}) == "tbx_b"
    assert key_of({"x-auth-token": " tbx_c "}) == "tbx_c"
    assert key_of({}) == ""


def test_the_key_less_tenant_is_off_by_default_and_has_the_default_quotas_when_set():
    assert config.load({}).compat_keyless_tenant == ""
    assert CompatAuth(None, config.load({})).keyless is None   # type: ignore[arg-type]
    s = config.load({"THROWBOX_CP_COMPAT_KEYLESS_TENANT": "judge", "THROWBOX_CP_DEFAULT_MAX_CONCURRENT": "3"})
    principal = CompatAuth(None, s).keyless   # type: ignore[arg-type]
    assert principal is not None and (principal.tenant, principal.quota.max_concurrent) == ("judge", 3)


def test_a_key_less_tenant_that_is_not_a_tenant_name_stops_the_start():
    with pytest.raises(config.ConfigError, match="THROWBOX_CP_COMPAT_KEYLESS_TENANT"):
        config.load({"THROWBOX_CP_COMPAT_KEYLESS_TENANT": "a b/c"})


async def test_a_request_without_a_key_is_the_key_less_tenant_and_a_wrong_key_is_refused():
    class Keys:
        async def lookup(self, key):
            return None

    auth = CompatAuth(Keys(), config.load({"THROWBOX_CP_COMPAT_KEYLESS_TENANT": "judge"}))  # type: ignore[arg-type]
    assert (await auth.principal({})).tenant == "judge"
    assert await auth.principal({"authorization": "wrong"}) is None


def test_the_apps_own_errors_on_peer_paths_are_recognised_for_reshaping():
    from throwbox_control.compat import peer_of, throwbox_error_message
    from throwbox_control.errors import error_body

    assert (peer_of("/api/v2/nope"), peer_of("/judge0"), peer_of("/judge0/x"), peer_of("/judge0x"),
            peer_of("/v1/runs")) == ("piston", "judge0", "judge0", None, None)
    assert throwbox_error_message(error_body("not_found", "no such route")) == "no such route"
    assert throwbox_error_message(b'{"message": "already a peer shape"}') is None
    assert throwbox_error_message(b"not json") is None
