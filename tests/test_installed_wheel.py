"""Installed the way users install it: the built wheel, alone in a clean virtualenv, serves the demo.

The default rule packs, the fixture GeoIP databases, the demo's keys and the
shipped model must all travel inside the package; a source checkout hides
anything that does not (the editable install reads them from the tree).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from gateway.settings import REPO_ROOT

LOCKED = REPO_ROOT / "constraints" / "locked.txt"
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout on the path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel built from this tree and its locked dependencies; its bin folder."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(where / "dist"), str(REPO_ROOT)], check=True, capture_output=True, cwd=where)
    [wheel] = (where / "dist").glob("engagement_gateway-*.whl")
    venv.create(where / "venv", with_pip=True)
    bin_dir = where / "venv" / "bin"
    done = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "-c", str(LOCKED), str(wheel)],
                          capture_output=True, text=True, cwd=where, env=CLEAN_ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    return bin_dir


def test_the_wheel_carries_what_the_demo_and_the_default_rules_need(installed):
    code = ("import gateway, pathlib; p = pathlib.Path(gateway.__file__).parent; print(p); "
            "print(sorted(f.name for f in (p / 'rules').glob('*.yaml'))); "
            "print(sorted(f.name for f in (p / 'demo' / 'geoip').iterdir())); print((p / 'py.typed').exists())")
    out = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True, check=True,
                         cwd=installed, env=CLEAN_ENV).stdout.splitlines()
    assert "site-packages" in out[0]  # the installed copy, not this checkout
    assert out[1] == str(sorted(f.name for f in (REPO_ROOT / "gateway" / "rules").glob("*.yaml")))
    assert "fixture-asn.mmdb" in out[2] and "world.yaml" in out[2] and "hosting-asns.txt" in out[2]
    assert out[3] == "True"
    lint = subprocess.run([str(installed / "gateway"), "rules", "lint", "builtin:rules"], capture_output=True,
                          text=True, cwd=installed, env=CLEAN_ENV)
    assert lint.returncode == 0 and lint.stdout.startswith("ok: "), lint.stdout + lint.stderr


def test_the_installed_gateway_serves_the_demo(installed):
    port = free_port()
    server = subprocess.Popen([str(installed / "gateway"), "serve", "--port", str(port)], cwd=installed, env=CLEAN_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                httpx.get(base + "/v1/feed", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gateway serve did not answer within 30 s"
                time.sleep(0.2)
        # as the demo's Android app sends them, at login and after (a session born as python-httpx that then
        # speaks as the app is a changed client, which the rules and the model rightly question)
        headers = {"user-agent": "Engage/412.0.1 (Android 14; Pixel 8; en_US)", "x-device-id": "phone-1",
                   "accept": "application/json", "accept-language": "en-US"}
        token = httpx.post(base + "/oauth/token", headers=headers, data={
            "grant_type": "password", "username": "alice", "password": "demo", "client_id": "engage-android",
            "device_id": "phone-1"}).json()["access_token"]
        liked = httpx.post(base + "/v1/media/m1/like", headers={**headers, "authorization": f"Bearer {token}"})
        assert liked.status_code == 200, liked.text
        forged = httpx.post(base + "/v1/media/m1/like", headers={**headers, "authorization": f"Bearer {token}x"})
        assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["www-authenticate"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
