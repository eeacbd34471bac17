"""Forward-auth through a real nginx: the latency `auth_request` to `gateway authz` adds.

    .venv/bin/python bench/bench_forward_auth.py [--seconds 5] [--rounds 3] [--connections 1]

One nginx on loopback runs three servers in front of the same backend (the
demo API under uvicorn, its own process): one proxies straight through, one
is exactly the docs/proxies.md snippet, asking `gateway authz` (its own
process) about every request first, and one is the same snippet with the
check answered by nginx itself (what the auth_request subrequest costs before
any check is made). wrk (one thread, one connection by default, so no
queueing) sends the same protected request, a POST like with a valid token,
to each; the figure is the median latency each adds, and the difference is
what forward auth costs. A fourth run sends the check alone straight to
`gateway authz`, and an in-process run splits the authz app's own time into
Engine.decide and the rest, to show where the time goes. The runs take turns,
round after round, so a neighbour's load lands on all alike; each figure is
the median over the rounds.

`gateway authz` runs the demo config and the bundled rule packs in shadow mode
with no decision log, so every request reaches the backend in both runs (a
block would skip the backend and flatter the gateway); everything is decided.
Figures on a shared machine are noisy: compare runs, not single numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # nginx_support: the nginx the tests run

from benchkit import APP_UA, free_port, load_average, server_stack, time_decisions, wrk_script  # noqa: E402
from nginx_support import INSTALL_HINT, nginx_available, running_nginx, server_block  # noqa: E402

from gateway.demo.app import DEMO_CONFIG, DEMO_DIR, issue_token  # noqa: E402
from gateway.engine import Engine  # noqa: E402
from gateway.frontdoors.forward_auth import build_authz_app  # noqa: E402
from gateway.settings import load_settings  # noqa: E402

UA = APP_UA
PLAIN_SERVER = """
server {
    listen 127.0.0.1:%d;
    location / {
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app_backend;
    }
}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def bench_config(folder: Path) -> Path:
    """The demo config in shadow mode, no decision log, no reload, with absolute paths."""
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["auth"]["jwks_file"] = str(DEMO_DIR / data["auth"]["jwks_file"])
    data["geoip"] = {k: str((DEMO_DIR / v).resolve()) if isinstance(v, str) else v for k, v in data["geoip"].items()}
    data["rules"] = [str((DEMO_DIR / r).resolve()) for r in data["rules"]]
    if data.get("model"):
        data["model"] = str((DEMO_DIR / data["model"]).resolve())
    data.update(mode="shadow", reload=False, log={"sink": None})
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def wait_for(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port}")


