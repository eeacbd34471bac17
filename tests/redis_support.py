"""What the Redis tests (and bench/bench_redis.py) share: the server they expect on 127.0.0.1:6379, or a skip
that says so; a private redis-server on a spare port."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import redis.asyncio as aioredis

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_or_skip(url: str = REDIS_URL) -> aioredis.Redis:
    """A client of the Redis at ``url``; the test is skipped (with the reason) when none answers."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no server to test against
        await client.aclose()
        pytest.skip(f"no Redis answering at {url} ({error}); start redis-server to run this")
    return client


async def drop_keys(client: aioredis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own namespace)."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
    if keys:
        await client.delete(*keys)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, *options: str, timeout_s: float = 10.0) -> subprocess.Popen:
    """A private ``redis-server`` on 127.0.0.1:``port`` (no persistence; ``options`` added to its command
    line), once it answers PING.

    Stop it with ``.kill()``. RuntimeError if it does not answer within ``timeout_s``;
    FileNotFoundError if redis-server is not installed.
    """
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{port} within {timeout_s:g} s")
