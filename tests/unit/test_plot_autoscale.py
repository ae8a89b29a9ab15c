"""bench/plot_autoscale.py: a timeline of queue depth, workers and completions to a PNG."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def module():
    spec = importlib.util.spec_from_file_location("plot_autoscale", REPO / "bench" / "plot_autoscale.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_runs_per_second_is_the_trailing_increase():
    m = module()
    times = [0, 5, 10, 15, 20]
    completed = [0, 0, 50, 150, 150]
    assert m.runs_per_second(times, completed, 10) == [0.0, 0.0, 5.0, 15.0, 10.0]
    # Samples sparser than the window: the rate over the last interval.
    assert m.runs_per_second([0, 30, 60], [0, 30, 90], 10) == [0.0, 1.0, 2.0]


def test_a_burst_timeline_becomes_a_png(tmp_path):
    m = module()
    samples, done = [], 0
    for i in range(60):
        t = 1_765_000_000 + 2 * i
        done += 3 if i > 10 else 0
        samples.append({"t": t, "queued": max(0, 40 - i), "workers": 2 if i < 15 or i > 50 else 3, "completed": done})
    timeline = tmp_path / "timeline.json"
    timeline.write_text(json.dumps({"timeline": samples, "events": [{"t": samples[15]["t"], "label": "w3 added"}]}))
    out = tmp_path / "autoscale.png"
    assert m.main([str(timeline), str(out), "--title", "burst"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_a_sample_without_its_fields_is_refused(tmp_path):
    m = module()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"t": 0, "queued": 1}]))
    with pytest.raises(ValueError, match="completed"):
        m.load(bad)
    bad.write_text("[]")
    with pytest.raises(ValueError, match="no samples"):
        m.load(bad)


def timeline_module():
    spec = importlib.util.spec_from_file_location("autoscale_timeline", REPO / "bench" / "autoscale_timeline.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_the_timeline_from_prometheus_series_carries_gaps_and_starts_completed_at_zero():
    m = timeline_module()
    series = {"queued": {100.0: 0, 102.0: 12, 106.0: 3},
              "workers": {100.0: 2, 104.0: 3},
              "completed": {102.0: 500, 104.0: 520, 106.0: 560}}
    assert m.timeline(series, 100, 106, 2) == [
        {"t": 100, "queued": 0, "workers": 2, "completed": 0.0},
        {"t": 102, "queued": 12, "workers": 2, "completed": 0.0},
        {"t": 104, "queued": 12, "workers": 3, "completed": 20.0},
        {"t": 106, "queued": 3, "workers": 3, "completed": 60.0},
    ]
