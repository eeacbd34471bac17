"""The console's HTML, CSS and script: plain strings, every value escaped where it is put in."""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def path_part(value: Any) -> str:
    """A value as one URL path segment: a subject with / ? # in it still links to its own page."""
    return quote("" if value is None else str(value), safe="")


def when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(ts))) + "Z"
    except (TypeError, ValueError, OverflowError):
        return ""


def page(title: str, body: str, who: str | None = None, csrf: str = "", root: str = "") -> str:
    nav = ""
    if who:
        nav = (f'<nav><a href="./">Live</a> <a href="rules">Rules</a> <a href="exceptions">Exceptions</a> '
               f'<a href="whatif">What would this change do</a>'
               f'<form method="post" action="logout" class="inline"><input type="hidden" name="csrf" value="{e(csrf)}">'
               f'<span class="who">{e(who)}</span> <button>Sign out</button></form></nav>'
               f'<form method="get" action="search" class="search"><input name="q" placeholder="account or decision id" '
               f'aria-label="account or decision id" required> <button>Find</button></form>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} - gateway console</title>'
            f'<meta name="viewport" content="width=device-width"><base href="{e(root)}/"><link rel="stylesheet" href="static/console.css">'
            f'<script src="static/console.js" defer></script></head><body><header><h1>gateway console</h1>{nav}'
            f'</header><main><h2>{e(title)}</h2>{body}</main></body></html>')


def error_box(messages: list[str]) -> str:
    return '<div class="error" role="alert">' + "".join(f"<p>{e(m)}</p>" for m in messages) + "</div>" if messages else ""


def login(message: str = "", root: str = "") -> str:
    return page("Sign in", root=root, body= error_box([message] if message else []) + (
        '<form method="post" action="login"><label>Admin token or secret '
        '<input type="password" name="token" autocomplete="off" required></label> <button>Sign in</button></form>'
        '<p class="note">A token from the gateway\'s issuer with the admin scope, or the configured admin secret.</p>'))


def decision_rows(decisions: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr class="{e(d.get("decision"))}"><td>{e(when(d.get("ts")))}</td>'
        f'<td><a href="decision/{e(path_part(d.get("decision_id")))}">{e(d.get("decision_id"))}</a></td>'
        f'<td><a href="account/{e(path_part(d.get("subject")))}">{e(d.get("subject"))}</a></td><td>{e(d.get("action"))}</td>'
        f'<td>{e(d.get("decision"))}{"" if d.get("enforced", True) else " (shadow)"}{" sticky" if d.get("sticky") else ""}</td>'
        f'<td>{e(", ".join(d.get("rules") or []))}</td><td>{e(d.get("ip"))}</td></tr>'
        for d in decisions)
    return ('<table class="decisions"><thead><tr><th>when</th><th>decision id</th><th>account</th><th>action</th>'
            f'<th>decision</th><th>rules</th><th>ip</th></tr></thead><tbody>{rows}</tbody></table>')


def reason_input() -> str:
    return ('<input name="reason" required maxlength="500" placeholder="reason (audit log)" aria-label="reason">')


def lift_form(csrf: str, *, account: str | None = None, scope: str | None = None, key: str | None = None,
              label: str = "Lift") -> str:
    fields = (f'<input type="hidden" name="account" value="{e(account)}">' if account is not None else
              f'<input type="hidden" name="scope" value="{e(scope)}"><input type="hidden" name="key" value="{e(key)}">')
    return (f'<form method="post" action="lift" class="lift">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">{fields}{reason_input()} <button>{e(label)}</button></form>')


def exception_form(csrf: str, scope: str = "account", key: str = "") -> str:
    options = "".join(f'<option{" selected" if s == scope else ""}>{s}</option>' for s in ("account", "device", "prefix"))
    return (f'<form method="post" action="exceptions/add" class="exception"><input type="hidden" name="csrf" '
            f'value="{e(csrf)}"><select name="scope" aria-label="scope">{options}</select> '
            f'<input name="key" value="{e(key)}" required placeholder="account, device id or /24" aria-label="key"> '
            f'<select name="for_s" aria-label="for"><option value="3600">1 hour</option><option value="86400" selected>'
            f'1 day</option><option value="604800">1 week</option></select> {reason_input()} '
            f'<button>Let through</button></form>')


def sticky_table(notes: list[dict[str, Any]], csrf: str) -> str:
    if not notes:
        return '<p class="note">No live sticky decision is noted.</p>'
    rows = "".join(
        f'<tr><td>{e(n.get("scope"))}</td><td><code>{e(n.get("key"))}</code></td><td>{e(n.get("decision"))}</td>'
        f'<td>{e(n.get("rule"))}</td><td>{e(when(n.get("until")))}</td>'
        f'<td>{lift_form(csrf, scope="entity", key=n.get("key"), label="Lift this") if n.get("decision") != "allow" else ""}</td></tr>'
        for n in notes)
    return ('<table><thead><tr><th>scope</th><th>entity</th><th>decision</th><th>rule</th><th>until</th><th></th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')


def kv_table(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in values.items())
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1f2a37;color:#fff;padding:8px 16px;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
header h1{font-size:16px;margin:0}header a{color:#cfe3ff;margin-right:12px}
nav{display:flex;align-items:center;gap:4px}.who{color:#9fb3c8;margin-left:12px}
main{padding:12px 16px}h2{margin:4px 0 12px}
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
tr.block td,tr.challenge td,tr.absorb td,tr.throttle td{background:#fdecee}tr.allow td{background:#fff}
.error{background:#fdecee;border:1px solid #d1495b;padding:4px 12px;margin-bottom:12px}
.ok{background:#e8f6ec;border:1px solid #2e8b57;padding:4px 12px;margin-bottom:12px}
.note{color:#555}.inline{display:inline}form.search{display:inline}
textarea{width:100%;max-width:900px;font:13px monospace}
code{font-size:12px}.plots svg{margin:4px;background:#fff;border:1px solid #ddd}
"""

JS = """
// The live view: the newest decisions, every two seconds, written as text (never as HTML).
(function () {
  var table = document.getElementById('live');
  if (!table) return;
  var body = table.querySelector('tbody');
  function cell(row, text, href) {
    var td = document.createElement('td');
    if (href) { var a = document.createElement('a'); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    row.appendChild(td);
  }
  function refresh() {
    fetch('api/decisions/recent?limit=30', {credentials: 'same-origin'}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      body.textContent = '';
      data.decisions.forEach(function (d) {
        var tr = document.createElement('tr');
        tr.className = d.decision;
        cell(tr, new Date(d.ts * 1000).toISOString().replace('T', ' ').slice(0, 19) + 'Z');
        cell(tr, d.decision_id, 'decision/' + encodeURIComponent(d.decision_id));
        cell(tr, d.subject || '', d.subject ? 'account/' + encodeURIComponent(d.subject) : null);
        cell(tr, d.action || '');
        cell(tr, d.decision + (d.enforced ? '' : ' (shadow)') + (d.sticky ? ' sticky' : ''));
        cell(tr, (d.rules || []).join(', '));
        cell(tr, d.ip || '');
        body.appendChild(tr);
      });
    }).catch(function () {});
  }
  refresh();
  setInterval(refresh, 2000);
})();
"""
