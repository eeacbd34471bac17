"""Small ASGI helpers the middleware and the front doors share: whole responses, problem bodies, bounded body reads."""

from __future__ import annotations

import json

from starlette.types import Receive, Scope, Send

Headers = list[tuple[str, str]]
RawHeaders = list[tuple[bytes, bytes]]

_EMPTY_LENGTH = (b"content-length", b"0")
# Raw header name -> lower-case name. Clients use few distinct names, so decoding
# each once saves work on every request; the bound keeps invented names from growing it.
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 1024


class BodyTooLarge(Exception):
    """The request body is longer than the front door accepts."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def problem(status: int, title: str, detail: str) -> bytes:
    """An RFC 9457 problem+json body for the gateway's own errors (no decision was made)."""
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()


async def send_response(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    """One complete response; adds content-length."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append(_content_length(body))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_raw_response(send: Send, status: int, headers: RawHeaders, body: bytes = b"") -> None:
    """One complete response from headers already encoded; adds content-length (``headers`` is left as it was)."""
    await send({"type": "http.response.start", "status": status, "headers": [*headers, _content_length(body)]})
    await send({"type": "http.response.body", "body": body})


def _content_length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode()) if body else _EMPTY_LENGTH


async def send_problem(send: Send, status: int, title: str, detail: str, headers: Headers | None = None) -> None:
    await send_response(send, status, [("content-type", "application/problem+json"), *(headers or [])],
                        problem(status, title, detail))


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes (memory stays bounded)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def header_map(scope: Scope) -> dict[str, str]:
    """Lower-case header names; repeated headers joined with ", " (RFC 9110 section 5.3), as RequestFacts wants."""
    raw = scope["headers"]
    if type(raw) is not list:  # ASGI allows any iterable
        raw = list(raw)
    try:  # the common case, in one pass: every name seen before, none repeated
        headers = {_NAMES[name]: value.decode("latin-1") for name, value in raw}
    except KeyError:
        return _joined(raw)
    return headers if len(headers) == len(raw) else _joined(raw)


def _joined(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = _NAMES.get(raw_name) or _header_name(raw_name)
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _header_name(raw_name: bytes) -> str:
    name = raw_name.decode("latin-1").lower()
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[bytes(raw_name)] = name
    return name
