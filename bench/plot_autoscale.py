"""Plot an autoscaling timeline: queue depth, workers and runs/s over time, to a PNG.

    .venv/bin/python bench/plot_autoscale.py TIMELINE.json OUT.png [--title TEXT] [--window S]

TIMELINE.json is either a list of samples or {"timeline": [...], "events": [...]}:
- a sample: {"t": seconds (any origin: unix time or since start), "queued": runs queued,
  "workers": ready worker nodes, "completed": runs completed so far (cumulative)};
- an event (optional): {"t": seconds, "label": "worker w3 added"}: a dashed line on every panel.
Runs/s is the increase of `completed` over the trailing --window seconds (default 10).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def load(path: str | Path) -> tuple[list[dict], list[dict]]:
    data = json.loads(Path(path).read_text())
    samples, events = (data, []) if isinstance(data, list) else (data["timeline"], data.get("events", []))
    if not samples:
        raise ValueError("the timeline has no samples")
    for s in samples:
        missing = {"t", "queued", "workers", "completed"} - s.keys()
        if missing:
            raise ValueError(f"sample {s} lacks {sorted(missing)}")
    return sorted(samples, key=lambda s: s["t"]), events


def runs_per_second(times: list[float], completed: list[float], window_s: float) -> list[float]:
    """Trailing-window rate of a cumulative count, one value per sample (0 at the first)."""
    out = []
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - window_s:
            j += 1
        if j == i and i > 0:
            j = i - 1   # samples sparser than the window: the rate over the last interval
        dt = t - times[j]
        out.append((completed[i] - completed[j]) / dt if dt > 0 else 0.0)
    return out


def plot(samples: list[dict], events: list[dict], out: str | Path, title: str = "", window_s: float = 10.0) -> None:
    t0 = samples[0]["t"]
    t = [s["t"] - t0 for s in samples]
    rate = runs_per_second(t, [s["completed"] for s in samples], window_s)
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(10, 7), constrained_layout=True)
    ax_q, ax_w, ax_r = axes
    ax_q.plot(t, [s["queued"] for s in samples], color="tab:red")
    ax_q.set_ylabel("runs queued")
    ax_w.step(t, [s["workers"] for s in samples], where="post", color="tab:blue")
    ax_w.set_ylabel("workers")
    ax_w.yaxis.get_major_locator().set_params(integer=True)
    ax_w.set_ylim(bottom=0, top=max(s["workers"] for s in samples) + 1)
    ax_r.plot(t, rate, color="tab:green")
    ax_r.set_ylabel(f"runs/s ({window_s:g} s window)")
    ax_r.set_xlabel("time (s)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        for e in events:
            ax.axvline(e["t"] - t0, color="grey", linestyle="--", linewidth=0.8)
    for e in events:
        ax_q.annotate(e.get("label", ""), (e["t"] - t0, 1), xycoords=("data", "axes fraction"),
                      rotation=90, va="top", ha="right", fontsize=8, color="grey")
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("timeline")
    p.add_argument("out")
    p.add_argument("--title", default="")
    p.add_argument("--window", type=float, default=10.0, help="seconds of the runs/s window")
    a = p.parse_args(argv)
    samples, events = load(a.timeline)
    plot(samples, events, a.out, a.title, a.window)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
