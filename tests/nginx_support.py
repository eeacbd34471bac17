"""The nginx ``auth_request`` configuration, and a throwaway nginx to run it (tests and bench).

``server_block`` is the snippet docs/proxies.md shows; the integration test
runs exactly this text in front of a real backend, so the documentation cannot
drift from what is proven.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = "/usr/sbin/nginx"
INSTALL_HINT = "install nginx: sudo apt-get install -y nginx-light (Debian/Ubuntu)"

SERVER_BLOCK = """\
upstream gateway_authz {
    server {authz};  # gateway authz --config gateway.yaml --port 9000
    keepalive 32;
}

upstream app_backend {
    server {backend};
    keepalive 32;
}

server {
    listen {listen};

    location / {
        auth_request /_gateway/authz;
        # What the gateway answered: passed upstream on "go", replayed to the client on "stop".
        auth_request_set $gw_decision_id $upstream_http_x_gateway_decision_id;
        auth_request_set $gw_decision $upstream_http_x_gateway_decision;
        auth_request_set $gw_risk $upstream_http_x_gateway_risk;
        auth_request_set $gw_status $upstream_http_x_gateway_status;
        auth_request_set $gw_body $upstream_http_x_gateway_body;
        auth_request_set $gw_retry_after $upstream_http_retry_after;
        error_page 401 403 = @gateway_stop;

        proxy_set_header X-Gateway-Decision-Id $gw_decision_id;
        proxy_set_header X-Gateway-Decision $gw_decision;
        proxy_set_header X-Gateway-Risk $gw_risk;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app_backend;
    }

    # The check: the original request's headers, without its body.
    location = /_gateway/authz {
        internal;
        proxy_pass http://gateway_authz;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }

    # auth_request knows only 401 and 403: the gateway sends its real status
    # and problem+json body in headers, and they are replayed here.
    location @gateway_stop {
        default_type application/problem+json;
        add_header X-Gateway-Decision-Id $gw_decision_id always;
        add_header Retry-After $gw_retry_after always;
        add_header Cache-Control no-store always;
        if ($gw_status = 401) { return 401 $gw_body; }
        if ($gw_status = 429) { return 429 $gw_body; }
        if ($gw_status = 200) { rewrite ^ /_gateway/absorbed last; }
        return 403 $gw_body;
    }

    # An absorbed request: answered as the app would on success, without reaching it.
    location = /_gateway/absorbed {
        internal;
        default_type application/json;
        return 200 $gw_body;
    }
}
"""

MAIN_CONF = """\
{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{server}
}}
"""


def server_block(*, listen: str, authz: str, backend: str) -> str:
    """The nginx snippet: ``listen`` (e.g. 8000), ``authz`` and ``backend`` as host:port."""
    return SERVER_BLOCK.replace("{listen}", listen).replace("{authz}", authz).replace("{backend}", backend)


def main_conf(tmp: Path, server: str) -> str:
    """A whole nginx.conf that keeps every file in ``tmp`` and stays in the foreground."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp folder
    indented = "\n".join("    " + line if line else line for line in server.splitlines())
    return MAIN_CONF.format(user=user, tmp=tmp, server=indented)


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK) or shutil.which("nginx") is not None


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {deadline_s} s")


@contextlib.contextmanager
def running_nginx(tmp: Path, server: str, port: int) -> Iterator[str]:
    """Run nginx with ``server`` (listening on 127.0.0.1:``port``) in the foreground; yield its base URL."""
    binary = NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
    if binary is None:
        raise RuntimeError(f"nginx is not installed; {INSTALL_HINT}")
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(main_conf(tmp, server))
    log = tmp / "error.log"
    check = subprocess.run([binary, "-t", "-p", str(tmp), "-e", str(log), "-c", str(conf)],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected the config: {check.stderr.strip()}")
    proc = subprocess.Popen([binary, "-p", str(tmp), "-e", str(log), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: finish in-flight requests, then exit
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()
