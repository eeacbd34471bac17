"""Who acts: benign personas (with the look-alike traps) and abuse families at three evasion levels.

A :class:`Persona` names one of them, how many (people or groups for benign
personas, campaigns for abuse families), an evasion level for abuse, and a
size (accounts per campaign or group). ``PERSONAS`` maps each name to the
function that writes its traffic.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.offline.clients import (
    BROWSERS,
    Device,
    app_device,
    browser_device,
    new_device_id,
    tls_for,
    tool_device,
)
from gateway.offline.generate import Session, Traffic
from gateway.offline.timing import bot_times, human_times, lognormal_gap
from gateway.offline.world import Network

EVASIONS = ("crude", "medium", "careful")
BENIGN = ("mobile_cgnat", "home_broadband", "traveller", "power_user", "social_manager", "household",
          "third_party_app")
ABUSE = ("password_sharing", "collusion_ring", "like_farm", "leaked_token", "cyborg")
THIRD_PARTY_APPS = {
    "partner-scheduler": "PartnerScheduler/3.2 (+https://scheduler.partner.example/bot)",
    "partner-analytics": "PartnerAnalytics/1.9 python-httpx/0.27",
}


@dataclass(frozen=True, slots=True)
class Persona:
    """A benign persona or an abuse family, and how much of it to simulate."""

    name: str
    count: int = 1  # benign: people (groups for social_manager/household); abuse: campaigns
    evasion: str | None = None  # abuse only: crude, medium or careful
    size: int | None = None  # abuse: accounts per campaign; groups: accounts per group
    rate: float = 1.0  # multiplies how often they act

    def __post_init__(self) -> None:
        if self.name not in BENIGN + ABUSE:
            raise ValueError(f"unknown persona {self.name!r}; choose one of {', '.join(BENIGN + ABUSE)}")
        if self.name in ABUSE and self.evasion not in EVASIONS:
            raise ValueError(f"{self.name}: evasion must be one of {', '.join(EVASIONS)}, got {self.evasion!r}")
        if self.count < 0:
            raise ValueError(f"{self.name}: count must not be negative")


# --- shared pieces ------------------------------------------------------------
class Targets:
    """What people engage with: a long tail plus a few viral posts everybody likes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.popular = [f"m{rng.randrange(10**6, 10**7)}" for _ in range(60)]

    def media(self) -> str:
        r = self.rng
        if r.random() < 0.15:
            return self.popular[min(int(r.paretovariate(1.2)) - 1, len(self.popular) - 1)]
        return f"m{r.randrange(10**7, 10**8)}"

    def user(self) -> str:
        return f"u{self.rng.randrange(10**6, 10**8)}"

    def purchased(self, kind: str = "m") -> str:
        return f"{kind}{self.rng.randrange(10**8, 10**9)}"


def benign_action(rng: random.Random, targets: Targets) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.80:
        return "like", targets.media()
    if roll < 0.90:
        return "comment", targets.media()
    return "follow", targets.user()


class Actor:
    """One client on one account: logs in when it has no live session, then acts."""

    def __init__(self, traffic: Traffic, account: str, device: Device, label: str, meta: dict[str, Any]) -> None:
        self.traffic, self.account, self.device, self.label, self.meta = traffic, account, device, label, meta
        self.session: Session | None = None
        self.sessions: list[Session] = []

    def act(self, ts: float, ip: str, action: str, target: str, device: Device | None = None) -> None:
        if self.session is None or not self.session.alive(ts):
            login_ts = max(self.traffic.start, ts - self.traffic.rng.uniform(2.0, 20.0))
            self.session = self.traffic.login(login_ts, self.account, self.device, ip, self.label, self.meta)
            self.sessions.append(self.session)
        self.traffic.act(ts, self.session, ip, action, target, self.label, self.meta, device)


def _account(traffic: Traffic, prefix: str) -> str:
    return f"{prefix}{traffic.rng.getrandbits(40):010x}"


