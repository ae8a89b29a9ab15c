"""Drop-in Piston v2 (/api/v2) and Judge0 CE (/judge0) APIs over Throwbox's own runs (docs/compat.md).

Each peer has a pure mapping module (piston.py, judge0.py: fields, units, statuses, refusals)
and a routes module that submits through Services.submit and reads the run view, so quotas,
limits, isolation and streaming stay Throwbox's.
"""

from __future__ import annotations

import logging

from sanic import Sanic

from throwbox_common.runtimes import Registry

from ..config import Settings
from ..services import Services
from . import judge0_routes, piston_routes
from .keys import CompatAuth

log = logging.getLogger("throwbox.compat")


def register(app: Sanic, svc: Services, settings: Settings, registry: Registry) -> None:
    auth = CompatAuth(svc.keys, settings)
    if settings.compat_keyless_tenant:
        log.warning("key-less requests on /api/v2 and /judge0 run as tenant %r (THROWBOX_CP_COMPAT_KEYLESS_TENANT)",
                    settings.compat_keyless_tenant, extra={"tenant": settings.compat_keyless_tenant})
    else:
        log.info("compatibility routes /api/v2 and /judge0 need a key (no key-less tenant configured)")
    piston_routes.register(app, svc, settings, registry, auth)
    judge0_routes.register(app, svc, settings, registry, auth)
