"""Small ASGI helpers the middleware and the front doors share: whole responses, problem bodies, bounded body reads."""

from __future__ import annotations

import json

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


async def send_response(send, status: int, headers: Headers, body: bytes = b"") -> None:
    """One complete response; adds content-length."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append(_content_length(body))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_raw_response(send, status: int, headers: RawHeaders, body: bytes = b"") -> None:
    """One complete response from headers already encoded; adds content-length (``headers`` is left as it was)."""
    await send({"type": "http.response.start", "status": status, "headers": [*headers, _content_length(body)]})
    await send({"type": "http.response.body", "body": body})


def _content_length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode()) if body else _EMPTY_LENGTH


async def send_problem(send, status: int, title: str, detail: str, headers: Headers | None = None) -> None:
    await send_response(send, status, [("content-type", "application/problem+json"), *(headers or [])],
                        problem(status, title, detail))


async def read_body(receive, limit: int) -> bytes:
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


def header_map(scope) -> dict[str, str]:
    """Lower-case header names; repeated headers joined with ", " (RFC 9110 section 5.3), as RequestFacts wants."""
    headers: dict[str, str] = {}
    names = _NAMES
    for raw_name, raw_value in scope["headers"]:
        name = names.get(raw_name) or _header_name(raw_name)
        value = raw_value.decode("latin-1")
        if name in headers:
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    return headers


def _header_name(raw_name: bytes) -> str:
    name = raw_name.decode("latin-1").lower()
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[bytes(raw_name)] = name
    return name
