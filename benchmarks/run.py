"""The scenarios: each starts its own processes on loopback, drives them, and returns figures.

Processes: the simulator (`benchmarks.simstamp`), the system under test (`benchmarks.worker_host`
for the function, `benchmarks.peer` for the peer, `benchmarks.floor` for the two floors), and the
load generator (`benchmarks.loadgen`), each in its own process so no two share an event loop.
This process only samples /proc.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from benchmarks._common import (
    BENCH,
    HELPERS,
    ROOT,
    busy_seconds,
    cpu_seconds,
    higher_priority,
    rss_bytes,
)
from dev.host import free_port

LOGS = BENCH / "results" / "logs"
RAW = BENCH / "results" / "raw"
READY = re.compile(r"ready on (http://[\d.]+:\d+)")
CONTENT_NDJSON = re.compile(rb'\{"delta":\{"role":"assistant","content":')
PROMPT = "[bench:{marker}] Tell me about streaming."
FUNCTION_BODY = json.dumps({"messages": [{"role": "user", "content": PROMPT}]})
APIS = ("responses", "chat_completions")  # the upstream APIs (CHAT_UPSTREAM_API); Azure's default first
DIRECT_PATHS = {"responses": "/openai/v1/responses", "chat_completions": "/openai/v1/chat/completions"}
DIRECT_KINDS = {"responses": "responses", "chat_completions": "sse"}
H11 = "function+h11"  # the what-if: without httptools in requirements.txt, uvicorn's "auto" falls back to h11
BARE = "bare-relay"  # benchmarks.floor: the least any relay must do, on the worker's stack
PLATFORM = "platform"  # benchmarks.floor: the worker's web stack alone, lines from memory, no upstream
FLOORS = (BARE, PLATFORM)
NO_UPSTREAM = "none"  # the `api` of a system that reads no upstream (the platform floor)
BURN_MS = 1.0  # the burst's calibration: the bare relay spending this much more CPU per request
BURNED = f"{BARE}+{BURN_MS:g}ms"
ASYNCIO = "function+asyncio"  # the burst's what-if: the function on asyncio's own loop instead of uvloop


def direct_body(api: str) -> str:
    """The very request the function sends upstream for FUNCTION_BODY (its own `options`), as JSON."""
    from chat.conversation import Conversation, Message
    from chat.settings import Settings
    from chat.upstream import APIS as UPSTREAM_APIS

    settings = Settings(azure_openai_chat_deployment="chat-sim", upstream_api=api)  # type: ignore[arg-type]
    return json.dumps(UPSTREAM_APIS[api].options(Conversation((Message("user", PROMPT),)), settings))


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    url: str = ""
    pacing: dict[str, float] = field(default_factory=dict)  # the simulator's: ttft_ms, token_ms, tokens

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _env(helpers: bool, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "OPENAI_", "LOCAL_OPENAI_", "CHAT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), str(ROOT)] if helpers else [str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start(name: str, args: list[str], env: dict[str, str], timeout: float = 30, cwd: Path = ROOT) -> Proc:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it for its whole life
    process = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=higher_priority
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if match := READY.search(text):
            return Proc(name, process, match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def start_simulator(ttft_ms: float, token_ms: float, tokens: int) -> Proc:
    args = ["-m", "benchmarks.simstamp", "--ttft-ms", str(ttft_ms), "--token-ms", str(token_ms)]
    proc = start("simulator", [*args, "--tokens", str(tokens)], _env(helpers=True))
    proc.pacing = {"ttft_ms": ttft_ms, "token_ms": token_ms, "tokens": tokens}
    return proc


def function_env(simulator: Proc, api: str = "responses", **settings: str) -> dict[str, str]:
    env = _env(
        helpers=False,
        AZURE_OPENAI_ENDPOINT=simulator.url,
        AZURE_OPENAI_CHAT_DEPLOYMENT="chat-sim",
        AZURE_OPENAI_API_KEY="sim-key",
        CHAT_UPSTREAM_API=api,
        CHAT_MAX_CONCURRENT_STREAMS="5000",  # the cap is measured here, so it must not bite
        # Every benchmark client shares one address: per-client limits (chat/limits.py) off.
        CHAT_CLIENT_REQUESTS_PER_MINUTE="0",
        CHAT_CLIENT_CONCURRENT_STREAMS="0",
        CHAT_CLIENT_TOKENS_PER_MINUTE="0",
        **settings,
    )
    return env


def start_function(
    simulator: Proc,
    api: str = "responses",
    name: str = "function",
    *extra: str,
    **settings: str,
) -> Proc:
    port = free_port()
    env = function_env(simulator, api, **settings)
    if name == H11:
        extra = ("--h11", *extra)
    return start(f"{name}-{api}", ["-m", "benchmarks.worker_host", "--port", str(port), *extra], env)


def start_floor(kind: str, simulator: Proc, api: str = "responses", *extra: str) -> Proc:
    """A floor (`benchmarks.floor`): `platform` paced as the simulator is, `bare-relay` reading it."""
    args = ["-m", "benchmarks.floor", kind, "--port", str(free_port()), *extra]
    if kind == PLATFORM:
        pacing = simulator.pacing
        args += ["--ttft-ms", str(pacing["ttft_ms"]), "--token-ms", str(pacing["token_ms"])]
        args += ["--tokens", str(int(pacing["tokens"]))]
        return start(f"{kind}-{NO_UPSTREAM}", args, _env(False))
    args += ["--api", api, "--url", simulator.url + DIRECT_PATHS[api], "--body", direct_body(api)]
    return start(f"{kind}-{api}", args, _env(False))


def start_peer(simulator: Proc, api: str = "responses") -> Proc:
    args = ["-m", "benchmarks.peer", "--port", str(free_port()), "--upstream", simulator.url, "--api", api]
    return start(f"peer-{api}", args, _env(False))


def function_target(proc: Proc) -> dict[str, Any]:
    return {"port": proc.port, "path": "/api/chat/stream", "kind": "ndjson", "body": FUNCTION_BODY}


def direct_target(simulator: Proc, api: str = "responses") -> dict[str, Any]:
    return {
        "port": simulator.port,
        "path": DIRECT_PATHS[api],
        "kind": DIRECT_KINDS[api],
        "body": direct_body(api),
        "headers": {"api-key": "sim-key"},
    }


def run_loadgen(spec: dict[str, Any], name: str, sampler: Sampler | None = None) -> list[dict[str, Any]]:
    """Run the load generator to completion (bounded by a timeout); return its per-stream results."""
    RAW.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = RAW / f"{name}.spec.json", RAW / f"{name}.out.json"
    spec.setdefault("prefix", os.urandom(4).hex())
    spec_path.write_bytes(msgspec.json.encode(spec))
    out_path.unlink(missing_ok=True)
    limit = spec.get("duration_s", 0) + spec.get("timeout_s", 120) + 60
    with open(LOGS / "loadgen.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", str(spec_path), str(out_path)],
            cwd=ROOT,
            env=_env(helpers=True),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=higher_priority,
        )
        if sampler is not None:
            sampler.helpers.append(process.pid)
        try:
            if process.wait(limit) != 0:
                raise RuntimeError(f"load generator failed; see {LOGS / 'loadgen.log'}")
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    results = msgspec.json.decode(out_path.read_bytes())
    if os.environ.get("BENCH_KEEP_RAW") != "1":
        out_path.unlink()
    return results


def fetch_stamps(simulator: Proc) -> dict[str, list[int]]:
    with urllib.request.urlopen(f"{simulator.url}/_bench/stamps", timeout=60) as response:
        return msgspec.json.decode(response.read())


def sim_records(simulator: Proc) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{simulator.url}/_sim/requests", timeout=60) as response:
        return json.loads(response.read())


class Sampler:
    """Samples a process's CPU time and RSS every `interval` seconds, in a thread."""

    def __init__(self, pid: int, interval: float = 0.25, helpers: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.helpers = list(helpers)  # the simulator and the load generator: ours, not "other work"
        self._helper_cpu: dict[int, float] = {}
        self.interval = interval
        self.samples: list[tuple[int, float, int]] = []  # (monotonic ns, cpu s, rss bytes)
        self.machine: list[tuple[int, float, float]] = []  # (monotonic ns, machine busy s, helpers' cpu s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                now = time.monotonic_ns()
                self.samples.append((now, cpu_seconds(self.pid), rss_bytes(self.pid)))
                self.machine.append((now, busy_seconds(), sum(self._cpu(p) for p in self.helpers)))
            except OSError:
                return
            self._stop.wait(self.interval)

    def _cpu(self, pid: int) -> float:
        with contextlib.suppress(OSError):  # exited: keep its last reading
            self._helper_cpu[pid] = cpu_seconds(pid)
        return self._helper_cpu.get(pid, 0.0)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, t0: int, t1: int) -> tuple[float, float, int]:
        """(CPU seconds, wall seconds, mean RSS) between the samples nearest to t0 and t1."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return 0.0, 0.0, 0
        first, last = inside[0], inside[-1]
        return last[1] - first[1], (last[0] - first[0]) / 1e9, int(np.mean([s[2] for s in inside]))

    def others(self, t0: int, t1: int) -> float:
        """Cores used by processes outside this benchmark (other work on the machine) in the window."""
        inside = [m for m in self.machine if t0 <= m[0] <= t1]
        inside_self = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return float("nan")
        wall = (inside[-1][0] - inside[0][0]) / 1e9
        ours = (inside_self[-1][1] - inside_self[0][1]) + (inside[-1][2] - inside[0][2])
        return max(0.0, (inside[-1][1] - inside[0][1] - ours) / wall)


def percentiles(values: Any, points: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {f"p{p:g}": float("nan") for p in points}
    return {f"p{p:g}": float(np.percentile(array, p)) for p in points}


def paired_latencies_ms(results: list[dict[str, Any]], stamps: dict[str, list[int]], t0: int, t1: int) -> np.ndarray:
    """Per delta: arrival at the client minus the simulator's send of the same delta of the same stream."""
    out: list[np.ndarray] = []
    for result in results:
        sent = stamps.get(result["marker"])
        arrivals = result["arrivals"]
        if not sent or not arrivals:
            continue
        n = min(len(sent), len(arrivals))
        a = np.asarray(arrivals[:n], dtype=np.int64)
        s = np.asarray(sent[:n], dtype=np.int64)
        keep = (a >= t0) & (a <= t1)
        out.append((a[keep] - s[keep]) / 1e6)
    return np.concatenate(out) if out else np.zeros(0)


