"""The replay record format: one JSON object a line, in time order.

``id`` (str) and ``ts`` (float, epoch seconds), ``method``, ``path`` (with any
query string), ``client`` (the immediate peer), ``headers`` (lower-case names
to string values) are required; ``body`` (str), ``response`` (``{status,
headers, body}``), ``label`` (``abuse`` or ``benign``) and ``meta`` (any JSON
value) are optional and passed through untouched.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:  # a faster reader of the same JSON; without it, json reads every line
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency, but json alone gives the same records
    _fast_loads = None

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


# Not frozen: a frozen dataclass costs about 1 us more to build, a tenth of
# replay's own time per record. Nothing changes a record once it is parsed.
@dataclass(slots=True)
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
        obj = _read_fast(text)
        if obj is None:
            obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(line, "json", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RecordError(line, "json", "not valid JSON (nested too deep to parse)") from None
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit limit
        raise RecordError(line, "json", f"not readable JSON ({str(exc)[:80]})") from None
    if type(obj) is not dict:
        raise RecordError(line, "json", "each line must be a JSON object")
    try:
        return record_from_dict(obj, line)
    except (OverflowError, RecursionError, UnicodeError) as exc:  # a number past a float, a value nested too deep
        raise RecordError(line, "json", f"a value cannot be read ({type(exc).__name__})") from None


def _read_fast(text: str) -> Any:
    """The line read by orjson when that gives what json would; None to leave the line to json.

    orjson refuses what json accepts beyond RFC 8259 (NaN, Infinity, lone
    surrogates, numbers too large for a double) and its errors read
    differently: json reads those lines. orjson also reads integers past 64
    bits as floats: a float in the fields that pass through (meta, and label
    in its error message) sends the line to json, which keeps them exact.
    """
    if _fast_loads is None:
        return None
    try:
        obj = _fast_loads(text)
    except ValueError:
        return None
    if type(obj) is dict and (_holds_float(obj.get("meta")) or type(obj.get("label")) is float):
        return None
    return obj


def _holds_float(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        if _all_text(value.values()):  # the common meta
            return False
        for item in value.values():
            if type(item) is not str and _holds_float(item):
                return True
        return False
    if kind is list:
        return any(type(item) is not str and _holds_float(item) for item in value)
    return kind is float


def record_from_dict(obj: dict[str, Any], line: int = 0) -> Record:
    # The checks run on every record: exact type tests first, the general ones only when those miss.
    get = obj.get
    rid = get("id")
    if type(rid) is not str or not rid:
        rid = _required_str(obj, "id", line)
    ts = get("ts")
    if type(ts) is not float or not math.isfinite(ts):
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise RecordError(line, "ts", "required, a number of seconds since the epoch")
        ts = float(ts)
    method = get("method")
    if type(method) is not str or not method:
        method = _required_str(obj, "method", line)
    path = get("path")
    if type(path) is not str or not path:
        path = _required_str(obj, "path", line)
    if path[0] != "/":
        raise RecordError(line, "path", f"{path!r} must start with '/'")
    client = get("client")
    if type(client) is not str or not client:
        client = _required_str(obj, "client", line)
    headers = _str_map(get("headers"), "headers", line, required=True)
    body = get("body")
    if body is not None and not isinstance(body, str):
        raise RecordError(line, "body", "must be a string when given")
    response = get("response")
    if response is not None:
        response = _response(response, line)
    label = get("label")
    if label is not None and label not in LABELS:
        raise RecordError(line, "label", f"{label!r} is not one of {', '.join(LABELS)}")
    return Record(rid, ts, method.upper(), path, client, headers, body, response, label, get("meta"), line)


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
    if _lower_ascii_names_of_text(value):  # as a recorder writes them: the map is kept as it came
        return value
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise RecordError(line, f"{name}.{k}", "header values must be strings")
        out[k.lower()] = v
    return out


def _lower_ascii_names_of_text(value: dict[Any, Any]) -> bool:
    """Whether every name is ASCII text in lower case and every value is text."""
    if not _all_text(value.values()):
        return False
    try:
        names = "".join(value)
    except TypeError:
        return False
    return names.isascii() and names == names.lower()


def _all_text(items: Iterable[Any]) -> bool:
    try:
        "".join(items)  # refuses any item that is not a str, in C
    except TypeError:
        return False
    return True


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


def open_bytes(path: Path) -> IO[bytes]:
    """A traffic file's bytes; one whose name ends in .gz is read through gzip (a day of traffic packs 10:1)."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