def _person(traffic: Traffic, persona: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"persona": persona, "scenario": traffic.scenario, **(extra or {})}


def _human(traffic: Traffic, actor: Actor, times: list[float], ip_at: Callable[[float], str], targets: Targets) -> None:
    for t in times:
        action, target = benign_action(traffic.rng, targets)
        actor.act(t, ip_at(t), action, target)


def _home(traffic: Traffic, kinds: tuple[str, ...] = ("residential", "mobile")) -> Network:
    return traffic.world.pick(traffic.rng, traffic.rng.choice(kinds), traffic.split)


def _phone_owner(traffic: Traffic, persona: str, targets: Targets, rate: float, extra: dict[str, Any],
                 account: str | None = None) -> tuple[Actor, Network, str]:
    """An ordinary person on their own phone at home; returns the actor, network and address."""
    rng = traffic.rng
    net = _home(traffic)
    ip = net.host(rng)
    actor = Actor(traffic, account or _account(traffic, "a"), app_device(rng, net.country), "benign",
                  _person(traffic, persona, extra))
    times = human_times(rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=5 * rate,
                        actions_per_session=4)
    _human(traffic, actor, times, lambda t: ip, targets)
    return actor, net, ip


# --- benign personas ------------------------------------------------------------
def mobile_cgnat(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """Phone users behind carrier NAT: dozens of people share a handful of addresses."""
    rng = traffic.rng
    carriers = [traffic.world.pick(rng, "mobile", traffic.split) for _ in range(max(1, p.count // 40))]
    pools = [[c.host(rng) for _ in range(3)] for c in carriers]
    for i in range(p.count):
        carrier, pool = carriers[i % len(carriers)], pools[i % len(pools)]
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, carrier.country), "benign",
                      _person(traffic, "mobile_cgnat"))
        times = human_times(rng, traffic.start, traffic.end, carrier.utc_offset_h, sessions_per_day=6 * p.rate,
                            actions_per_session=4)
        state = {"ip": rng.choice(pool), "last": 0.0}

        def ip_at(t: float, pool: list[str] = pool, state: dict = state) -> str:
            if t - state["last"] > 900:  # a new visit may come out of another NAT address
                state["ip"] = rng.choice(pool)
            state["last"] = t
            return state["ip"]

        _human(traffic, actor, times, ip_at, targets)


def home_broadband(traffic: Traffic, p: Persona, targets: Targets) -> None:
    rng = traffic.rng
    for _ in range(p.count):
        net = traffic.world.pick(rng, "residential", traffic.split, ipv6=rng.random() < 0.15)
        ip = net.host(rng)
        device = app_device(rng, net.country) if rng.random() < 0.6 else browser_device(rng, net.country)
        actor = Actor(traffic, _account(traffic, "a"), device, "benign", _person(traffic, "home_broadband"))
        times = human_times(rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=4 * p.rate,
                            actions_per_session=5)
        _human(traffic, actor, times, lambda t, ip=ip: ip, targets)


def traveller(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """A flight (hours without activity, then another continent) or a VPN hop mid-session."""
    rng, world = traffic.rng, traffic.world
    span = traffic.end - traffic.start
    for _ in range(p.count):
        home = _home(traffic)
        home_ip = home.host(rng)
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, home.country), "benign",
                      _person(traffic, "traveller"))
        times = human_times(rng, traffic.start, traffic.end, home.utc_offset_h, sessions_per_day=6 * p.rate,
                            actions_per_session=4)
        leave = traffic.start + span * rng.uniform(0.15, 0.5)
        if rng.random() < 0.65:
            arrive = leave + rng.uniform(7, 14) * 3600
            away = _far_network(traffic, home)
            away_ip = away.host(rng)
            times = [t for t in times if not leave <= t < arrive]

            def ip_at(t: float, home_ip: str = home_ip, away_ip: str = away_ip, arrive: float = arrive) -> str:
                return away_ip if t >= arrive else home_ip
        else:
            back = leave + rng.uniform(1, 4) * 3600
            vpn_ip = world.pick(rng, "vpn", traffic.split).host(rng)

            def ip_at(t: float, home_ip: str = home_ip, vpn_ip: str = vpn_ip, leave: float = leave,
                      back: float = back) -> str:
                return vpn_ip if leave <= t < back else home_ip
        _human(traffic, actor, times, ip_at, targets)


def _far_network(traffic: Traffic, home: Network, kinds: tuple[str, ...] = ("residential", "mobile")) -> Network:
    """A network of ``kinds`` on another continent (longitude at least 40 degrees away) when one exists."""
    rng = traffic.rng
    pool = [n for k in kinds for n in traffic.world.choices(k, traffic.split)
            if abs(n.lon - home.lon) >= 40 and n.country != home.country]
    return rng.choice(pool) if pool else traffic.world.pick(rng, kinds[0], traffic.split, avoid_country=home.country)


def power_user(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """Hundreds of likes a day, in fast bursts, from a phone."""
    rng = traffic.rng
    for _ in range(p.count):
        net = _home(traffic)
        ip = net.host(rng)
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, net.country), "benign",
                      _person(traffic, "power_user"))
        times = human_times(rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=10 * p.rate,
                            actions_per_session=30, gap_median_s=5.0)
        _human(traffic, actor, times, lambda t, ip=ip: ip, targets)