# --------------------------------------------------------------------------------------------
# Scenarios


def scenario_ttft(rounds: int, apis: tuple[str, ...] = APIS) -> dict[str, Any]:
    """Added time to first token and per-delta latency at one stream at a time, interleaved.

    Per upstream API: the simulator read directly, the function, the peer, the bare relay and the
    platform floor (one process for both APIs: it waits the simulator's TTFT itself), in a fresh
    random order each round, so drift on a shared machine hits all of them alike.
    """
    sim = start_simulator(ttft_ms=20, token_ms=10, tokens=6)
    procs = [sim]
    try:
        platform = start_floor(PLATFORM, sim)
        procs.append(platform)
        targets, names = [], []
        for api in apis:
            function = start_function(sim, api)
            peer = start_peer(sim, api)
            bare = start_floor(BARE, sim, api)
            procs += [function, peer, bare]
            targets += [direct_target(sim, api), *(function_target(p) for p in (function, peer, bare, platform))]
            names += [f"{kind}/{api}" for kind in ("direct", "function", "peer", BARE, PLATFORM)]
        run_loadgen({"mode": "ttft", "targets": targets, "rounds": 5}, "ttft-warmup")
        fetch_stamps(sim)
        fetch_stamps(platform)
        results = run_loadgen({"mode": "ttft", "targets": targets, "rounds": rounds}, "ttft")
        stamps = {**fetch_stamps(sim), **fetch_stamps(platform)}  # markers are unique per request
        out: dict[str, Any] = {"rounds": rounds, "apis": list(apis), "ttft_ms": {}, "per_chunk_ms": {}, "samples": {}}
        for index, name in enumerate(names):
            mine = [r for r in results if r["target"] == index and r["status"] == 200 and r["first_content"]]
            ttft = [(r["first_content"] - r["started"]) / 1e6 for r in mine]
            out["ttft_ms"][name] = percentiles(ttft)
            out["samples"][name] = ttft
            # The first delta's latency includes nothing the others do not, so keep all of them.
            out["per_chunk_ms"][name] = percentiles(paired_latencies_ms(mine, stamps, 0, 2**62))
            out.setdefault("errors", {})[name] = rounds - len(mine)
        for api in apis:
            direct = out["ttft_ms"][f"direct/{api}"]
            for system_ in ("function", "peer", *FLOORS):
                mine = out["ttft_ms"][f"{system_}/{api}"]
                out["ttft_ms"][f"{system_}_added/{api}"] = {k: mine[k] - direct[k] for k in direct}
        return out
    finally:
        for proc in reversed(procs):
            proc.stop()


