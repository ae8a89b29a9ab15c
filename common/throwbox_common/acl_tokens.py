"""ACL tokens of Nomad and Consul as the components send them: one header each, built from
the token file named by THROWBOX_NOMAD_TOKEN_FILE / THROWBOX_CONSUL_TOKEN_FILE (declared in
each component's settings; docs/security.md says who holds which token). No file: no header
(the single-node dev stack runs without ACLs)."""

from __future__ import annotations

from . import env as read

NOMAD_TOKEN_FILE = "THROWBOX_NOMAD_TOKEN_FILE"
CONSUL_TOKEN_FILE = "THROWBOX_CONSUL_TOKEN_FILE"
NOMAD_TOKEN_HELP = ("file holding the Nomad ACL token (first line; written by scripts/nomad/acl.py); empty: "
                    "no token (Nomad without ACLs)")
CONSUL_TOKEN_HELP = ("file holding the Consul ACL token (first line; written by scripts/nomad/acl.py); empty: "
                     "no token (Consul without ACLs)")


def nomad_headers(token_file: str) -> dict[str, str]:
    return {"X-Nomad-Token": read.read_token(NOMAD_TOKEN_FILE, token_file)} if token_file else {}


def consul_headers(token_file: str) -> dict[str, str]:
    return {"X-Consul-Token": read.read_token(CONSUL_TOKEN_FILE, token_file)} if token_file else {}
