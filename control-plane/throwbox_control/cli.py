"""`throwbox`: operator and user command line.

keys …  talks to Consul directly (an operator tool: THROWBOX_CONSUL_ADDR), and to Kafka as its
        admin for a tenant's Kafka access (THROWBOX_KAFKA_BOOTSTRAP, THROWBOX_KAFKA_CREDENTIALS_FILE).
run, fn …  talk to the API (THROWBOX_API_URL, THROWBOX_API_KEY).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from throwbox_common import acl_tokens, settings
from throwbox_common.env import SettingError
from throwbox_common.settings import Setting

from . import kafka_tenants
from .auth import KEY_PREFIX, key_hash, new_key

CONSUL_ADDR = Setting("THROWBOX_CONSUL_ADDR", "http://127.0.0.1:8500", "Consul HTTP address (`throwbox keys`)")
API_URL = Setting("THROWBOX_API_URL", "http://127.0.0.1:8080", "the API `throwbox run` and `fn` talk to",
                  aliases=("THROWBOX_URL",))
API_KEY = Setting("THROWBOX_API_KEY", "", "the API key `throwbox run` and `fn` send")
CONSUL_TOKEN_FILE = Setting(acl_tokens.CONSUL_TOKEN_FILE, "", acl_tokens.CONSUL_TOKEN_HELP + " (`throwbox keys`: "
                            "a token that may write throwbox/keys/)")
SETTINGS = (CONSUL_ADDR, CONSUL_TOKEN_FILE, API_URL, API_KEY, kafka_tenants.KAFKA_BOOTSTRAP)

SIGNALS = {s.name: int(s) for s in signal.Signals}


class CliError(Exception):
    pass


# ---------------------------------------------------------------- HTTP helpers


def _request(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
             timeout_s: float = 90) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise CliError(f"cannot reach {url.split('?')[0]}: {e}") from e


def _consul() -> str:
    return (settings.read(os.environ, CONSUL_ADDR) or CONSUL_ADDR.default).rstrip("/")


def _consul_headers() -> dict[str, str]:
    try:
        return acl_tokens.consul_headers(os.environ.get(acl_tokens.CONSUL_TOKEN_FILE, "").strip())
    except SettingError as e:
        raise CliError(str(e)) from e


def _api() -> tuple[str, dict[str, str]]:
    url = (settings.read(os.environ, API_URL) or API_URL.default).rstrip("/")
    key = settings.read(os.environ, API_KEY) or ""
    if not key:
        raise CliError("set THROWBOX_API_KEY (create one with `throwbox keys create --tenant NAME`)")
    return url, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _api_call(method: str, path: str, payload=None) -> tuple[int, dict | list | None]:
    url, headers = _api()
    body = json.dumps(payload).encode() if payload is not None else None
    status, data = _request(method, url + path, body, headers)
    parsed = json.loads(data) if data else None
    if status >= 400:
        err = (parsed or {}).get("error", {}) if isinstance(parsed, dict) else {}
        details = "; ".join(f"{d.get('field')}: {d.get('problem')}" for d in err.get("details", []))
        raise CliError(f"HTTP {status} {err.get('code', '')}: {err.get('message', '')}"
                       + (f" ({details})" if details else ""))
    return status, parsed


# ---------------------------------------------------------------- keys (Consul)


def keys_create(args) -> int:
    key = new_key()
    record = {"tenant": args.tenant, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "max_concurrent": args.max_concurrent, "runs_per_minute": args.runs_per_minute,
              "prefix": key[:10]}
    status, body = _request("PUT", f"{_consul()}/v1/kv/{KEY_PREFIX}{key_hash(key)}?cas=0",
                            json.dumps(record).encode(), _consul_headers(), timeout_s=10)
    if status != 200 or body.strip() != b"true":
        raise CliError(f"could not store the key in Consul (HTTP {status})")
    print(f"created key for tenant {args.tenant!r} (shown once; stored hashed)", file=sys.stderr)
    if args.kafka_credentials:
        _kafka_grant(args.tenant, args.kafka_credentials)
    print(key)
    return 0


def _kafka_grant(tenant: str, out: str) -> None:
    try:
        kafka_tenants.grant(tenant, Path(out))
    except (kafka_tenants.KafkaAccessError, OSError) as e:
        raise CliError(f"tenant {tenant!r}: Kafka access not granted: {e}") from None
    status, body = _request("PUT", f"{_consul()}/v1/kv/{kafka_tenants.MARKER_PREFIX}{quote(tenant, safe='')}",
                            json.dumps({"granted_at": datetime.now(UTC).isoformat(timespec="seconds")}).encode(),
                            timeout_s=10)
    if status != 200:
        raise CliError(f"Kafka access granted but not recorded in Consul (HTTP {status}): `keys revoke` of the "
                       f"tenant's last key will not remove it")
    print(f"Kafka credentials of tenant {tenant!r} written to {out} (mode 0600; any earlier ones stop working): "
          f"requests to {kafka_tenants.kafka_access.invocations_topic(tenant)}, replies on "
          f"{kafka_tenants.kafka_access.results_topic(tenant)}", file=sys.stderr)


def keys_kafka(args) -> int:
    """Grant (or rotate) a tenant's Kafka access: it must have an API key (it must exist)."""
    if not any(r.get("tenant") == args.tenant for _, r in _all_keys()):
        raise CliError(f"tenant {args.tenant!r} has no API key: create one first (`keys create --tenant ...`)")
    _kafka_grant(args.tenant, args.out)
    return 0


