"""Reading a compact JWS without trusting it: its protected header, before any key is chosen."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

# base64url without padding (RFC 7515 section 2); anything else is not a compact JWS segment.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_segment(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise ValueError("a part is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("a part is not base64url") from None


def is_compact_jws(token: str) -> bool:
    """Three dot-separated parts: shaped like a JWT (the content is checked later)."""
    return token.count(".") == 2


def read_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, parsed but not trusted. Raises ValueError saying what is wrong."""
    if token.count(".") != 2:
        raise ValueError("not three base64url parts separated by dots")
    header_segment = token.partition(".")[0]
    if not header_segment:
        raise ValueError("the header part is empty")
    raw = decode_segment(header_segment)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


def show(value: object, limit: int = 40) -> str:
    """A client-supplied value, shortened and made safe to quote in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