def scenario_burst(clients: int, tokens: int, apis: tuple[str, ...] = APIS, repeats: int = 1) -> dict[str, Any]:
    """`clients` streams opened at the same moment against an upstream that answers at once.

    Time to first content (connect start to the first content line) p50 through a fresh function
    process versus the simulator read directly, per upstream API; CPU of the function for the burst.
    The floors too: the bare relay per API, and the platform floor (no upstream) once. Each burst
    runs `repeats` times, each on a fresh process (a second burst on the same one would find its
    upstream connections already open); the samples are pooled and each repeat's p50 is kept.

    Two more rows explain the figures. The calibration (`BURNED`: the bare relay spinning
    `BURN_MS` of CPU per request) gives how much a burst's p50 grows per millisecond of CPU per
    request. The what-if (`ASYNCIO`, first API only) runs the function on asyncio's loop: uvloop,
    which the worker runs, often leaves part of a burst in the listening socket's accept queue until
    the first streams are under way, and each row reports the most connections seen waiting there.
    """
    sim = start_simulator(ttft_ms=0, token_ms=20, tokens=tokens)
    out: dict[str, Any] = {"clients": clients, "tokens": tokens, "repeats": repeats, "burn_ms": BURN_MS}
    runs: list[tuple[str, str, str, tuple[str, ...]]] = []  # (label, kind, api, extra arguments)
    for api in apis:
        runs += [("direct", "direct", api, ()), ("function", "function", api, ()), (BARE, BARE, api, ())]
        runs.append((BURNED, BARE, api, ("--burn-ms", f"{BURN_MS:g}")))
    runs += [(ASYNCIO, "function", apis[0], ("--loop", "asyncio")), (PLATFORM, PLATFORM, NO_UPSTREAM, ())]
    try:
        for label, kind, api, extra in runs:
            ttfc: list[float] = []
            each: list[float] = []
            waiting: list[int] = []
            cpu = 0.0
            for _ in range(repeats):
                with system(kind, sim, api, *extra) as proc:
                    target = direct_target(sim, api) if proc is None else function_target(proc)
                    run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 0.2}, "warm")
                    time.sleep(0.5)
                    cpu0 = cpu_seconds(proc.pid) if proc else 0.0
                    spec = {"mode": "burst", "targets": [target], "slots": clients, "timeout_s": 120}
                    with AcceptQueue(target["port"]) as queue:
                        results = run_loadgen(spec, f"burst-{label}-{api}")
                    cpu += cpu_seconds(proc.pid) - cpu0 if proc else float("nan")
                    waiting.append(queue.peak)
                ok = [r for r in results if r["status"] == 200 and r["first_content"] and r["complete"]]
                mine = [(r["first_content"] - r["started"]) / 1e6 for r in ok]
                each.append(float(np.percentile(mine, 50)) if mine else float("nan"))
                ttfc += mine
            row = out[f"{label}/{api}"] = {
                "ttfc_ms": percentiles(ttfc, (50, 90, 99, 100)),
                "p50_each_ms": each,
                "completed": len(ttfc),
                "cpu_ms_per_request": 1000 * cpu / (clients * repeats),
                "accept_waiting_each": waiting,
                "samples": ttfc,
            }
            print(
                f"  burst {label}/{api}: TTFC p50 {row['ttfc_ms']['p50']:.0f} ms "
                f"(each burst: {', '.join(f'{v:.0f}' for v in each)}; most waiting to be accepted: "
                f"{', '.join(map(str, waiting))}), {len(ttfc)}/{clients * repeats} complete",
                flush=True,
            )
        for api in apis:
            direct = out[f"direct/{api}"]["ttfc_ms"]
            for kind, key in (("function", f"added/{api}"), (BARE, f"{BARE}_added/{api}")):
                out[key] = {k: out[f"{kind}/{api}"]["ttfc_ms"][k] - direct[k] for k in direct}
            bare, burned = out[f"{BARE}/{api}"], out[f"{BURNED}/{api}"]
            spent = burned["cpu_ms_per_request"] - bare["cpu_ms_per_request"]
            gained = burned["ttfc_ms"]["p50"] - bare["ttfc_ms"]["p50"]
            out[f"ms_per_cpu_ms/{api}"] = gained / spent if spent > 0 else float("nan")
        fetch_stamps(sim)
        return out
    finally:
        sim.stop()


