"""What the Redis tests share: the server they expect on 127.0.0.1:6379, or a skip that says so."""

from __future__ import annotations

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
