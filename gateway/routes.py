"""Which requests the gateway protects: path templates and methods mapped to action kinds."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from gateway.settings import ROUTE_PARAM, Route, Settings

TOKEN_ACTION = "token"  # the match kind of the token endpoint
MAX_TARGET_CHARS = 128  # a longer target (a path segment a client chose) is kept as its head and a digest

_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True)
class Match:
    route: Route | None  # None for the token endpoint
    action: str  # the route's action kind, or TOKEN_ACTION
    target: str | None


@dataclass(slots=True)
class _MethodTable:
    """The routes of one method: exact paths, then templates in declaration order."""

    exact: dict[str, Match] = field(default_factory=dict)
    templates: list[tuple[str, re.Pattern[str], Route]] = field(default_factory=list)  # (literal prefix, regex, route)
    prefixes: tuple[str, ...] = ()  # every template's literal prefix: one startswith() rules most paths out


class RouteTable:
    """Matches (method, path) to a protected route or the token endpoint, fast.

    Templates are Starlette-style (``/v1/media/{media_id}/like``); a parameter
    matches one path segment, a ``{name:path}`` one the rest of the path,
    slashes too. Methods match whatever their case: HTTP says they are
    case-sensitive, but proxies and clients on the way (httpx, for one)
    upper-case them, so ``post`` reaches the app as ``POST`` and must be
    checked as one. Routes are grouped by method, so a method no
    route declares (most GETs) is one dict lookup; exact paths are a dict
    lookup; a template's regex runs only on a path that starts with the
    template's literal text (``/v1/media/``).
    """

    def __init__(self, settings: Settings) -> None:
        tables: dict[str, _MethodTable] = {}
        for route in settings.routes:
            methods = [m.upper() for m in route.methods]
            if "{" not in route.path:
                for m in methods:
                    tables.setdefault(m, _MethodTable()).exact[route.path] = Match(route, route.action, None)
                continue
            template = re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}")
            regex = re.compile("^" + ROUTE_PARAM.sub(_group, template) + "$")
            prefix = route.path[:route.path.index("{")]
            for m in methods:
                table = tables.setdefault(m, _MethodTable())
                table.templates.append((prefix, regex, route))
                table.prefixes += (prefix,)
        if settings.token_endpoint is not None:
            for m in settings.token_endpoint.methods:
                tables.setdefault(m.upper(), _MethodTable()).exact[settings.token_endpoint.path] = Match(None, TOKEN_ACTION, None)
        self._tables = tables

    def match(self, method: str, path: str) -> Match | None:
        table = self._tables.get(method)
        if table is None:
            if method.isupper():
                return None
            table = self._tables.get(method.upper())
            if table is None:
                return None
        found = _match(table, path)
        if found is None and ("//" in path or (path.endswith("/") and len(path) > 1)):
            # Many servers and proxies treat /a//b/ as /a/b: so must the check, or it can be walked around.
            normal = _SLASHES.sub("/", path).rstrip("/") or "/"
            if normal != path:
                return _match(table, normal)
        return found


def _group(param: re.Match[str]) -> str:
    return f"(?P<{param[1]}>.*)" if param[2] else f"(?P<{param[1]}>[^/]+)"  # as Starlette's path and str


def _match(table: _MethodTable, path: str) -> Match | None:
    hit = table.exact.get(path)
    if hit is not None:
        return hit
    if not path.startswith(table.prefixes):
        return None
    for prefix, regex, route in table.templates:
        found = path.startswith(prefix) and regex.match(path)
        if found:
            return Match(route, route.action, bounded(found.group(route.target)) if route.target else None)
    return None


def bounded(target: str) -> str:
    """The target as state, features and the log keep it: itself, or past MAX_TARGET_CHARS its head and a
    digest of the whole (distinct targets stay distinct; memory stays bounded whatever a client sends)."""
    if len(target) <= MAX_TARGET_CHARS:
        return target
    whole = hashlib.blake2b(target.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"{target[:64]}~{whole}"

