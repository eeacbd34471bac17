"""The console: server-rendered pages over the same operations as the API, forms guarded by a CSRF token."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.admin import templates as t
from gateway.admin.auth import COOKIE, Refused
from gateway.admin.ops import BadInput
from gateway.admin.plots import rule_charts, totals
from gateway.admin.whatif import what_if

MAX_FORM = 512 * 1024


async def form_fields(request: Request, most: int) -> dict[str, str]:
    """An urlencoded form's fields (the console posts nothing else), bounded in size and count."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BadInput("form", "post the console's form (application/x-www-form-urlencoded)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            raise BadInput("form", f"at most {MAX_FORM // 1024} KiB")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=most)
    except (UnicodeDecodeError, ValueError):
        raise BadInput("form", "not a form the console sent; reload the page") from None
    return dict(pairs)


def routes(ctx: Any) -> list[Route]:
    def html(title: str, body: str, admin: Any, request: Request, status: int = 200) -> HTMLResponse:
        return HTMLResponse(t.page(title, body, admin.who, admin.csrf, ctx.root(request)), status_code=status)

    async def form(request: Request) -> tuple[Any, dict[str, str]]:
        """The admin behind a form post, after its CSRF token is checked, and the form's fields."""
        admin = await ctx.admin(request)
        fields = await form_fields(request, 20)
        if admin.via == "session" and not hmac.compare_digest(fields.get("csrf", ""), admin.csrf):
            raise Refused(403, "csrf", "the form's CSRF token is missing or stale; reload the page and try again")
        return admin, fields

    def back(request: Request, path: str, note: str) -> RedirectResponse:
        return RedirectResponse(f"{ctx.root(request)}/{path}{'&' if '?' in path else '?'}done={quote(note)}",
                                status_code=303)

    def done(request: Request) -> str:
        note = request.query_params.get("done")
        return f'<div class="ok" role="status">{t.e(note)}</div>' if note else ""

    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(t.login(root=ctx.root(request)))
        token = (await form_fields(request, 4)).get("token")
        if not isinstance(token, str) or not token:
            return HTMLResponse(t.login("give a token or the admin secret", ctx.root(request)), status_code=400)
        try:
            admin = await ctx.auth.bearer(token.strip(), ctx.now())
        except Refused as err:
            ctx.refused(err.reason)
            return HTMLResponse(t.login(err.detail, ctx.root(request)), status_code=err.status)
        cookie, _ = ctx.auth.session_cookie(admin, ctx.now())
        ctx.audit.write(admin.who, admin.via, "sign-in", "console", ip=request.client.host if request.client else None)
        response = RedirectResponse(f"{ctx.root(request)}/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=ctx.auth.session_s, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path=ctx.root(request) or "/")
        return response

    async def logout(request: Request) -> Response:
        await form(request)
        response = RedirectResponse(f"{ctx.root(request)}/login", status_code=303)
        response.delete_cookie(COOKIE, path=ctx.root(request) or "/")
        return response

    async def home(request: Request) -> Response:
        admin = await ctx.admin(request)
        rows = t.decision_rows(await ctx.records.recent(30))
        body = (done(request) + '<p class="note">Live: the newest decisions of every replica, refreshed every two '
                f'seconds.</p>{rows.replace("<table class=", "<table id=live class=", 1)}')
        return html("Live decisions", body, admin, request)

    async def search(request: Request) -> Response:
        await ctx.admin(request)
        q = (request.query_params.get("q") or "").strip()
        if not q:
            raise BadInput("q", "an account or a decision id")
        if await ctx.records.decision(q) is not None:
            return RedirectResponse(f"{ctx.root(request)}/decision/{quote(q, safe='')}", status_code=303)
        return RedirectResponse(f"{ctx.root(request)}/account/{quote(q, safe='')}", status_code=303)

    async def account(request: Request) -> Response:
        admin = await ctx.admin(request)
        user = request.path_params["account"]
        now = ctx.now()
        decisions = await ctx.ops.find("account", user)
        notes = await ctx.ops.stickies("account", user, now)
        excepted = [x for x in await ctx.records.exceptions(now) if x["scope"] == "account" and x["key"] == user]
        body = (done(request) + f"<h3>Sticky decisions pinning {t.e(user)}</h3>" + t.sticky_table(notes, admin.csrf)
                + "<h3>Lift all of this account's sticky decisions</h3>" + t.lift_form(admin.csrf, account=user,
                                                                                       label="Lift all")
                + "<h3>Let this account through for a while</h3>"
                + (f'<p class="note">Excepted until {t.e(t.when(excepted[0]["until"]))} ({t.e(excepted[0]["reason"])})</p>'
                   if excepted else "")
                + t.exception_form(admin.csrf, "account", user)
                + f"<h3>Recent decisions ({len(decisions)})</h3>" + t.decision_rows(decisions))
        return html(f"Account {user}", body, admin, request)

    async def decision(request: Request) -> Response:
        admin = await ctx.admin(request)
        d = await ctx.records.decision(request.path_params["decision_id"])
        if d is None:
            return html("Decision not found", '<p class="note">No such decision is indexed (decisions are kept '
                        "admin.keep_s).</p>", admin, request, 404)
        head = {k: d.get(k) for k in ("decision_id", "subject", "session", "client_id", "device", "ip", "net_class",
                                      "asn", "country", "action", "target", "path", "decision", "enforced", "sticky",
                                      "risk", "score", "reason", "explain")}
        head["when"] = t.when(d.get("ts"))
        rules = ", ".join(d.get("rules") or []) or "none"
        shadow = ", ".join(d.get("shadow_rules") or []) or "none"
        movers = d.get("top_features") or []
        body = (t.kv_table(head) + f"<h3>Rules</h3><p>enforced: {t.e(rules)}; shadow: {t.e(shadow)}</p>"
                + "<h3>Feature values the rules read</h3>" + t.kv_table(d.get("matched_features") or {})
                + "<h3>Model contributions</h3>" + (t.kv_table({n: f"{w:+.3f}" for n, w in movers}) if movers else
                                                    '<p class="note">none</p>')
                + (f'<p><a href="account/{t.e(quote(str(d.get("subject")), safe=""))}">All of {t.e(d.get("subject"))}'
                   f"'s decisions and sticky decisions</a></p>" if d.get("subject") else "")
                + ("<h3>Lift</h3>" + t.lift_form(admin.csrf, account=d["subject"], label="Lift all of this account's")
                   if d.get("subject") else ""))
        return html(f"Decision {d.get('decision_id')}", body, admin, request)

    async def lift(request: Request) -> Response:
        admin, f = await form(request)
        result = await ctx.ops.lift(admin, f.get("reason"), ctx.now(), account=f.get("account") or None,
                                    scope=f.get("scope") or None, key=f.get("key") or None)
        note = f"lifted {len(result['lifted'])} sticky decision(s)" + (
            " (on local state only: the shared store did not answer)" if result["degraded"] else "")
        if f.get("account"):
            return back(request, f"account/{quote(f['account'], safe='')}", note)
        return back(request, "", note)

    async def exceptions(request: Request) -> Response:
        admin = await ctx.admin(request)
        live = await ctx.records.exceptions(ctx.now())
        rows = "".join(
            f'<tr><td>{t.e(x["id"])}</td><td>{t.e(x["scope"])}</td><td>{t.e(x["key"])}</td><td>{t.e(t.when(x["until"]))}</td>'
            f'<td>{t.e(x["by"])}</td><td>{t.e(x["reason"])}</td><td><form method="post" action="exceptions/remove">'
            f'<input type="hidden" name="csrf" value="{t.e(admin.csrf)}"><input type="hidden" name="id" '
            f'value="{t.e(x["id"])}">{t.reason_input()} <button>Revoke</button></form></td></tr>' for x in live)
        body = (done(request) + t.exception_form(admin.csrf) + '<table><thead><tr><th>id</th><th>scope</th><th>key</th>'
                f'<th>until</th><th>by</th><th>reason</th><th></th></tr></thead><tbody>{rows}</tbody></table>')
        return html("Exceptions", body, admin, request)

    async def add_exception(request: Request) -> Response:
        admin, f = await form(request)
        x = await ctx.ops.grant(admin, f, ctx.now())
        return back(request, "exceptions", f"{x['scope']} {x['key']} passes until {t.when(x['until'])}")

    async def remove_exception(request: Request) -> Response:
        admin, f = await form(request)
        x = await ctx.ops.revoke(admin, f, ctx.now())
        return back(request, "exceptions", f"exception {x['revoked']} revoked")

    async def rules(request: Request) -> Response:
        admin = await ctx.admin(request)
        now = ctx.now()
        counts = await ctx.records.rule_counts(now)
        sums = totals(counts, now)
        ids = [r.id for r in ctx.engine.rules.current.rules]
        ids += sorted(set(sums) - set(ids))
        cols = [f"{m}_{k}_{w}" for w in ("1h", "1d") for m in ("enforce", "shadow") for k in ("hit", "stop")]
        head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
        rows = "".join(f"<tr><td>{t.e(r)}</td>" + "".join(f"<td>{sums.get(r, {}).get(c, 0)}</td>" for c in cols)
                       + "</tr>" for r in ids)
        active = [r for r in ids if sums.get(r)]
        plots = "".join(f'<div class="plots">{rule_charts(counts, r, now)}</div>' for r in active[:20])
        body = f"<table><thead><tr><th>rule</th>{head}</tr></thead><tbody>{rows}</tbody></table>{plots}"
        return html("Rule hits and stops", body, admin, request)

    async def whatif(request: Request) -> Response:
        if request.method == "GET":
            admin = await ctx.admin(request)
            return html("What would this change do", whatif_form(admin, "", ""), admin, request)
        admin, f = await form(request)
        text, replaces = f.get("yaml", ""), f.get("replaces", "")
        if not text.strip():
            raise BadInput("yaml", "paste a rule pack (YAML text)")
        result = await what_if(ctx.engine, await ctx.records.facts(), text, replaces or None)
        return html("What would this change do", whatif_form(admin, text, replaces) + whatif_result(result), admin,
                    request, 422 if result["errors"] else 200)

    def whatif_form(admin: Any, text: str, replaces: str) -> str:
        packs = [""] + sorted({p.rsplit("/", 1)[-1] for p in ctx.engine.rules.current.files})
        options = "".join(f'<option value="{t.e(p)}"{" selected" if p == replaces else ""}>{t.e(p or "(add it)")}</option>'
                          for p in packs)
        return ('<form method="post" action="whatif"><input type="hidden" name="csrf" '
                f'value="{t.e(admin.csrf)}"><p><label>Candidate rule pack (YAML)<br><textarea name="yaml" rows="16" '
                f'required>{t.e(text)}</textarea></label></p><p><label>Replaces <select name="replaces">{options}'
                '</select></label> <button>Run against recent traffic</button></p></form>')

    def whatif_result(r: dict[str, Any]) -> str:
        if r["errors"]:
            return t.error_box([f"{x['file']}:{x['line']}:{x['col']}: {x['message']}" for x in r["errors"]])
        if not r.get("requests"):
            return f'<p class="note">{t.e(r.get("note"))}</p>'
        rules = "".join(f"<tr><td>{t.e(k)}</td><td>{v['before']}</td><td>{v['after']}</td><td>{v['delta']:+d}</td>"
                        f"<td>{v['shadow_before']}</td><td>{v['shadow_after']}</td></tr>" for k, v in r["rules"].items())
        people = "".join(f'<tr><td><a href="account/{t.e(quote(p["account"], safe=""))}">{t.e(p["account"])}</a></td>'
                         f'<td>{p["requests"]}</td><td>{t.e(", ".join(p["decisions"]))}</td>'
                         f'<td>{t.e(", ".join(p["rules"]))}</td></tr>' for p in r["newly_stopped"])
        return (f'<div id="diff"><p>{r["requests"]} recent requests replayed: {r["changed"]} change decision; stopped '
                f'{r["stopped_before"]} -> {r["stopped_after"]}.</p><h3>Per rule</h3><table><thead><tr><th>rule</th>'
                '<th>hits now</th><th>hits with the change</th><th>delta</th><th>shadow now</th><th>shadow with the change'
                f'</th></tr></thead><tbody>{rules}</tbody></table><h3>People it would newly stop '
                f'({len(r["newly_stopped"])})</h3><table id="newly"><thead><tr><th>account</th><th>requests</th>'
                f'<th>decisions</th><th>rules</th></tr></thead><tbody>{people}</tbody></table>'
                f'<p class="note">Released by the change: {len(r["released"])} account(s).</p></div>')

    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/search", search),
        Route("/account/{account}", account),
        Route("/decision/{decision_id}", decision),
        Route("/lift", lift, methods=["POST"]),
        Route("/exceptions", exceptions),
        Route("/exceptions/add", add_exception, methods=["POST"]),
        Route("/exceptions/remove", remove_exception, methods=["POST"]),
        Route("/rules", rules),
        Route("/whatif", whatif, methods=["GET", "POST"]),
    ]
