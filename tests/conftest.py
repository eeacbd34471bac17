"""Shared fixtures: a real uvicorn server on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yield its base URL; stop it after."""
    port = port or free_port()
    # proxy_headers=False: the gateway walks X-Forwarded-For itself, through its own trusted proxies.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                          proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serve():
    """``with serve(app) as url:`` runs a real HTTP server for the test."""
    return running


class SlowOrHuge:
    """A server of one JSON document that dribbles it a byte at a time (/drip, 1.5 s), or pads it past any
    sane size (/huge, 5 MiB of spaces first): an identity provider's answer that never ends in time or in size."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        if scope["path"] == "/drip":
            for _ in range(15):  # each read arrives well within httpx's per-read timeout
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.sleep(0.1)
        elif scope["path"] == "/huge":
            for _ in range(5):
                await send({"type": "http.response.body", "body": b" " * (1 << 20), "more_body": True})
        await send({"type": "http.response.body", "body": self.body})


def until(check, timeout: float = 10.0):
    """Poll ``check`` until it returns something true or ``timeout`` passes; its last value."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.05)
