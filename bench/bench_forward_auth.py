"""Forward-auth through a real nginx: the latency `auth_request` to `gateway authz` adds.

    .venv/bin/python bench/bench_forward_auth.py [--seconds 5] [--connections 1]

One nginx on loopback runs two servers in front of the same backend (the demo
API under uvicorn, its own process): one proxies straight through, the other
is exactly the docs/proxies.md snippet, asking `gateway authz` (its own
process) about every request first. wrk (one thread, one connection by
default, so no queueing) sends the same protected request, a POST like with a
valid token, to each; the figure is the median latency each adds, and the
difference is what the forward-auth decision costs. A third run sends the
check alone straight to `gateway authz`, to show where the time goes.

`gateway authz` runs the demo config and the bundled rule packs in shadow mode
with no decision log, so every request reaches the backend in both runs (a
block would skip the backend and flatter the gateway); everything is decided.
Figures on a shared machine are noisy: compare runs, not single numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.demo.app import DEMO_CONFIG, DEMO_DIR, issue_token  # noqa: E402
from gateway.frontdoors.nginx import INSTALL_HINT, nginx_available, running_nginx, server_block  # noqa: E402

UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
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
LUA = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer %s"
wrk.headers["User-Agent"] = "%s"
wrk.headers["Accept"] = "application/json"
wrk.headers["Accept-Language"] = "en-US"
wrk.headers["X-Device-Id"] = "dev-bench"
wrk.headers["X-Forwarded-For"] = "11.1.0.20"
"""
CHECK_LUA = LUA.replace('wrk.method = "POST"', 'wrk.method = "GET"') + """
wrk.headers["X-Original-Method"] = "POST"
wrk.headers["X-Original-URI"] = "/v1/media/m1/like"
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()
    if not nginx_available():
        print(f"nginx not found: {INSTALL_HINT}")
        return 2
    if not shutil.which("wrk"):
        print("wrk not found: sudo apt-get install -y wrk")
        return 2
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = bench_config(tmp)
        backend_port, authz_port, plain_port, gated_port = (free_port() for _ in range(4))
        script = tmp / "like.lua"
        token = issue_token("bench-user", client_id="engage-android", device_id="dev-bench", now=time.time())
        script.write_text(LUA % (token, UA))
        check_script = tmp / "check.lua"
        check_script.write_text(CHECK_LUA % (token, UA))
        backend = [py, "-m", "uvicorn", "--factory", "gateway.demo.app:build_demo_app", "--port", str(backend_port),
                   "--log-level", "warning", "--no-access-log"]
        authz = [py, "-c", "import sys; from gateway.frontdoors.cli import authz_main; sys.exit(authz_main(sys.argv[1:]))",
                 "--config", str(config), "--port", str(authz_port)]
        servers = server_block(listen=f"127.0.0.1:{gated_port}", authz=f"127.0.0.1:{authz_port}",
                               backend=f"127.0.0.1:{backend_port}") + PLAIN_SERVER % plain_port
        env_note = f"{os.cpu_count()} cores, wrk -t1 -c{args.connections} -d{args.seconds}s"
        with process(backend, backend_port, "backend"), process(authz, authz_port, "gateway authz"), \
                running_nginx(tmp / "nginx", servers, gated_port):  # one nginx: both servers listen once one does
            plain_url = f"http://127.0.0.1:{plain_port}/v1/media/m1/like"
            gated_url = f"http://127.0.0.1:{gated_port}/v1/media/m1/like"
            for url in (plain_url, gated_url):  # warm up: connections, caches, token verification
                wrk_median_ms(url, 1, args.connections, str(script))
            plain = wrk_median_ms(plain_url, args.seconds, args.connections, str(script))
            gated = wrk_median_ms(gated_url, args.seconds, args.connections, str(script))
            # The check alone, straight to gateway authz as nginx would send it: where the added time goes.
            check = wrk_median_ms(f"http://127.0.0.1:{authz_port}/_gateway/authz", args.seconds, args.connections,
                                  str(check_script))
    added = gated[0] - plain[0]
    print(f"forward auth through nginx on loopback ({env_note}), POST like with a valid token, shadow mode")
    print(f"  nginx -> backend                 median {plain[0]:.3f} ms  p99 {plain[1]:.3f} ms  {plain[2]:,.0f} req/s")
    print(f"  nginx + auth_request -> backend  median {gated[0]:.3f} ms  p99 {gated[1]:.3f} ms  {gated[2]:,.0f} req/s")
    print(f"  the check alone (wrk -> authz)   median {check[0]:.3f} ms  p99 {check[1]:.3f} ms  {check[2]:,.0f} req/s")
    print(f"  added latency median {added:.3f} ms (target <= 1 ms: {'met' if added <= 1.0 else 'NOT met'}); "
          f"ratio {gated[0] / plain[0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
