"""Abuse in a drawn world: every family at levels 0-3, each campaign with its own jitter and proxies.

Level 0 is the crude tool; 1 rotates disguises over VPNs and hosting; 2 also
copies the app's User-Agent and TLS stack; 3 acts from residential or mobile
proxies with the real app's face. Each campaign draws its rhythm from the
jitter families. Two families exist only here: a token stolen and used from
the victim's own city while the victim is active, and an auto-liker on the
owner's own phone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.offline.generate import Traffic
from gateway.offline.personas import (
    ABUSE,
    PERSONAS,
    Actor,
    Persona,
    Targets,
    _abuse_meta,
    _account,
    _person,
)
from gateway.offline.priors import WorldDraw
from gateway.offline.timing import DAY, awake, human_times, lognormal_gap
from gateway.offline.wild_people import app_device

LEVEL_EVASION = {0: "crude", 1: "medium", 2: "medium", 3: "careful"}
LEVEL_JITTERS = {0: ("fixed",), 1: ("fixed", "uniform"), 2: ("uniform", "lognormal", "bursts"),
                 3: ("lognormal", "bursts")}
EXTRA_ABUSE = {"local_thief": (3,), "auto_liker": (1, 2, 3)}  # the levels each can be
SIZES = {"password_sharing": 12, "collusion_ring": 20, "like_farm": 30, "leaked_token": 3, "cyborg": 3}


@dataclass(slots=True)
class Knobs:
    """One campaign's choices, read by gateway.offline.personas while it writes the campaign."""

    level: int
    jitter: str
    proxy: str = "residential_proxy"  # level 3: residential_proxy or mobile
    emulate_app: bool = False

    def times(self, rng: random.Random, start: float, end: float, interval_s: float, utc_offset_h: int = 0
              ) -> list[float]:
        return jitter_times(rng, self.jitter, start, end, interval_s, utc_offset_h)


def jitter_times(rng: random.Random, family: str, start: float, end: float, interval_s: float,
                 utc_offset_h: int = 0) -> list[float]:
    """Action times at a mean ``interval_s``: fixed, uniform +-50%, log-normal, or human-like bursts.

    The log-normal and burst families sleep at night in ``utc_offset_h``.
    """
    times: list[float] = []
    t = start + rng.random() * interval_s
    if family == "bursts":  # visits of a few quick actions; visits spaced so the mean rate holds
        while t < end:
            n = 1 + int(rng.expovariate(1 / 4))
            for _ in range(n):
                if t < end and awake(t, utc_offset_h, 8.0, 23.0):
                    times.append(t)
                t += lognormal_gap(rng, 12.0, 1.0)
            t += rng.expovariate(1.0 / max(interval_s * n, 1.0))
        return times
    limit = int((end - start) / max(interval_s * 0.3, 0.5)) + 10
    for _ in range(limit):
        if t >= end:
            break
        if family in ("fixed", "uniform") or awake(t, utc_offset_h, 8.0, 23.0):
            times.append(t)
        if family == "fixed":
            t += interval_s + rng.uniform(-0.05, 0.05)
        elif family == "uniform":
            t += interval_s * rng.uniform(0.5, 1.5)
        else:
            t += lognormal_gap(rng, interval_s * 0.6, 1.1)
    return times


def campaign(traffic: Traffic, w: WorldDraw, family: str, level: int, targets: Targets) -> None:
    """One campaign of ``family`` at ``level``, with knobs drawn for it."""
    rng = traffic.rng
    traffic.knobs = Knobs(level, rng.choice(LEVEL_JITTERS[level]),
                          proxy=rng.choice(("residential_proxy", "mobile")), emulate_app=level >= 2)
    try:
        if family in SIZES:
            size = max(1, round(SIZES[family] * w.abuse_size))
            PERSONAS[family](traffic, Persona(family, 1, LEVEL_EVASION[level], size, w.abuse_rate), targets)
        elif family == "local_thief":
            local_thief(traffic, w, level, targets)
        else:
            auto_liker(traffic, w, level, targets)
    finally:
        traffic.knobs = None


def _victim(traffic: Traffic, w: WorldDraw, persona: str, campaign_id: str, targets: Targets
            ) -> tuple[Actor, list[float], str, str]:
    """An ordinary person on their phone at home: the actor, their action times, home address and city."""
    rng = traffic.rng
    net = traffic.world.pick(rng, "residential", traffic.split)
    ip = net.host(rng)
    actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, net.country), "benign",
                  _person(traffic, persona, {"campaign": campaign_id}))
    times = human_times(rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=5 * w.activity,
                        actions_per_session=4)
    for t in times:
        actor.act(t, ip, "like", targets.media())
    return actor, times, ip, net.cidr


def local_thief(traffic: Traffic, w: WorldDraw, level: int, targets: Targets) -> None:
    """A stolen token used from another home line in the victim's city, with the phone's own UA and device id,
    while the victim is active."""
    rng = traffic.rng
    cid = traffic.campaign_id("local_thief")
    meta = _abuse_meta(traffic, "local_thief", LEVEL_EVASION[level], cid, "thief")
    for _ in range(max(1, round(3 * w.abuse_size))):
        owner, times, _, cidr = _victim(traffic, w, "theft_victim", cid, targets)
        if not owner.sessions or not times:
            continue
        net = next(n for n in traffic.world.networks if n.cidr == cidr)
        thief_ip = net.host(rng)  # the same ISP block: same city, same ASN, a home line
        session = owner.sessions[0]
        for t in times:  # while the owner is active, a few actions of the thief's own
            if rng.random() < 0.5 and session.alive(t + 60):
                for k in range(rng.randint(1, 4)):
                    at = t + 20 + k * lognormal_gap(rng, 15.0)
                    action, target = ("follow", targets.user()) if rng.random() < 0.3 else ("like", targets.purchased())
                    traffic.act(at, session, thief_ip, action, target, "abuse", meta)


def auto_liker(traffic: Traffic, w: WorldDraw, level: int, targets: Targets) -> None:
    """An auto-liker on the owner's own phone and network: a like every ~10 s for an hour, some days."""
    rng = traffic.rng
    cid = traffic.campaign_id("auto_liker")
    meta = _abuse_meta(traffic, "auto_liker", LEVEL_EVASION[level], cid, "on_device")
    jitter = traffic.knobs.jitter if traffic.knobs is not None else "fixed"
    for _ in range(max(1, round(3 * w.abuse_size))):
        owner, _, ip, _ = _victim(traffic, w, "auto_liker_owner", cid, targets)
        bot = Actor(traffic, owner.account, owner.device, "abuse", meta)
        runs = max(1, round((traffic.end - traffic.start) / DAY * rng.uniform(1, 3)))
        for _ in range(runs):
            begin = rng.uniform(traffic.start, traffic.end - 600)
            for t in jitter_times(rng, jitter, begin, min(traffic.end, begin + rng.uniform(0.5, 1.5) * 3600), 10.0):
                live = [s for s in owner.sessions if s.alive(t)]  # the app's own session on that phone
                if live:
                    traffic.act(t, live[-1], ip, "like", targets.media(), "abuse", meta)
                else:
                    bot.act(t, ip, "like", targets.media())


def all_campaigns(traffic: Traffic, w: WorldDraw, targets: Targets) -> None:
    """Every family at every level, one campaign each."""
    for family in ABUSE:
        for level in range(4):
            campaign(traffic, w, family, level, targets)
    for family, levels in EXTRA_ABUSE.items():
        for level in levels:
            campaign(traffic, w, family, level, targets)