class AcceptQueue:
    """The most connections seen waiting in a listening socket's accept queue, sampled from /proc/net/tcp.

    For a socket in LISTEN (state 0A) the kernel reports that count as the `rx_queue` field.
    """

    def __init__(self, port: int, interval: float = 0.025) -> None:
        self._listener = f"0100007F:{port:04X} 00000000:0000 0A ".encode()  # 127.0.0.1:port, listening
        self._interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/net/tcp", "rb") as table:
                text = table.read()
            at = text.find(self._listener)
            if at >= 0:
                queues = text[at + len(self._listener) :].split(b" ", 1)[0]  # tx_queue:rx_queue, hex
                self.peak = max(self.peak, int(queues.split(b":")[1], 16))
            self._stop.wait(self._interval)

    def __enter__(self) -> AcceptQueue:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scenario_request_cpu(
    seconds: float, slots: int, apis: tuple[str, ...] = APIS, kinds: tuple[str, ...] = ("function", H11, BARE)
) -> dict[str, Any]:
    """CPU per request: back-to-back one-delta streams from an upstream that answers at once.

    The function's CPU over the run divided by the requests it completed; one delta's share (the
    per-delta CPU of the load scenario is ~0.03 ms) is left in, so the figure is an upper bound
    of opening and closing a stream. The same for the bare relay per API and the platform floor once.
    """
    sim = start_simulator(ttft_ms=0, token_ms=0, tokens=1)
    out: dict[str, Any] = {"seconds": seconds, "slots": slots}
    runs = [(kind, api) for api in apis for kind in kinds] + [(PLATFORM, NO_UPSTREAM)]
    try:
        for kind, api in runs:
            with system(kind, sim, api, "--gc-report") as proc:
                assert proc is not None
                row = out[f"{kind}/{api}"] = request_cpu(proc, slots, seconds, f"request-cpu-{kind}-{api}")
                fetch_stamps(sim)
            row["gc"] = _gc_report(LOGS / f"{kind}-{api}.log")
            print(
                f"  request CPU {kind}/{api}: {row['cpu_ms_per_request']:.2f} ms/request "
                f"({row['completed']} requests, {row['requests_per_s']:.0f}/s, CPU {row['cpu_util']:.0%})",
                flush=True,
            )
        return out
    finally:
        sim.stop()


