"""The gateway's cost, as ratios against a bare app measured in the same run.

    .venv/bin/python bench/bench_gateway.py [--seconds 2] [--rounds 5] [--skip-http]

1. In-process: the engine's decision cost for a protected request whose token
   was already verified once (default packs, memory state), median and p99 in
   microseconds; a full ASGI call of the protected app vs. the bare app, on an
   unprotected route (the pass-through) and on a protected one, with the
   gateway's own work outside Engine.decide (facts, rendering) on its own.
   The decisions are then run once more with the state store's answers
   replayed from a recording: the same features, rules and verdicts with no
   store work, the floor that no faster store could go below.
2. Through uvicorn on loopback with wrk as the load generator (one uvicorn
   process per app, one wrk thread): requests/s of the bare app and of the
   protected app, on an unprotected route and on a protected route with the
   same handler. Both servers run at once and wrk visits them in turn, round
   after round, so a neighbour's load lands on both alike; the figures are the
   medians over the rounds, the ratio the median of the rounds' ratios. The
   server's own CPU time per request (Linux) is printed too: on a shared
   machine it moves far less with the neighbours' load than requests/s do.

The protected app runs in shadow mode so that every request reaches the same
handler as in the bare app (a block would skip the handler and flatter the
gateway); everything is still decided and logged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import (  # noqa: E402
    APP_UA,
    free_port,
    load_average,
    percentile,
    python_pace,
    server_stack,
    time_decisions,
    wrk_script,
)

from gateway.demo.app import DEMO_CONFIG, build_demo_app, build_protected_demo, issue_token  # noqa: E402
from gateway.engine import FAULT_EXPLAIN, Engine  # noqa: E402
from gateway.facts import RequestFacts  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.state.store import BatchResult  # noqa: E402

UA = APP_UA


def bench_settings(log_path: str):
    import dataclasses

    s = load_settings(DEMO_CONFIG)
    log = dataclasses.replace(s.log, sink=log_path)
    return dataclasses.replace(s, mode="shadow", log=log, reload=False)


def headers_for(token: str, ip: str, device: str = "dev-bench") -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}", "user-agent": UA, "accept": "application/json",
        "accept-language": "en-US", "x-forwarded-for": ip, "x-device-id": device,
        "host": "127.0.0.1",
    }


class RecordedStore:
    """A state store that answers each exchange with the next recorded answer: no state work at all."""

    def __init__(self, answers: list[list]) -> None:
        self.answers = iter(answers)
        self.mismatched = 0  # answers that do not fit their request's ops: the replay went out of step

    async def exchange(self, ops: list, now: float) -> BatchResult:
        values = next(self.answers)
        self.mismatched += len(values) != len(ops)
        return BatchResult(values)

    async def close(self) -> None:
        pass


async def in_process(n: int, log_path: str) -> dict[str, float]:
    """The decision's median and p99 on memory state; then the same decisions with the state answers replayed
    from a recording (the same features, rules and verdicts, no store work): what no faster store could beat."""
    now = time.time()
    rng = random.Random(7)
    # People at a person's pace, so every decision runs the whole pipeline (signals, model, rules):
    # 2,000 phones on 500 carrier addresses, 100 requests a second in all (one like every ~20 s
    # each), on 5,000 posts. (Faster or shared-device traffic is stopped by sticky decisions,
    # which answer for less and would flatter the figure.)
    users = 2000
    tokens = [issue_token(f"user{i}", client_id="engage-android", device_id=f"dev{i}", now=now) for i in range(users)]
    ips = [f"100.64.{i // 250}.{i % 250 + 1}" for i in range(500)]

    def request(t: int, ts: float) -> RequestFacts:
        return RequestFacts(ts=ts, method="POST", path="/v1/media/m/like", peer="127.0.0.1",
                            headers=headers_for(tokens[t], ips[t % 500], f"dev{t}"), action="like",
                            target=f"m{rng.randrange(5000)}")

    warm = [request(t, now + t * 0.001) for t in range(users)]  # verifies every token once
    start = now + users * 0.001
    facts = [request(rng.randrange(users), start + i * 0.01) for i in range(n)]

    async def run(engine: Engine) -> tuple[list[float], int]:
        await engine.start()
        for f in warm:
            await engine.decide(f)
        samples, sticky = [], 0
        for f in facts:
            t0 = time.perf_counter_ns()
            verdict = await engine.decide(f)
            samples.append((time.perf_counter_ns() - t0) / 1000)
            sticky += verdict.sticky
            if verdict.explain == FAULT_EXPLAIN:
                raise RuntimeError("an engine fault during the bench: see the log above")
        await engine.close()
        return samples, sticky

    settings = bench_settings(log_path)
    samples, sticky = await run(Engine(settings))
    recorder = Engine(settings)  # the same requests again, unmeasured, to record the answers
    answers, exchange = [], recorder.store.exchange

    async def recording(ops: list, at: float) -> BatchResult:
        result = await exchange(ops, at)
        answers.append(result.values)
        return result

    recorder.store.exchange = recording  # type: ignore[method-assign]
    await run(recorder)
    recorded = RecordedStore(answers)
    replayed, _ = await run(Engine(settings, store=recorded))
    if recorded.mismatched:
        raise RuntimeError(f"{recorded.mismatched} recorded answers did not fit their requests")
    return {"median_us": statistics.median(samples), "p99_us": percentile(samples, 0.99),
            "sticky_share": sticky / len(samples), "no_store_median_us": statistics.median(replayed),
            "no_store_p99_us": percentile(replayed, 0.99)}


async def asgi_call_cost(n: int, log_path: str) -> dict[str, float]:
    """Median microseconds of one ASGI call, bare vs. protected app, on an unprotected and a protected route.

    ``outside`` is the protected call minus its own Engine.decide, request by
    request: what the middleware adds around the decision (and the timer
    around decide, a fraction of a microsecond).
    """
    token = issue_token("alice", client_id="engage-android", device_id="dev-bench")
    bare = build_demo_app()
    protected = build_protected_demo(settings=bench_settings(log_path))
    engine = protected.engine
    await engine.start()
    decide_ns = time_decisions(engine)
    raw_headers = [(k.encode(), v.encode()) for k, v in headers_for(token, "100.64.0.9").items()]

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    async def call(app, method: str, path: str) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": list(raw_headers), "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }
        decide_ns[0] = 0
        t0 = time.perf_counter_ns()
        await app(scope, receive, send)
        return time.perf_counter_ns() - t0

    out = {}
    for route, method, path in (("unprotected", "GET", "/v1/feed"), ("protected", "POST", "/v1/media/m1/like")):
        for label, app in (("bare", bare), ("protected", protected)):
            for _ in range(500):
                await call(app, method, path)
            samples, outside = [], []
            for _ in range(n):
                total = await call(app, method, path)
                samples.append(total / 1000)
                outside.append((total - decide_ns[0]) / 1000)
            out[f"{route}_{label}"] = statistics.median(samples)
            if label == "protected":
                out[f"{route}_outside"] = statistics.median(outside)
    del engine.decide  # the class's own decide again
    await engine.close()
    return out


SERVER = """
import sys, dataclasses
sys.path.insert(0, {root!r})
import uvicorn
from gateway.demo.app import build_demo_app, build_protected_demo, DEMO_CONFIG
from gateway.settings import load_settings
kind = {kind!r}
if kind == "bare":
    app = build_demo_app()
