"""How each sink sends one item; a failure that may pass raises, one that will not raises Permanent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from gateway.notify.caep import CONTENT_TYPE as SET_TYPE
from gateway.notify.events import CONTENT_TYPE as EVENT_TYPE
from gateway.notify.outbox import Permanent

SIGNATURE_HEADER = "x-gateway-signature"


def signature(secret: bytes, body: bytes, ts: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the receiver recomputes and compares."""
    mac = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def _check(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise RuntimeError(f"{what} answered {status}")
    raise Permanent(f"{what} answered {status}: {response.text[:200]}")


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, url: str, secret: bytes, timeout_s: float) -> None:
        self._client, self._url, self._secret, self._timeout = client, url, secret, timeout_s

    async def __call__(self, event: dict) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"content-type": EVENT_TYPE, SIGNATURE_HEADER: signature(self._secret, body, int(time.time())),
                   "x-gateway-event-id": event["id"]}
        _check(await self._client.post(self._url, content=body, headers=headers, timeout=self._timeout), "the webhook")


class StreamSender:
    def __init__(self, url: str, stream: str, maxlen: int) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._stream, self._maxlen = stream, maxlen

    async def __call__(self, event: dict) -> None:
        fields = {"type": event["type"], "id": event["id"], "event": json.dumps(event, separators=(",", ":"))}
        await self._client.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)

    async def close(self) -> None:
        await self._client.aclose()


class SetSender:
    """RFC 8935 push: the SET as the body; 202 Accepted (any 2xx) is success."""

    def __init__(self, client: httpx.AsyncClient, url: str, timeout_s: float) -> None:
        self._client, self._url, self._timeout = client, url, timeout_s

    async def __call__(self, token: str) -> None:
        headers = {"content-type": SET_TYPE, "accept": "application/json"}
        _check(await self._client.post(self._url, content=token, headers=headers, timeout=self._timeout), "the SET receiver")


class RevocationSender:
    """RFC 7009: the session's access token, hint access_token, the gateway's client by HTTP Basic."""

    def __init__(self, client: httpx.AsyncClient, url: str, client_id: str, secret: bytes, timeout_s: float) -> None:
        self._client, self._url, self._timeout = client, url, timeout_s
        self._auth = httpx.BasicAuth(client_id, secret.decode())

    async def __call__(self, item: dict) -> None:
        response = await self._client.post(self._url, data={"token": item["token"], "token_type_hint": "access_token"},
                                           auth=self._auth, timeout=self._timeout)
        _check(response, "the revocation endpoint")
