"""Live mock clients: the simulated personas over real HTTP against a running gateway.

Requests go out in the scenario's order, one lane per account (a login
finishes before that account's next request), with a bound on requests in
flight and on the total. Tokens the server's own token endpoint issues replace
the simulated ones, so the gateway sees sessions born exactly as in production.
Only loopback URLs are allowed unless the caller explicitly allows another.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.offline.personas import Persona
from gateway.offline.scenarios import Scenario, build

_SKIP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})
OUTCOMES = {200: "served", 201: "served", 204: "served", 403: "blocked", 429: "throttled"}
# A 401 is a challenge only when it asks for a stronger authentication (RFC 9470); otherwise the token was refused
STEP_UP = "insufficient_user_authentication"


class LiveError(ValueError):
    """A live run that cannot start: the message says why and what to change."""


@dataclass(slots=True)
class Sent:
    id: str
    label: str | None
    meta: Any
    status: int  # 0: the request failed before an answer
    decision_id: str | None
    step_up: bool = False  # a 401 that asks for a stronger authentication: a challenge


@dataclass(slots=True)
class LiveResult:
    sent: list[Sent] = field(default_factory=list)
    errors: int = 0

    def counts(self) -> Counter:
        """(label, outcome) -> requests; outcome: served, blocked, challenged, throttled, unauthenticated (a token
        refused), failed or the status."""
        return Counter((s.label, outcome(s.status, s.step_up)) for s in self.sent)


def outcome(status: int, step_up: bool = False) -> str:
    if status == 0:
        return "failed"
    if status == 401:
        return "challenged" if step_up else "unauthenticated"
    return OUTCOMES.get(status, "served" if 200 <= status < 300 else str(status))


def check_url(url: str, allow_remote: bool = False) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LiveError(f"{url!r} is not an http(s) URL; give e.g. http://127.0.0.1:8000")
    host = parts.hostname
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback and not allow_remote:
        raise LiveError(f"{host} is not a loopback address; mock clients only send to this machine "
                        "unless you pass --allow-remote (allow_remote=True)")
    return url.rstrip("/")


def live_scenario(personas: Sequence[Persona], hours: float = 24.0, name: str = "live") -> Scenario:
    """Personas played over ``hours`` ending now: a whole day by default, so the people among them are awake
    for part of it whatever the wall clock says (one hour at night would hold no benign action)."""
    return Scenario(name, "tune", hours, 0.0, tuple(personas), "personas given by the caller")


async def run_live(url: str, scenario: Scenario | Sequence[Persona], *, seed: int = 1, concurrency: int = 16,
                   limit: int = 5000, allow_remote: bool = False, timeout_s: float = 10.0,
                   progress: Callable[[LiveResult], None] | None = None) -> LiveResult:
    """Play a scenario (or a list of personas, a day of them) against the gateway at ``url``."""
    base = check_url(url, allow_remote)
    if concurrency < 1 or limit < 1:
        raise LiveError("concurrency and limit must be at least 1")
    if not isinstance(scenario, Scenario):
        scenario = live_scenario(scenario)
    # Tokens must be valid now: the virtual day ends a minute ago.
    start = time.time() - scenario.hours * 3600.0 - 60.0
    records = []
    for rec in build(scenario, seed, start=start).records():
        records.append(rec)
        if len(records) >= limit:
            break
    lanes: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        meta = rec.get("meta") or {}
        lanes.setdefault(str(meta.get("account", rec["id"])), []).append(rec)
    result = LiveResult()
    tokens: dict[str, str] = {}  # simulated token -> the one the server issued
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:

        async def lane(recs: list[dict[str, Any]]) -> None:
            for rec in recs:
                async with gate:
                    result.sent.append(await _send(client, rec, tokens))
                if progress is not None:
                    progress(result)

        await asyncio.gather(*(lane(recs) for recs in lanes.values()))
    result.errors = sum(1 for s in result.sent if s.status == 0)
    return result


async def _send(client: httpx.AsyncClient, rec: dict[str, Any], tokens: dict[str, str]) -> Sent:
    headers = {k: v for k, v in rec["headers"].items() if k not in _SKIP_HEADERS}
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer ") and auth[7:] in tokens:
        headers["authorization"] = "Bearer " + tokens[auth[7:]]
    try:
        resp = await client.request(rec["method"], rec["path"], headers=headers,
                                    content=(rec.get("body") or "").encode() or None)
    except httpx.HTTPError:
        return Sent(rec["id"], rec.get("label"), rec.get("meta"), 0, None)
    if rec["path"].startswith("/oauth/token") and resp.status_code == 200 and rec.get("response"):
        try:
            issued = resp.json().get("access_token")
            simulated = json.loads(rec["response"]["body"]).get("access_token")
        except (ValueError, AttributeError):
            issued = simulated = None
        if isinstance(issued, str) and isinstance(simulated, str):
            tokens[simulated] = issued
    return Sent(rec["id"], rec.get("label"), rec.get("meta"), resp.status_code,
                resp.headers.get("x-gateway-decision-id"), STEP_UP in resp.headers.get("www-authenticate", ""))


def progress_line(result: LiveResult) -> str:
    c = Counter(outcome(s.status, s.step_up) for s in result.sent)
    return f"{len(result.sent)} sent: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))


def live_main(url: str, scenario: Scenario, seed: int, *, concurrency: int, limit: int, allow_remote: bool) -> int:
    last = [0.0]

    def show(result: LiveResult) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25:
            last[0] = now
            print("\r" + progress_line(result), end="", file=sys.stderr, flush=True)

    try:
        result = asyncio.run(run_live(url, scenario, seed=seed, concurrency=concurrency, limit=limit,
                                      allow_remote=allow_remote, progress=show))
    except LiveError as exc:
        print(f"gateway simulate: {exc}", file=sys.stderr)
        return 2
    print("\r" + progress_line(result), file=sys.stderr)
    for (label, what), n in sorted(result.counts().items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        print(f"  {label or 'unlabelled'}: {what} {n}", file=sys.stderr)
    if result.errors == len(result.sent) and result.sent:
        print(f"gateway simulate: no request reached {url}; is the gateway running?", file=sys.stderr)
        return 1
    return 0
