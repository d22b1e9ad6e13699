"""Turn one run's results into benchmarks/RESULTS.md and the PNG plots under benchmarks/results/."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from benchmarks._common import BENCH

PLOTS = BENCH / "results"
COLOURS = {
    "direct": "#777777",
    "function": "#1f77b4",
    "peer": "#d62728",
    "function+h11": "#2ca02c",
    "bare-relay": "#9467bd",
    "platform": "#ff7f0e",
}
FLOORS = ("bare-relay", "platform")  # benchmarks.floor
NO_UPSTREAM = "none"  # the platform floor's `api`: it reads no upstream
LATENCY_LIMIT_MS = 50.0
plt.rcParams.update({"figure.dpi": 110, "font.size": 10, "axes.grid": True, "grid.alpha": 0.3})


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _points(results: dict[str, Any], kind: str, tps: float = 50, api: str = "responses") -> list[dict[str, Any]]:
    """One system's load points at one token rate; the platform floor's, which read no upstream, for any API."""
    if kind == "platform":
        api = NO_UPSTREAM
    return sorted(
        (
            p
            for p in results.get("load", [])
            if p["kind"] == kind and p["tps"] == tps and p.get("api", "chat_completions") == api
        ),
        key=lambda p: p["streams"],
    )


def crossing(points: list[dict[str, Any]], limit: float = LATENCY_LIMIT_MS) -> tuple[str, float | None]:
    """The stream count where p99 latency passes `limit`, interpolated on log latency between points."""
    below = None
    for point in points:
        p99 = point["latency_ms"]["p99"]
        if p99 > limit:
            if below is None:
                return f"below {point['streams']}", None
            b99 = below["latency_ms"]["p99"]
            frac = (math.log(limit) - math.log(max(b99, 1e-3))) / (math.log(p99) - math.log(max(b99, 1e-3)))
            value = below["streams"] + frac * (point["streams"] - below["streams"])
            return f"≈{value:.0f}", value
        below = point
    if below is None:
        return "not measured", None
    return f"above {below['streams']} (the largest tested)", None


# --------------------------------------------------------------------------------------------
# Plots


def plot_ttft(results: dict[str, Any]) -> str:
    samples = results["ttft"]["samples"]
    apis = results["ttft"]["apis"]
    fig, axes = plt.subplots(1, len(apis), figsize=(6 * len(apis), 4), sharex=True, squeeze=False)
    for ax, api in zip(axes[0], apis, strict=True):
        for name in ("direct", "function", "peer", *FLOORS):
            if f"{name}/{api}" not in samples:
                continue
            values = np.sort(np.asarray(samples[f"{name}/{api}"]))
            ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=name, color=COLOURS[name])
        ax.set_xlabel("time to first content at the client (ms), simulator TTFT = 20 ms")
        ax.set_title(f"{api}: one stream at a time (interleaved)")
        ax.legend(loc="lower right")
    axes[0][0].set_ylabel("fraction of requests")
    fig.tight_layout()
    return _save(fig, "ttft.png")


def plot_burst(results: dict[str, Any]) -> str:
    burst = results["burst"]
    apis = [k.split("/", 1)[1] for k in burst if k.startswith("added/")]
    fig, axes = plt.subplots(1, len(apis), figsize=(6 * len(apis), 4), sharex=True, squeeze=False)
    for ax, api in zip(axes[0], apis, strict=True):
        for name, key in ((n, f"{n}/{api}") for n in ("direct", "function", "bare-relay")):
            if key not in burst:
                continue
            values = np.sort(np.asarray(burst[key]["samples"]))
            ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=name, color=COLOURS[name])
        if f"platform/{NO_UPSTREAM}" in burst:
            values = np.sort(np.asarray(burst[f"platform/{NO_UPSTREAM}"]["samples"]))
            y = np.arange(1, values.size + 1) / values.size
            ax.step(values, y, where="post", label="platform (no upstream)", color=COLOURS["platform"])
        ax.set_xlabel("time to first content at the client (ms)")
        ax.set_title(f"{api}: {burst['clients']} streams opened at once")
        ax.legend(loc="lower right")
    axes[0][0].set_ylabel("fraction of clients")
    fig.tight_layout()
    return _save(fig, "burst.png")


def plot_latency(results: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, title in ((axes[0], "p50", "median"), (axes[1], "p99", "99th percentile")):
        for kind, colour in COLOURS.items():
            points = _points(results, kind)
            if points:
                xs = [p["streams"] for p in points]
                ys = [max(p["latency_ms"][key], 1e-3) for p in points]
                ax.plot(xs, ys, marker="o", color=colour, label=kind)
        ax.axhline(LATENCY_LIMIT_MS, color="black", linestyle="--", linewidth=0.8)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        ax.text(ax.get_xlim()[0], LATENCY_LIMIT_MS * 1.1, " 50 ms", fontsize=8)
        ax.text(ax.get_xlim()[0], 1.1, " 1 ms", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("open streams (50 tokens/s each), one worker process")
        ax.set_title(f"Per-delta latency, {title}")
    axes[0].set_ylabel("client arrival − model send (ms, log)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _save(fig, "latency_vs_streams.png")


def plot_cpu_memory(results: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for kind, colour in COLOURS.items():
        points = [p for p in _points(results, kind) if "cpu_ms_per_1000" in p]
        if not points:
            continue
        xs = [p["streams"] for p in points]
        axes[0].plot(xs, [p["cpu_ms_per_1000"] for p in points], marker="o", color=colour, label=kind)
        axes[1].plot(xs, [100 * p["cpu_util"] for p in points], marker="o", color=colour, label=kind)
        axes[2].plot(xs, [p["kb_per_stream"] for p in points], marker="o", color=colour, label=kind)
    axes[0].axhline(30, color="black", linestyle="--", linewidth=0.8)  # issue #14's goal
    axes[0].set_title("CPU ms per 1,000 forwarded deltas")
    axes[1].set_title("CPU use of the process (% of one core)")
    axes[1].axhline(100, color="black", linestyle="--", linewidth=0.8)
    axes[2].set_title("Memory per open stream (KiB RSS)")
    for ax in axes:
        ax.set_xlabel("open streams (50 tokens/s each)")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, "cpu_memory.png")


def plot_backpressure(results: dict[str, Any]) -> str:
    bp = results["backpressure"]
    timeline = bp["timeline"]
    fig, ax = plt.subplots(figsize=(7, 4))
    t = [p["t"] for p in timeline]
    ax.plot(
        t, [p["upstream_tokens_sent"] for p in timeline], color="#1f77b4", marker=".", label="tokens the model sent"
    )
    ax.axvspan(0, bp["pause_s"], color="#ffcc00", alpha=0.2, label="clients not reading")
    ax.axhline(bp["streams"] * bp["tokens_per_stream"], color="#1f77b4", linestyle=":", linewidth=0.8)
    ax.set_xlabel("seconds")
    ax.set_ylabel("upstream tokens sent (all slow streams)")
    ax2 = ax.twinx()
    ax2.plot(t, [p["host_rss_mb"] for p in timeline], color="#d62728", marker=".", label="function RSS (MiB)")
    ax2.set_ylabel("function process RSS (MiB)")
    ax2.set_ylim(0, max(p["host_rss_mb"] for p in timeline) * 1.3)
    ax2.grid(False)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center right", fontsize=8)
    ax.set_title(f"Back-pressure: {bp['streams']} clients stop reading for {bp['pause_s']:g} s")
    fig.tight_layout()
    return _save(fig, "backpressure.png")


def plot_cold(results: dict[str, Any]) -> str:
    cold = results["cold"]
    imports = cold["import"]["cumulative_ms"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2]})
    names = ["function", "peer"]
    medians = [float(np.median(cold[n])) for n in names]
    axes[0].bar(names, medians, color=[COLOURS[n] for n in names])
    for i, value in enumerate(medians):
        axes[0].text(i, value, f"{value:.0f} ms", ha="center", va="bottom")
    axes[0].set_ylabel("ms (median)")
    axes[0].set_title("Fresh process → first streamed delta")
    order = sorted(imports.items(), key=lambda kv: kv[1])
    axes[1].barh([k for k, _ in order], [v for _, v in order], color="#1f77b4")
    axes[1].set_xlabel("cumulative import time (ms, median, python -X importtime)")
    axes[1].set_title("import function_app: where the time goes")
    fig.tight_layout()
    return _save(fig, "cold_start.png")


def _save(fig: Any, name: str) -> str:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / name)
    plt.close(fig)
    return PLOTS.relative_to(BENCH).as_posix() + "/" + name


# --------------------------------------------------------------------------------------------
# Markdown


def render(results: dict[str, Any], quick: bool = False) -> Path:
    global PLOTS
    PLOTS = BENCH / "results" / ("quick" if quick else "")  # a quick run never overwrites the full run's plots
    lines: list[str] = []
    add = lines.append
    machine = results["machine"]
    mode = "quick (`--quick`)" if quick else "full"
    add("# Benchmarks: what the function adds to the model's own stream")
    add("")
    add(
        f"Generated by `python -m benchmarks{' --quick' if quick else ''}` ({mode} run, {results['started']} UTC, "
        f"commit `{machine['commit']}`, {results['seconds'] / 60:.1f} min{_load_average(results)}). Every figure "
        "below comes from that one run; rerun the command to refresh this file and the plots."
    )
    for partial in results.get("partial_runs", []):
        add("")
        add(
            f"Sections refreshed since by `python -m benchmarks --only {','.join(partial['only'])}` "
            f"({partial['started']} UTC{', commit `' + partial['commit'] + '`' if 'commit' in partial else ''}) "
            f"on the same machine: {', '.join(partial['only'])}."
        )
    add("")
    add("## Summary")
    add("")
    for line in _summary(results):
        add(line)
    add("")
    from benchmarks import holds  # it reads this module's helpers

    holds.section(results, add)
    _micro_section(results, add)
    _ttft_section(results, add)
    _burst_section(results, add)
    _request_cpu_section(results, add)
    _load_section(results, add)
    _backpressure_section(results, add)
    _cold_section(results, add)
    _flex_section(results, add)
    _method_section(results, add)
    out = BENCH / ("RESULTS-quick.md" if quick else "RESULTS.md")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (PLOTS / "summary.json").write_text(
        json.dumps({k: v for k, v in results.items() if k not in ("ttft",)}, indent=1, default=float)
    )
    print(f"wrote {out.relative_to(BENCH.parent)}")
    return out


def _load_average(results: dict[str, Any]) -> str:
    """The machine's 1-minute load average at the start and end: how quiet the machine was."""
    load = results.get("load_average")
    return f", load average {load['start']:.2f} at start and {load['end']:.2f} at end" if load else ""


