"""The ``gateway`` command: each subcommand lives with the code it drives."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module:function taking argv and returning an exit code, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gateway.cli:serve_main", "run the demo engagement API behind the gateway on 127.0.0.1"),
    "features": ("gateway.policy.cli:features_main", "print the feature catalogue"),
    "config-reference": ("gateway.cli:config_reference_main", "print every config key with its default"),
    "doctor": ("gateway.doctor:doctor_main", "what the GeoIP data allows: missing features, rules that can never match"),
    "replay": ("gateway.frontdoors.replay:replay_main", "run recorded traffic through the engine; decisions, summary, --diff"),
    "simulate": ("gateway.offline.cli:simulate_main", "generate labelled traffic (or drive a live gateway with --live)"),
    "eval": ("gateway.offline.evaluate:eval_main", "simulate + replay + report: precision, recall, per persona and family"),
    "train": ("gateway.offline.train:train_main", "train the model on `gateway replay --features` output"),
    "model-eval": ("gateway.offline.model_evaluate:evaluate_main", "rules alone vs. rules plus model on held-out traffic"),
    "authz": ("gateway.frontdoors.cli:authz_main", "forward-auth service for nginx auth_request, Traefik, Envoy"),
    "proxy": ("gateway.frontdoors.cli:proxy_main", "reverse proxy: the gateway in front of any HTTP backend"),
    "admin": ("gateway.admin.cli:admin_main", "serve the admin API and console on loopback"),
    "decisions": ("gateway.admin.cli:decisions_main", "show, list and lift decisions (show ID, list --account U, lift)"),
    "exceptions": ("gateway.admin.cli:exceptions_main", "let an account, device or /24 through until a time"),
}
SUBCOMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    "rules": {
        "lint": ("gateway.policy.cli:lint_main", "check rule packs; every error as file:line:col"),
        "test": ("gateway.policy.cli:test_main", "run the inline tests of rule packs"),
    },
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _usage()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name in SUBCOMMANDS:
        subs = SUBCOMMANDS[name]
        if not rest or rest[0] not in subs:
            print(f"usage: gateway {name} {{{','.join(subs)}}} ...", file=sys.stderr)
            return 2
        target = subs[rest[0]][0]
        rest = rest[1:]
    elif name in COMMANDS:
        target = COMMANDS[name][0]
    else:
        print(f"gateway: unknown command {name!r}; run 'gateway --help'", file=sys.stderr)
        return 2
    module, func = target.split(":")
    try:
        code = getattr(importlib.import_module(module), func)(rest)
    except BrokenPipeError:  # `gateway features | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 0
    return int(code or 0)


def _usage() -> None:
    print("usage: gateway COMMAND [options]\n\ncommands:")
    for name, (_, help_) in COMMANDS.items():
        print(f"  {name:<18}{help_}")
    for name, subs in SUBCOMMANDS.items():
        for sub, (_, help_) in subs.items():
            print(f"  {name + ' ' + sub:<18}{help_}")


def serve_main(argv: list[str]) -> int:
    from gateway.settings import ConfigError

    parser = argparse.ArgumentParser(prog="gateway serve", description=COMMANDS["serve"][1])
    parser.add_argument("--config", help="config file (default: the embedded demo config)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--admin-port", type=int, help="also serve the admin API and console on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    import uvicorn

    from gateway.demo.app import DEMO_CONFIG, build_protected_demo, live_settings
    from gateway.demo.keys import DemoKeys
    from gateway.engine import Engine
    from gateway.settings import load_settings

    try:
        keys = DemoKeys()  # the gateway follows the demo's key rotations (POST /admin/keys/rotate from loopback)
        settings = live_settings(load_settings(args.config or DEMO_CONFIG), keys)
        engine = Engine(settings)
    except ConfigError as exc:
        print(f"gateway serve: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a rule pack or database the engine refused: its message names the place
        print(f"gateway serve: {exc}", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(f"""gateway: demo engagement API behind the gateway on {base}  (metrics: {base}/metrics)
try:
  TOKEN=$(curl -s -A 'Engage/412.0.1 (Android 14; Pixel 8; en_US)' -d 'grant_type=password&username=alice&password=demo&client_id=engage-android&device_id=dev-1' {base}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -i -X POST -H "Authorization: Bearer $TOKEN" -H 'x-device-id: dev-1' -H 'user-agent: Engage/412.0.1 (Android 14; Pixel 8; en_US)' {base}/v1/media/m1/like
  curl -i -X POST -H 'Authorization: Bearer forged.token.here' {base}/v1/media/m1/like
  curl -s {base}/metrics | grep gateway_requests
  curl -s -X POST {base}/admin/keys/rotate        # sign with the next key (demo only, loopback only)
partner apps: the code flow with PKCE at {base}/oauth/authorize (see {base}/.well-known/oauth-authorization-server)
""", flush=True)
    # proxy_headers=False: the gateway walks X-Forwarded-For itself, through its trusted proxies only.
    public = build_protected_demo(engine=engine, keys=keys)
    if args.admin_port is None:
        uvicorn.run(public, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
        return 0
    import asyncio

    from gateway.admin.app import build_admin_app

    print(f"gateway: admin console on http://127.0.0.1:{args.admin_port}/ (loopback only)", flush=True)
    servers = [uvicorn.Server(uvicorn.Config(public, host=args.host, port=args.port, log_level="warning",
                                            proxy_headers=False)),
               uvicorn.Server(uvicorn.Config(build_admin_app(engine), host="127.0.0.1", port=args.admin_port,
                                            log_level="warning", proxy_headers=False, lifespan="off"))]

    async def both() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    asyncio.run(both())
    return 0


def config_reference_main(argv: list[str]) -> int:
    from gateway.settings import reference

    argparse.ArgumentParser(prog="gateway config-reference", description=COMMANDS["config-reference"][1]).parse_args(argv)
    print("| key | type | default |\n|---|---|---|")
    for key, tp, default in reference():
        print(f"| `{key}` | {tp} | `{default}` |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
