"""The replay record format: one JSON object a line, in time order.

``id`` (str) and ``ts`` (float, epoch seconds), ``method``, ``path`` (with any
query string), ``client`` (the immediate peer), ``headers`` (lower-case names
to string values) are required; ``body`` (str), ``response`` (``{status,
headers, body}``), ``label`` (``abuse`` or ``benign``) and ``meta`` (any JSON
value) are optional and passed through untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.facts import RequestFacts

LABELS = ("abuse", "benign")


class RecordError(ValueError):
    """A replay line that does not follow the format; names the line and the field."""

    def __init__(self, line: int, field: str, problem: str) -> None:
        super().__init__(f"line {line}: {field}: {problem}")
        self.line = line
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    ts: float
    method: str
    path: str
    client: str
    headers: dict[str, str]
    body: str | None = None
    response: Response | None = None
    label: str | None = None
    meta: Any = None
    line: int = 0


def parse_record(text: str, line: int) -> Record:
    """Parse one line; raises RecordError naming the line and the field."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(line, "json", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise RecordError(line, "json", "each line must be a JSON object")
    return record_from_dict(obj, line)


def record_from_dict(obj: dict[str, Any], line: int = 0) -> Record:
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        raise RecordError(line, "id", "required, a non-empty string")
    ts = obj.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise RecordError(line, "ts", "required, a number of seconds since the epoch")
    method = _required_str(obj, "method", line)
    path = _required_str(obj, "path", line)
    if not path.startswith("/"):
        raise RecordError(line, "path", f"{path!r} must start with '/'")
    client = _required_str(obj, "client", line)
    headers = _str_map(obj.get("headers"), "headers", line, required=True)
    body = obj.get("body")
    if body is not None and not isinstance(body, str):
        raise RecordError(line, "body", "must be a string when given")
    response = _response(obj.get("response"), line)
    label = obj.get("label")
    if label is not None and label not in LABELS:
        raise RecordError(line, "label", f"{label!r} is not one of {', '.join(LABELS)}")
    return Record(rid, float(ts), method.upper(), path, client, headers, body, response, label, obj.get("meta"), line)


def _required_str(obj: dict[str, Any], name: str, line: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise RecordError(line, name, "required, a non-empty string")
    return value


def _str_map(value: Any, name: str, line: int, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise RecordError(line, name, "required, an object of header names to string values")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise RecordError(line, f"{name}.{k}", "header values must be strings")
        out[k.lower()] = v
    return out


def _response(value: Any, line: int) -> Response | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(line, "response", "must be an object {status, headers, body}")
    status = value.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise RecordError(line, "response.status", "required, an HTTP status code (100-599)")
    headers = _str_map(value.get("headers"), "response.headers", line)
    body = value.get("body", "")
    if not isinstance(body, str):
        raise RecordError(line, "response.body", "must be a string")
    return Response(status, headers, body)


def to_facts(record: Record, match: Callable[[str, str], Any]) -> tuple[RequestFacts, Any]:
    """The request as the engine sees it, and the route match (None: not protected).

    ``match`` is the engine's ``match(method, path)``; its result carries the
    route's ``action`` and ``target``.
    """
    path, _, query = record.path.partition("?")
    hit = match(record.method, path)
    facts = RequestFacts(
        ts=record.ts,
        method=record.method,
        path=path,
        peer=record.client,
        headers=record.headers,
        action=getattr(hit, "action", None) if hit is not None and getattr(hit, "route", None) is not None else None,
        target=getattr(hit, "target", None) if hit is not None else None,
        query=query,
        body=record.body.encode() if record.body else b"",
        request_id=record.id,
    )
    return facts, hit