def _goal(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**not met**")


API_LABEL = {"responses": "Responses", "chat_completions": "Chat Completions", NO_UPSTREAM: "none (no upstream)"}


def _summary(results: dict[str, Any]) -> list[str]:
    """Issue #14's goals (and issue #9's performance one), each with its figure from this run."""
    rows = ["| Goal | Measured | |", "|---|---|---|"]
    if "ttft" in results:
        t = results["ttft"]["ttft_ms"]
        for api in results["ttft"]["apis"]:
            added, peer = t[f"function_added/{api}"]["p50"], t[f"peer_added/{api}"]["p50"]
            rows.append(
                f"| Added TTFT, one stream at a time, under 1.5 ms p50 ({API_LABEL[api]}) | {added:.2f} ms "
                f"(peer {peer:.2f} ms) | {_goal(added < 1.5)} |"
            )
    if "burst" in results:
        burst = results["burst"]
        for key in (k for k in burst if k.startswith("added/")):
            api = key.split("/", 1)[1]
            added = burst[key]["p50"]
            rows.append(
                f"| {burst['clients']} simultaneous streams: added time to first content under 300 ms p50 "
                f"({API_LABEL[api]}) | {added:.0f} ms ({burst[f'function/{api}']['ttfc_ms']['p50']:.0f} through the "
                f"function, {burst[f'direct/{api}']['ttfc_ms']['p50']:.0f} direct) | {_goal(added < 300)} |"
            )
    if "request_cpu" in results:
        for key, row in results["request_cpu"].items():
            if isinstance(row, dict) and key.startswith("function/"):
                api = key.split("/", 1)[1]
                cpu = row["cpu_ms_per_request"]
                rows.append(
                    f"| CPU per request (open and close a stream) under 1.0 ms ({API_LABEL[api]}) | {cpu:.2f} ms"
                    f"{_h11_note(results, api)} | {_goal(cpu < 1.0)} |"
                )
    fn = {p["streams"]: p for p in _points(results, "function")}
    per_stream = round(results.get("load_plan", {}).get("stream_s", 6) * 50)
    for n in (100, 500):
        if n in fn:
            cpu = fn[n]["cpu_ms_per_1000"]
            rows.append(
                f"| CPU per 1,000 deltas on {per_stream}-delta streams under 30 ms ({n} streams, Responses) | "
                f"{cpu:.0f} ms | {_goal(cpu < 30)} |"
            )
    label, cross = crossing(_points(results, "function"))
    if fn:
        held = cross if cross is not None else (max(fn) if label.startswith("above") else 0)
        rows.append(
            f"| Streams one worker holds at 50 tokens/s with per-delta p99 ≤ 50 ms: ≥ 400 | {label} | "
            f"{_goal(held >= 400)} |"
        )
        memory = ", ".join(f"{p['kb_per_stream']:.0f} at {n}" for n, p in sorted(fn.items()) if "kb_per_stream" in p)
        rows.append(f"| Memory per open stream (KiB RSS) | {memory} | reported |")
    if "micro" in results:
        m = results["micro"]
        r, c = m["responses"], m["chat_completions"]
        rows.append(
            f"| Issue #9: the Responses path costs no more CPU per delta than Chat Completions (in process) | "
            f"decode {r['decode_us']:.2f} vs {c['decode_us']:.2f} µs, relay {r['relay_us']:.2f} vs "
            f"{c['relay_us']:.2f} µs | {_goal(r['relay_us'] <= c['relay_us'] * 1.05)} |"
        )
    chat = {p["streams"]: p for p in _points(results, "function", api="chat_completions")}
    for n in sorted(set(fn) & set(chat)):
        a, b = fn[n]["cpu_ms_per_1000"], chat[n]["cpu_ms_per_1000"]
        rows.append(
            f"| Issue #9, end to end: CPU per 1,000 deltas, Responses vs Chat Completions, {n} streams | "
            f"{a:.0f} vs {b:.0f} ms | {_goal(a <= b * 1.1)} |"
        )
    if "cold" in results:
        cold = float(np.median(results["cold"]["function"]))
        rows.append(f"| Cold start to first byte under 1 s locally | {cold:.0f} ms (median) | {_goal(cold < 1000)} |")
    return rows


def _h11_note(results: dict[str, Any], api: str) -> str:
    row = results["request_cpu"].get(f"function+h11/{api}")
    return f" (on h11, without httptools: {row['cpu_ms_per_request']:.2f} ms)" if row else ""


def _micro_section(results: dict[str, Any], add: Any) -> None:
    if "micro" not in results:
        return
    m = results["micro"]
    add("## Per-delta CPU, in-process")
    add("")
    add(
        "`benchmarks/micro.py`, best of 5, no network (so no syscalls and no event-loop wake-ups, which are most "
        "of the cost end to end), on upstream bodies the simulator writes for the app's own request:"
    )
    add("")
    add("| work | Responses | Chat Completions |")
    add("|---|---|---|")
    r, c = m["responses"], m["chat_completions"]
    add(f"| bytes per upstream content event | {r['event_bytes']} | {c['event_bytes']} |")
    add(f"| split + decode one upstream event (µs, one event per read) | {r['decode_us']:.2f} | {c['decode_us']:.2f} |")
    add(f"| pump + body loops, per delta (µs, events already buffered) | {r['relay_us']:.2f} | {c['relay_us']:.2f} |")
    add(f"| `LineEncoder.text`: one NDJSON line (µs) | {m['encode_us']:.2f} | |")
    add("")


def _ttft_section(results: dict[str, Any], add: Any) -> None:
    if "ttft" not in results:
        return
    t = results["ttft"]
    add("## Time to first token")
    add("")
    add(
        f"One stream at a time, {t['rounds']} rounds; each round sends, per upstream API, one request directly to "
        "the simulator, one through the function, one through the peer and, when present, one through each floor "
        "(`benchmarks.floor`: the bare relay, and the platform floor, which waits the simulator's 20 ms TTFT "
        "itself), all in a fresh random order, each on a new connection. TTFT is measured at the client from "
        "the start of its connect to the first content delta. The platform floor's 'added' is its TTFT minus "
        "the direct one: the worker's web stack less the simulator's own (uvicorn with httptools), so it "
        "understates what the stack adds."
    )
    add("")
    add("| ms | p50 | p95 | p99 |")
    add("|---|---|---|---|")
    systems = [n for n in ("function", "peer", *FLOORS) if f"{n}/{t['apis'][0]}" in t["ttft_ms"]]
    for api in t["apis"]:
        for name in ("direct", *systems, *(f"{n}_added" for n in systems)):
            row = t["ttft_ms"][f"{name}/{api}"]
            label = f"{API_LABEL[api]}: " + name.replace("_added", " − direct (added)")
            add(f"| {label} | {_fmt(row['p50'])} | {_fmt(row['p95'])} | {_fmt(row['p99'])} |")
    add("")
    add("Per-delta latency in the same runs (one stream open, so nothing queues):")
    add("")
    add("| ms | p50 | p95 | p99 |")
    add("|---|---|---|---|")
    for api in t["apis"]:
        for name in ("direct", *systems):
            row = t["per_chunk_ms"][f"{name}/{api}"]
            add(f"| {API_LABEL[api]}: {name} | {_fmt(row['p50'], 3)} | {_fmt(row['p95'], 3)} | {_fmt(row['p99'], 3)} |")
    add("")
    add(f"![TTFT]({plot_ttft(results)})")
    add("")


def _burst_section(results: dict[str, Any], add: Any) -> None:
    if "burst" not in results:
        return
    burst = results["burst"]
    add("## A burst: many streams opened at once")
    add("")
    add(
        f"{burst['clients']} clients each open one {burst['tokens']}-delta stream at the same moment (one "
        "connection each) against a simulator that answers at once (no TTFT, 20 ms between deltas); a fresh "
        "process per system and API. Time to first content is from each client's connect to its first content "
        "line; the direct rows are the same burst read from the simulator itself. CPU is the system's for "
        "the whole burst, divided by the clients. The floors (`benchmarks.floor`): the bare relay reads the "
        "same simulator; the platform floor reads nothing (its lines come from memory, paced as the "
        "simulator's), so its whole TTFC is the worker's web stack's and it has no 'added' row."
    )
    add("")
    repeats = burst.get("repeats", 1)
    if repeats > 1:
        add(
            f"Each burst ran {repeats} times, each on a fresh process; percentiles are over the pooled clients, and "
            "the last column gives each burst's own p50, which shows how much one burst varies on this machine."
        )
        add("")
    add("| | p50 ms | p90 | p99 | max | complete | CPU ms per request | p50 of each burst | most waiting for accept |")
    add("|---|---|---|---|---|---|---|---|---|")

    def burst_row(label: str, row: dict[str, Any], cpu: bool = True) -> None:
        q = row["ttfc_ms"]
        each = ", ".join(f"{v:.0f}" for v in row.get("p50_each_ms", []))
        waiting = ", ".join(str(v) for v in row.get("accept_waiting_each", []))
        add(
            f"| {label} | {q['p50']:.0f} | {q['p90']:.0f} | {q['p99']:.0f} | {q['p100']:.0f} | "
            f"{row['completed']}/{burst['clients'] * repeats} | {_fmt(row['cpu_ms_per_request']) if cpu else '–'} | "
            f"{each} | {waiting} |"
        )

    def added_row(label: str, q: dict[str, float]) -> None:
        add(f"| {label} | {q['p50']:.0f} | {q['p90']:.0f} | {q['p99']:.0f} | {q['p100']:.0f} | | | | |")

    burned = f"bare-relay+{burst['burn_ms']:g}ms" if "burn_ms" in burst else None

    for key in (k for k in burst if k.startswith("added/")):
        api = key.split("/", 1)[1]
        burst_row(f"{API_LABEL[api]}: direct", burst[f"direct/{api}"], cpu=False)
        burst_row(f"{API_LABEL[api]}: function", burst[f"function/{api}"])
        if f"bare-relay/{api}" in burst:
            burst_row(f"{API_LABEL[api]}: bare-relay", burst[f"bare-relay/{api}"])
        added_row(f"{API_LABEL[api]}: function − direct (added)", burst[key])
        if f"bare-relay_added/{api}" in burst:
            added_row(f"{API_LABEL[api]}: bare-relay − direct (added)", burst[f"bare-relay_added/{api}"])
        if burned and f"{burned}/{api}" in burst:
            burst_row(f"{API_LABEL[api]}: {burned} (calibration)", burst[f"{burned}/{api}"])
        if f"function+asyncio/{api}" in burst:
            burst_row(f"{API_LABEL[api]}: function on asyncio's loop (what-if)", burst[f"function+asyncio/{api}"])
    if f"platform/{NO_UPSTREAM}" in burst:
        burst_row("platform (no upstream)", burst[f"platform/{NO_UPSTREAM}"])
    add("")
    slopes = {k.split("/", 1)[1]: v for k, v in burst.items() if k.startswith("ms_per_cpu_ms/")}
    if slopes:
        per_api = []
        for api, slope in slopes.items():
            fn, bare = burst[f"function/{api}"], burst[f"bare-relay/{api}"]
            gap = fn["cpu_ms_per_request"] - bare["cpu_ms_per_request"]
            per_api.append(
                f"{API_LABEL[api]}: {slope:.0f} ms of p50 per ms of CPU per request; the function spends "
                f"{gap:.2f} ms per request more than the bare relay in the burst, which predicts "
                f"{slope * gap:.0f} ms of the {fn['ttfc_ms']['p50'] - bare['ttfc_ms']['p50']:.0f} ms between their p50s"
            )
        add(
            f"**What sets a burst's p50.** The calibration row is the bare relay spinning {burst['burn_ms']:g} ms "
            "of CPU per request before its upstream call, so its distance from the bare relay is what CPU per request "
            "costs a burst: " + "; ".join(per_api) + ". The last column is the most connections seen waiting in "
            "the listening socket's accept queue (`/proc/net/tcp`) during each burst: uvloop, the worker's loop, "
            "often leaves part of a burst there until the first streams are under way, and how large that first "
            "wave is moves a burst's p50 (hence the spread between bursts); on asyncio's loop (the what-if row) "
            "few or none wait: it takes in the whole burst at once."
        )
        add("")
    add(f"![burst]({plot_burst(results)})")
    add("")


def _gc_share(row: dict[str, Any]) -> float:
    """Garbage collection's share of the process's CPU over the run."""
    spent = sum(v for name, v in row["gc"].items() if name.endswith("cpu ms"))
    return spent / (row["cpu_ms_per_request"] * row["completed"])


def _gc_text(gc: dict[str, float]) -> str:
    parts = []
    for generation in (0, 1, 2):
        if f"gen{generation} collections" in gc:
            count, ms = gc[f"gen{generation} collections"], gc[f"gen{generation} cpu ms"]
            parts.append(f"{count:.0f} of generation {generation} ({ms:.1f} ms)")
    return ", ".join(parts) or "none"


def _request_cpu_section(results: dict[str, Any], add: Any) -> None:
    if "request_cpu" not in results:
        return
    rc = results["request_cpu"]
    add("## CPU per request")
    add("")
    add(
        f"{rc['slots']} clients run one-delta streams back to back for {rc['seconds']:g} s against a simulator "
        "that answers at once; CPU is the system's process's over the run (from /proc) divided by the requests it "
        "completed, so for the function it holds everything one request costs the worker: uvicorn's HTTP parsing "
        "and writing, FastAPI, the endpoint, the upstream call and its connection, the relay's tasks, one delta, "
        "the log record. `function+h11` is the same app without httptools (what the worker serves when the app's "
        "packages lack it: uvicorn's `auto` falls back to h11). `bare-relay` and `platform` are the floors "
        "(`benchmarks.floor`): the least any relay does on the same stack, and the stack alone with no upstream."
    )
    add("")
    add("| system | API | CPU ms / request | requests | requests/s | CPU % |")
    add("|---|---|---|---|---|---|")
    for key, row in rc.items():
        if isinstance(row, dict):
            kind, api = key.split("/", 1)
            add(
                f"| {kind} | {API_LABEL[api]} | {row['cpu_ms_per_request']:.2f} | {row['completed']} | "
                f"{row['requests_per_s']:.0f} | {100 * row['cpu_util']:.0f} |"
            )
    add("")
    gc_rows = [(k, r) for k, r in rc.items() if isinstance(r, dict) and r.get("gc")]
    if gc_rows:
        worst = max(_gc_share(r) for _, r in gc_rows)
        add(
            "Garbage collection while serving (`worker_host --gc-report`, collections and their CPU): "
            + "; ".join(f"{k}: {_gc_text(r['gc'])}" for k, r in gc_rows)
            + f". At most {100 * worst:.1f} % of the process's CPU, so `gc.freeze()` after start-up and threshold "
            "tuning have nothing to win here and were left out."
        )
        add("")


def _load_section(results: dict[str, Any], add: Any) -> None:
    if "load" not in results:
        return
    plan = results["load_plan"]
    add("## Open streams on one worker process")
    add("")
    add(
        f"Closed loop: N slots each run one stream after another ({plan['stream_s']:g} s of tokens after a 100 ms "
        f"TTFT) for {plan['duration_s']:g} s, starts spread over the first {plan['ramp_s']:g} s. Figures are taken "
        "in the steady window (after the ramp, until starts stop). Latency is per delta: arrival at the client "
        "minus the simulator's send of that same delta of the same stream (the platform floor, which reads no "
        "simulator, notes its own sends the same way). CPU is the system's process from /proc; memory per "
        "stream is (mean RSS in the window − idle RSS) / N. *Other load* is the "
        "CPU the rest of the machine used meanwhile (processes outside this benchmark, e.g. other test runs): "
        "with 2 cores, a row with ~1 core of other load left the function well under one core, so its latency "
        "and delivered rate are pessimistic; CPU per delta is the steadier figure."
    )
    add("")
    add(
        "| system | API | streams | tok/s | latency p50 | p99 | p99.9 | delivered tok/s/stream | complete | CPU % | "
        "CPU ms / 1k deltas | KiB / stream | other load (cores) |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    order = list(API_LABEL)
    for p in sorted(
        results["load"], key=lambda p: (p["tps"], order.index(p["api"]), list(COLOURS).index(p["kind"]), p["streams"])
    ):
        lat = p["latency_ms"]
        cpu = f"{100 * p['cpu_util']:.0f}" if "cpu_util" in p else "–"
        add(
            f"| {p['kind']} | {API_LABEL[p['api']]} | {p['streams']} | {p['tps']:g} | {_fmt(lat['p50'])} | "
            f"{_fmt(lat['p99'])} | "
            f"{_fmt(lat['p99.9'])} | {p['delivered_tps_per_stream']:.1f} | {p['completed']}/{p['requests']} | {cpu} | "
            f"{_fmt(p.get('cpu_ms_per_1000'), 0)} | {_fmt(p.get('kb_per_stream'), 0)} | "
            f"{_fmt(p.get('other_load_cores'), 2)} |"
        )
    add("")
    label, _ = crossing(_points(results, "function"))
    others = [(k, crossing(_points(results, k))[0]) for k in ("peer", *FLOORS) if _points(results, k)]
    add(
        f"Where the function's per-delta p99 passes {LATENCY_LIMIT_MS:g} ms on one worker: **{label} streams** "
        f"({'; '.join(f'{k}: {v}' for k, v in others) or 'nothing else measured'})."
        + (
            " The platform floor paces its own lines, each due 20 ms after the last, so when its loop lags it "
            "offers fewer lines rather than late ones: its delivered rate, not its p99, shows where it saturates, "
            "and *What the platform holds* bounds it by CPU instead."
            if _points(results, "platform")
            else ""
        )
    )
    add("")
    add(f"![latency]({plot_latency(results)})")
    add("")
    add(f"![cpu and memory]({plot_cpu_memory(results)})")
    add("")


def _backpressure_section(results: dict[str, Any], add: Any) -> None:
    if "backpressure" not in results:
        return
    bp = results["backpressure"]
    total = bp["streams"] * bp["tokens_per_stream"]
    add("## Back-pressure: slow clients")
    add("")
    add(
        f"{bp['streams']} clients (16 KiB receive buffer) ask for {bp['tokens_per_stream']} tokens each from a "
        f"simulator that sends as fast as it can, read the first delta, then stop reading for {bp['pause_s']:g} s, "
        "then disconnect."
    )
    add("")
    add("| | mid-pause | end of pause |")
    add("|---|---|---|")
    add(f"| tokens the model had sent (of {total}) | {bp['sent_mid_pause']} | {bp['sent_end_pause']} |")
    add(
        f"| function RSS (MiB; idle {bp['idle_rss_mb']:.0f}) | {_fmt(bp['rss_mid_pause_mb'], 1)} | "
        f"{_fmt(bp['rss_end_pause_mb'], 1)} |"
    )
    add("")
    growth = (bp["rss_end_pause_mb"] or 0) - bp["idle_rss_mb"]
    rmem = int(bp.get("tcp_rmem", [0, 0, 0])[2]) / 2**20
    wmem = int(bp.get("tcp_wmem", [0, 0, 0])[2]) / 2**20
    add(
        f"The function's memory grew by {growth:.1f} MiB in all while {bp['streams']} clients read nothing: what a "
        "slow client can make the process hold is the bounded queue (64 lines) and one network read per stream. "
        "The model kept sending during the pause because the kernel buffers the rest: on loopback the socket "
        f"buffers autotune up to tcp_rmem {rmem:.0f} MiB / tcp_wmem {wmem:.0f} MiB per socket here, room for "
        "tens of thousands of upstream events per stream, which a real model at 30-100 tokens/s takes many "
        "minutes to fill and this simulator (no delay between tokens) fills in seconds. That memory is the "
        "kernel's, bounded per socket, and released when the stream ends."
        if growth < 10
        else f"**The function's memory grew by {growth:.0f} MiB while the clients were not reading.**"
    )
    add("")
    add(
        f"When the clients then disconnect, the function closed {bp['upstream_closed_early']}/{bp['streams']} "
        "upstream requests early (the simulator saw the close before its last token)."
    )
    add("")
    add(f"![back-pressure]({plot_backpressure(results)})")
    add("")


def _cold_section(results: dict[str, Any], add: Any) -> None:
    if "cold" not in results:
        return
    cold = results["cold"]
    imp = cold["import"]
    add("## Cold start")
    add("")
    add(
        "A fresh `python -m benchmarks.worker_host` (or the peer) is spawned and polled every 2 ms; the first "
        "request goes out as soon as the port accepts, against a simulator with no TTFT. Times are from spawn "
        "to the first content delta at the client (median of the runs)."
    )
    add("")
    add("| | median ms | runs |")
    add("|---|---|---|")
    add(
        f"| function: fresh process → first delta | {np.median(cold['function']):.0f} | "
        f"{', '.join(f'{v:.0f}' for v in cold['function'])} |"
    )
    add(
        f"| peer: fresh process → first delta | {np.median(cold['peer']):.0f} | "
        f"{', '.join(f'{v:.0f}' for v in cold['peer'])} |"
    )
    add(f"| function: second request's first delta (warm) | {np.median(cold['function_second_request']):.1f} | |")
    add(f"| `python -c pass` (interpreter alone) | {imp['bare_interpreter_ms']:.0f} | |")
    add(f"| `python -X importtime -c 'import function_app'` (whole process) | {imp['process_with_import_ms']:.0f} | |")
    add("")
    add("Cumulative import time by module (`-X importtime`, median):")
    add("")
    add("| module | ms |")
    add("|---|---|")
    for name, value in sorted(imp["cumulative_ms"].items(), key=lambda kv: -kv[1]):
        add(f"| `{name}` | {value:.0f} |")
    add("")
    add(f"![cold start]({plot_cold(results)})")
    add("")


def _flex_section(results: dict[str, Any], add: Any) -> None:
    points = _points(results, "function")
    if not points:
        return
    _, cross = crossing(points)
    # The rate to keep up with is the one the simulator delivers read directly at the same load where
    # that was measured: its own pacing (each sleep timed from the last line) already falls short of
    # the nominal rate, by 5 % at 100 streams, which would otherwise be charged to the function.
    offered = {p["streams"]: p["delivered_tps_per_stream"] for p in _points(results, "direct")}
    good = [
        p
        for p in points
        if p["latency_ms"]["p99"] <= LATENCY_LIMIT_MS
        and p["failed"] == 0
        and p["delivered_tps_per_stream"] >= 0.95 * min(p["tps"], offered.get(p["streams"], p["tps"]))
    ]
    best = max((p["streams"] for p in good), default=None)
    add("## What this means for Flex Consumption")
    add("")
    add(
        "On Flex Consumption one instance runs one Python worker process (one event loop, one core's worth of "
        "Python), and `perInstanceConcurrency` caps how many HTTP requests the platform routes to an instance "
        "before it scales out. A streaming request holds its slot for the whole answer, so concurrency here "
        "*is* the number of open streams."
    )
    add("")
    request_ms = _request_cpu_ms(results)
    if best is not None:
        by_streams = best / 2
        # A burst of perInstanceConcurrency requests landing together costs that many openings of CPU
        # before the last one's first token: keep it within the 300 ms the burst goal allows.
        by_burst = 300 / request_ms if request_ms else float("inf")
        recommended = max(16, int(min(by_streams, by_burst) // 10 * 10))
        cap = max(recommended * 2, 100)
        add(
            f"- Largest measured load that stays healthy on one worker (p99 ≤ {LATENCY_LIMIT_MS:g} ms, every stream "
            f"complete, ≥ 95 % of the token rate the simulator delivers directly): **{best} streams** at 50 tokens/s"
            + (f"; p99 passes {LATENCY_LIMIT_MS:g} ms at about {cross:.0f}." if cross else ".")
        )
        if request_ms:
            add(
                f"- Opening a stream costs the worker {request_ms:.2f} ms of CPU (section *CPU per request*), so "
                f"{300 / request_ms:.0f} requests arriving together delay the last one's first token by about "
                "300 ms before any model time."
            )
        add(
            f"- **`perInstanceConcurrency`: {recommended}.** The smaller of half the healthy stream count "
            f"({by_streams:.0f}) and the burst bound ({by_burst:.0f}). Half, because this machine's core is "
            "probably faster than an instance's share of one, the Functions host's proxy and gRPC traffic take "
            "CPU on the same instance and are not in these figures, and a model answering at 100 tokens/s costs "
            "twice the CPU per stream. Scaling out early costs little on Flex; a saturated event loop delays "
            "every stream on the instance at once."
        )
        add(
            f"- **`CHAT_MAX_CONCURRENT_STREAMS`: {cap}** (twice `perInstanceConcurrency`, at least 100). The "
            "platform's concurrency limit should do the shaping; the app's cap is the backstop that answers 503 + "
            "Retry-After instead of letting one worker take on more than it can relay (for example while "
            "scale-out lags, or if the setting is raised). Keep it at or below the largest count at which every "
            "stream completed here."
        )
    else:
        add("- No measured point was healthy; see the table above.")
    add("")


def _request_cpu_ms(results: dict[str, Any]) -> float | None:
    row = results.get("request_cpu", {}).get("function/responses")
    return row["cpu_ms_per_request"] if isinstance(row, dict) else None


def _method_section(results: dict[str, Any], add: Any) -> None:
    machine = results["machine"]
    add("## How it is measured")
    add("")
    add("### Production settings, and where they come from")
    add("")
    add(
        "- **Event loop: uvloop.** On Python 3.13+ the worker is the proxy worker "
        "(`workers/proxy_worker/start_worker.py` in Azure/azure-functions-python-worker), which sets "
        "`uvloop.EventLoopPolicy()` before `asyncio.run`; uvloop is one of its dependencies for 3.13+. Its "
        "dispatcher installs a task factory that makes every task a `Task` subclass with a Python `__init__` "
        "(`ContextEnabledTask`), and its log handler formats every record on the loop and queues it for the gRPC "
        "thread; `benchmarks/worker_host.py` does the same (the queue is drained to nowhere)."
    )
    add(
        "- **HTTP parser: httptools, because the app installs it.** The extension's `WebServer.serve()` builds "
        '`uvicorn.Config(app, host, port)` with uvicorn\'s defaults, `http="auto"`, which picks httptools when '
        "it is importable and h11 (pure Python) otherwise. Neither the worker nor the runtime "
        "(`azure-functions-runtime`) ships it and the extension depends on plain `uvicorn`, so requirements.txt "
        "lists `httptools`. The `function+h11` rows show the same app without it (`worker_host --h11`)."
    )
    add(
        "- **Upstream client**: the app's own (`chat.upstream.build_upstream`): the request built once per worker "
        "from the SDK client's configuration, sent with aiohttp (`chat.upstream.transport`); "
        "`python -m benchmarks.levers` measures it beside the SDK's own call paths."
    )
    add(
        "- **Floors** (`benchmarks/floor.py`, served by the same `worker_host.serve`): `platform`, the web stack "
        "alone with lines from memory, and `bare-relay`, the least relay on it; see *What the platform holds*. "
        "`python -m benchmarks.profile --system function|bare-relay|platform` splits each one's CPU by owner."
    )
    add(
        "- Not reproduced: the Functions host in front (its proxy and the gRPC invocation messages per request) "
        "and the runtime's per-invocation path (`invocation_request`, `HttpCoordinator`): `worker_host` routes "
        "to the function directly. Their cost is on the same instance but outside the app's code."
    )
    add("")
    add("### Processes and pairing")
    add("")
    add(
        "The simulator (`benchmarks/simstamp.py`: `dev.simulator` unchanged on the wire, on uvloop + httptools so "
        "it is cheap), the system under test (one process), and the load generator (`benchmarks/loadgen.py`: raw "
        "asyncio protocols on uvloop) each run in their own process. The simulator notes, out of band, the "
        "monotonic time at which it emits each content delta of each request, keyed by a `[bench:<id>]` marker "
        "in the user message that the function forwards upstream. The load generator notes the monotonic time "
        "of the read that completed each content line. Both read CLOCK_MONOTONIC, so delta *i* of stream *s* "
        "is paired exactly: latency = arrival − emission. Reading two separate streams of the same reply side by "
        "side would not pair soundly, because two streams' token timers drift apart independently; this does. "
        "The `direct` rows are the same measurement with the load generator reading the simulator itself, "
        "so 'added' = through-function minus direct at the same percentile."
    )
    add("")
    add(
        "All processes share this machine's cores, so at high load the simulator and load generator compete "
        "with the function for CPU: figures at the top of the sweep are pessimistic for the function."
    )
    add("")
    add("### Machine")
    add("")
    add(
        f"- {machine['nproc']} cores, {machine['cpu']}, {machine['memory_gib']} GiB, Linux {machine['kernel']}, "
        f"Python {machine['python']}"
    )
    add("- " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()))
    helpers = ", ".join(f"{k} {v.removesuffix('.dist')}" for k, v in machine["helpers"].items())
    add(f"- helpers only (simulator, load generator): {helpers}")
    add("")
    add("### Reproduce")
    add("")
    add("```")
    add("make bench                               # = .venv/bin/python -m benchmarks (full, ~32 min)")
    add(".venv/bin/python -m benchmarks --quick   # about 8 min; writes RESULTS-quick.md")
    add(".venv/bin/python -m benchmarks --only ttft,burst --label try  # some scenarios, saved to results/history")
    add(".venv/bin/python -m benchmarks.levers --api responses        # CPU per upstream call, SDK paths vs the app's")
    add(".venv/bin/python -m benchmarks.profile --system bare-relay   # where one system's CPU per request goes")
    add(".venv/bin/python -m benchmarks.compare /tmp/before           # CPU per request: this checkout vs another")
    add("```")
    add("")