@contextlib.contextmanager
def process(args: list[str], port: int, what: str) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_for(port, proc, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wrk_median_ms(url: str, seconds: int, connections: int, script: str) -> tuple[float, float, float]:
    """(median ms, p99 ms, requests/s) from wrk --latency."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw non-2xx answers from {url}; the run is not comparable:\n{out}")

    def pct(name: str) -> float:
        m = re.search(rf"^\s*{name}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise SystemExit(f"no {name} latency in wrk output:\n{out}")
        return float(m.group(1)) * _UNITS[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return pct("50%"), pct("99%"), rps


def nginx_answers_the_check(block: str, listen: str) -> str:
    """The snippet's server block alone, listening on ``listen``, with nginx itself answering the check 200."""
    server = block[re.search(r"^server \{", block, re.M).start():]
    return re.sub(r"listen [^;]+;", f"listen {listen};", server, count=1).replace(
        "proxy_pass http://gateway_authz;", "return 200;")


async def authz_call_cost(config: Path, token: str, n: int) -> dict[str, float]:
    """Median microseconds of the authz app's ASGI call for the nginx-style check, and of its Engine.decide."""
    engine = Engine(load_settings(config))
    await engine.start()
    app = build_authz_app(engine)
    decide_ns = time_decisions(engine)
    headers = [(b"host", b"gateway_authz"), (b"x-original-method", b"POST"), (b"x-original-uri", b"/v1/media/m1/like"),
               (b"x-forwarded-host", b"127.0.0.1"), (b"x-forwarded-proto", b"http"),
               (b"x-forwarded-for", b"11.1.0.20, 127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
               (b"user-agent", UA.encode()), (b"accept", b"application/json"), (b"accept-language", b"en-US"),
               (b"x-device-id", b"dev-bench")]

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    calls, decisions = [], []
    for i in range(n + 500):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": "/_gateway/authz", "raw_path": b"/_gateway/authz", "query_string": b"", "root_path": "",
                 "headers": list(headers), "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 9000)}
        t0 = time.perf_counter_ns()
        await app(scope, receive, send)
        if i >= 500:  # after warming up
            calls.append((time.perf_counter_ns() - t0) / 1000)
            decisions.append(decide_ns[0] / 1000)
    await engine.close()
    return {"call": statistics.median(calls), "decide": statistics.median(decisions),
            "outside": statistics.median(c - d for c, d in zip(calls, decisions, strict=True))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server (default %(default)s)")
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()
    if not nginx_available():
        print(f"nginx not found: {INSTALL_HINT}")
        return 2
    if not shutil.which("wrk"):
        print("wrk not found: sudo apt-get install -y wrk")
        return 2
    py = sys.executable
    start_load = load_average()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = bench_config(tmp)
        backend_port, authz_port, plain_port, gated_port, nginx_only_port = (free_port() for _ in range(5))
        script = tmp / "like.lua"
        token = issue_token("bench-user", client_id="engage-android", device_id="dev-bench", now=time.time())
        script.write_text(wrk_script("POST", token, X_Forwarded_For="11.1.0.20"))
        check_script = tmp / "check.lua"
        check_script.write_text(wrk_script("GET", token, X_Forwarded_For="11.1.0.20", X_Original_Method="POST",
                                                X_Original_URI="/v1/media/m1/like"))
        backend = [py, "-m", "uvicorn", "--factory", "gateway.demo.app:build_demo_app", "--port", str(backend_port),
                   "--log-level", "warning", "--no-access-log"]
        authz = [py, "-c", "import sys; from gateway.frontdoors.cli import authz_main; sys.exit(authz_main(sys.argv[1:]))",
                 "--config", str(config), "--port", str(authz_port)]
        gated_block = server_block(listen=f"127.0.0.1:{gated_port}", authz=f"127.0.0.1:{authz_port}",
                                   backend=f"127.0.0.1:{backend_port}")
        servers = (gated_block + nginx_answers_the_check(gated_block, f"127.0.0.1:{nginx_only_port}")
                   + PLAIN_SERVER % plain_port)
        runs = {
            "plain": (f"http://127.0.0.1:{plain_port}/v1/media/m1/like", script),
            "nginx_only": (f"http://127.0.0.1:{nginx_only_port}/v1/media/m1/like", script),
            "gated": (f"http://127.0.0.1:{gated_port}/v1/media/m1/like", script),
            # The check alone, straight to gateway authz as nginx would send it: where the added time goes.
            "check": (f"http://127.0.0.1:{authz_port}/_gateway/authz", check_script),
        }
        with process(backend, backend_port, "backend"), process(authz, authz_port, "gateway authz"), \
                running_nginx(tmp / "nginx", servers, gated_port):  # one nginx: all servers listen once one does
            for url, lua in runs.values():  # warm up: connections, caches, token verification
                wrk_median_ms(url, 1, args.connections, str(lua))
            seen: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, (url, lua) in runs.items():
                    seen[name].append(wrk_median_ms(url, args.seconds, args.connections, str(lua)))
        in_process = asyncio.run(authz_call_cost(config, token, 5000))
    fig = {name: tuple(statistics.median(r[i] for r in rows) for i in range(3)) for name, rows in seen.items()}
    plain, nginx_only, gated, check = fig["plain"], fig["nginx_only"], fig["gated"], fig["check"]
    added = gated[0] - plain[0]
    print(f"forward auth through nginx on loopback ({os.cpu_count()} cores, wrk -t1 -c{args.connections}, "
          f"{args.rounds} rounds of {args.seconds} s, uvicorn on {server_stack()}), POST like with a valid token, shadow mode")
    print(f"  {start_load} at the start, {load_average()} at the end")

    def line(label: str, f: tuple[float, float, float]) -> str:
        return f"  {label:40s} median {f[0]:.3f} ms  p99 {f[1]:.3f} ms  {f[2]:,.0f} req/s"

    print(line("nginx -> backend", plain))
    print(line("nginx + auth_request answered by nginx", nginx_only))
    print(line("nginx + auth_request -> backend", gated))
    print(line("the check alone (wrk -> authz)", check))
    print(f"  in process, the authz app's call: {in_process['call']:.1f} us, of which Engine.decide "
          f"{in_process['decide']:.1f} us and the rest {in_process['outside']:.1f} us")
    print(f"  added latency median {added:.3f} ms (target <= 1 ms: {'met' if added <= 1.0 else 'NOT met'}); "
          f"ratio {gated[0] / plain[0]:.2f}x; the subrequest itself {nginx_only[0] - plain[0]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
