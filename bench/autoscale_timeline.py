"""An autoscaling timeline from the cluster's Prometheus (scripts/cluster/ops.sh), for
bench/plot_autoscale.py: [{t, queued, workers, completed}] over [start, end].

    .venv/bin/python bench/autoscale_timeline.py --start UNIX_S --end UNIX_S [--step 2] \
        [--prometheus http://127.0.0.1:19090] > timeline.json

- queued: max(throwbox_runs_queued) (every control plane reports the cluster-wide queue);
- workers: executor agents answering their scrape, count(up{job="throwbox-agent"} == 1);
- completed: runs finished so far, max over the control planes of their
  sum(throwbox_runs_finished_total) (each one sees every result), from 0 at the start.
A step where a series has no sample carries the previous value (0 before the first).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request

QUERIES = {
    "queued": "max(throwbox_runs_queued)",
    "workers": 'count(up{job="throwbox-agent"} == 1)',
    "completed": "max(sum by (instance) (throwbox_runs_finished_total))",
}


def query_range(prometheus: str, query: str, start: float, end: float, step: float) -> dict[float, float]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus.rstrip('/')}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"prometheus: {body}")
    points: dict[float, float] = {}
    for series in body["data"]["result"]:
        for t, v in series["values"]:
            points[float(t)] = float(v)
    return points


def timeline(series: dict[str, dict[float, float]], start: float, end: float, step: float) -> list[dict]:
    out, last = [], {k: 0.0 for k in QUERIES}
    first_completed = None
    n = int((end - start) // step) + 1
    for i in range(n):
        t = round(start + i * step, 3)
        for k in QUERIES:
            if t in series.get(k, {}):
                last[k] = series[k][t]
        if first_completed is None and t in series.get("completed", {}):
            first_completed = series["completed"][t]
        base = first_completed or 0.0
        out.append({"t": t, "queued": last["queued"], "workers": int(last["workers"]),
                    "completed": max(0.0, last["completed"] - base)})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prometheus", default="http://127.0.0.1:19090")
    p.add_argument("--start", type=float, required=True, help="unix seconds")
    p.add_argument("--end", type=float, required=True, help="unix seconds")
    p.add_argument("--step", type=float, default=2.0, help="seconds")
    a = p.parse_args(argv)
    series = {k: query_range(a.prometheus, q, a.start, a.end, a.step) for k, q in QUERIES.items()}
    json.dump(timeline(series, a.start, a.end, a.step), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