def kafka_rotate(args) -> int:
    """A platform component's Kafka password (control plane or agents), in place."""
    try:
        creds = kafka_tenants.rotate_component(Path(args.file))
    except kafka_tenants.KafkaAccessError as e:
        raise CliError(f"not rotated: {e}") from None
    print(f"new password of {creds.username!r} set on the brokers and written to {args.file}; "
          f"restart its instances (scripts/start-control-plane.sh --restart, scripts/deploy-agent.sh --restart): "
          f"connected ones keep working until they reconnect", file=sys.stderr)
    return 0


def _kafka_revoke_if_last(tenant: str) -> None:
    """A tenant whose last key went loses its Kafka access too (when it had any)."""
    if any(r.get("tenant") == tenant for _, r in _all_keys()):
        return
    marker = f"{_consul()}/v1/kv/{kafka_tenants.MARKER_PREFIX}{quote(tenant, safe='')}"
    status, _ = _request("GET", marker, timeout_s=10)
    if status == 404:
        return
    try:
        kafka_tenants.revoke(tenant)
    except kafka_tenants.KafkaAccessError as e:
        raise CliError(f"key revoked, but tenant {tenant!r}'s Kafka access was not removed: {e}") from None
    _request("DELETE", marker, timeout_s=10)
    print(f"tenant {tenant!r} had no key left: its Kafka principal, ACLs and topics are removed", file=sys.stderr)


def _all_keys() -> list[tuple[str, dict]]:
    status, body = _request("GET", f"{_consul()}/v1/kv/{KEY_PREFIX}?recurse=true", headers=_consul_headers(),
                            timeout_s=10)
    if status == 404:
        return []
    if status != 200:
        raise CliError(f"Consul answered HTTP {status}")
    out = []
    for item in json.loads(body):
        try:
            out.append((item["Key"][len(KEY_PREFIX):], json.loads(base64.b64decode(item["Value"] or ""))))
        except (ValueError, KeyError):
            continue
    return out


def keys_list(args) -> int:
    rows = [(h, r) for h, r in _all_keys() if args.tenant is None or r.get("tenant") == args.tenant]
    print(f"{'HASH':14} {'PREFIX':12} {'TENANT':20} {'MAX_CONC':>8} {'RUNS/MIN':>8} CREATED")
    for h, r in sorted(rows, key=lambda x: (x[1].get("tenant", ""), x[1].get("created_at", ""))):
        print(f"{h[:12]:14} {r.get('prefix', ''):12} {r.get('tenant', ''):20} "
              f"{str(r.get('max_concurrent') or '-'):>8} {str(r.get('runs_per_minute') or '-'):>8} {r.get('created_at', '')}")
    return 0


def keys_revoke(args) -> int:
    """Revoke by the key itself or by a unique hash prefix from `keys list`."""
    target = args.key
    keys = _all_keys()
    hashes = [h for h, _ in keys]
    if target in hashes:
        matches = [target]
    elif target.startswith("tbx_"):
        matches = [key_hash(target)] if key_hash(target) in hashes else []
    else:
        matches = [h for h in hashes if h.startswith(target)] if len(target) >= 6 else []
    if len(matches) != 1:
        raise CliError("no such key" if not matches else "ambiguous hash prefix")
    tenant = dict(keys).get(matches[0], {}).get("tenant")
    status, _ = _request("DELETE", f"{_consul()}/v1/kv/{KEY_PREFIX}{matches[0]}", headers=_consul_headers(),
                         timeout_s=10)
    if status != 200:
        raise CliError(f"Consul answered HTTP {status}")
    print(f"revoked {matches[0][:12]} (instances stop accepting it within their cache TTL)")
    if tenant:
        _kafka_revoke_if_last(tenant)
    return 0


