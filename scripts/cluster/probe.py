#!/usr/bin/env python3
"""Readiness probes of the local cluster, for its scripts (exit 0 = ready).

  probe.py worker NODE     NODE is a ready, eligible Nomad client with healthy docker and raw_exec
"""

import json
import os
import sys
import urllib.request

NET = os.environ.get("THROWBOX_CLUSTER_NET", "10.77.0")
NOMAD = f"http://{NET}.11:4646"


def get(url: str):
    # The cluster's management token (scripts/cluster/lib.sh exports where it is).
    header = os.path.join(os.environ.get("CLUSTER_SECRETS", ""), "nomad-management.token")
    token = open(header).readline().strip() if os.path.isfile(header) else ""
    req = urllib.request.Request(url, headers={"X-Nomad-Token": token} if token else {})
    with urllib.request.urlopen(req, timeout=3) as r:
        return json.load(r)


def worker_ready(name: str) -> bool:
    nodes = [n for n in get(f"{NOMAD}/v1/nodes") if n["Name"] == name and n["Status"] == "ready"]
    if not nodes:
        return False
    node = get(f"{NOMAD}/v1/node/{nodes[0]['ID']}")
    return all(node["Drivers"].get(d, {}).get("Healthy") for d in ("docker", "raw_exec"))


def main() -> int:
    kind, name = sys.argv[1], sys.argv[2]
    try:
        return 0 if {"worker": worker_ready}[kind](name) else 1
    except (OSError, ValueError, KeyError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
