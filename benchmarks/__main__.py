"""Run the benchmark suite and write benchmarks/RESULTS.md and benchmarks/results/*.png.

    python -m benchmarks            # the full suite, about 32 minutes on 2 cores
    python -m benchmarks --quick    # fewer points and shorter runs, about 8 minutes
    python -m benchmarks --only ttft,burst  # some scenarios (micro, ttft, burst, request_cpu, profile,
                                            #   load, backpressure, cold)
    python -m benchmarks --report-only      # re-render RESULTS.md from results/latest.json

It installs what it needs beyond requirements-dev.txt by itself: matplotlib into the venv,
and httptools + uvloop into benchmarks/.deps for the simulator and the load generator only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

from benchmarks._common import BENCH, HELPERS

ALL = ("micro", "ttft", "burst", "request_cpu", "profile", "load", "backpressure", "cold")


def ensure_dependencies() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        print("installing benchmarks/requirements.txt into the venv", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(BENCH / "requirements.txt")], check=True)
    helpers_ready = list(HELPERS.glob("uvloop-*.dist-info")) and list(HELPERS.glob("httptools-*.dist-info"))
    if not helpers_ready:
        print("installing benchmarks/requirements-helpers.txt into benchmarks/.deps", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade"]
        subprocess.run([*pip, "--target", str(HELPERS), "-r", str(BENCH / "requirements-helpers.txt")], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer points, shorter runs (about 8 minutes)")
    parser.add_argument(
        "--only",
        default=",".join(ALL),
        help="comma-separated scenarios; a subset is merged into the latest results and the report re-rendered",
    )
    parser.add_argument("--report-only", action="store_true", help="re-render RESULTS.md from results/latest.json")
    parser.add_argument("--label", default="", help="also save the results as results/history/<label>.json")
    args = parser.parse_args()
    ensure_dependencies()

    from benchmarks import report, run

    latest = BENCH / "results" / ("latest-quick.json" if args.quick else "latest.json")
    if args.report_only:
        report.render(json.loads(latest.read_text()), quick=args.quick)
        return

    wanted = set(args.only.split(","))
    plan = run.plan(args.quick)
    results: dict = {"machine": run.machine(), "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure: say how much there was
    began = time.monotonic()
    if "micro" in wanted:
        from benchmarks import micro

        print("micro-benchmarks (in-process)", flush=True)
        results["micro"] = micro.run()
        print("  " + micro.describe(results["micro"]).replace("\n", "\n  "), flush=True)
    if "ttft" in wanted:
        print(
            f"time to first token: {plan.ttft_rounds} interleaved rounds of direct / function / peer / floors",
            flush=True,
        )
        results["ttft"] = run.scenario_ttft(plan.ttft_rounds)
        t = results["ttft"]["ttft_ms"]
        for api in results["ttft"]["apis"]:
            added, peer = t[f"function_added/{api}"]["p50"], t[f"peer_added/{api}"]["p50"]
            print(f"  {api}: added TTFT p50 {added:.2f} ms (peer {peer:.2f} ms)", flush=True)
    if "burst" in wanted:
        print(
            f"burst: {plan.burst_clients} streams of {plan.burst_tokens} deltas opened at once, "
            f"{plan.burst_repeats} time(s) per system",
            flush=True,
        )
        results["burst"] = run.scenario_burst(plan.burst_clients, plan.burst_tokens, repeats=plan.burst_repeats)
    if "request_cpu" in wanted:
        print(
            f"CPU per request: {plan.request_cpu_slots} clients, one-delta streams, {plan.request_cpu_s:g}s", flush=True
        )
        results["request_cpu"] = run.scenario_request_cpu(plan.request_cpu_s, plan.request_cpu_slots)
    if "profile" in wanted:
        from benchmarks import profile

        print(f"profile (py-spy): function and floors, one-delta streams, {plan.profile_s:g}s each", flush=True)
        results["profile"] = profile.scenario_profile(plan.profile_s)
    if "load" in wanted:
        print(f"open streams: {len(plan.points)} load points of {plan.duration:g}s", flush=True)
        results["load"] = run.scenario_load(plan.points, plan.duration, plan.ramp, plan.stream_s)
        results["load_plan"] = {"duration_s": plan.duration, "ramp_s": plan.ramp, "stream_s": plan.stream_s}
    if "backpressure" in wanted:
        print(f"slow readers: {plan.bp_streams} streams paused for {plan.bp_pause:g}s", flush=True)
        results["backpressure"] = run.scenario_backpressure(plan.bp_streams, plan.bp_tokens, plan.bp_pause)
        bp = results["backpressure"]
        print(f"  upstream tokens sent mid/end of pause: {bp['sent_mid_pause']} / {bp['sent_end_pause']}")
    if "cold" in wanted:
        print(f"cold start: {plan.cold_runs} fresh processes each", flush=True)
        results["cold"] = run.scenario_cold_start(plan.cold_runs)
    results["seconds"] = time.monotonic() - began
    results["load_average"] = {"start": load_at_start, "end": os.getloadavg()[0]}
    print(f"done in {results['seconds']:.0f}s", flush=True)

    if args.label:
        (BENCH / "results" / "history").mkdir(parents=True, exist_ok=True)
        run.save(results, BENCH / "results" / "history" / f"{args.label}.json")
    if wanted != set(ALL):
        if not latest.exists():
            return
        # A partial run refreshes its own sections of the latest full results.
        merged = json.loads(latest.read_text())
        merged.update({k: v for k, v in results.items() if k in ALL or k == "load_plan"})
        # Earlier partial runs whose sections this one replaced no longer describe any figure.
        partials = [p for p in merged.get("partial_runs", []) if not set(p["only"]) <= wanted]
        partials.append({"only": sorted(wanted), "started": results["started"], "commit": results["machine"]["commit"]})
        merged["partial_runs"] = partials
        results = merged
    run.save(results, latest)
    report.render(results, quick=args.quick)


if __name__ == "__main__":
    main()