# ---------------------------------------------------------------- runs


def _files(paths: list[str]) -> list[dict]:
    out = []
    for p in paths:
        data = Path(p).read_bytes()
        try:
            out.append({"name": Path(p).name, "content": data.decode("utf-8"), "encoding": "utf8"})
        except UnicodeDecodeError:
            out.append({"name": Path(p).name, "content": base64.b64encode(data).decode(), "encoding": "base64"})
    return out


def exit_code_of(result: dict) -> int:
    """The program's exit code as a shell would report it."""
    if result.get("status") != "completed":
        return 125 if result.get("status") == "failed" else 130
    if result.get("outcome") == "timeout":
        return 124
    if result.get("exit_code") is not None:
        return int(result["exit_code"])
    sig = result.get("signal")
    return 128 + SIGNALS.get(sig, 9) if sig else 1


def _print_result(result: dict) -> None:
    comp = result.get("compile") or {}
    sys.stderr.write(comp.get("stderr") or "")
    sys.stdout.write(result.get("stdout") or "")
    sys.stderr.write(result.get("stderr") or "")
    if result.get("status") != "completed" or result.get("outcome") not in ("ok", "nonzero_exit"):
        err = result.get("error") or {}
        print(f"throwbox: run {result.get('id')} {result.get('status')}"
              f" {result.get('outcome') or ''} {err.get('code', '')} {err.get('message', '')}".rstrip(),
              file=sys.stderr)


def _run_payload(args) -> dict:
    payload = {"language": args.lang, "files": _files(args.files), "args": args.arg or []}
    if args.version:
        payload["version"] = args.version
    if args.entrypoint:
        payload["entrypoint"] = args.entrypoint
    return payload


def cmd_run(args) -> int:
    payload = _run_payload(args)
    if args.follow:
        payload["interactive"] = True
        _, accepted = _api_call("POST", "/v1/runs", payload)
        return asyncio.run(follow(accepted["id"]))  # type: ignore[index]
    if not sys.stdin.isatty():
        payload["stdin"] = sys.stdin.read()
    status, result = _api_call("POST", "/v1/runs?wait=true", payload)
    if status == 202:
        return asyncio.run(follow(result["id"], forward_stdin=False))  # type: ignore[index]
    _print_result(result)  # type: ignore[arg-type]
    return exit_code_of(result)  # type: ignore[arg-type]


async def follow(run_id: str, forward_stdin: bool = True) -> int:
    """Stream a run's events over the WebSocket, forwarding this terminal's stdin."""
    from websockets.asyncio.client import connect

    url, headers = _api()
    ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + f"/v1/runs/{quote(run_id)}/ws"
    loop = asyncio.get_running_loop()
    async with connect(ws_url, additional_headers={"Authorization": headers["Authorization"]},
                       max_size=None) as ws:
        async def pump_stdin() -> None:
            while True:
                chunk = await loop.run_in_executor(None, os.read, 0, 65536)
                if not chunk:
                    await ws.send(json.dumps({"type": "stdin_eof"}))
                    return
                await ws.send(json.dumps({"type": "stdin", "data": chunk.decode("utf-8", "replace")}))

        pump = asyncio.create_task(pump_stdin()) if forward_stdin else None
        try:
            async for message in ws:
                event = json.loads(message)
                kind = event.get("type")
                if kind == "stdout" or (kind == "stderr"):
                    stream = sys.stdout if kind == "stdout" else sys.stderr
                    stream.write(event.get("data", ""))
                    stream.flush()
                elif kind == "error":
                    print(f"throwbox: {event.get('error', {}).get('message')}", file=sys.stderr)
                elif kind == "result":
                    result = event["result"]
                    if result.get("status") != "completed" or result.get("outcome") not in ("ok", "nonzero_exit"):
                        _print_result({**result, "stdout": "", "stderr": ""})
                    return exit_code_of(result)
        finally:
            if pump is not None:
                pump.cancel()
    raise CliError("the event stream ended without a result")


# ---------------------------------------------------------------- functions


