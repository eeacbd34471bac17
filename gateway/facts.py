"""What arrived: the one input every front door builds for the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """A request as the engine sees it, whatever front door it came through.

    ``headers`` has lower-case names; when a header repeats, values are joined
    with ", " (RFC 9110 section 5.3). ``peer`` is the immediate peer address
    (the ASGI scope's client); the client IP behind trusted proxies is worked
    out by the fingerprint step, never trusted from here.
    """

    ts: float
    method: str
    path: str
    peer: str
    headers: Mapping[str, str]
    action: str | None = None  # the route's action kind; None for the token endpoint
    target: str | None = None  # the media or user acted on, from the route's path parameter
    query: str = ""
    body: bytes = b""
    request_id: str | None = None  # the front door's id for the request, if it has one
    extra: Mapping[str, object] = field(default_factory=dict)