def request_cpu(proc: Proc, slots: int, seconds: float, name: str) -> dict[str, Any]:
    """One system's CPU per request: one-delta streams back to back from `slots` clients, after a warm-up."""
    target = function_target(proc)
    run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 0.5}, "warm")
    time.sleep(0.5)
    cpu0, began = cpu_seconds(proc.pid), time.monotonic()
    spec = {"mode": "load", "targets": [target], "slots": slots, "duration_s": seconds, "ramp_s": 0}
    results = run_loadgen(spec, name)
    cpu, wall = cpu_seconds(proc.pid) - cpu0, time.monotonic() - began
    ok = sum(1 for r in results if r["status"] == 200 and r["complete"])
    return {
        "requests": len(results),
        "completed": ok,
        "cpu_ms_per_request": 1000 * cpu / max(1, ok),
        "requests_per_s": ok / wall,
        "cpu_util": cpu / wall,
    }


def deltas_cpu(proc: Proc, streams: int, seconds: float, name: str) -> dict[str, Any]:
    """One system's CPU per 1,000 deltas: `streams` open streams (closed loop) against a paced simulator.

    CPU over the whole run (ramp, opening and closing streams included) divided by the deltas
    the clients received: coarser than `load_point`'s steady window, for comparing two systems alike.
    """
    target = function_target(proc)
    run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 0.5}, "warm")
    time.sleep(0.5)
    cpu0 = cpu_seconds(proc.pid)
    spec = {"mode": "load", "targets": [target], "slots": streams, "duration_s": seconds, "ramp_s": 1, "timeout_s": 60}
    results = run_loadgen(spec, name)
    cpu = cpu_seconds(proc.pid) - cpu0
    deltas = sum(len(r["arrivals"]) for r in results)
    return {"deltas": deltas, "cpu_ms_per_1000": 1e6 * cpu / max(1, deltas)}


@contextmanager
def system(kind: str, sim: Proc, api: str = "responses", *extra: str):
    """The system under test for one load point: a fresh process, so no state carries over."""
    if kind == "direct":
        yield None
        return
    if kind in FLOORS:
        proc = start_floor(kind, sim, api, *extra)
    elif kind == "peer":
        proc = start_peer(sim, api)
    else:
        proc = start_function(sim, api, kind, *extra)
    try:
        yield proc
    finally:
        proc.stop()