def fn_deploy(args) -> int:
    spec = {"language": args.lang, "files": _files(args.files)}
    if args.version:
        spec["version"] = args.version
    if args.entrypoint:
        spec["entrypoint"] = args.entrypoint
    if args.description:
        spec["description"] = args.description
    status, fn = _api_call("PUT", f"/v1/functions/{quote(args.name)}", spec)
    print(f"{'created' if status == 201 else 'updated'} {fn['name']} revision {fn['revision']}")  # type: ignore[index]
    return 0


def fn_invoke(args) -> int:
    payload: dict = {}
    if args.input is not None:
        try:
            payload["input"] = json.loads(args.input)
        except ValueError as e:
            raise CliError(f"--input must be JSON: {e}") from e
    elif not sys.stdin.isatty():
        payload["stdin"] = sys.stdin.read()
    if args.arg:
        payload["args"] = args.arg
    status, result = _api_call("POST", f"/v1/functions/{quote(args.name)}/invoke?wait=true", payload)
    if status == 202:
        return asyncio.run(follow(result["id"], forward_stdin=False))  # type: ignore[index]
    _print_result(result)  # type: ignore[arg-type]
    return exit_code_of(result)  # type: ignore[arg-type]


def fn_list(args) -> int:
    _, fns = _api_call("GET", "/v1/functions")
    print(f"{'NAME':30} {'REV':>4} {'LANGUAGE':10} UPDATED")
    for f in fns or []:  # type: ignore[union-attr]
        print(f"{f['name']:30} {f['revision']:>4} {f['language']:10} {f.get('updated_at', '')}")
    return 0


# ---------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="throwbox", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    keys = sub.add_parser("keys", help="API keys (operator; talks to Consul)")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    c = ks.add_parser("create", help="create a key; the key alone is the last line of stdout")
    c.add_argument("--tenant", required=True)
    c.add_argument("--max-concurrent", type=int)
    c.add_argument("--runs-per-minute", type=int)
    c.add_argument("--kafka-credentials", metavar="FILE",
                   help="also grant the tenant Kafka access (its topics, principal, ACLs) and write its "
                        "credentials to this new file (mode 0600); needs the Kafka admin's credentials")
    c.set_defaults(func=keys_create)
    kk = ks.add_parser("kafka", help="grant or rotate a tenant's Kafka access (new credentials file)")
    kk.add_argument("--tenant", required=True)
    kk.add_argument("--out", required=True, metavar="FILE", help="the new credentials file (mode 0600)")
    kk.set_defaults(func=keys_kafka)
    ls = ks.add_parser("list")
    ls.add_argument("--tenant")
    ls.set_defaults(func=keys_list)
    rv = ks.add_parser("revoke", help="revoke by key or by hash prefix (see keys list)")
    rv.add_argument("key")
    rv.set_defaults(func=keys_revoke)

    kafka = sub.add_parser("kafka", help="the platform's Kafka principals (operator; as the Kafka admin)")
    kas = kafka.add_subparsers(dest="kafka_command", required=True)
    kr = kas.add_parser("rotate", help="a new password for the control plane's or the agents' principal")
    kr.add_argument("file", help="its credentials file, replaced in place (e.g. .state/kafka/credentials/agent.properties)")
    kr.set_defaults(func=kafka_rotate)

    r = sub.add_parser("run", help="run files in a sandbox")
    r.add_argument("files", nargs="+")
    r.add_argument("--lang", "--language", dest="lang", required=True)
    r.add_argument("--version")
    r.add_argument("--entrypoint")
    r.add_argument("--arg", action="append", help="an argument for the program (repeatable)")
    r.add_argument("--follow", action="store_true", help="stream output live and forward stdin")
    r.set_defaults(func=cmd_run)

    fn = sub.add_parser("fn", help="functions")
    fs = fn.add_subparsers(dest="fn_command", required=True)
    d = fs.add_parser("deploy")
    d.add_argument("name")
    d.add_argument("files", nargs="+")
    d.add_argument("--lang", "--language", dest="lang", required=True)
    d.add_argument("--version")
    d.add_argument("--entrypoint")
    d.add_argument("--description")
    d.set_defaults(func=fn_deploy)
    i = fs.add_parser("invoke")
    i.add_argument("name")
    i.add_argument("--input", help="JSON given to the function on stdin")
    i.add_argument("--arg", action="append")
    i.set_defaults(func=fn_invoke)
    fl = fs.add_parser("list")
    fl.set_defaults(func=fn_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("max_concurrent", "runs_per_minute"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"throwbox: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except CliError as e:
        print(f"throwbox: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
