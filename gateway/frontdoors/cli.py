"""``gateway authz`` and ``gateway proxy``: serve a front door with uvicorn."""

from __future__ import annotations

import argparse
import sys

AUTHZ_HELP = "serve forward-auth checks for nginx auth_request, Traefik forwardAuth, Envoy ext_authz"
PROXY_HELP = "run the gateway as a reverse proxy in front of any HTTP backend"


def _engine(prog: str, config: str):
    """The engine for ``config``, or None after printing why it cannot start."""
    from gateway.engine import Engine
    from gateway.settings import load_settings

    try:
        return Engine(load_settings(config))
    except Exception as exc:  # ConfigError, a rule pack or database refused: each message names the place
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def authz_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway authz", description=AUTHZ_HELP)
    parser.add_argument("--config", required=True, help="config file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    engine = _engine("gateway authz", args.config)
    if engine is None:
        return 2
    from gateway.frontdoors.forward_auth import build_authz_app
    from gateway.settings import ConfigError

    try:
        app = build_authz_app(engine)
    except ConfigError as exc:
        print(f"gateway authz: {exc}", file=sys.stderr)
        return 2
    print(f"gateway authz: forward-auth checks on http://{args.host}:{args.port} (see docs/proxies.md)", flush=True)
    return _run(app, args.host, args.port)


def proxy_main(argv: list[str]) -> int:
    from gateway.frontdoors.reverse_proxy import ProxyLimits

    d = ProxyLimits()
    parser = argparse.ArgumentParser(prog="gateway proxy", description=PROXY_HELP)
    parser.add_argument("--config", required=True, help="config file")
    parser.add_argument("--upstream", required=True, help="the backend's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--connect-timeout", type=float, default=d.connect_s, help="seconds (default %(default)s)")
    parser.add_argument("--read-timeout", type=float, default=d.read_s, help="seconds between upstream chunks (default %(default)s)")
    parser.add_argument("--max-connections", type=int, default=d.max_connections, help="to the upstream (default %(default)s)")
    parser.add_argument("--preserve-host", action="store_true", help="send the client's Host header upstream")
    args = parser.parse_args(argv)
    engine = _engine("gateway proxy", args.config)
    if engine is None:
        return 2
    from gateway.frontdoors.reverse_proxy import build_proxy_app

    limits = ProxyLimits(connect_s=args.connect_timeout, read_s=args.read_timeout, max_connections=args.max_connections)
    try:
        app = build_proxy_app(engine, args.upstream, limits=limits, preserve_host=args.preserve_host)
    except ValueError as exc:
        print(f"gateway proxy: {exc}", file=sys.stderr)
        return 2
    print(f"gateway proxy: http://{args.host}:{args.port} -> {args.upstream}", flush=True)
    return _run(app, args.host, args.port)


def _run(app, host: str, port: int) -> int:
    import uvicorn

    from gateway.frontdoors.serving import uvicorn_config

    server = uvicorn.Server(uvicorn_config(app, host, port))
    server.run()
    return 0 if server.started else 1
