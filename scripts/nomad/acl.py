#!/usr/bin/env python3
"""Nomad and Consul ACLs of a Throwbox cluster: the one implementation the local cluster
(scripts/cluster), the tests' private Nomad (tests/private_nomad.py, acl=True) and the
operators' runbook (docs/security.md) use. Standard library only.

  acl.py init DIR                      the secrets chosen before the agents start (mode 0600 in
                                       DIR, mode 0700): Consul's management and pre-set token
                                       secrets, Nomad's bootstrap secret, the gossip keys
  acl.py apply DIR --consul URL --nomad URL
                                       bootstrap both ACL systems with those secrets, create the
                                       sandboxes' namespace, the policies (scripts/nomad/acl/*.hcl)
                                       and every token; idempotent
  acl.py agent-vars DIR --nomad URL [--job ID]
                                       the executor agent's two tokens into the Nomad Variable
                                       nomad/jobs/<job> (its job's template writes them to files)

No token is ever printed, passed on a command line or put in the environment by this script.
Each token file holds the secret on its first line; each *.header file the matching HTTP header
line (for `curl -H @file`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent / "acl"
SANDBOX_NAMESPACE = "throwbox-sandboxes"
AGENT_JOB = "throwbox-executor-agent"

# Consul tokens whose secrets are chosen here (the agents' configs need some before Consul runs):
# file stem -> policy (None: the management token, Consul's acl.tokens.initial_management).
CONSUL_TOKENS = {
    "consul-management": None,
    "consul-node": "consul-node",                    # Consul agents' acl.tokens.agent
    "consul-nomad": "consul-nomad",                  # Nomad agents' consul { token }
    "consul-control-plane": "consul-control-plane",  # control planes, `throwbox keys`
    "consul-agent": "consul-agent",                  # executor agents
    "consul-ops": "consul-ops",                      # ops/consul_file_sd.py
    "consul-deployer": "consul-deployer",            # terraform/modules/throwbox's KV records
}
# Nomad tokens Nomad creates (its API takes no chosen secret): file stem -> policy.
NOMAD_TOKENS = {"nomad-agent": "nomad-agent", "nomad-ops": "nomad-ops"}
GOSSIP_KEYS = ("consul-gossip", "nomad-gossip")


class AclError(Exception):
    pass


def write_secret(path: Path, value: str) -> None:
    """Created 0600 from the start (never world-readable, not even briefly)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.replace(tmp, path)


def read_secret(path: Path) -> str:
    try:
        return path.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        raise AclError(f"{path}: missing or empty (run `acl.py init {path.parent}` first)") from None


def write_headers(d: Path) -> None:
    for f in d.glob("*.token"):
        name = "X-Consul-Token" if f.name.startswith("consul-") else "X-Nomad-Token"
        write_secret(f.with_suffix(".header"), f"{name}: {read_secret(f)}")


