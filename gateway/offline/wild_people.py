"""Benign people of a drawn world, the innocent look-alikes first.

Each writer takes the world's drawn parameters: how many share a NAT address,
how heavy a heavy user is, how fast a creator's fans arrive. Personas the
named scenarios already have (home broadband, travellers, households, social
media managers, server-side partner apps) are written by gateway.offline.personas
with drawn counts and sizes.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable

from gateway.offline.clients import (
    ANDROID_MODELS,
    IPHONE_MODELS,
    LOCALES,
    Device,
    browser_device,
    new_device_id,
    tls_for,
)
from gateway.offline.generate import Traffic
from gateway.offline.personas import Actor, Targets, _account, _human, _person, benign_action
from gateway.offline.priors import WorldDraw
from gateway.offline.timing import human_times, lognormal_gap
from gateway.offline.world import Network

MORE_ANDROID = (*ANDROID_MODELS, "SM-G991B", "Redmi Note 12", "OnePlus 11", "Pixel 6", "SM-A135F")
MORE_IPHONE = (*IPHONE_MODELS, "iPhone12,1", "iPhone14,2", "iPhone16,2")
PARTNER_ON_DEVICE = {"partner-scheduler": "PartnerScheduler", "partner-analytics": "PartnerAnalytics"}


class ZipfTargets(Targets):
    """Popular posts ranked by a power law with the world's exponent, plus the long tail."""

    def __init__(self, rng: random.Random, w: WorldDraw) -> None:
        super().__init__(rng)
        self.share = w.popular_share
        self.catalogue = [f"m{rng.randrange(10**6, 10**7)}" for _ in range(w.catalogue)]
        weights = [1.0 / (rank ** w.zipf_exponent) for rank in range(1, w.catalogue + 1)]
        total, acc = sum(weights), 0.0
        self.cum = []
        for x in weights:
            acc += x / total
            self.cum.append(acc)

    def media(self) -> str:
        r = self.rng
        if r.random() < self.share:
            return self.catalogue[min(bisect.bisect_left(self.cum, r.random()), len(self.catalogue) - 1)]
        return f"m{r.randrange(10**7, 10**8)}"


def app_device(rng: random.Random, w: WorldDraw, country: str, platform: str | None = None) -> Device:
    """The platform's app on a phone, at one of this world's app versions."""
    platform = platform or ("android" if rng.random() < 0.6 else "ios")
    version = rng.choice(w.app_versions)
    loc = LOCALES.get(country, "en_US")
    lang = f"{loc.replace('_', '-')},{loc[:2]};q=0.9"
    if platform == "android":
        ua = f"Engage/{version} (Android {rng.choice((11, 12, 13, 14, 15))}; {rng.choice(MORE_ANDROID)}; {loc})"
        return Device("engage-android", new_device_id(rng), ua, tls_for("android-app"), lang, platform)
    os_v = rng.choice(("15.8", "16.7", "17.3", "17.4", "17.5", "18.0", "18.1"))
    ua = f"Engage/{version} (iOS {os_v}; {rng.choice(MORE_IPHONE)}; {loc})"
    return Device("engage-ios", new_device_id(rng), ua, tls_for("ios-app"), lang, platform)


def _times(traffic: Traffic, net: Network, per_day: float, per_visit: float, gap_s: float = 25.0,
           **kw: float) -> list[float]:
    return human_times(traffic.rng, traffic.start, traffic.end, net.utc_offset_h, sessions_per_day=per_day,
                       actions_per_session=per_visit, gap_median_s=gap_s, **kw)


def _home(traffic: Traffic, w: WorldDraw, kinds: tuple[str, ...] = ("residential", "mobile")) -> Network:
    rng = traffic.rng
    return traffic.world.pick(rng, rng.choice(kinds), traffic.split, ipv6=rng.random() < w.ipv6_share)


def _same_country(traffic: Traffic, kind: str, country: str, other_city: str) -> Network | None:
    pool = [n for n in traffic.world.choices(kind, traffic.split) if n.country == country and n.city != other_city]
    return traffic.rng.choice(pool) if pool else None