else:
    s = load_settings(DEMO_CONFIG)
    s = dataclasses.replace(s, mode="shadow", reload=False, log=dataclasses.replace(s.log, sink={log!r}))
    app = build_protected_demo(settings=s)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="error", access_log=False)
"""



def wrk(url: str, seconds: int, method: str, token: str) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(method, token))
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", f.name, url], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(f.name)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), int(re.search(r"(\d+) requests in", out).group(1))


def cpu_ns(pid: int) -> int | None:
    """Nanoseconds a process's threads have spent on a CPU (Linux schedstat), or None where unknown.

    Throughput on a shared machine moves with the neighbours' load; the server's
    own CPU time per request barely does, and one uvicorn process serves about
    1 / (CPU per request) requests/s when it has a core to itself.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def through_uvicorn(seconds: int, rounds: int, log_path: str) -> dict[str, dict[str, float]]:
    """Per route: requests/s and server CPU microseconds per request of each app, medians over ``rounds`` turns,
    and the medians of the turns' ratios (gateway / bare for throughput, bare / gateway for CPU)."""
    token = issue_token("alice", client_id="engage-android", device_id="dev-bench", now=time.time())
    routes = {"unprotected": ("GET", "/v1/feed"), "protected": ("POST", "/v1/media/m1/like")}
    kinds = ("bare", "protected")
    ports = {kind: free_port() for kind in kinds}
    procs = {kind: subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), kind=kind, port=ports[kind], log=log_path)])
             for kind in kinds}
    try:
        for port in ports.values():
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
        urls = {(kind, route): (f"http://127.0.0.1:{ports[kind]}{path}", method)
                for kind in kinds for route, (method, path) in routes.items()}
        for url, method in urls.values():  # warm up: connections, caches, token verification
            wrk(url, 1, method, token)
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in urls}
        cpus: dict[tuple[str, str], list[float]] = {key: [] for key in urls}
        for _ in range(rounds):
            for key, (url, method) in urls.items():
                before = cpu_ns(procs[key[0]].pid)
                rate, count = wrk(url, seconds, method, token)
                after = cpu_ns(procs[key[0]].pid)
                rates[key].append(rate)
                if before is not None and after is not None and count:
                    cpus[key].append((after - before) / count / 1000)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=10)
    results = {}
    for route in routes:
        bare, gated = rates[("bare", route)], rates[("protected", route)]
        ratios = [g / b for g, b in zip(gated, bare, strict=True)]
        results[route] = {"bare": statistics.median(bare), "protected": statistics.median(gated),
                          "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        bare_cpu, gated_cpu = cpus[("bare", route)], cpus[("protected", route)]
        if bare_cpu and len(bare_cpu) == len(gated_cpu):
            cpu_ratios = [b / g for b, g in zip(bare_cpu, gated_cpu, strict=True)]
            results[route].update(bare_cpu=statistics.median(bare_cpu), protected_cpu=statistics.median(gated_cpu),
                                  cpu_ratio=statistics.median(cpu_ratios), cpu_ratio_min=min(cpu_ratios),
                                  cpu_ratio_max=max(cpu_ratios))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=2, help="length of one wrk run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="wrk runs per app and route (default %(default)s)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {load_average()} at the start, {python_pace()}")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = str(Path(tmp) / "decisions.jsonl")
        d = asyncio.run(in_process(args.requests, log_path))
        print(f"in-process decision, protected route, verified token, default packs, memory state: "
              f"median {d['median_us']:.1f} us, p99 {d['p99_us']:.1f} us  (targets: 50 / 200); "
              f"{d['sticky_share']:.1%} answered by a sticky decision")
        print(f"  the same decisions with the state's answers replayed from a recording (no store work): "
              f"median {d['no_store_median_us']:.1f} us, p99 {d['no_store_p99_us']:.1f} us")
        c = asyncio.run(asgi_call_cost(args.requests // 4, log_path))
        print(f"in-process ASGI call, unprotected route: bare {c['unprotected_bare']:.2f} us, "
              f"protected {c['unprotected_protected']:.2f} us, added {c['unprotected_protected'] - c['unprotected_bare']:.2f} us")
        print(f"in-process ASGI call, protected route: bare {c['protected_bare']:.1f} us, protected {c['protected_protected']:.1f} us, "
              f"added {c['protected_protected'] - c['protected_bare']:.1f} us, of which outside Engine.decide "
              f"{c['protected_outside'] - c['protected_bare']:.1f} us")
        if args.skip_http:
            return
        if not shutil.which("wrk"):
            print("wrk not found (apt-get install wrk): skipping the uvicorn figures")
            return
        r = through_uvicorn(args.seconds, args.rounds, log_path)
        print(f"uvicorn ({server_stack()}), wrk -t1 -c32, {args.rounds} rounds of {args.seconds} s per app and route; "
              f"{load_average()} at the end")
        for route, target in (("unprotected", 0.97), ("protected", 0.75)):
            x = r[route]
            print(f"  {route + ' route:':18s} bare {x['bare']:.0f} req/s, behind gateway {x['protected']:.0f} req/s, "
                  f"ratio {x['ratio']:.3f} (rounds {x['ratio_min']:.3f}..{x['ratio_max']:.3f})  (target >= {target})")
            if "cpu_ratio" in x:
                print(f"  {'':18s} server CPU per request: bare {x['bare_cpu']:.1f} us, behind gateway "
                      f"{x['protected_cpu']:.1f} us, ratio bare / gateway {x['cpu_ratio']:.3f} "
                      f"(rounds {x['cpu_ratio_min']:.3f}..{x['cpu_ratio_max']:.3f})")


if __name__ == "__main__":
    main()
