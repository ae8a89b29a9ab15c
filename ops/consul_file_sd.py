#!/usr/bin/env python3
"""Consul catalog -> Prometheus file_sd bridge (Debian's prometheus is built without consul_sd).

Every INTERVAL seconds, writes one JSON file per job into OUT:
- throwbox-agent.json: the Consul service `throwbox-agent` (Address:Port is the agent's metrics
  listener), labels `agent` (its Meta agent) and `node`;
- nomad-client.json: the Consul service `nomad-client` with tag `http` (each Nomad client's HTTP
  API), label `node`;
- throwbox-control-plane.json: the static --control-planes list, written once.
Services on failed nodes stay listed (the catalog keeps them until deregistered), so a killed
worker's targets go `up == 0` and the lost-worker alerts fire; a worker removed by scale-in is
deregistered and disappears. While Consul does not answer, the files keep their last content.
Files are replaced atomically (Prometheus never reads half a file). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

AGENT_SERVICE = "throwbox-agent"
NOMAD_CLIENT_SERVICE = "nomad-client"


def catalog(consul: str, service: str, tag: str | None = None, timeout_s: float = 5,
            headers: dict[str, str] | None = None) -> list[dict]:
    url = f"{consul.rstrip('/')}/v1/catalog/service/{urllib.parse.quote(service)}"
    if tag:
        url += "?" + urllib.parse.urlencode({"tag": tag})
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as r:
        return json.load(r)


def _address(entry: dict) -> str:
    host = entry.get("ServiceAddress") or entry.get("Address") or ""
    return f"{host}:{entry.get('ServicePort')}"


def agent_targets(entries: list[dict]) -> list[dict]:
    """file_sd groups of the agents, one per target, sorted (stable files)."""
    groups = []
    for e in entries:
        meta = e.get("ServiceMeta") or {}
        labels = {"node": e.get("Node", "")}
        if meta.get("agent"):
            labels["agent"] = meta["agent"]
        groups.append({"targets": [_address(e)], "labels": labels})
    return sorted(groups, key=lambda g: g["targets"][0])


def nomad_client_targets(entries: list[dict]) -> list[dict]:
    groups = [{"targets": [_address(e)], "labels": {"node": e.get("Node", "")}} for e in entries]
    return sorted(groups, key=lambda g: g["targets"][0])


def static_targets(addresses: str) -> list[dict]:
    """`host:port,host:port` (commas or spaces) -> one group."""
    targets = [a for a in addresses.replace(",", " ").split() if a]
    return [{"targets": targets}] if targets else []


def write_json(path: str, groups: list[dict]) -> bool:
    """Replace path with groups atomically; False when the content was already that."""
    text = json.dumps(groups, indent=1, sort_keys=True) + "\n"
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".sd-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def sync_once(consul: str, out: str, headers: dict[str, str] | None = None) -> None:
    """One pass; raises OSError/ValueError when Consul does not answer (files left as they are)."""
    agents = agent_targets(catalog(consul, AGENT_SERVICE, headers=headers))
    clients = nomad_client_targets(catalog(consul, NOMAD_CLIENT_SERVICE, tag="http", headers=headers))
    write_json(os.path.join(out, "throwbox-agent.json"), agents)
    write_json(os.path.join(out, "nomad-client.json"), clients)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--consul", required=True, help="Consul HTTP address, e.g. http://10.77.0.11:8500")
    p.add_argument("--out", required=True, help="directory of the file_sd JSON files")
    p.add_argument("--control-planes", default="", help="host:port of each control plane, comma-separated")
    p.add_argument("--consul-token-file", default="", help="file holding a Consul ACL token (catalog read)")
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--once", action="store_true", help="one pass, exit 1 if Consul does not answer")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    headers = {}
    if a.consul_token_file:
        with open(a.consul_token_file) as f:
            headers["X-Consul-Token"] = f.readline().strip()
    write_json(os.path.join(a.out, "throwbox-control-plane.json"), static_targets(a.control_planes))
    for name in ("throwbox-agent.json", "nomad-client.json"):
        if not os.path.exists(os.path.join(a.out, name)):
            write_json(os.path.join(a.out, name), [])
    while True:
        try:
            sync_once(a.consul, a.out, headers)
        except (OSError, ValueError) as e:
            print(f"consul_file_sd: Consul at {a.consul}: {e}", file=sys.stderr, flush=True)
            if a.once:
                return 1
        if a.once:
            return 0
        time.sleep(a.interval)


if __name__ == "__main__":
    sys.exit(main())
