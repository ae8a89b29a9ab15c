"""What the benchmarks run: a hello world per runtime, and a small async API client."""

from __future__ import annotations

import shlex
import statistics
import time
from dataclasses import dataclass

import aiohttp

from throwbox_common.runtimes import Runtime

HELLO = {
    "python": "print('hello')\n",
    "javascript": "console.log('hello')\n",
    "c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("hello"); } }\n',
    "rust": 'fn main() { println!("hello"); }\n',
    "ruby": "puts 'hello'\n",
    "bash": "echo hello\n",
}

# Prints write timestamps (ns) after a pause that lets the WebSocket client connect first.
STREAM_PROGRAM = """import time
time.sleep({delay})
for _ in range({lines}):
    print(time.time_ns(), flush=True)
    time.sleep({interval})
"""


def hello_request(runtime: Runtime) -> dict:
    return {"language": runtime.language, "version": runtime.version,
            "files": [{"name": runtime.entrypoint, "content": HELLO[runtime.language]}]}


def floor_command(runtime: Runtime) -> list[str]:
    """The same compile + run commands the launcher would start, as one exec (sh joins two)."""
    run = runtime.run_command(runtime.entrypoint, [])
    comp = runtime.compile_command(runtime.entrypoint)
    if comp is None:
        return run
    return ["sh", "-c", f"{shlex.join(comp)} && {shlex.join(run)}"]


FLOOR_ENV = ["HOME=/tmp/run", "LANG=C.UTF-8"]   # what the launcher gives a program


def percentiles(values: list[float]) -> dict:
    """p50/p95/p99 (nearest rank; with fewer than 100 samples p99 is the maximum), ms."""
    if not values:
        return {"n": 0}
    xs = sorted(values)

    def rank(p: float) -> float:
        i = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
        return xs[i]
    return {"n": len(xs), "p50": round(rank(50), 1), "p95": round(rank(95), 1), "p99": round(rank(99), 1),
            "mean": round(statistics.fmean(xs), 1), "min": round(xs[0], 1), "max": round(xs[-1], 1)}


@dataclass
class RunReply:
    status: int
    e2e_ms: float
    body: dict | None


class Api:
    def __init__(self, base_url: str, key: str):
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.s = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120),
                                       connector=aiohttp.TCPConnector(limit=256))

    async def close(self) -> None:
        await self.s.close()

    async def run(self, body: dict, wait: bool = True) -> RunReply:
        t0 = time.perf_counter()
        async with self.s.post(self.base + "/v1/runs" + ("?wait=true" if wait else ""), json=body,
                               headers=self.headers) as r:
            data = await r.json(content_type=None)
            return RunReply(r.status, (time.perf_counter() - t0) * 1000, data)

    def ws_url(self, run_id: str) -> str:
        return self.base.replace("http://", "ws://") + f"/v1/runs/{run_id}/ws"