def init(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    for stem in [*CONSUL_TOKENS, "nomad-management"]:
        if not (d / f"{stem}.token").exists():
            write_secret(d / f"{stem}.token", str(uuid.uuid4()))
    for stem in GOSSIP_KEYS:
        if not (d / f"{stem}.key").exists():
            write_secret(d / f"{stem}.key", base64.b64encode(secrets.token_bytes(32)).decode())
    write_headers(d)


def call(method: str, url: str, header: str, token: str | None, body=None, timeout_s: float = 10):
    """(status, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header(header, token)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace").strip()


def until(what: str, check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            out = check()
            if out:
                return out
        except OSError as e:
            last = e
        time.sleep(1)
    raise AclError(f"{what}: not within {timeout_s:.0f}s ({last})")


def policy_rules(name: str) -> str:
    return (POLICY_DIR / f"{name}.hcl").read_text()


# ------------------------------------------------------------------------------ Consul


def apply_consul(d: Path, consul: str, timeout_s: float) -> None:
    consul = consul.rstrip("/")
    mgmt = read_secret(d / "consul-management.token")

    def c(method, path, body=None, token=mgmt):
        return call(method, consul + path, "X-Consul-Token", token, body)

    # The leader creates the initial management token once elected.
    until("consul's management token", lambda: c("GET", "/v1/acl/token/self")[0] == 200, timeout_s)
    for stem, policy in CONSUL_TOKENS.items():
        if policy is None:
            continue
        status, existing = c("GET", f"/v1/acl/policy/name/{policy}")
        body = {"Name": policy, "Description": f"Throwbox: scripts/nomad/acl/{policy}.hcl",
                "Rules": policy_rules(policy)}
        status, out = (c("PUT", f"/v1/acl/policy/{existing['ID']}", body) if status == 200
                       else c("PUT", "/v1/acl/policy", body))
        if status != 200:
            raise AclError(f"consul policy {policy}: HTTP {status} {out}")
        secret = read_secret(d / f"{stem}.token")
        if c("GET", "/v1/acl/token/self", token=secret)[0] == 200:
            continue
        status, out = c("PUT", "/v1/acl/token", {"SecretID": secret, "Description": f"Throwbox {stem}",
                                                  "Policies": [{"Name": policy}]})
        if status != 200:
            raise AclError(f"consul token {stem}: HTTP {status} {out}")


# ------------------------------------------------------------------------------ Nomad


def apply_nomad(d: Path, nomad: str, timeout_s: float) -> None:
    nomad = nomad.rstrip("/")
    mgmt = read_secret(d / "nomad-management.token")

    def n(method, path, body=None, token=mgmt):
        return call(method, nomad + path, "X-Nomad-Token", token, body)

    def bootstrapped() -> bool:
        if n("GET", "/v1/acl/token/self")[0] == 200:
            return True
        status, out = n("POST", "/v1/acl/bootstrap", {"BootstrapSecret": mgmt}, token=None)
        if status == 200:
            return True
        if "already done" in str(out):
            raise AclError("Nomad's ACLs were bootstrapped with another secret than "
                           f"{d}/nomad-management.token (see docs/security.md: reset the bootstrap)")
        return False     # no leader yet
    until("nomad acl bootstrap", bootstrapped, timeout_s)
    status, out = n("POST", "/v1/namespace", {
        "Name": SANDBOX_NAMESPACE,
        "Description": "Throwbox sandbox jobs (the executor agents' token may submit jobs here only)",
        "Capabilities": {"EnabledTaskDrivers": ["docker"]}})
    if status != 200:
        raise AclError(f"nomad namespace {SANDBOX_NAMESPACE}: HTTP {status} {out}")
    for stem, policy in NOMAD_TOKENS.items():
        status, out = n("POST", f"/v1/acl/policy/{policy}", {
            "Name": policy, "Description": f"Throwbox: scripts/nomad/acl/{policy}.hcl", "Rules": policy_rules(policy)})
        if status != 200:
            raise AclError(f"nomad policy {policy}: HTTP {status} {out}")
        path = d / f"{stem}.token"
        if path.exists() and n("GET", "/v1/acl/token/self", token=read_secret(path))[0] == 200:
            continue
        status, out = n("POST", "/v1/acl/token", {"Name": f"Throwbox {stem}", "Type": "client", "Policies": [policy]})
        if status != 200:
            raise AclError(f"nomad token {stem}: HTTP {status} {out}")
        write_secret(path, out["SecretID"])


def agent_vars(d: Path, nomad: str, job: str) -> None:
    """Nomad Variables at nomad/jobs/<job> are readable by that job's tasks only (workload
    identity): the executor agent's template renders its tokens into its secrets dir."""
    items = {"nomad_token": read_secret(d / "nomad-agent.token"),
             "consul_token": read_secret(d / "consul-agent.token")}
    path = f"nomad/jobs/{job}"
    status, out = call("PUT", f"{nomad.rstrip('/')}/v1/var/{path}", "X-Nomad-Token",
                       read_secret(d / "nomad-management.token"),
                       {"Namespace": "default", "Path": path, "Items": items})
    if status != 200:
        raise AclError(f"nomad variable {path}: HTTP {status} {str(out)[:200]}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("init").add_argument("dir", type=Path)
    a = sub.add_parser("apply")
    a.add_argument("dir", type=Path)
    a.add_argument("--consul", required=True)
    a.add_argument("--nomad", required=True)
    a.add_argument("--timeout-s", type=float, default=120)
    v = sub.add_parser("agent-vars")
    v.add_argument("dir", type=Path)
    v.add_argument("--nomad", required=True)
    v.add_argument("--job", default=AGENT_JOB)
    args = p.parse_args(argv)
    try:
        if args.cmd == "init":
            init(args.dir)
        elif args.cmd == "apply":
            init(args.dir)
            apply_consul(args.dir, args.consul, args.timeout_s)
            apply_nomad(args.dir, args.nomad, args.timeout_s)
            write_headers(args.dir)
        else:
            agent_vars(args.dir, args.nomad, args.job)
    except AclError as e:
        print(f"acl.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
