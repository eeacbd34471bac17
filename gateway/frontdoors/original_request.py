"""What request a proxy is asking about: its method, path and query, read the way each proxy sends them.

Three styles; a check request must carry exactly one:

- ``original`` (nginx ``auth_request``): ``X-Original-Method`` and ``X-Original-URI``
  set in the nginx config. nginx understands only 2xx, 401 and 403 from the
  check, so other answers are carried in headers (see ``forward_auth``).
- ``forwarded`` (Traefik ``forwardAuth``): ``X-Forwarded-Method`` and
  ``X-Forwarded-Uri``. Traefik relays any non-2xx answer to the client.
- ``envoy`` (Envoy ``ext_authz`` HTTP service): no such header; the check
  request carries the original method, and the original path behind the
  configured ``forward_auth.envoy_path_prefix``.

A proxy sets the headers of its own style and passes the client's other
headers through, so a client can add the other style's (Traefik does not drop
``X-Original-URI``; nginx does not drop ``X-Forwarded-Uri``): a check carrying
two styles cannot say which request it is about, and is refused.

The path is percent-decoded (as an ASGI server would) and repeated slashes
resolved. A path with a ``.`` or ``..`` segment, or a raw ``#``, is refused, as
``gateway proxy`` refuses it: nginx passes such a path on as it came, and one
backend resolves it while another routes it literally (Starlette does), so no
single reading of it is the one the backend acts on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gateway.settings import ForwardAuth

ORIGINAL, FORWARDED, ENVOY = "original", "forwarded", "envoy"
MAX_URI_CHARS = 8192
_METHOD = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$")  # an RFC 9110 token


class BadCheckRequest(ValueError):
    """The check request does not say which request it is about; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    method: str
    path: str  # decoded, dot segments resolved
    query: str
    style: str  # ORIGINAL, FORWARDED or ENVOY


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return name, value
    return None


def read_original(method: str, raw_path: str, query: str, headers: Mapping[str, str], fa: ForwardAuth) -> OriginalRequest:
    """The original request behind a check request. Raises BadCheckRequest naming the header at fault."""
    found = []
    for style, method_names, uri_names in (
        (ORIGINAL, fa.original_method_headers, fa.original_uri_headers),
        (FORWARDED, fa.forwarded_method_headers, fa.forwarded_uri_headers),
    ):
        m = _first(headers, method_names)
        u = _first(headers, uri_names)
        if m is None and u is None:
            continue
        if m is None:
            raise BadCheckRequest(f"{u[0]} is set but no method header ({', '.join(method_names)}); the proxy must send both")
        if u is None:
            raise BadCheckRequest(f"{m[0]} is set but no URI header ({', '.join(uri_names)}); the proxy must send both")
        found.append((style, m, u))
    if len(found) > 1:
        raise BadCheckRequest(
            f"the check names its request twice ({found[0][2][0]} and {found[1][2][0]}): the proxy sets one style and "
            "passes the client's headers on, so the other came from the client; the proxy must set only its own")
    if found:
        style, m, u = found[0]
        path, q = split_uri(u[1], u[0])
        return OriginalRequest(check_method(m[1].strip(), m[0]), path, q, style)
    prefix = fa.envoy_path_prefix.rstrip("/")
    if prefix:
        if raw_path != prefix and not raw_path.startswith(prefix + "/"):
            raise BadCheckRequest(
                f"the check path {raw_path[:100]!r} does not start with forward_auth.envoy_path_prefix {prefix!r}, "
                "and no original-request header was sent"
            )
        raw_path = raw_path[len(prefix):] or "/"
    return OriginalRequest(check_method(method, "the request method"), normalise_path(raw_path, "the check path"),
                           query, ENVOY)


def check_method(method: str, where: str) -> str:
    if not _METHOD.match(method):
        raise BadCheckRequest(f"{where}: {method[:40]!r} is not an HTTP method")
    return method


def split_uri(uri: str, where: str) -> tuple[str, str]:
    """(decoded normalised path, raw query) from a request target as a proxy forwards it."""
    uri = uri.strip()
    if len(uri) > MAX_URI_CHARS:
        raise BadCheckRequest(f"{where}: the URI is longer than {MAX_URI_CHARS} characters")
    if "#" in uri:
        raise BadCheckRequest(f"{where}: the URI holds a '#'; a request target has no fragment")
    if uri == "*":
        return "*", ""
    if uri.startswith(("http://", "https://")):  # absolute-form (RFC 9112 section 3.2.2)
        try:
            parts = urlsplit(uri)
        except ValueError:  # e.g. an unclosed or invalid IPv6 host
            raise BadCheckRequest(f"{where}: {uri[:100]!r} is not a valid absolute URI") from None
        return normalise_path(parts.path or "/", where), parts.query
    if not uri.startswith("/"):
        raise BadCheckRequest(f"{where}: {uri[:100]!r} is not a request URI; it must start with '/'")
    path, _, query = uri.partition("?")
    return normalise_path(path, where), query


def normalise_path(raw: str, where: str) -> str:
    """Percent-decode and resolve repeated slashes; refuse '.' and '..' segments and a raw '#'."""
    if "#" in raw:
        raise BadCheckRequest(f"{where}: the path holds a '#'; a request target has no fragment")
    path = unquote(raw, errors="replace")
    if has_dot_segment(path):
        raise BadCheckRequest(f"{where}: the path has a '.' or '..' segment, which backends read differently")
    if "//" not in path:
        return path or "/"
    trailing = "/" if path.endswith("/") and path.strip("/") else ""
    return "/" + "/".join(seg for seg in path.split("/") if seg) + trailing


def has_dot_segment(path: str) -> bool:
    """Whether a (decoded) path has a '.' or '..' segment: backends differ on it (one resolves it, one routes it
    literally), so no one reading of it is the one the backend acts on."""
    return "/." in path and any(segment in (".", "..") for segment in path.split("/"))