def load_point(
    sim: Proc, kind: str, streams: int, tps: float, duration: float, ramp: float, api: str = "responses"
) -> dict[str, Any]:
    """`streams` open streams at `tps` tokens/s each, closed loop, for `duration` seconds."""
    with system(kind, sim, api) as proc:
        target = direct_target(sim, api) if proc is None else function_target(proc)
        # The platform floor sends its own lines, so it notes their times itself; the rest the simulator does.
        stamper = proc if kind == PLATFORM and proc is not None else sim
        # Warm up: the first request builds the client and fills the connection pool.
        run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 0.1, "ramp_s": 0}, "warm")
        time.sleep(0.5)
        fetch_stamps(stamper)
        idle_rss = rss_bytes(proc.pid) if proc else 0
        spec = {
            "mode": "load",
            "targets": [target],
            "slots": streams,
            "duration_s": duration,
            "ramp_s": ramp,
            "timeout_s": 90,
        }
        sampler = Sampler(proc.pid if proc else sim.pid, helpers=() if proc is None else (sim.pid,))
        with sampler:
            results = run_loadgen(spec, f"load-{kind}-{api}-{streams}-{tps:g}", sampler)
        stamps = fetch_stamps(stamper)
    began = min(r["started"] for r in results)
    # The window: every slot has started and passed its first token; starts stop at its end.
    t0 = began + int((ramp + 1.5) * 1e9)
    t1 = began + int(duration * 1e9)
    arrivals = np.concatenate([np.asarray(r["arrivals"], dtype=np.int64) for r in results if r["arrivals"]])
    in_window = int(((arrivals >= t0) & (arrivals <= t1)).sum())
    lat = paired_latencies_ms(results, stamps, t0, t1)
    ok = [r for r in results if r["status"] == 200 and r["complete"]]
    point: dict[str, Any] = {
        "kind": kind,
        "api": api,
        "streams": streams,
        "tps": tps,
        "requests": len(results),
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "statuses": sorted({r["status"] for r in results}),
        "delivered_tps_per_stream": in_window / ((t1 - t0) / 1e9) / streams,
        "latency_ms": percentiles(lat, (50, 90, 99, 99.9)),
        "latency_samples": int(lat.size),
    }
    point["other_load_cores"] = sampler.others(t0, t1)
    if proc is not None:
        cpu, wall, rss = sampler.window(t0, t1)
        # Deltas in the sampled span (the sampler's first and last samples inside the window).
        inside = [s for s in sampler.samples if t0 <= s[0] <= t1]
        s0, s1 = inside[0][0], inside[-1][0]
        deltas = int(((arrivals >= s0) & (arrivals <= s1)).sum())
        point.update(
            cpu_util=cpu / wall if wall else float("nan"),
            cpu_ms_per_1000=1000 * cpu / deltas * 1000 if deltas else float("nan"),
            rss_idle_mb=idle_rss / 2**20,
            rss_loaded_mb=rss / 2**20,
            kb_per_stream=(rss - idle_rss) / 1024 / streams,
            peak_rss_mb=max(s[2] for s in sampler.samples) / 2**20,
        )
    return point


def scenario_load(
    points: list[tuple[str, int, float, str]], duration: float, ramp: float, stream_s: float
) -> list[dict]:
    """Each point is (kind, streams, tokens/s, upstream API); one simulator per token rate."""
    out = []
    by_rate: dict[float, list[tuple[str, int, str]]] = {}
    for kind, streams, tps, api in points:
        by_rate.setdefault(tps, []).append((kind, streams, api))
    for tps, items in by_rate.items():
        sim = start_simulator(ttft_ms=100, token_ms=1000 / tps, tokens=int(stream_s * tps))
        try:
            for kind, streams, api in items:
                started = time.monotonic()
                point = load_point(sim, kind, streams, tps, duration, ramp, api)
                point["seconds"] = time.monotonic() - started
                print(_point_line(point), flush=True)
                out.append(point)
        finally:
            sim.stop()
    return out


def _gc_report(log: Path) -> dict[str, float]:
    """What `worker_host --gc-report` printed at exit: collections and their CPU while serving."""
    found = re.findall(r"^gc: (\{.*\})$", log.read_text(errors="replace"), re.MULTILINE)
    return ast.literal_eval(found[-1]) if found else {}


def _point_line(p: dict[str, Any]) -> str:
    lat = p["latency_ms"]
    extra = ""
    if "cpu_ms_per_1000" in p:
        extra = f" cpu {p['cpu_util']:.0%} {p['cpu_ms_per_1000']:.0f} ms/1000 deltas"
        extra += f", {p['kb_per_stream']:.0f} KiB/stream"
    return (
        f"  {p['kind']:>18} {p['api']:>16} {p['streams']:>5} streams @ {p['tps']:g} tok/s: "
        f"latency p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} ms, {p['delivered_tps_per_stream']:.1f} tok/s delivered, "
        f"{p['completed']}/{p['requests']} complete{extra} ({p['seconds']:.0f}s)"
    )


