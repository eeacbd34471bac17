"""The traffic builder: sessions born at the token endpoint, actions through the edge proxy.

Personas and abuse families call ``login`` and ``act`` on a :class:`Traffic`;
it keeps every record with its time, and ``lines()`` returns them sorted by
time with ids, ready to write. Everything random comes from one seeded
``random.Random``, so a seed gives the same file byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from gateway.offline.clients import Device
from gateway.offline.tokens import DemoIssuer
from gateway.offline.world import World

EDGE_PROXY = "127.0.0.1"  # the trusted proxy every simulated request arrives through
TOKEN_PATH = "/oauth/token"
ACTION_PATHS = {
    "like": "/v1/media/{}/like",
    "comment": "/v1/media/{}/comments",
    "follow": "/v1/users/{}/follow",
}
COMMENTS = ("love this", "so good", "wow", "great shot!", "amazing", "where is this?", "congrats!", "nice")
RELOGIN_MARGIN_S = 120.0
DEMO_PASSWORD = "demo"  # the demo token endpoint accepts any user name with this password


@dataclass(slots=True)
class Session:
    """A token as issued to one client, and who holds it."""

    token: str
    sid: str
    account: str
    device: Device
    born: float
    expires: float

    def alive(self, ts: float) -> bool:
        return self.born <= ts < self.expires - RELOGIN_MARGIN_S


class Traffic:
    """Collects records for a scenario."""

    def __init__(self, rng: random.Random, world: World, split: str, scenario: str, start: float, hours: float,
                 issuer: DemoIssuer | None = None) -> None:
        self.rng = rng
        self.world = world
        self.split = split
        self.scenario = scenario
        self.start = start
        self.end = start + hours * 3600.0
        self.issuer = issuer or DemoIssuer()
        self._events: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = 0
        self._campaigns = 0
        # Drawn worlds set this (gateway.offline.wild.Knobs): per-campaign abuse choices. None: as named scenarios.
        self.knobs: Any = None

    # -- ids ------------------------------------------------------------------
    def token_id(self, prefix: str = "") -> str:
        return prefix + f"{self.rng.getrandbits(64):016x}"

    def campaign_id(self, family: str) -> str:
        self._campaigns += 1
        return f"{self.scenario}:{family}:{self._campaigns}"

    def within(self, ts: float) -> bool:
        return self.start <= ts < self.end

    # -- records ----------------------------------------------------------------
    def login(self, ts: float, account: str, device: Device, ip: str, label: str, meta: dict[str, Any]) -> Session:
        """A password grant at the token endpoint, answered with a real signed token."""
        sid = self.token_id("s-")
        iat = int(ts)
        token = self.issuer.mint(sub=account, sid=sid, client_id=device.client_id, did=device.device_id,
                                 iat=iat, jti=self.token_id("j-"))
        form = {"grant_type": "password", "username": account, "password": DEMO_PASSWORD, "client_id": device.client_id}
        if device.device_id:
            form["device_id"] = device.device_id
        headers = self._headers(device, ip)
        headers["content-type"] = "application/x-www-form-urlencoded"
        headers["accept"] = "application/json"
        body = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": self.issuer.ttl_s})
        self._add(ts, {
            "method": "POST", "path": TOKEN_PATH, "client": EDGE_PROXY, "headers": headers,
            "body": urlencode(form),
            "response": {"status": 200, "headers": {"content-type": "application/json", "cache-control": "no-store"},
                         "body": body},
            "label": label, "meta": {**meta, "account": account, "kind": "login"},
        })
        return Session(token, sid, account, device, float(iat), float(iat + self.issuer.ttl_s))

    def act(self, ts: float, session: Session, ip: str, action: str, target: str, label: str,
            meta: dict[str, Any], device: Device | None = None) -> None:
        """One protected action with the session's token; ``device`` when someone else replays it."""
        if not self.within(ts):
            return
        headers = self._headers(device or session.device, ip)
        headers["authorization"] = "Bearer " + session.token
        rec: dict[str, Any] = {"method": "POST", "path": ACTION_PATHS[action].format(target),
                               "client": EDGE_PROXY, "headers": headers}
        if action == "comment":
            headers["content-type"] = "application/json"
            rec["body"] = json.dumps({"text": self.rng.choice(COMMENTS)})
        rec["label"] = label
        rec["meta"] = {**meta, "account": session.account, "kind": action}
        self._add(ts, rec)

    def _headers(self, device: Device, ip: str) -> dict[str, str]:
        h = {"user-agent": device.user_agent, "accept": device.accept, "x-forwarded-for": ip}
        if device.accept_language:
            h["accept-language"] = device.accept_language
        if device.device_id:
            h["x-device-id"] = device.device_id
        if device.ja4:
            h["x-ja4"] = device.ja4
        return h

    def _add(self, ts: float, rec: dict[str, Any]) -> None:
        self._seq += 1
        self._events.append((round(ts, 3), self._seq, rec))

    # -- output -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._events)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in time order, with its id and ts first."""
        self._events.sort(key=lambda e: (e[0], e[1]))
        for n, (ts, _, rec) in enumerate(self._events, 1):
            yield {"id": f"{self.scenario}-{n:07d}", "ts": ts, **rec}

    def lines(self) -> Iterator[str]:
        """Each record as one line of compact JSON (orjson: the text json.dumps wrote for these records,
        which are ASCII, in a sixth of the time)."""
        dumps = orjson.dumps
        for rec in self.records():
            yield dumps(rec).decode()