def social_manager(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """An agency office: several client accounts, each logged in on its own browser, one office address."""
    rng = traffic.rng
    for _ in range(p.count):
        office = traffic.world.pick(rng, "office", traffic.split)
        office_ip = office.host(rng)
        for _ in range(p.size or rng.randint(3, 8)):
            device = browser_device(rng, office.country, rng.choice(tuple(b for b in BROWSERS if "-" in b)))
            actor = Actor(traffic, _account(traffic, "b"), device, "benign", _person(traffic, "social_manager"))
            times = human_times(rng, traffic.start, traffic.end, office.utc_offset_h, sessions_per_day=5 * p.rate,
                                actions_per_session=6, wake_h=9.0, sleep_h=18.0)
            _human(traffic, actor, times, lambda t, ip=office_ip: ip, targets)


def household(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """A family on one home address, each on their own device."""
    rng = traffic.rng
    for _ in range(p.count):
        net = traffic.world.pick(rng, "residential", traffic.split)
        ip = net.host(rng)
        for _ in range(p.size or rng.randint(2, 5)):
            device = app_device(rng, net.country) if rng.random() < 0.7 else browser_device(rng, net.country)
            actor = Actor(traffic, _account(traffic, "a"), device, "benign", _person(traffic, "household"))
            times = human_times(rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=4 * p.rate,
                                actions_per_session=4)
            _human(traffic, actor, times, lambda t, ip=ip: ip, targets)


def third_party_app(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """Users of registered third-party apps: the app's servers act for many accounts, on a schedule."""
    rng = traffic.rng
    servers: dict[str, list[str]] = {}
    for app in THIRD_PARTY_APPS:
        net = traffic.world.pick(rng, "hosting", traffic.split)
        servers[app] = [net.host(rng) for _ in range(2)]
    for _ in range(p.count):
        app = rng.choice(tuple(THIRD_PARTY_APPS))
        device = Device(app, None, THIRD_PARTY_APPS[app], tls_for("go"), None, "unknown")
        actor = Actor(traffic, _account(traffic, "a"), device, "benign", _person(traffic, "third_party_app"))
        per_day = max(1, int(rng.randint(2, 8) * p.rate))
        slots = sorted(rng.randrange(24 * 4) * 900.0 for _ in range(per_day))  # scheduled on quarter hours
        day = traffic.start - traffic.start % 86_400.0
        while day < traffic.end:
            for slot in slots:
                t = day + slot + rng.uniform(0.0, 3.0)
                if traffic.within(t):
                    action, target = ("follow", targets.user()) if rng.random() < 0.2 else ("like", targets.media())
                    actor.act(t, rng.choice(servers[app]), action, target)
            day += 86_400.0


# --- abuse families -------------------------------------------------------------
class Infrastructure:
    """Where automation acts from, by evasion level.

    crude: two datacenter addresses; medium: a rotating mix of VPN exits and
    hosting; careful: residential-proxy exits, a new one every few actions.
    """

    def __init__(self, traffic: Traffic, evasion: str) -> None:
        rng, world, split = traffic.rng, traffic.world, traffic.split
        self.rng, self.evasion = rng, evasion
        if evasion == "crude":
            net = world.pick(rng, "hosting", split)
            self.pool = [net.host(rng) for _ in range(2)]
        elif evasion == "medium":
            nets = [world.pick(rng, k, split) for k in ("vpn", "vpn", "vpn", "hosting")]
            self.pool = [n.host(rng) for n in nets for _ in range(3)]
        else:
            proxy = traffic.knobs.proxy if traffic.knobs is not None else "residential_proxy"
            nets = [world.pick(rng, proxy, split) for _ in range(3)]
            self.pool = [n.host(rng) for n in nets for _ in range(40)]
        self.network = world.pick(rng, "residential_proxy" if evasion == "careful" else "hosting", split)
        self._sticky: dict[str, tuple[str, int]] = {}

    def ip(self, who: str) -> str:
        if self.evasion == "crude":
            if who not in self._sticky:
                self._sticky[who] = (self.rng.choice(self.pool), 0)
            return self._sticky[who][0]
        if self.evasion == "medium":
            return self.rng.choice(self.pool)
        ip, left = self._sticky.get(who, ("", 0))
        if left <= 0:
            ip, left = self.rng.choice(self.pool), self.rng.randint(5, 25)
        self._sticky[who] = (ip, left - 1)
        return ip


def _when(traffic: Traffic, start: float, end: float, evasion: str, interval_s: float,
          utc_offset_h: int = 0) -> list[float]:
    """When automation acts: its evasion level's rhythm, or a drawn world's jitter family."""
    knobs = traffic.knobs
    if knobs is not None and knobs.jitter:
        return knobs.times(traffic.rng, start, end, interval_s, utc_offset_h)
    return bot_times(traffic.rng, start, end, evasion, interval_s, utc_offset_h)


def bot_device(traffic: Traffic, evasion: str, country: str, shared: Device | None = None,
               platform: str | None = None) -> Device:
    """How automation presents itself: a fixed tool, a rotated disguise, or the real app."""
    rng = traffic.rng
    if evasion == "crude":
        return shared or tool_device(rng.choice(("python-requests", "okhttp", "go")), "emulator-5554")
    if evasion == "medium":
        name = rng.choice(tuple(BROWSERS))
        ua, _ = BROWSERS[name]
        stack = rng.choice(("chrome", "firefox", "okhttp", "python-requests"))
        if traffic.knobs is not None and traffic.knobs.emulate_app:  # the app's UA and TLS stack, copied
            return app_device(rng, country, platform or "android")
        return Device("engage-android", new_device_id(rng), ua, tls_for(stack), "en-US,en;q=0.9", "unknown")
    return app_device(rng, country, platform or "android")


def _rotate(traffic: Traffic, evasion: str, device: Device) -> Device:
    """Medium evasion rotates its user agent per request; the others keep theirs."""
    if evasion != "medium" or (traffic.knobs is not None and traffic.knobs.emulate_app):
        return device
    ua, _ = BROWSERS[traffic.rng.choice(tuple(BROWSERS))]
    return Device(device.client_id, device.device_id, ua, device.ja4, device.accept_language, device.platform)


def _abuse_meta(traffic: Traffic, family: str, evasion: str, campaign: str, role: str) -> dict[str, Any]:
    meta = {"family": family, "evasion": evasion, "campaign": campaign, "role": role, "scenario": traffic.scenario}
    if traffic.knobs is not None:
        meta["level"] = traffic.knobs.level
    return meta


INTERVALS = {"crude": 1.0, "medium": 1.3, "careful": 2.5}  # gap multipliers per evasion level


def password_sharing(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """A growth service logs in with customers' passwords from its servers; customers keep their phones."""
    rng, ev = traffic.rng, p.evasion or "crude"
    for _ in range(p.count):
        campaign = traffic.campaign_id("password_sharing")
        infra = Infrastructure(traffic, ev)
        shared = bot_device(traffic, ev, "US")
        meta = _abuse_meta(traffic, "password_sharing", ev, campaign, "service")
        for _ in range(p.size or 15):
            account = _account(traffic, "a")
            _, home, _ = _phone_owner(traffic, "sharing_customer", targets, p.rate, {"campaign": campaign}, account)
            device = shared if ev == "crude" else bot_device(traffic, ev, home.country)
            bot = Actor(traffic, account, device, "abuse", meta)
            for t in _when(traffic, traffic.start, traffic.end, ev, 240 * INTERVALS[ev] / p.rate, home.utc_offset_h):
                action, target = ("follow", targets.user()) if rng.random() < 0.25 else ("like", targets.media())
                bot.act(t, infra.ip(account), action, target, _rotate(traffic, ev, device))


def collusion_ring(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """Members export tokens born on their phones; the ring replays them from a few servers, in lockstep."""
    rng, ev = traffic.rng, p.evasion or "crude"
    for _ in range(p.count):
        campaign = traffic.campaign_id("collusion_ring")
        infra = Infrastructure(traffic, ev)
        meta = _abuse_meta(traffic, "collusion_ring", ev, campaign, "ring")
        shared = bot_device(traffic, ev, "US")
        exported: list[tuple[Session, Device]] = []
        for _ in range(p.size or 25):
            account = _account(traffic, "a")
            owner, home, home_ip = _phone_owner(traffic, "ring_member", targets, p.rate, {"campaign": campaign},
                                                account)
            # The exported token is born on the member's phone, at home, early on.
            born = traffic.start + rng.uniform(0, 1800)
            session = traffic.login(born, account, owner.device, home_ip, "abuse", {**meta, "role": "export"})
            replay_as = shared if ev == "crude" else (owner.device if ev == "careful" else bot_device(traffic, ev, home.country))
            exported.append((session, replay_as))
        spread = {"crude": 60.0, "medium": 600.0, "careful": 3 * 3600.0}[ev]
        for round_start in _when(traffic, traffic.start + 1800, traffic.end, ev, 1200 * INTERVALS[ev] / p.rate):
            target = targets.purchased()
            for session, device in exported:
                t = round_start + (rng.uniform(0, spread) if ev != "careful" else min(spread, lognormal_gap(rng, spread / 4)))
                if session.alive(t):
                    traffic.act(t, session, infra.ip(session.account), "like", target, "abuse", meta,
                                _rotate(traffic, ev, device))


def like_farm(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """Fake accounts made in bulk on shared infrastructure; they only engage, in bursts, on bought targets."""
    rng, ev = traffic.rng, p.evasion or "crude"
    for _ in range(p.count):
        campaign = traffic.campaign_id("like_farm")
        infra = Infrastructure(traffic, ev)
        meta = _abuse_meta(traffic, "like_farm", ev, campaign, "farm")
        shared = bot_device(traffic, ev, infra.network.country)
        farm = []
        for _ in range(p.size or 40):
            device = shared if ev == "crude" else bot_device(traffic, ev, infra.network.country)
            farm.append((Actor(traffic, _account(traffic, "f"), device, "abuse", meta), device))
        spread = {"crude": 120.0, "medium": 900.0, "careful": 3 * 3600.0}[ev]
        for order in _when(traffic, traffic.start, traffic.end, ev, 1800 * INTERVALS[ev] / p.rate,
                               infra.network.utc_offset_h):
            action = "follow" if rng.random() < 0.3 else "like"
            target = targets.purchased("u" if action == "follow" else "m")
            buyers = rng.sample(farm, max(1, int(len(farm) * rng.uniform(0.6, 1.0))))
            for actor, device in buyers:
                t = order + (rng.uniform(0, spread) if ev != "careful" else min(spread, lognormal_gap(rng, spread / 4)))
                actor.act(t, infra.ip(actor.account), action, target, _rotate(traffic, ev, device))


def leaked_token(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """A victim's token replayed from another device on another continent while the victim still uses it."""
    rng, ev = traffic.rng, p.evasion or "crude"
    kinds = {"crude": ("hosting",), "medium": ("vpn",), "careful": ("residential_proxy",)}[ev]
    for _ in range(p.count):
        campaign = traffic.campaign_id("leaked_token")
        meta = _abuse_meta(traffic, "leaked_token", ev, campaign, "replay")
        for _ in range(p.size or 3):
            owner, home, _ = _phone_owner(traffic, "leak_victim", targets, p.rate, {"campaign": campaign})
            if not owner.sessions:
                continue
            session = owner.sessions[0]
            far = _far_network(traffic, home, kinds)
            ip = far.host(rng)
            device = bot_device(traffic, ev, far.country, platform=owner.device.platform)
            leak = session.born + rng.uniform(0.1, 0.4) * (session.expires - session.born)
            for t in _when(traffic, leak, min(traffic.end, session.expires - 300), ev,
                               150 * INTERVALS[ev] / p.rate, far.utc_offset_h):
                action, target = ("follow", targets.user()) if rng.random() < 0.3 else ("like", targets.media())
                traffic.act(t, session, ip if ev != "medium" else far.host(rng), action, target, "abuse", meta,
                            _rotate(traffic, ev, device))


def cyborg(traffic: Traffic, p: Persona, targets: Targets) -> None:
    """The owner uses the account by hand while a bot they run acts on it from elsewhere."""
    rng, ev = traffic.rng, p.evasion or "crude"
    for _ in range(p.count):
        campaign = traffic.campaign_id("cyborg")
        meta = _abuse_meta(traffic, "cyborg", ev, campaign, "bot")
        for _ in range(p.size or 3):
            account = _account(traffic, "a")
            owner, home, _ = _phone_owner(traffic, "cyborg_owner", targets, p.rate, {"campaign": campaign}, account)
            infra = Infrastructure(traffic, ev)
            device = bot_device(traffic, ev, home.country, platform=owner.device.platform)
            bot = Actor(traffic, account, device, "abuse", meta)
            for t in _when(traffic, traffic.start, traffic.end, ev, 200 * INTERVALS[ev] / p.rate, home.utc_offset_h):
                action, target = ("follow", targets.user()) if rng.random() < 0.3 else ("like", targets.media())
                bot.act(t, infra.ip(account), action, target, _rotate(traffic, ev, device))


PERSONAS: dict[str, Callable[[Traffic, Persona, Targets], None]] = {
    "mobile_cgnat": mobile_cgnat,
    "home_broadband": home_broadband,
    "traveller": traveller,
    "power_user": power_user,
    "social_manager": social_manager,
    "household": household,
    "third_party_app": third_party_app,
    "password_sharing": password_sharing,
    "collusion_ring": collusion_ring,
    "like_farm": like_farm,
    "leaked_token": leaked_token,
    "cyborg": cyborg,
}


def populate(traffic: Traffic, personas: list[Persona] | tuple[Persona, ...]) -> None:
    """Write every persona's traffic into ``traffic``, in the order given."""
    targets = Targets(traffic.rng)
    for p in personas:
        PERSONAS[p.name](traffic, p, targets)
