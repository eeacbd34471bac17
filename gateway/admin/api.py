"""The admin JSON API (under /api): find decisions, list and lift sticky decisions, exceptions, rule counts, what-if."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.admin.auth import Admin
from gateway.admin.ops import FIND_KINDS, BadInput
from gateway.admin.plots import totals
from gateway.admin.whatif import what_if

MAX_BODY = 512 * 1024


def bad(err: BadInput) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "field": err.field, "detail": err.message}, status_code=400)


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadInput("body", f"at most {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadInput("body", "send a JSON object, e.g. {\"account\": \"alice\", \"reason\": \"...\"}") from None
    if not isinstance(data, dict):
        raise BadInput("body", "send a JSON object")
    return data


def limit_of(request: Request) -> int:
    try:
        return max(1, min(500, int(request.query_params.get("limit", "50"))))
    except ValueError:
        raise BadInput("limit", "a whole number from 1 to 500") from None


def routes(ctx: Any) -> list[Route]:
    """``ctx`` (gateway.admin.app.Context) gives the admin of a request, the operations and the clock."""

    async def decision(request: Request) -> JSONResponse:
        await ctx.admin(request)
        found = await ctx.records.decision(request.path_params["decision_id"])
        if found is None:
            return JSONResponse({"error": "not_found", "detail": "no such decision is indexed (kept admin.keep_s)"},
                                status_code=404)
        return JSONResponse(found)

    async def decisions(request: Request) -> JSONResponse:
        await ctx.admin(request)
        given = [(k, request.query_params[k]) for k in FIND_KINDS if request.query_params.get(k)]
        if len(given) != 1:
            raise BadInput("query", f"name exactly one of {', '.join(FIND_KINDS)}, e.g. ?account=alice")
        kind, value = given[0]
        return JSONResponse({"decisions": await ctx.ops.find(kind, value, limit_of(request))})

    async def recent(request: Request) -> JSONResponse:
        await ctx.admin(request)
        return JSONResponse({"decisions": await ctx.records.recent(limit_of(request))})

    async def sticky(request: Request) -> JSONResponse:
        await ctx.admin(request)
        q = request.query_params
        if q.get("account"):
            notes = await ctx.ops.stickies("account", q["account"], ctx.now())
        elif q.get("scope") and q.get("key"):
            notes = await ctx.ops.stickies(q["scope"], q["key"], ctx.now())
        else:
            raise BadInput("query", "?account=U, or ?scope=session|account|device|prefix|ip&key=K")
        return JSONResponse({"sticky": notes})

    async def lift(request: Request) -> JSONResponse:
        admin = await ctx.admin(request, change=True)
        body = await body_of(request)
        result = await ctx.ops.lift(admin, body.get("reason"), ctx.now(), account=body.get("account"),
                                    scope=body.get("scope"), key=body.get("key"))
        return JSONResponse(result)

    async def exceptions(request: Request) -> JSONResponse:
        if request.method == "GET":
            await ctx.admin(request)
            return JSONResponse({"exceptions": await ctx.records.exceptions(ctx.now())})
        admin = await ctx.admin(request, change=True)
        return JSONResponse(await ctx.ops.grant(admin, await body_of(request), ctx.now()), status_code=201)

    async def remove_exception(request: Request) -> JSONResponse:
        admin = await ctx.admin(request, change=True)
        return JSONResponse(await ctx.ops.revoke(admin, await body_of(request), ctx.now()))

    async def rules(request: Request) -> JSONResponse:
        await ctx.admin(request)
        now = ctx.now()
        counts = totals(await ctx.records.rule_counts(now), now)
        for rule in ctx.engine.rules.current.rules:
            counts.setdefault(rule.id, {})
        return JSONResponse({"rules": counts})

    async def whatif(request: Request) -> JSONResponse:
        await ctx.admin(request, change=True)  # not a change, but costly: the same guard
        body = await body_of(request)
        text = body.get("yaml")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("yaml", "paste a rule pack (YAML text)")
        replaces = body.get("replaces") or None
        result = await what_if(ctx.engine, await ctx.records.facts(), text, replaces)
        return JSONResponse(result, status_code=422 if result["errors"] else 200)

    async def whoami(request: Request) -> JSONResponse:
        admin: Admin = await ctx.admin(request)
        return JSONResponse({"who": admin.who, "via": admin.via})

    return [
        Route("/api/whoami", whoami),
        Route("/api/decisions/recent", recent),
        Route("/api/decisions/{decision_id}", decision),
        Route("/api/decisions", decisions),
        Route("/api/sticky", sticky),
        Route("/api/sticky/lift", lift, methods=["POST"]),
        Route("/api/exceptions", exceptions, methods=["GET", "POST"]),
        Route("/api/exceptions/remove", remove_exception, methods=["POST"]),
        Route("/api/rules", rules),
        Route("/api/whatif", whatif, methods=["POST"]),
    ]
