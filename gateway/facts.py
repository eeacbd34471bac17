"""What arrived: the one input every front door builds for the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

_NO_EXTRA: Mapping[str, object] = {}  # a marker only: never stored, every instance gets its own dict


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(self, ts: float, method: str, path: str, peer: str, headers: Mapping[str, str],
                 action: str | None = None, target: str | None = None, query: str = "", body: bytes = b"",
                 request_id: str | None = None, extra: Mapping[str, object] = _NO_EXTRA) -> None:
        # The same signature as the generated one. A frozen dataclass's own __init__
        # goes through object.__setattr__ for every field; writing the slots
        # directly halves the cost of the one object built on every request.
        _set_ts(self, ts)
        _set_method(self, method)
        _set_path(self, path)
        _set_peer(self, peer)
        _set_headers(self, headers)
        _set_action(self, action)
        _set_target(self, target)
        _set_query(self, query)
        _set_body(self, body)
        _set_request_id(self, request_id)
        _set_extra(self, {} if extra is _NO_EXTRA else extra)


(_set_ts, _set_method, _set_path, _set_peer, _set_headers, _set_action, _set_target, _set_query, _set_body,
 _set_request_id, _set_extra) = (getattr(RequestFacts, f.name).__set__ for f in fields(RequestFacts))
