"""docs/benchmarks/results.json (newest result of every section), PNG plots and docs/benchmarks.md.

A --quick result never replaces a full one in docs/ (it stays in bench/results/).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "benchmarks"
RESULTS = OUT / "results.json"
MD = REPO / "docs" / "benchmarks.md"
BENCH = Path(__file__).resolve().parent

TARGETS = {
    "warm_overhead_p50_ms": 25, "warm_overhead_p99_c4_ms": 100, "streaming_p50_ms": 20,
    "throughput_ratio": 0.70, "cold_ratio": 1.2, "admission_rps": 1000, "admission_p99_ms": 50,
}


def load() -> dict:
    if RESULTS.exists():
        return json.loads(RESULTS.read_text())
    return {"machine": {}, "sections": {}}


def merge(results: dict, machine: dict) -> None:
    data = load()
    for name, section in results.items():
        old = data["sections"].get(name)
        if "error" in section:
            print(f"{name}: failed ({section['error'][:200]}); docs keep the previous result")
            continue
        if section.get("quick") and old is not None and not old.get("quick"):
            continue
        data["sections"][name] = section
        data["machine"] = machine
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


# ---------------------------------------------------------------- figures

def _get(d: dict, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def targets(s: dict) -> list[dict]:
    rows = []
    lat = _get(s, "latency", "runtimes", "python-3.11.2")
    if lat:
        e2e, floor = _get(lat, "c1", "e2e_ms", "p50"), _get(lat, "c1", "floor_exec_runsc_ms", "p50")
        if e2e is not None and floor is not None:
            over = e2e - floor
            rows.append({"target": "warm e2e p50 − exec floor p50 (python, 1 client) ≤ 25 ms",
                         "value": f"{e2e:.0f} − {floor:.0f} = {over:.0f} ms", "ratio": over / 25, "met": over <= 25})
        e2e, floor = _get(lat, "c4", "e2e_ms", "p99"), _get(lat, "c4", "floor_exec_runsc_ms", "p99")
        if e2e is not None and floor is not None:
            over = e2e - floor
            rows.append({"target": "warm e2e p99 − exec floor p99 (python, 4 clients) ≤ 100 ms",
                         "value": f"{e2e:.0f} − {floor:.0f} = {over:.0f} ms", "ratio": over / 100, "met": over <= 100})
    st = _get(s, "streaming", "arrival_minus_write_ms", "p50")
    if st is not None:
        rows.append({"target": "streaming arrival − write p50 ≤ 20 ms", "value": f"{st:.1f} ms",
                     "ratio": st / 20, "met": st <= 20})
    tp, raw = _get(s, "throughput", "sustained", "runs_per_s"), _get(s, "throughput", "raw_creation", "best_per_s")
    if tp is not None and raw:
        r = tp / raw
        rows.append({"target": "sustained runs/s ≥ 70% of raw runsc creation rate",
                     "value": f"{tp:.2f} / {raw:.2f} per s = {r:.0%}", "ratio": r / 0.7, "met": r >= 0.7})
    refill = _get(s, "throughput", "refill", "per_s")
    if refill is not None and raw:
        r = refill / raw
        rows.append({"target": "pool refill rate (no runs) ≥ 70% of raw runsc creation rate",
                     "value": f"{refill:.2f} / {raw:.2f} per s = {r:.0%}", "ratio": r / 0.7, "met": r >= 0.7})
    cold, dr = _get(s, "cold", "throwbox_cold_e2e_ms", "p50"), _get(s, "cold", "docker_run_rm_runsc_ms", "p50")
    if cold is not None and dr:
        r = cold / dr
        rows.append({"target": "cold run p50 ≤ 1.2 × `docker run --rm --runtime=runsc` p50",
                     "value": f"{cold:.0f} / {dr:.0f} ms = {r:.2f}×", "ratio": r / 1.2, "met": r <= 1.2})
    levels = _get(s, "admission", "levels")
    if levels:
        top = max(levels.values(), key=lambda v: v["rps"])
        fast = [v for v in levels.values() if v["p99_ms"] < 50]
        best = max(fast, key=lambda v: v["rps"]) if fast else top
        ok = best["p99_ms"] < 50 and best["rps"] >= 1000
        rows.append({"target": "admission ≥ 1,000 req/s on one core with p99 < 50 ms",
                     "value": f"{best['rps']:.0f} req/s at p99 {best['p99_ms']:.1f} ms (peak {top['rps']:.0f} req/s, p99 {top['p99_ms']:.0f} ms)",
                     "ratio": best["rps"] / 1000 if best["p99_ms"] < 50 else 0.0, "met": ok})
    ov = _get(s, "admission", "overload")
    if ov:
        shed = ov["statuses"].get("503", 0)
        total = sum(ov["statuses"].values())
        bounded = ov.get("queued_after") is not None and ov["queued_after"] <= ov["queue_cap"] + 64
        ok = shed > 0 and ov["retry_after"] >= shed and bounded
        rows.append({"target": "past capacity: 503 overloaded with Retry-After, queue bounded",
                     "value": f"{shed}/{total} shed ({shed / max(total, 1):.0%}), {ov['retry_after']} with Retry-After; "
                              f"queue {ov.get('queued_after')} (cap {ov['queue_cap']})",
                     "ratio": None, "met": ok})
    for name, b in (_get(s, "overload") or {}).items():
        if not isinstance(b, dict) or "accepted" not in b:
            continue
        ok = b["accepted_then_failed"] == 0 and b["refused_503"] + b["accepted"] == b["requests"]
        rows.append({"target": f"overload burst ({name} rate): no accepted run fails; refusals are 503 at once",
                     "value": f"{b['accepted']} accepted, {b['accepted_then_failed']} of them failed; "
                              f"{b['refused_503']} refused 503 by {b['last_503_s']} s; completions per tenant "
                              f"{b['completed_per_tenant']} (spread {b['completion_spread']}); bound "
                              f"{b['bound_before']} from {b['start_rate_before_per_s']} runs/s",
                     "ratio": None, "met": ok})
    return rows


def _f(v, nd=0) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def _save(fig, name: str) -> str:
    """Lay out, write OUT/name and close the figure; its file name."""
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=110)
    plt.close(fig)
    return name


def plots(s: dict) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    made = []
    lat = _get(s, "latency", "runtimes")
    if lat:
        keys = list(lat)
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
        for ax, c in zip(axes, ("c1", "c4"), strict=True):
            xs = range(len(keys))
            floor = [_get(lat[k], c, "floor_exec_runsc_ms", "p50", default=0) for k in keys]
            e2e = [_get(lat[k], c, "e2e_ms", "p50", default=0) for k in keys]
            e2e99 = [_get(lat[k], c, "e2e_ms", "p99", default=0) for k in keys]
            ax.bar([x - 0.2 for x in xs], floor, 0.4, label="docker exec floor p50 (runsc)")
            ax.bar([x + 0.2 for x in xs], e2e, 0.4, label="Throwbox e2e p50")
            ax.scatter([x + 0.2 for x in xs], e2e99, marker="_", s=200, color="k", label="Throwbox e2e p99")
            ax.set_xticks(list(xs), [k.split("-")[0] for k in keys], rotation=30)
            ax.set_yscale("log")
            ax.set_title(f"warm hello, {'1 client' if c == 'c1' else '4 concurrent clients'}")
            ax.set_ylabel("ms (log)")
            ax.legend(fontsize=8)
        made.append(_save(fig, "warm_latency.png"))
    st = _get(s, "streaming", "samples")
    if st:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(st, bins=60)
        ax.set_xlabel("arrival at WebSocket client − write in sandbox (ms)")
        ax.set_ylabel("lines")
        ax.set_title("streaming latency")
        made.append(_save(fig, "streaming.png"))
    raw = _get(s, "throughput", "raw_creation", "sweep")
    if raw:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ws = sorted(raw, key=int)
        ax.plot([int(w) for w in ws], [raw[w]["per_s"] for w in ws], "o-", label="raw runsc create+start+remove")
        tp = _get(s, "throughput", "sustained", "runs_per_s")
        if tp is not None:
            ax.axhline(tp, color="C1", label=f"Throwbox sustained hello runs ({tp}/s)")
        ax.set_xlabel("concurrent workers")
        ax.set_ylabel("sandboxes or runs per second")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        made.append(_save(fig, "throughput.png"))
    levels = _get(s, "admission", "levels")
    if levels:
        cs = sorted(levels, key=int)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([int(c) for c in cs], [levels[c]["rps"] for c in cs], "o-", label="accepted req/s")
        ax.set_xlabel("wrk connections")
        ax.set_ylabel("req/s")
        ax2 = ax.twinx()
        ax2.plot([int(c) for c in cs], [levels[c]["p99_ms"] for c in cs], "s--", color="C3", label="p99 ms")
        ax2.set_ylabel("p99 ms")
        ax.set_title("admission, one control plane pinned to one core")
        fig.legend(fontsize=8, loc="upper left")
        made.append(_save(fig, "admission.png"))
    mem = _get(s, "cost", "levels")
    if mem:
        ns = sorted(mem, key=int)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([int(n) for n in ns], [mem[n]["sandbox_processes_pss_mib"] for n in ns], "o-", label="sandbox processes (PSS)")
        ax.plot([int(n) for n in ns], [mem[n]["host_used_growth_mib_per_sandbox"] for n in ns], "s-", label="host used memory growth")
        ax.plot([int(n) for n in ns], [sum(mem[n]["platform_growth_pss_mib_per_sandbox"].values()) for n in ns], "^-",
                label="nomad+dockerd+containerd growth")
        ax.set_xlabel("warm python sandboxes")
        ax.set_ylabel("MiB per sandbox")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        made.append(_save(fig, "memory.png"))
    return made


def _pct(p: dict | None) -> str:
    if not p or not p.get("n"):
        return "–"
    return f"{p['p50']:.0f} / {p['p95']:.0f} / {p['p99']:.0f}"


def sandbox_version(m: dict) -> str:
    """" (its version)" when the run recorded it (runs before 2026-12-08 did not)."""
    v = m.get("sandbox_runtime_version")
    return f" ({v})" if v else ""


def markdown(data: dict, images: list[str]) -> str:
    s, m = data["sections"], data["machine"]
    L = ["# Benchmarks", "",
         "Generated by `make bench` (`bench/run.py`) from `docs/benchmarks/results.json`; the",
         "hand-written parts come from `bench/notes.md` and `bench/peers.md`. Raw data of every run",
         "stays in `bench/results/` (not committed).", "",
         f"Machine: {m.get('cpus')} vCPU ({m.get('cpu_model')}), {m.get('mem_gib')} GiB, kernel {m.get('kernel')}, "
         f"Docker {m.get('docker')}, Debian's {' '.join(m.get('runsc') or [])} (the fallback); sandbox runtime "
         f"{m.get('sandbox_runtime') or 'runsc'}{sandbox_version(m)}; containers' cgroup parent cpu.shares "
         f"{m.get('containers_cpu_shares') or 'unknown'}; commit {m.get('commit')}.", "",
         "| section | run | started (UTC) | load avg before → after | duration |", "|---|---|---|---|---|"]
    for name, sec in s.items():
        L.append(f"| {name} | {sec['run_id']} | {sec['started_at']} | {sec['loadavg_before'][0]:.2f} → "
                 f"{sec['loadavg_after'][0]:.2f} | {sec['duration_s']:.0f} s |")
    L += ["", "## Targets", "", "| target | measured | ratio to target | met |", "|---|---|---|---|"]
    for t in targets(s):
        ratio = "–" if t["ratio"] is None else f"{t['ratio']:.2f}"
        L.append(f"| {t['target']} | {t['value']} | {ratio} | {'met' if t['met'] else '**missed**'} |")
    lat = _get(s, "latency", "runtimes")
    if lat:
        L += ["", "## Warm runs end to end vs the floor", "",
              "`POST /v1/runs?wait=true` of a hello world, each sample taken with the runtime's pool full. "
              "Floor: `docker exec` (Docker API: exec create + start, output read to its end) of the same "
              "compile/run commands in an already running runsc container of the same image with the same "
              "hardening. \"Fresh launcher sandbox\": Throwbox's own in-sandbox path alone, a launcher container started "
              "beforehand (as a warm sandbox is) and used once: attach, header, until the exit frame; against the "
              "exec floor it shows what a never-used sandbox costs (nothing of the runtime cached in it yet). "
              "ms, p50 / p95 / p99; n per cell in the JSON (p99 of fewer than 100 samples is the maximum).", "",
              "| runtime | floor, 1 client | Throwbox, 1 client | p50 over floor | floor, 4 clients | Throwbox, 4 clients | p99 over floor | fresh launcher sandbox, 1 client | p50 over fresh launcher | timings p50 queued / sandbox / run / total (1 client) | n (1 / 4) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, r in lat.items():
            if "error" in r:
                L.append(f"| {k} | failed in this run: {r['error'][:120]} |" + " |" * 9)
                continue
            c1, c4 = r.get("c1", {}), r.get("c4", {})
            over1 = (_get(c1, "e2e_ms", "p50") or 0) - (_get(c1, "floor_exec_runsc_ms", "p50") or 0)
            over4 = (_get(c4, "e2e_ms", "p99") or 0) - (_get(c4, "floor_exec_runsc_ms", "p99") or 0)
            t = c1.get("timings", {})
            tim = " / ".join(_f(_get(t, f, "p50")) for f in ("queued_ms", "sandbox_ms", "run_ms", "total_ms"))
            L.append(f"| {k} | {_pct(c1.get('floor_exec_runsc_ms'))} | {_pct(c1.get('e2e_ms'))} | {over1:+.0f} | "
                     f"{_pct(c4.get('floor_exec_runsc_ms'))} | {_pct(c4.get('e2e_ms'))} | {over4:+.0f} | "
                     f"{_pct(c1.get('floor_launcher_runsc_ms'))} | "
                     f"{(_get(c1, 'e2e_ms', 'p50') or 0) - (_get(c1, 'floor_launcher_runsc_ms', 'p50') or 0):+.0f} | {tim} | "
                     f"{_get(c1, 'e2e_ms', 'n')} / {_get(c4, 'e2e_ms', 'n')} |")
        py = lat.get("python-3.11.2", {}).get("c1", {})
        if py.get("floor_exec_runc_ms"):
            L += ["", "Python floors (1 client, p50 / p95 / p99 ms): "
                  f"docker exec under runsc {_pct(py.get('floor_exec_runsc_ms'))}; under runc {_pct(py.get('floor_exec_runc_ms'))}; "
                  f"Throwbox's launcher path alone (attach to a pre-started launcher container, header, until its exit frame; runsc) "
                  f"{_pct(py.get('floor_launcher_runsc_ms'))}. Client e2e minus the agent's `total_ms` "
                  f"(HTTP, admission, Kafka in and out): {_pct(py.get('outside_total_ms'))}."]
        replaced = {k: r["floor_replaced"] for k, r in lat.items() if r.get("floor_replaced")}
        failed = {k: (_get(r, "c1", "failed") or 0) + (_get(r, "c4", "failed") or 0) for k, r in lat.items()}
        if any("floor_replaced" in r for r in lat.values()):     # results since the harness counts them
            L += ["", "Floor containers that stopped during an exec (runsc under concurrent compiles) and were "
                  "replaced, the burst or sample taken again: " + (", ".join(
                      f"{k} {len(v)} ({'; '.join(sorted({e['floor'] for e in v}))})" for k, v in replaced.items())
                      if replaced else "none") + ". Throwbox runs that did not complete: " + (", ".join(
                      f"{k} {n}" for k, n in failed.items() if n) or "none") + "."]
    if "warm_latency.png" in images:
        L += ["", "![warm latency](benchmarks/warm_latency.png)"]
    st = s.get("streaming")
    if st:
        L += ["", "## Streaming", "",
              f"{st['runs']} runs × {st['lines_per_run']} lines, one `time.time_ns()` every {st['interval_ms']:.0f} ms; "
              f"arrival at the WebSocket client minus write time, ms (p50 / p95 / p99): "
              f"{_pct(st['arrival_minus_write_ms'])} (n = {st['arrival_minus_write_ms'].get('n')}); the same program "
              f"read straight off the Docker attach stream of a pre-started launcher container (no agent, Kafka, "
              f"control plane): {_pct(st.get('floor_docker_attach_ms'))}; the same lines as a consumer of "
              f"`throwbox.events` sees them (after the agent and Kafka, before the control plane and WebSocket): "
              f"{_pct(st.get('at_kafka_consumer_ms'))}; lines per "
              f"stdout event p50 {_get(st, 'lines_per_event', 'p50')}. Clock check (host before/after an exec that "
              f"prints the sandbox's time): {st['clock_check']}."]
        if "streaming.png" in images:
            L += ["", "![streaming](benchmarks/streaming.png)"]
    c = s.get("cold")
    if c:
        L += ["", "## Cold runs", "",
              "| what | p50 / p95 / p99 ms | n |", "|---|---|---|",
              f"| Throwbox, pool of one used back to back (the run waits for its sandbox to be created) | {_pct(c['throwbox_cold_e2e_ms'])} | {_get(c, 'throwbox_cold_e2e_ms', 'n')} |",
              f"| `docker run --rm --runtime=runsc` (CLI, same hardening), python hello | {_pct(c['docker_run_rm_runsc_ms'])} | {_get(c, 'docker_run_rm_runsc_ms', 'n')} |",
              f"| `docker run --rm --runtime=runc` (reference) | {_pct(c['docker_run_rm_runc_ms'])} | {_get(c, 'docker_run_rm_runc_ms', 'n')} |",
              "", "Cold Throwbox timings p50 (queued / sandbox / run / total): "
              + " / ".join(_f(_get(c, 'throwbox_cold_timings', f, 'p50')) for f in ('queued_ms', 'sandbox_ms', 'run_ms', 'total_ms'))
              + f" ms; a bare `docker version` round trip of the CLI: {c['docker_cli_roundtrip_ms']} ms."]
        pl = c.get("nomad_placement_ms") or {}
        if pl:
            L += ["", "Where a new sandbox's time goes inside Nomad (its own timestamps, p50 / p95 / p99 ms): "
                  f"the dispatch's evaluation → allocation created {_pct(pl.get('eval_to_alloc'))}; created → received by the "
                  f"client {_pct(pl.get('alloc_to_client'))}; received → task started (alloc dir, docker create + "
                  f"start under runsc) {_pct(pl.get('client_to_started'))}; in all, evaluation → task started "
                  f"{_pct(pl.get('eval_to_started'))}. The run's `sandbox_ms` (p50 "
                  f"{_f(_get(c, 'throwbox_cold_timings', 'sandbox_ms', 'p50'))}) counts from its arrival at the "
                  "agent, after the previous run's release had the sandbox dispatched; the agent takes it on "
                  "Docker's start event, not when Nomad reports it running."]
    tp = s.get("throughput")
    if tp:
        raw, su = tp["raw_creation"], tp["sustained"]
        L += ["", "## Throughput and CPU per run", "",
              "Raw creation rate: workers that each create + start a runsc container made like a sandbox "
              "(Docker API) and remove it again, per second: "
              + ", ".join(f"{w} workers {v['per_s']}/s" for w, v in raw["sweep"].items()) + ".", "",
              "Throwbox sustained, by warm pool size: " + ", ".join(
                  f"pool {p}: {v['runs_per_s']} runs/s" for p, v in (tp.get("sustained_by_pool") or {}).items()) + ". "
              f"Best: {su['clients']} clients back to back (`wait=true`), python pool of {su['pool']}, "
              f"{su['window_s']} s window: **{su['runs_per_s']} runs/s** ({su['completed']} completed, {su['failed']} failed); "
              f"e2e p50 / p95 / p99 {_pct(su['e2e_ms'])} ms; timings p50 queued / sandbox / run "
              + " / ".join(_f(_get(su, 'timings', f, 'p50')) for f in ('queued_ms', 'sandbox_ms', 'run_ms')) + " ms.", "",
              *([f"Refill rate without runs (issue 3): every sandbox of a full python pool of "
                 f"{tp['refill']['pool']} killed through Docker as soon as it runs (as after a run), the agent "
                 f"creating the next ones; new sandboxes started per second (Nomad's task timestamps) over "
                 f"{tp['refill']['window_s']} s: "
                 f"**{tp['refill']['per_s']}/s**; CPU ms per refill: "
                 + ", ".join(f"{k} {v}" for k, v in tp['refill']['by_component_ms_per_refill'].items()) + ".", ""]
                if tp.get("refill") else []),
              f"Host CPU during the window: {su['cpu']['host_busy_cores']} cores busy (idle baseline "
              f"{su['cpu']['idle_baseline_cores']}); the program itself (sandbox cgroup, run stage): "
              f"{su['cpu']['user_program_ms_per_run']} ms per run; **outside the program: "
              f"{su['cpu']['outside_program_ms_per_run']} ms CPU per run**, of which:", "",
              "| component | CPU ms per run |", "|---|---|"]
        for k, v in sorted(su["cpu"]["by_component_ms_per_run"].items(), key=lambda kv: -kv[1]):
            L.append(f"| {k} | {v} |")
        L.append(f"| per-sandbox processes (shim, runsc sandbox/gofer), kernel, unlisted | {su['cpu']['unlisted_ms_per_run']} |")
        if "throughput.png" in images:
            L += ["", "![throughput](benchmarks/throughput.png)"]
    ad = s.get("admission")
    if ad:
        L += ["", "## Admission (one control plane on one core)", "",
              "`POST /v1/runs` without `wait`, python hello, from wrk (1 thread, pinned to the other core); "
              "a tenant with quotas far above the load; no agent consumes the runs (they stay queued).", "",
              "| connections | req/s | p50 ms | p99 ms | max ms | control plane CPU (cores) | statuses |", "|---|---|---|---|---|---|---|"]
        for conns, v in sorted(ad.get("levels", {}).items(), key=lambda kv: int(kv[0])):
            L.append(f"| {conns} | {v['rps']:.0f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | {v['max_ms']:.0f} | "
                     f"{v.get('cp_cores')} | {v['statuses']} |")
        dep = ad.get("dependency_floors") or {}
        if dep:
            L += ["", "What one admission waits for at least, measured alone (p50 / p95 / p99 ms): a Consul KV "
                  f"check-and-set (the per-batch admission write) {_pct(dep.get('consul_cas_ms'))}; a Kafka produce "
                  f"with acks=all (the submission) {_pct(dep.get('kafka_produce_acks_all_ms'))}."]
        ov = ad.get("overload")
        if ov:
            L += ["", f"Past capacity (queue cap {ov['queue_cap']}, 64 connections, {ov['duration_s']:.0f} s): "
                  f"{ov['rps']:.0f} answers/s, statuses {ov['statuses']}, {ov['retry_after']} answers with "
                  f"`Retry-After`, p99 {ov['p99_ms']:.1f} ms; runs queued afterwards: {ov.get('queued_after')}."]
        if "admission.png" in images:
            L += ["", "![admission](benchmarks/admission.png)"]
    ov = s.get("overload")
    if ov and "error" not in ov:
        L += ["", "## Overload: a multi-tenant burst against the capacity-derived queue bound", "",
              f"{ov['tenants']} tenants send {ov['runs_each']} bash runs each at once to a private control "
              f"plane (queue timeout {ov['queue_timeout_ms'] / 1000:.0f} s) whose only capacity is a private "
              "agent with one warm bash sandbox; first on the agent's prior start rate, then once it has "
              "measured it. Target: no accepted run fails; everything else is `503 overloaded` at once.", "",
              "| burst | bound (rate/s) | accepted | accepted then failed | refused 503 (last at) | "
              "Retry-After values | completions per tenant (spread) | drained in | rate after |",
              "|---|---|---|---|---|---|---|---|---|"]
        for name in ("prior", "measured"):
            b = ov.get(name)
            if b:
                L.append(f"| {name} | {b['bound_before']} ({b['start_rate_before_per_s']}) | {b['accepted']} | "
                         f"{b['accepted_then_failed']} {b['failed_codes'] or ''} | {b['refused_503']} "
                         f"({b['last_503_s']} s) | {b['retry_after_values']} | {b['completed_per_tenant']} "
                         f"({b['completion_spread']}) | {b['drained_s']} s | {b['start_rate_after_per_s']}/s |")
    if s.get("judging") and "error" not in s["judging"]:
        import judging
        L += judging.markdown(s["judging"])
    mem = _get(s, "cost", "levels")
    if mem:
        L += ["", "## Memory per warm sandbox (python)", "",
              "A private pool job from the agent's renderer, scaled 0 → N; per sandbox, MiB:", "",
              "| warm sandboxes | sandbox processes PSS (shim + runsc gofer + sandbox) | sandbox memory cgroup | nomad / dockerd / containerd growth (PSS) | host used-memory growth |",
              "|---|---|---|---|---|"]
        for n, v in sorted(mem.items(), key=lambda kv: int(kv[0])):
            p = v["platform_growth_pss_mib_per_sandbox"]
            L.append(f"| {n} | {v['sandbox_processes_pss_mib']} | {v['sandbox_cgroup_usage_mib']} | "
                     f"{p.get('nomad')} / {p.get('dockerd')} / {p.get('containerd')} | {v['host_used_growth_mib_per_sandbox']} |")
        if "memory.png" in images:
            L += ["", "![memory](benchmarks/memory.png)"]
    if s.get("gvisor") and "error" not in s["gvisor"]:
        import gvisor  # its imports (docker, Kafka clients) only when there is such a result
        L += gvisor.markdown(s["gvisor"])
    if s.get("pools") and "error" not in s["pools"]:
        import demand_pools
        L += demand_pools.markdown(s["pools"])
    if s.get("cluster") and "error" not in s["cluster"]:
        import cluster
        L += cluster.markdown(s["cluster"])
    for extra in ("notes.md", "peers.md"):
        path = BENCH / extra
        if path.exists():
            L += ["", path.read_text().rstrip()]
    return "\n".join(L) + "\n"


def write() -> None:
    data = load()
    images = plots(data["sections"])
    MD.write_text(markdown(data, images))
    print(f"wrote {MD.relative_to(REPO)} and {', '.join(images) or 'no plots'} in {OUT.relative_to(REPO)}")