def scenario_backpressure(streams: int, tokens: int, pause_s: float) -> dict[str, Any]:
    """Slow readers: clients stop reading after the first delta; the upstream must stall too."""
    sim = start_simulator(ttft_ms=0, token_ms=0, tokens=tokens)
    procs = [sim]
    try:
        # The answer must outlast the pause: lift the output cap (4,096 by default) above `tokens`.
        function = start_function(sim, CHAT_MAX_OUTPUT_TOKENS=str(2 * tokens))
        procs.append(function)
        run_loadgen({"mode": "load", "targets": [function_target(function)], "slots": 2, "duration_s": 0.1}, "warm")
        idle = rss_bytes(function.pid)
        prefix = "slow" + os.urandom(3).hex()
        spec = {
            "prefix": prefix,
            "mode": "slow",
            "targets": [function_target(function)],
            "slots": streams,
            "pause_s": pause_s,
            "timeout_s": 120,
        }
        timeline: list[dict[str, float]] = []
        done = threading.Event()

        def watch() -> None:
            began = time.monotonic()
            while not done.is_set():
                try:
                    records = [r for r in sim_records(sim) if f"[bench:{prefix}" in json.dumps(r["body"])]
                    sent = sum(r["tokens_sent"] for r in records)
                    timeline.append(
                        {
                            "t": time.monotonic() - began,
                            "host_rss_mb": rss_bytes(function.pid) / 2**20,
                            "upstream_tokens_sent": sent,
                        }
                    )
                except OSError:
                    pass
                done.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        results = run_loadgen(spec, "backpressure")
        done.set()
        watcher.join()
        paused = [p for p in timeline if 1.0 <= p["t"] <= pause_s]
        half = [p for p in paused if p["t"] >= pause_s / 2]
        return {
            "streams": streams,
            "tokens_per_stream": tokens,
            "pause_s": pause_s,
            "idle_rss_mb": idle / 2**20,
            "timeline": timeline,
            "sent_mid_pause": half[0]["upstream_tokens_sent"] if half else None,
            "sent_end_pause": paused[-1]["upstream_tokens_sent"] if paused else None,
            "rss_mid_pause_mb": half[0]["host_rss_mb"] if half else None,
            "rss_end_pause_mb": paused[-1]["host_rss_mb"] if paused else None,
            "delivered": sum(len(r["arrivals"]) for r in results),
            "upstream_closed_early": _closed_early(sim, prefix),
            "tcp_rmem": Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split(),
            "tcp_wmem": Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split(),
        }
    finally:
        for proc in reversed(procs):
            proc.stop()


def _closed_early(sim: Proc, prefix: str) -> int:
    """How many of the slow streams' upstream requests the function closed before the end."""
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in sim_records(sim) if f"[bench:{prefix}" in json.dumps(r["body"])]
        closed = sum(1 for r in records if r["closed_early"])
        if closed == len(records) or time.monotonic() > deadline:
            return closed
        time.sleep(0.2)


def _first_content(port: int, body: bytes, path: str, deadline: float) -> float:
    """Connect as soon as the port accepts, POST, and return the monotonic time of the first delta."""
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)
    with sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        seen = b""
        while True:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError(f"no content: {seen[:300]!r}")
            seen += data
            if CONTENT_NDJSON.search(seen):
                return time.monotonic()


