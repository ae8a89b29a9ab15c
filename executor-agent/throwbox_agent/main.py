"""`throwbox-agent` (run the agent) and `throwbox-agent render-sandbox-job LANG` (print a pool job)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from throwbox_common import kafka_client
from throwbox_common import runtimes as runtime_registry

from . import config as agent_config
from . import sandbox_job
from .agent import Agent
from .errors import ConfigError

log = logging.getLogger("throwbox_agent")


def make_http_app(agent: Agent) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        status, body = agent.health()
        return web.json_response(body, status=status)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(agent.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(cfg: agent_config.AgentConfig, registry) -> int:
    agent = Agent(cfg, registry)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)
    runner = web.AppRunner(make_http_app(agent), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, cfg.metrics_host, cfg.metrics_port).start()
    try:
        await agent.run()
        if agent.node_draining:
            # Drained for its node: exiting now would get the agent restarted on the draining
            # node (a system job), so it idles, reporting "draining", until Nomad stops it.
            await agent.signalled.wait()
    finally:
        await runner.cleanup()
    return 0


def _load() -> tuple[agent_config.AgentConfig, runtime_registry.Registry]:
    registry = runtime_registry.load()
    cfg = agent_config.load(registry=registry)
    kafka_client.configure()    # every Kafka client of this process authenticates so
    return cfg, registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="throwbox-agent", description="Throwbox executor agent")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the agent (default)")
    render = sub.add_parser("render-sandbox-job", help="print the Nomad API JSON of one warm-pool job")
    render.add_argument("language", help="language or alias, optionally LANG:VERSION")
    render.add_argument("--node-id", default="00000000-0000-0000-0000-000000000000")
    render.add_argument("--oci-runtime", choices=agent_config.OCI_RUNTIMES)
    args = parser.parse_args(argv)
    try:
        cfg, registry = _load()
    except (ConfigError, runtime_registry.RuntimeConfigError) as e:
        print(f"throwbox-agent: configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "render-sandbox-job":
        language, _, version = args.language.partition(":")
        runtime = registry.resolve(language, version or None)
        if runtime is None:
            print(f"throwbox-agent: unknown runtime {args.language!r}", file=sys.stderr)
            return 2
        job = sandbox_job.render(cfg, registry, runtime, cfg.node_id or args.node_id, args.oci_runtime)
        print(json.dumps({"Job": job}, indent=2))
        return 0
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(cfg, registry))
    except ConfigError as e:    # found at start-up, e.g. the sandbox runtime not registered with dockerd
        print(f"throwbox-agent: configuration error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
