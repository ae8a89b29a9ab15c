"""`throwbox-control-plane`: validate settings, then serve the API (one process per instance)."""

from __future__ import annotations

import logging
import socket
import sys

from throwbox_common import kafka_client, runtimes

from . import config, logs


def main() -> int:
    try:
        settings = config.load()
        registry = runtimes.load()
        kafka_client.configure()    # every Kafka client of this process authenticates so
    except (config.ConfigError, runtimes.RuntimeConfigError) as e:
        print(f"throwbox-control-plane: configuration error: {e}", file=sys.stderr)
        return 2
    instance = settings.instance_id or f"{socket.gethostname()}:{settings.port}"
    logs.setup(settings.log_level, instance)
    from .app import create_app  # after logging is set up

    app = create_app(settings, registry)
    logging.getLogger("throwbox.control").info(
        "control plane starting", extra={"host": settings.host, "port": settings.port})
    app.run(host=settings.host, port=settings.port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
