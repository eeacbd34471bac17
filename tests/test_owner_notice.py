"""A credential-sharing app, end to end over real HTTP: stopped in the person's language, its session revoked
on two replicas sharing Redis, the identity provider's refresh token dead, one signed event listing what it did,
the owner's phone untouched, and the owner's "this was me" lifting it everywhere and landing as a replay label."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import yaml
from conftest import free_port, running, until
from redis_support import REDIS_URL, drop_keys, redis_or_skip
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.demo.app import DEMO_CONFIG, build_demo_app, live_settings
from gateway.demo.keys import DemoKeys
from gateway.demo.revocation import DEMO_REVOKER_SECRET, REVOKER_ID
from gateway.engine import Engine
from gateway.frontdoors.middleware import GatewayMiddleware
from gateway.frontdoors.replay import replay
from gateway.offline.owner_labels import load_labels
from gateway.settings import settings_from_dict

WEBHOOK_SECRET = "whsec-test-secret"
HOSTING_IP = "21.0.0.10"  # Stratus Cloud in the fixture GeoIP: hosting
HOME_IP = "11.1.0.20"
PHONE_UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
PACK = """
pack: owner-notice-test
description: a password-sharing app's session, revoked
rules:
  - id: password-app-from-datacenter
    description: the platform's own app's password session acting from a datacenter, after three actions
    on: [like, follow, comment]
    when: net.class == "hosting" && app.first_party && session.gaps >= 3
    action: revoke
    reason: third_party_app
