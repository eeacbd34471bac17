"""The admin app: its own ASGI app, never part of the public one.

``build_admin_app(engine)`` serves the API (/api/...) and the console (/) for
an engine: mount it in the gateway's process (``gateway serve --admin-port``)
or run it alone (``gateway admin``, with the Redis backend to see every
replica). Every response carries a strict Content-Security-Policy; every
request that says it comes from another site is refused before routing; every
route needs an admin (gateway.admin.auth).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from gateway.admin import api, console
from gateway.admin import templates as t
from gateway.admin.audit import AuditLog
from gateway.admin.auth import COOKIE, Admin, AdminAuth, Refused, cross_site
from gateway.admin.ops import BadInput, Operations
from gateway.admin.records import AdminRecords
from gateway.metrics import ADMIN_REFUSED

logger = logging.getLogger("gateway.admin")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'self'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"), (b"cross-origin-opener-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin")]


class Context:
    """What every route of the admin app shares."""

    def __init__(self, engine: Any, records: AdminRecords) -> None:
        self.engine = engine
        self.records = records
        self.audit = AuditLog(engine.settings.resolve(engine.settings.admin.audit_log))
        self.auth = AdminAuth(engine)
        self.ops = Operations(engine, records, self.audit)

    @staticmethod
    def now() -> float:
        return time.time()

    @staticmethod
    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @staticmethod
    def refused(reason: str) -> None:
        ADMIN_REFUSED.labels(reason=reason).inc()

    async def admin(self, request: Request, change: bool = False) -> Admin:
        """The admin making ``request``; Refused when there is none. ``change``: a JSON call that changes state,
        which from a console session must carry the session's CSRF token in ``X-CSRF-Token``."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Refused(401, "unauthenticated", "send Authorization: Bearer <admin token or secret>")
            return await self.auth.bearer(value.strip(), self.now())
        cookie = request.cookies.get(COOKIE)
        admin = self.auth.from_cookie(cookie, self.now()) if cookie else None
        if admin is None:
            raise Refused(401, "unauthenticated", "sign in: an admin token or the admin secret")
        if change and not hmac.compare_digest(request.headers.get("x-csrf-token", ""), admin.csrf):
            raise Refused(403, "csrf", "a change from the console must carry X-CSRF-Token")
        return admin


class _Guard:
    """Security headers on every response; requests from another site refused before any route runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        why = cross_site(headers, scope.get("scheme", "http"), host)

        async def guarded(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        if why is not None:
            ADMIN_REFUSED.labels(reason="cross_site").inc()
            response = PlainTextResponse(f"refused: a cross-site request ({why})", status_code=403)
            await response(scope, receive, guarded)
            return
        await self.app(scope, receive, guarded)


def build_admin_app(engine: Any, *, start_engine: bool = False) -> Any:
    """The admin ASGI app for ``engine``. ``start_engine``: the app owns the engine (``gateway admin``)."""
    records = engine.recorder.records if engine.recorder is not None else AdminRecords(engine.settings)
    ctx = Context(engine, records)

    async def css(_: Request) -> Response:
        return Response(t.CSS, media_type="text/css")

    async def js(_: Request) -> Response:
        return Response(t.JS, media_type="text/javascript")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        ctx.refused(exc.reason)
        if request.url.path.startswith(f"{ctx.root(request)}/api/"):
            return JSONResponse({"error": exc.reason, "detail": exc.detail}, status_code=exc.status)
        if exc.status == 401 and request.method == "GET":
            return RedirectResponse(f"{ctx.root(request)}/login", status_code=303)
        return HTMLResponse(t.page("Refused", t.error_box([exc.detail]), root=ctx.root(request)),
                            status_code=exc.status)

    async def bad_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadInput)
        if request.url.path.startswith(f"{ctx.root(request)}/api/"):
            return api.bad(exc)
        return HTMLResponse(t.page("Not done", t.error_box([str(exc)]) + '<p><a href="javascript:history.back()">'
                                   "Back</a></p>", root=ctx.root(request)), status_code=400)

    async def fault(request: Request, exc: Exception) -> Response:
        logger.exception("admin: fault on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal", "detail": "the admin app failed; see its log"}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any):
        if start_engine:
            await engine.start()
        try:
            yield
        finally:
            if start_engine:
                await engine.close()
                if engine.recorder is None:
                    await records.close()

    app = Starlette(
        routes=[Route("/static/console.css", css), Route("/static/console.js", js), *api.routes(ctx),
                *console.routes(ctx)],
        exception_handlers={Refused: refused, BadInput: bad_input, Exception: fault},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    return _Guard(app)
