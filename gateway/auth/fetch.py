"""One JSON document from the identity provider (a JWKS, an introspection answer), read within bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or an introspection answer is a few kilobytes


class FetchError(ValueError):
    """The server answered, but not a document to read: another status, or too long."""


async def fetch_document(client: httpx.AsyncClient, method: str, url: str, deadline_s: float, **kwargs: Any) -> bytes:
    """The body of a 200 answer, read within ``deadline_s`` in all (httpx's timeouts bound each read, so a
    server sending a byte a second would never trip them) and at most MAX_DOCUMENT_BYTES long."""
    async with asyncio.timeout(deadline_s), client.stream(method, url, **kwargs) as response:
        if response.status_code != 200:
            raise FetchError(f"the server answered HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise FetchError(f"the answer is longer than {MAX_DOCUMENT_BYTES} bytes")
    return bytes(body)
