"""``gateway admin`` (serve the admin app) and the commands over its API: ``gateway decisions``, ``gateway exceptions``.

The commands reach the admin app at ``--url`` (or $GATEWAY_ADMIN_URL, default
http://127.0.0.1:9001) with ``--token`` (or $GATEWAY_ADMIN_TOKEN, else
$GATEWAY_ADMIN_SECRET): a token with the admin scope, or the admin secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9001"


def admin_main(argv: list[str]) -> int:
    from gateway.settings import ConfigError, load_settings

    p = argparse.ArgumentParser(prog="gateway admin", description="serve the admin API and console (loopback)")
    p.add_argument("--config", required=True, help="the gateway's config file (its state backend, issuer, rules)")
    p.add_argument("--host", help="default: admin.host (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: admin.port")
    args = p.parse_args(argv)
    try:
        settings = load_settings(args.config)
        from gateway.admin.app import build_admin_app
        from gateway.engine import Engine

        # this process serves no traffic: no decision log, metrics, notifier or recorder of its own
        engine = Engine(settings, decision_log=False, metrics=False)
        app = build_admin_app(engine, start_engine=True)
    except ConfigError as exc:
        print(f"gateway admin: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a rule pack or database the engine refused: its message names the place
        print(f"gateway admin: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or settings.admin.host, args.port or settings.admin.port
    if settings.state.backend != "redis":
        print("gateway admin: state.backend is memory: this process sees no other process's decisions; mount the "
              "admin app in the gateway (gateway serve --admin-port) or use the Redis backend", file=sys.stderr)
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"gateway admin: listening on {host}, not loopback: put it behind your own access control",
              file=sys.stderr)
    import uvicorn

    print(f"gateway admin: console and API on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
    return 0


def _client(args: argparse.Namespace) -> Any:
    import httpx

    token = args.token or os.environ.get("GATEWAY_ADMIN_TOKEN") or os.environ.get("GATEWAY_ADMIN_SECRET")
    if not token:
        raise SystemExit("gateway: no admin credential; pass --token or set GATEWAY_ADMIN_TOKEN")
    url = args.url or os.environ.get("GATEWAY_ADMIN_URL") or DEFAULT_URL
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30.0)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"the admin app (default $GATEWAY_ADMIN_URL or {DEFAULT_URL})")
    p.add_argument("--token", help="admin token or secret (default $GATEWAY_ADMIN_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        with _client(args) as c:
            r = c.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise SystemExit(f"gateway: cannot reach the admin app ({exc}); is `gateway admin` running?") from None
    try:
        data = r.json()
    except ValueError:
        data = {"detail": r.text}
    if r.status_code >= 400:
        field = f" ({data['field']})" if data.get("field") else ""
        raise SystemExit(f"gateway: {r.status_code} {data.get('error', '')}{field}: {data.get('detail', '')}")
    if args.json:
        print(json.dumps(data, indent=2))
        return None
    return data


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(ts))) + "Z" if ts else "-"


def _print_decisions(rows: list[dict[str, Any]]) -> None:
    for d in rows:
        tag = ("" if d.get("enforced", True) else " (shadow)") + (" sticky" if d.get("sticky") else "")
        print(f"{_when(d.get('ts'))}  {d.get('decision_id')}  {d.get('subject')}  {d.get('action')}  "
              f"{d.get('decision')}{tag}  {','.join(d.get('rules') or []) or '-'}  {d.get('ip')}")


def decisions_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway decisions", description="find and lift the gateway's decisions")
    sub = p.add_subparsers(dest="cmd", required=True)
    show = sub.add_parser("show", help="one decision by id")
    show.add_argument("decision_id")
    ls = sub.add_parser("list", help="recent decisions of an account, session, IP or device")
    for kind in ("account", "session", "ip", "device"):
        ls.add_argument(f"--{kind}")
    ls.add_argument("--limit", type=int, default=50)
    lift = sub.add_parser("lift", help="lift the sticky decisions of an account (or one entity)")
    lift.add_argument("--account")
    lift.add_argument("--scope", choices=("session", "account", "device", "prefix", "ip"))
    lift.add_argument("--key")
    lift.add_argument("--reason", required=True, help="why (the audit log keeps it)")
    sticky = sub.add_parser("sticky", help="the live sticky decisions of an account (or one entity)")
    sticky.add_argument("--account")
    sticky.add_argument("--scope")
    sticky.add_argument("--key")
    for q in (show, ls, lift, sticky):
        _common(q)
    args = p.parse_args(argv)
    if args.cmd == "show":
        data = _call(args, "GET", f"/api/decisions/{args.decision_id}")
        if data is not None:
            for k, v in data.items():
                print(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    elif args.cmd == "list":
        given = {k: getattr(args, k) for k in ("account", "session", "ip", "device") if getattr(args, k)}
        if len(given) != 1:
            p.error("name exactly one of --account, --session, --ip, --device")
        data = _call(args, "GET", "/api/decisions", params={**given, "limit": args.limit})
        if data is not None:
            _print_decisions(data["decisions"])
    elif args.cmd == "sticky":
        params = {"account": args.account} if args.account else {"scope": args.scope, "key": args.key}
        data = _call(args, "GET", "/api/sticky", params=params)
        if data is not None:
            for n in data["sticky"]:
                print(f"{n['scope']}  {n['key']}  {n['decision']} by {n['rule']}  until {_when(n['until'])}")
    else:
        if not args.account and not (args.scope and args.key):
            p.error("lift needs --account, or --scope and --key")
        body = {"reason": args.reason, **({"account": args.account} if args.account else
                                          {"scope": args.scope, "key": args.key})}
        data = _call(args, "POST", "/api/sticky/lift", json=body)
        if data is not None:
            print(f"lifted {len(data['lifted'])}: {', '.join(data['lifted']) or 'nothing was pinned'}"
                  + (" (local state only: the shared store did not answer)" if data["degraded"] else ""))
    return 0


def exceptions_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway exceptions", description="let an account, device or /24 through")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="grant an exception until a time")
    add.add_argument("--scope", choices=("account", "device", "prefix"), required=True)
    add.add_argument("--key", required=True, help="the account id, device id, or network (203.0.113.0/24)")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="for_s", type=float, help="seconds from now")
    when.add_argument("--until", type=float, help="epoch seconds")
    add.add_argument("--reason", required=True)
    ls = sub.add_parser("list", help="the live exceptions")
    rm = sub.add_parser("remove", help="revoke an exception")
    rm.add_argument("id")
    rm.add_argument("--reason", required=True)
    for q in (add, ls, rm):
        _common(q)
    args = p.parse_args(argv)
    if args.cmd == "add":
        data = _call(args, "POST", "/api/exceptions", json={"scope": args.scope, "key": args.key, "for_s": args.for_s,
                                                             "until": args.until, "reason": args.reason})
        if data is not None:
            print(f"{data['id']}: {data['scope']} {data['key']} passes until {_when(data['until'])}")
    elif args.cmd == "list":
        data = _call(args, "GET", "/api/exceptions")
        if data is not None:
            for x in data["exceptions"]:
                print(f"{x['id']}  {x['scope']}  {x['key']}  until {_when(x['until'])}  by {x['by']}: {x['reason']}")
    else:
        data = _call(args, "POST", "/api/exceptions/remove", json={"id": args.id, "reason": args.reason})
        if data is not None:
            print(f"revoked {data['revoked']}")
    return 0
