"""Shared pieces for the front-door tests (in-process app, forward auth, nginx, reverse proxy).

No tests live here: the demo client's headers and login, a rule pack that blocks hosting
networks, and the demo config with a rule pack and decision log of the test's choosing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.frontdoors.middleware import GatewayMiddleware
from gateway.settings import Route, Settings, load_settings

APP_UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
HOME_IP = "11.1.0.20"  # Northwind Cable in gateway/demo/geoip/world.yaml: residential
HOSTING_IP = "21.0.0.10"  # Stratus Cloud in gateway/demo/geoip/world.yaml: hosting

HOSTING_BLOCK_RULE = """
  - id: test-hosting-block
    description: blocks every action from a hosting network (test only)
    on: ["*"]
    when: net.class == "hosting"
    action: block
"""


def rule_pack(name: str, *rules: str) -> str:
    """A rule pack's YAML text: its name, then each rule's list item."""
    return f"\npack: {name}\nrules:" + "".join(rules)


BLOCK_HOSTING = rule_pack("test-block-hosting", HOSTING_BLOCK_RULE)


def app_headers(token: str | None = None, ip: str = HOME_IP, **extra: str) -> dict[str, str]:
    """What the demo Android app sends, from ``ip`` (as a proxy's X-Forwarded-For), with its bearer token if any."""
    h = {"user-agent": APP_UA, "accept": "application/json", "accept-language": "en-US", "x-device-id": "dev-1",
         "x-forwarded-for": ip, **extra}
    if token:
        h["authorization"] = f"Bearer {token}"
    return h


def alice_token() -> str:
    """A fresh, valid demo token for alice on the Android app."""
    return issue_token("alice", client_id="engage-android", device_id="dev-1")


def login(client: httpx.Client, user: str = "alice", ip: str = HOME_IP) -> str:
    """The demo's password grant, as the app does it; the access token it returns."""
    r = client.post("/oauth/token", data={"grant_type": "password", "username": user, "password": "demo",
                                          "client_id": "engage-android", "device_id": "dev-1"},
                    headers=app_headers(None, ip))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def demo_settings(tmp_path: Path, rules_text: str | None = None, *, log_sink: str | None = None,
                  **changes) -> Settings:
    """The demo config; with ``rules_text``, that pack (written under ``tmp_path``) is the only one.

    ``log_sink`` is where the decision log goes (None: nowhere); ``changes`` replace other settings.
    """
    s = load_settings(DEMO_CONFIG)
    if rules_text is None:
        rules = tuple(s.resolve(r) for r in s.rules)
    else:
        pack = tmp_path / "pack.yaml"
        pack.write_text(rules_text)
        rules = (str(pack),)
    return dataclasses.replace(s, rules=rules, log=dataclasses.replace(s.log, sink=log_sink), **changes)


def quiet_engine(tmp_path: Path, rules_text: str, **changes) -> Engine:
    """An engine on the demo config with only ``rules_text``'s pack, writing no decision log."""
    return Engine(demo_settings(tmp_path, rules_text, **changes), decision_log=False)


async def answer_to_a_like(settings: Settings, headers: dict[str, str], *, now: float,
                           url: str = "https://api.test/v1/media/42/like") -> httpx.Response:
    """The gateway's answer, at ``now``, to a POST on a protected like route in front of an app that says 200."""
    route = Route("/v1/media/{media_id}/like", "like", target="media_id")
    engine = Engine(dataclasses.replace(settings, routes=(route,)), clock=lambda: now, decision_log=False)

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"liked"})

    transport = httpx.ASGITransport(app=GatewayMiddleware(app, engine=engine))
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post(url, headers=headers)
    finally:
        await engine.close()