def mobile_cgnat(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """Phones behind carrier NAT (pool size drawn), on IPv6, or switching between home wifi and the carrier."""
    rng = traffic.rng
    carriers = [traffic.world.pick(rng, "mobile", traffic.split) for _ in range(max(1, count // 60))]
    per_pool = max(1, round(count / len(carriers) / w.cgnat_users_per_ip))
    pools = [[c.host(rng) for _ in range(per_pool)] for c in carriers]
    for i in range(count):
        carrier, pool = carriers[i % len(carriers)], pools[i % len(pools)]
        meta = _person(traffic, "mobile_cgnat")
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, carrier.country), "benign", meta)
        times = _times(traffic, carrier, 6 * w.activity, 4)
        roll = rng.random()
        if roll < w.ipv6_share:
            v6 = traffic.world.pick(rng, "mobile", traffic.split, ipv6=True)
            addr = v6.host(rng)
            _human(traffic, actor, times, lambda t, a=addr: a, targets)
            continue
        home_line = None
        if roll < w.ipv6_share + w.wifi_cell_share:  # home wifi in one city, a carrier that places them far off
            far = _same_country(traffic, "mobile", carrier.country, carrier.city) or carrier
            home_net = _same_country(traffic, "residential", far.country, far.city)
            home_line = home_net.host(rng) if home_net else None
            if far is not carrier:
                pool = [far.host(rng) for _ in range(max(1, per_pool))]
        state = {"ip": rng.choice(pool), "last": -1e18}

        def ip_at(t: float, pool: list[str] = pool, state: dict = state, home_line: str | None = home_line) -> str:
            if t - state["last"] > 900:  # a new visit: another NAT address, or the home wifi
                state["ip"] = home_line if home_line and rng.random() < 0.5 else rng.choice(pool)
            state["last"] = t
            return state["ip"]

        _human(traffic, actor, times, ip_at, targets)


def power_user(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """Hundreds of likes a day in fast bursts, from one phone at home or on the carrier."""
    rng = traffic.rng
    for _ in range(count):
        net = _home(traffic, w)
        ip = net.host(rng)
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, net.country), "benign",
                      _person(traffic, "power_user"))
        visits = rng.uniform(6, 20)
        per_day = w.power_per_day * rng.uniform(0.5, 1.5)
        times = _times(traffic, net, visits, per_day / visits, w.power_gap_s)
        _human(traffic, actor, times, lambda t, ip=ip: ip, targets)


def vpn_user(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """An always-on VPN: every action from a datacenter exit, the exit changing between visits."""
    rng = traffic.rng
    for _ in range(count):
        home = _home(traffic, w, ("residential",))
        vpn = traffic.world.pick(rng, "vpn", traffic.split, ipv6=rng.random() < w.ipv6_share * 0.5)
        exits = [vpn.host(rng) for _ in range(w.vpn_exits)]
        actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, home.country), "benign",
                      _person(traffic, "vpn_user"))
        times = _times(traffic, home, 5 * w.activity, 5)
        state = {"ip": rng.choice(exits), "last": -1e18}

        def ip_at(t: float, exits: list[str] = exits, state: dict = state) -> str:
            if t - state["last"] > 600:
                state["ip"] = rng.choice(exits)
            state["last"] = t
            return state["ip"]

        _human(traffic, actor, times, ip_at, targets)


def _behind_nat(traffic: Traffic, w: WorldDraw, persona: str, net: Network, users: int, n_ips: int,
                targets: Targets, wake: float, sleep: float, browser_share: float) -> None:
    """Many unrelated people on a few NAT addresses of one network, each on their own device."""
    rng = traffic.rng
    nat = [net.host(rng) for _ in range(n_ips)]
    for _ in range(users):
        device = (browser_device(rng, net.country) if rng.random() < browser_share
                  else app_device(rng, w, net.country))
        actor = Actor(traffic, _account(traffic, "a"), device, "benign", _person(traffic, persona))
        times = _times(traffic, net, 4 * w.activity, 4, wake_h=wake, sleep_h=sleep)
        ip = rng.choice(nat)
        _human(traffic, actor, times, lambda t, ip=ip: ip, targets)


