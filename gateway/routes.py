"""Which requests the gateway protects: path templates and methods mapped to action kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.settings import Route, Settings

TOKEN_ACTION = "token"  # the match kind of the token endpoint

_SLASHES = re.compile(r"/{2,}")
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::path)?}")


@dataclass(frozen=True, slots=True)
class Match:
    route: Route | None  # None for the token endpoint
    action: str  # the route's action kind, or TOKEN_ACTION
    target: str | None


class RouteTable:
    """Matches (method, path) to a protected route or the token endpoint, fast.

    Templates are Starlette-style (``/v1/media/{media_id}/like``); a parameter
    matches one path segment. Exact paths are a dict lookup; templates are
    tried by regex only when the path's first segment can match one.
    """

    def __init__(self, settings: Settings) -> None:
        self._exact: dict[tuple[str, str], Match] = {}
        self._templates: list[tuple[str, re.Pattern[str], Route]] = []
        heads: set[str] = set()
        for route in settings.routes:
            methods = [m.upper() for m in route.methods]
            if "{" not in route.path:
                for m in methods:
                    self._exact[(m, route.path)] = Match(route, route.action, None)
                continue
            regex = re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}")) + "$")
            for m in methods:
                self._templates.append((m, regex, route))
            heads.add(_head(route.path))
        if settings.token_endpoint is not None:
            for m in settings.token_endpoint.methods:
                self._exact[(m.upper(), settings.token_endpoint.path)] = Match(None, TOKEN_ACTION, None)
        self._heads = frozenset(heads)
        self._any_template_at_root = "" in heads or any("{" in h for h in heads)

    def match(self, method: str, path: str) -> Match | None:
        found = self._match(method, path)
        if found is None and ("//" in path or (path.endswith("/") and len(path) > 1)):
            # Many servers and proxies treat /a//b/ as /a/b: so must the check, or it can be walked around.
            normal = _SLASHES.sub("/", path).rstrip("/") or "/"
            if normal != path:
                return self._match(method, normal)
        return found

    def _match(self, method: str, path: str) -> Match | None:
        hit = self._exact.get((method, path))
        if hit is not None:
            return hit
        if not self._templates or (not self._any_template_at_root and _head(path) not in self._heads):
            return None
        for m, regex, route in self._templates:
            if m != method:
                continue
            found = regex.match(path)
            if found:
                target = found.group(route.target) if route.target else None
                return Match(route, route.action, target)
        return None


def _head(path: str) -> str:
    """The first path segment: a cheap pre-filter before any regex runs."""
    end = path.find("/", 1)
    return path[1:end] if end > 0 else path[1:]