def scenario_cold_start(runs: int) -> dict[str, Any]:
    sim = start_simulator(ttft_ms=0, token_ms=1, tokens=5)
    body = FUNCTION_BODY.replace("{marker}", "cold").encode()
    out: dict[str, Any] = {"function": [], "peer": [], "function_second_request": []}
    try:
        for _ in range(runs):
            for kind in ("function", "peer"):
                port = free_port()
                if kind == "function":
                    args, env = ["-m", "benchmarks.worker_host", "--port", str(port)], function_env(sim)
                else:
                    args = ["-m", "benchmarks.peer", "--port", str(port), "--upstream", sim.url]
                    env = _env(False)
                began = time.monotonic()
                process = subprocess.Popen(
                    [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    first = _first_content(port, body, "/api/chat/stream", began + 30)
                    out[kind].append((first - began) * 1000)
                    if kind == "function":
                        again = time.monotonic()
                        out["function_second_request"].append(
                            (_first_content(port, body, "/api/chat/stream", again + 5) - again) * 1000
                        )
                finally:
                    process.terminate()
                    process.wait(10)
        out["import"] = import_times(runs)
        return out
    finally:
        sim.stop()


WATCHED_IMPORTS = (
    "function_app",
    "azure.functions",
    "azurefunctions.extensions.http.fastapi",
    "fastapi",
    "uvicorn",
    "pydantic",
    "chat.endpoints",
    "chat.upstream",
    "openai",
    "httpx2",
    "azure.core.exceptions",
    "msgspec",
)


def import_times(runs: int) -> dict[str, Any]:
    """`python -X importtime -c 'import function_app'`: cumulative µs per watched module, medians."""
    env = function_env(Proc("none", None, "http://127.0.0.1:1"))  # type: ignore[arg-type]
    per_module: dict[str, list[float]] = {name: [] for name in WATCHED_IMPORTS}
    walls: list[float] = []
    baseline: list[float] = []
    for _ in range(runs):
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import function_app"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append((time.monotonic() - began) * 1000)
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], cwd=ROOT, env=env, check=True)
        baseline.append((time.monotonic() - began) * 1000)
        seen: dict[str, float] = {}
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if match and match.group(4) in per_module:
                seen[match.group(4)] = max(seen.get(match.group(4), 0), int(match.group(2)) / 1000)
        for name, value in seen.items():
            per_module[name].append(value)
    return {
        "cumulative_ms": {k: float(np.median(v)) for k, v in per_module.items() if v},
        "process_with_import_ms": float(np.median(walls)),
        "bare_interpreter_ms": float(np.median(baseline)),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    from importlib import metadata

    for name in (
        "openai",
        "httpx2",
        "aiohttp",
        "fastapi",
        "starlette",
        "uvicorn",
        "httptools",
        "h11",
        "uvloop",
        "msgspec",
        "azure-functions",
        "azurefunctions-extensions-http-fastapi",
        "matplotlib",
    ):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    helpers = {}
    for name in ("httptools", "uvloop"):
        found = list(HELPERS.glob(f"{name}-*.dist-info"))
        helpers[name] = found[0].name.removesuffix(".dist-info").split("-", 1)[1] if found else "not installed"
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as info:
        mem_kb = int(info.readline().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "packages": packages,
        "helpers": helpers,
        "commit": commit.strip(),
    }


@dataclass
class Plan:
    quick: bool
    ttft_rounds: int
    duration: float
    ramp: float
    stream_s: float
    points: list[tuple[str, int, float, str]] = field(default_factory=list)
    cold_runs: int = 3
    bp_streams: int = 8
    bp_tokens: int = 200_000
    bp_pause: float = 6.0
    burst_clients: int = 500
    burst_tokens: int = 8
    burst_repeats: int = 3
    request_cpu_s: float = 8.0
    request_cpu_slots: int = 8
    profile_s: float = 8.0


R, C = "responses", "chat_completions"


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(
            quick=True,
            ttft_rounds=40,
            duration=9,
            ramp=2,
            stream_s=4,
            points=[
                ("direct", 500, 50, R),
                ("function", 100, 50, R),
                ("function", 500, 50, R),
                ("function", 500, 50, C),
                ("peer", 500, 50, R),
                (BARE, 100, 50, R),
                (BARE, 500, 50, R),
                (PLATFORM, 500, 50, NO_UPSTREAM),
            ],
            cold_runs=2,
            bp_streams=4,
            bp_tokens=200_000,
            bp_pause=4.0,
            request_cpu_s=4.0,
            profile_s=4.0,
            burst_repeats=1,
        )
    sweep = [100, 250, 400, 500, 750, 1000, 1500, 2000]
    points = [("direct", n, 50, R) for n in (100, 500, 1000, 2000)]
    points += [("function", n, 50, R) for n in sweep]
    points += [("direct", 500, 50, C), ("function", 500, 50, C), ("function", 1000, 50, C)]
    points += [("peer", n, 50, R) for n in (100, 500, 1000)]
    points += [(H11, n, 50, R) for n in (500, 1000, 2000)]
    # The floors (benchmarks.floor): what the same worker stack holds with no app code in it.
    points += [(BARE, n, 50, R) for n in (100, 250, 400, 500, 750, 1000)]
    points += [(PLATFORM, n, 50, NO_UPSTREAM) for n in (100, 250, 400, 500, 1000)]
    points += [("function", 500, 30, R), ("function", 500, 100, R), ("direct", 500, 100, R)]
    return Plan(quick=False, ttft_rounds=200, duration=15, ramp=3, stream_s=6, points=points, cold_runs=5)


def save(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, default=float))
