"""Is another agent alive, from Consul's health entries of the agent service (pure).

An agent whose own check passes is alive. A draining agent fails its check on purpose (so
admission stops counting its capacity) while it still finishes its runs: it counts as alive as
long as its node does (Consul's serfHealth), so the agents that took over its partitions do
not end its runs as agent_lost. A node that died takes its agent with it, whatever the
agent's last service check said.
"""

from __future__ import annotations

NODE_CHECK = "serfHealth"


def agent_alive(entries: list[dict], name: str) -> bool:
    """`entries`: GET /v1/health/service/<agent service> (every instance, any status)."""
    for entry in entries:
        service = entry.get("Service") or {}
        meta = service.get("Meta") or {}
        if meta.get("agent") != name:
            continue
        checks = entry.get("Checks") or []
        node_ok = all(c.get("Status") == "passing" for c in checks if c.get("CheckID") == NODE_CHECK)
        own = [c for c in checks if c.get("CheckID") != NODE_CHECK]
        if not node_ok:
            continue
        if all(c.get("Status") == "passing" for c in own) or meta.get("draining") == "true":
            return True
    return False


def node_draining(node: dict) -> bool:
    """A Nomad node (GET /v1/node/<id>) being drained: its agent must drain itself, since Nomad
    stops a system job's allocation only after every other allocation on the node."""
    return node.get("DrainStrategy") is not None
