"""The gateway's cost, as ratios against a bare app measured in the same run.

    .venv/bin/python bench/bench_gateway.py [--seconds 5] [--skip-http]

1. In-process: the engine's decision cost for a protected request whose token
   was already verified once (default packs, memory state), median and p99 in
   microseconds; and a full ASGI call of the protected app vs. the bare app.
2. Through uvicorn on loopback with wrk as the load generator (one uvicorn
   process, one wrk thread): requests/s of the bare app and of the protected
   app, on an unprotected route and on a protected route with the same handler.

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

from gateway.demo.app import DEMO_CONFIG, build_demo_app, build_protected_demo, issue_token  # noqa: E402
from gateway.engine import Engine  # noqa: E402
from gateway.facts import RequestFacts  # noqa: E402
from gateway.settings import load_settings  # noqa: E402

UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"


def bench_settings(log_path: str):
    import dataclasses

    s = load_settings(DEMO_CONFIG)
    log = dataclasses.replace(s.log, sink=log_path)
    return dataclasses.replace(s, mode="shadow", log=log, reload=False)


def headers_for(token: str, ip: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}", "user-agent": UA, "accept": "application/json",
        "accept-language": "en-US", "x-forwarded-for": ip, "x-device-id": "dev-bench",
        "host": "127.0.0.1",
    }


async def in_process(n: int, log_path: str) -> dict[str, float]:
    settings = bench_settings(log_path)
    engine = Engine(settings)
    await engine.start()
    now = time.time()
    rng = random.Random(7)
    # A realistic mix: 200 sessions on 50 IPs acting on 500 targets.
    tokens = [issue_token(f"user{i}", client_id="engage-android", device_id=f"dev{i}", now=now) for i in range(200)]
    ips = [f"100.64.{i // 250}.{i % 250 + 1}" for i in range(50)]
    facts = []
    for i in range(n):
        t = rng.randrange(200)
        facts.append(RequestFacts(
            ts=now + i * 0.01, method="POST", path="/v1/media/m/like", peer="127.0.0.1",
            headers=headers_for(tokens[t], ips[t % 50]), action="like", target=f"m{rng.randrange(500)}",
        ))
    for f in facts[:2000]:  # verify every token once; warm caches
        await engine.decide(f)
    samples = []
    for f in facts:
        t0 = time.perf_counter_ns()
        await engine.decide(f)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    await engine.close()
    samples.sort()
    return {"median_us": statistics.median(samples), "p99_us": samples[int(len(samples) * 0.99)]}


async def asgi_call_cost(n: int, log_path: str) -> dict[str, float]:
    token = issue_token("alice", client_id="engage-android", device_id="dev-bench")
    bare = build_demo_app()
    protected = build_protected_demo(settings=bench_settings(log_path))
    await protected.engine.start()

    async def call(app, path: str, with_token: bool) -> None:
        hdrs = headers_for(token, "100.64.0.9") if with_token else {"host": "127.0.0.1"}
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            pass

        await app(scope, receive, send)

    out = {}
    for label, app in (("bare", bare), ("protected", protected)):
        for _ in range(500):
            await call(app, "/v1/media/m1/like", True)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await call(app, "/v1/media/m1/like", True)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        out[label] = statistics.median(samples)
    await protected.engine.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

WRK_SCRIPT = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["User-Agent"] = "{ua}"
wrk.headers["Accept"] = "application/json"
wrk.headers["Accept-Language"] = "en-US"
wrk.headers["X-Device-Id"] = "dev-bench"
"""


def wrk(url: str, seconds: int, method: str, token: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(method=method, token=token, ua=UA))
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", f.name, url], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(f.name)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def through_uvicorn(seconds: int, log_path: str) -> dict[str, float]:
    token = issue_token("alice", client_id="engage-android", device_id="dev-bench", now=time.time())
    results = {}
    for kind in ("bare", "protected"):
        port = free_port()
        code = SERVER.format(root=str(ROOT), kind=kind, port=port, log=log_path)
        proc = subprocess.Popen([sys.executable, "-c", code])
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            wrk(f"{base}/v1/feed", 1, "GET", token)  # warm up
            wrk(f"{base}/v1/media/m1/like", 1, "POST", token)
            results[f"{kind}_unprotected"] = wrk(f"{base}/v1/feed", seconds, "GET", token)
            results[f"{kind}_protected"] = wrk(f"{base}/v1/media/m1/like", seconds, "POST", token)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = str(Path(tmp) / "decisions.jsonl")
        d = asyncio.run(in_process(args.requests, log_path))
        print(f"in-process decision, protected route, verified token, default packs, memory state: "
              f"median {d['median_us']:.1f} us, p99 {d['p99_us']:.1f} us  (targets: 50 / 200)")
        c = asyncio.run(asgi_call_cost(args.requests // 4, log_path))
        print(f"in-process ASGI call, protected route: bare {c['bare']:.1f} us, protected {c['protected']:.1f} us, "
              f"added {c['protected'] - c['bare']:.1f} us")
        if args.skip_http:
            return
        if not shutil.which("wrk"):
            print("wrk not found (apt-get install wrk): skipping the uvicorn figures")
            return
        r = through_uvicorn(args.seconds, log_path)
        print(f"uvicorn, unprotected route: bare {r['bare_unprotected']:.0f} req/s, behind gateway "
              f"{r['protected_unprotected']:.0f} req/s, ratio {r['protected_unprotected'] / r['bare_unprotected']:.3f}  (target >= 0.97)")
        print(f"uvicorn, protected route:   bare {r['bare_protected']:.0f} req/s, behind gateway "
              f"{r['protected_protected']:.0f} req/s, ratio {r['protected_protected'] / r['bare_protected']:.3f}  (target >= 0.75)")


if __name__ == "__main__":
    main()