def campus(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """Students (or an office's staff) behind a campus NAT: hundreds of accounts, one to four addresses."""
    rng = traffic.rng
    for _ in range(count):
        nets = traffic.world.with_role("campus", ipv6=False) + traffic.world.choices("office", traffic.split)
        net = rng.choice(nets)
        _behind_nat(traffic, w, "campus", net, w.campus_users, w.campus_nat_ips, targets, 8.0, 23.5, 0.3)


def corporate_gateway(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """A company whose traffic egresses through a cloud security gateway: a hosting range, office hours."""
    rng = traffic.rng
    for _ in range(count):
        net = rng.choice(traffic.world.with_role("corporate_gateway"))
        _behind_nat(traffic, w, "corporate_gateway", net, w.corp_users, w.corp_egress_ips, targets, 8.5, 18.5, 0.6)


def public_wifi(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """Strangers on an airport's or a cafe's hotspot for an hour, otherwise at home or on their carrier."""
    rng = traffic.rng
    homes = [n for k in ("residential", "mobile") for n in traffic.world.choices(k, traffic.split)]
    # Only hotspots with homes within a drive: visitors who went home 950 km away
    # within the hour were an impossible trip the map made, not one people make.
    hotspots = [(h, near) for h in traffic.world.with_role("public_wifi", ipv6=False)
                if (near := [n for n in homes if _km(n, h) < 700])]
    for _ in range(count if hotspots else 0):
        hotspot, near = rng.choice(hotspots)
        wifi_ips = [hotspot.host(rng) for _ in range(rng.randint(1, 2))]
        for _ in range(w.wifi_visitors):
            home = rng.choice(near)  # people who live within a drive of the hotspot: no flight in between
            home_ip = home.host(rng)
            actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, hotspot.country), "benign",
                          _person(traffic, "public_wifi"))
            arrive = rng.uniform(traffic.start, traffic.end)
            leave = arrive + rng.uniform(0.3, 2.0) * 3600
            drive = _km(home, hotspot) / 90.0 * 3600  # on the road between home and the hotspot: no actions
            wifi_ip = rng.choice(wifi_ips)
            times = sorted([t for t in _times(traffic, hotspot, 4 * w.activity, 4)
                            if not arrive - drive <= t < leave + drive]
                           + [t for t in _times(traffic, hotspot, 24, 4) if arrive <= t < leave])

            def ip_at(t: float, a: float = arrive, b: float = leave, wifi: str = wifi_ip, home: str = home_ip) -> str:
                return wifi if a <= t < b else home

            _human(traffic, actor, times, ip_at, targets)


def _km(a: Network, b: Network) -> float:
    """Great-circle distance between two blocks' locations."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 12_742.0 * math.asin(math.sqrt(h))


def creator_fans(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """Creators post; their fans like each new post within the hour, from their own phones and homes."""
    rng = traffic.rng
    for c in range(count):
        posts: list[tuple[float, str]] = []
        t = traffic.start + rng.expovariate(w.posts_per_day / 86_400.0)
        while t < traffic.end:
            posts.append((t, f"m{rng.randrange(10**9, 10**10)}"))
            t += rng.expovariate(w.posts_per_day / 86_400.0)
        for _ in range(w.fans_per_creator):
            net = _home(traffic, w)
            ip = net.host(rng)
            actor = Actor(traffic, _account(traffic, "a"), app_device(rng, w, net.country), "benign",
                          _person(traffic, "creator_fan", {"creator": c}))
            events = [(x, "") for x in _times(traffic, net, 3 * w.activity, 4)]
            keen = rng.uniform(0.5, 1.0)
            for posted, media in posts:
                if rng.random() < w.fan_like_p * keen:
                    events.append((posted + min(3600.0, lognormal_gap(rng, w.fan_delay_s, 1.0, 2.0)), media))
            for at, media in sorted(events):
                action, target = ("like", media) if media else benign_action(rng, targets)
                actor.act(at, ip, action, target)


def partner_app_user(traffic: Traffic, w: WorldDraw, count: int, targets: Targets) -> None:
    """A registered third-party app on the user's own phone: its own UA and an HTTP library's TLS."""
    rng = traffic.rng
    for _ in range(count):
        net = _home(traffic, w)
        ip = net.host(rng)
        client = rng.choice(tuple(PARTNER_ON_DEVICE))
        android = rng.random() < 0.6
        os_part = f"Android {rng.choice((12, 13, 14))}; {rng.choice(MORE_ANDROID)}" if android else \
            f"iOS {rng.choice(('16.7', '17.4', '17.5'))}; {rng.choice(MORE_IPHONE)}"
        ua = f"{PARTNER_ON_DEVICE[client]}/{rng.randint(2, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 9)} ({os_part})"
        stack = rng.choice(("okhttp", "android-app")) if android else "ios-app"
        did = new_device_id(rng) if rng.random() < 0.5 else None
        device = Device(client, did, ua, tls_for(stack), None, "android" if android else "ios")
        actor = Actor(traffic, _account(traffic, "a"), device, "benign", _person(traffic, "partner_app_user"))
        _human(traffic, actor, _times(traffic, net, 4 * w.activity, 5), lambda t, ip=ip: ip, targets)


WRITERS: dict[str, Callable[[Traffic, WorldDraw, int, Targets], None]] = {
    "mobile_cgnat": mobile_cgnat,
    "power_user": power_user,
    "vpn_user": vpn_user,
    "campus": campus,
    "corporate_gateway": corporate_gateway,
    "public_wifi": public_wifi,
    "creator_fan": creator_fans,
    "partner_app_user": partner_app_user,
}