"""


class Receiver:
    """A webhook receiver: keeps every delivery (headers, body); answers ``status`` (a list: one per call)."""

    def __init__(self, statuses: list[int] | None = None, hang_s: float = 0.0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.calls = 0
        self.statuses = statuses or []
        self.hang_s = hang_s
        self.lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            with self.lock:
                self.calls += 1
                status = self.statuses.pop(0) if self.statuses else 200
            if self.hang_s:
                import asyncio

                await asyncio.sleep(self.hang_s)
            if status == 200:
                with self.lock:
                    self.got.append((dict(request.headers), body))
            return JSONResponse({}, status_code=status)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, as the README shows it."""
    parts = dict(p.split("=", 1) for p in headers["x-gateway-signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def gateway_settings(tmp_path: Path, keys: DemoKeys, state: dict, notify: dict):
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(state=state, log={"sink": None}, reload=False, rules=[str(pack)], model=None, notify=notify)
    return live_settings(settings_from_dict(data, source=str(DEMO_CONFIG)), keys)


def login(client: httpx.Client, user: str, ip: str, ua: str, device: str) -> dict:
    r = client.post("/oauth/token", data={"grant_type": "password", "username": user, "password": "demo",
                                          "client_id": "engage-android"},
                    headers={"x-forwarded-for": ip, "user-agent": ua, "x-device-id": device})
    r.raise_for_status()
    return r.json()


def act(client: httpx.Client, token: str, media: str, ip: str, ua: str, device: str, **headers: str) -> httpx.Response:
    return client.post(f"/v1/media/{media}/like", headers={"authorization": f"Bearer {token}", "x-forwarded-for": ip,
                                                            "user-agent": ua, "x-device-id": device, **headers})


async def test_an_app_is_stopped_told_cut_off_listed_and_the_owner_answers(tmp_path: Path) -> None:
    redis = await redis_or_skip()
    prefix = f"gwnotice-{uuid.uuid4().hex[:10]}"
    keys = DemoKeys()
    demo = build_demo_app(None, keys)  # one platform API and authorization server behind both replicas
    receiver = Receiver()
    ports = [free_port() for _ in range(4)]
    a_url, b_url, idp_url, hook_url = (f"http://127.0.0.1:{p}" for p in ports)
    labels = tmp_path / "labels.jsonl"
    notify = {
        "webhook": {"url": hook_url + "/hook", "secret": WEBHOOK_SECRET, "backoff_s": 0.05, "attempts": 3,
                    "dead_letter": str(tmp_path / "dead.jsonl")},
        "revocation": {"endpoint": idp_url + "/oauth/revoke", "client_id": REVOKER_ID,
                       "client_secret": DEMO_REVOKER_SECRET},
        "links": {"base_url": a_url, "secret": "links-test-secret"},
        "labels": str(labels),
    }
    state = {"backend": "redis", "url": REDIS_URL, "prefix": prefix, "timeout_ms": 2000.0}
    settings = gateway_settings(tmp_path, keys, state, notify)
    replicas = [GatewayMiddleware(demo, engine=Engine(settings)) for _ in range(2)]
    try:
        with running(replicas[0], ports[0]), running(replicas[1], ports[1]), running(demo, ports[2]), \
                running(receiver.app, ports[3]), httpx.Client(base_url=a_url) as a, \
                httpx.Client(base_url=b_url) as b, httpx.Client(base_url=idp_url) as idp:
            phone = login(b, "olivia", HOME_IP, PHONE_UA, "phone-1")["access_token"]
            assert act(a, phone, "p1", HOME_IP, PHONE_UA, "phone-1").status_code == 200
            # the like-selling service signs in with Olivia's password, from its servers
            app_tokens = login(a, "olivia", HOSTING_IP, "okhttp/4.12.0", "emu-7")
            app = app_tokens["access_token"]
            allowed = [act(c, app, f"bought-{i}", HOSTING_IP, "okhttp/4.12.0", "emu-7")
                       for i, c in enumerate((a, b, a))]
            assert [r.status_code for r in allowed] == [200, 200, 200]
            stopped = act(b, app, "bought-3", HOSTING_IP, "okhttp/4.12.0", "emu-7", **{"accept-language": "de-DE,en;q=0.5"})
            assert stopped.status_code == 403
            problem = stopped.json()
            assert problem["type"] == "urn:gateway:problem:third-party-app"
            assert problem["detail"].startswith("Offenbar handelt eine App") and problem["title"] == "Aktion nicht erlaubt"
            assert "password-app-from-datacenter" not in stopped.text and "hosting" not in stopped.text
            decision_id = stopped.headers["x-gateway-decision-id"]

            # revoked on both replicas: 401 invalid_token naming a revoked session
            for client in (a, b):
                r = until(lambda c=client: (x := act(c, app, "bought-4", HOSTING_IP, "okhttp/4.12.0", "emu-7"))
                          .status_code == 401 and x)
                assert r and 'error="invalid_token"' in r.headers["www-authenticate"]
                assert "revoked" in r.headers["www-authenticate"]
                assert r.json()["type"] == "urn:gateway:problem:session-revoked"
            # the identity provider revoked the session's refresh token: the app cannot mint another
            refused = until(lambda: (x := idp.post("/oauth/token", data={
                "grant_type": "refresh_token", "refresh_token": app_tokens["refresh_token"],
                "client_id": "engage-android"})).status_code == 400 and x)
            assert refused and refused.json()["error"] == "invalid_grant"
            # the owner's phone goes on, on both replicas
            assert [act(c, phone, f"p{i + 2}", HOME_IP, PHONE_UA, "phone-1").status_code for i, c in enumerate((a, b))] \
                == [200, 200]

            # one signed event, listing the three likes to remove
            assert until(lambda: receiver.got)
            time.sleep(0.3)
            assert len(receiver.got) == 1
            headers, body = receiver.got[0]
            assert verified(WEBHOOK_SECRET, headers, body)
            assert headers["content-type"].startswith("application/cloudevents+json")
            event = json.loads(body)
            assert event["specversion"] == "1.0" and event["type"] == "gateway.session.revoked"
            data = event["data"]
            assert data["account"] == "olivia" and data["revoked"] and data["decision_ids"] == [decision_id]
            assert data["network"]["net_class"] == "hosting" and data["device"]["id"] == "emu-7"
            assert data["evidence"]["rules"] == ["password-app-from-datacenter"]
            assert sorted(x["target"] for x in data["removals"]) == ["bought-0", "bought-1", "bought-2"]
            assert all(x["action"] == "like" and x["decision_id"] for x in data["removals"])

            # "this was me": not from the app's own session; from the owner's phone it lifts everything
            was_me = data["links"]["this_was_me"]
            assert was_me.startswith(a_url + "/.gateway/feedback?t=")
            assert a.post(was_me, headers={"authorization": f"Bearer {app}"}).status_code == 403
            assert a.post(was_me[:-3] + "abc", headers={"authorization": f"Bearer {phone}"}).status_code == 400
            answered = a.post(was_me, headers={"authorization": f"Bearer {phone}"})
            assert answered.status_code == 200 and answered.json()["recorded"] == "false_positive"
            # a notice answers once, on every replica (a replayed link does not lift and extend again)
            assert b.post(was_me.replace(a_url, b_url), headers={"authorization": f"Bearer {phone}"}).status_code == 409
            for i, client in enumerate((a, b)):
                assert act(client, app, f"again-{i}", HOSTING_IP, "okhttp/4.12.0", "emu-7").status_code == 200
    finally:
        await drop_keys(redis, prefix)
        await redis.aclose()

    # the answer is a label the next replay reads
    assert load_labels(labels) == {decision_id: "false_positive"}
    t0 = time.time()
    lines = [json.dumps({"id": f"r{i}", "ts": t0 + 60 * i, "method": "POST",
                         "path": f"/v1/media/bought-{i}/like", "client": "127.0.0.1",
                         "headers": {"authorization": f"Bearer {app}", "x-forwarded-for": HOSTING_IP,
                                     "user-agent": "okhttp/4.12.0", "x-device-id": "emu-7"}}) for i in range(3)]
    lines.append(json.dumps({"id": decision_id, "ts": t0 + 180, "method": "POST",
                             "path": "/v1/media/bought-3/like", "client": "127.0.0.1",
                             "headers": {"authorization": f"Bearer {app}", "x-forwarded-for": HOSTING_IP,
                                         "user-agent": "okhttp/4.12.0", "x-device-id": "emu-7"}}))
    local = gateway_settings(tmp_path, keys, {"backend": "memory"}, {"labels": str(labels)})
    removals = io.StringIO()
    summary = await replay(local, lines, labels=load_labels(labels), removals=removals)
    assert summary["owner_labels"]["false_positive"] == 1
    assert summary["owner_labels"]["false_positive_still_stopped"] == 1  # these rules would stop it again
    assert summary["labelled"]["fp"] == 1
    [backtest] = [json.loads(x) for x in removals.getvalue().splitlines()]
    assert [x["target"] for x in backtest["data"]["removals"]] == ["bought-0", "bought-1", "bought-2"]
