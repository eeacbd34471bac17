"""World parameters drawn from wide priors, one set per simulated world.

A named scenario fixes its counts, rates and networks; a drawn world takes
each from a range wide enough that a rule tuned to one value of it shows up
as failing at another. ``draw`` is a pure function of (seed, index, band):
a sweep is reproducible world by world.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

# Traffic volume, as a multiple of the base population; a sweep cycles through the bands.
BANDS = {"low": (0.1, 0.5), "medium": (0.5, 2.0), "high": (2.0, 10.0)}
BAND_ORDER = ("low", "medium", "high")
SWEEP_START = 1_717_200_000.0  # 2024-06-01 00:00 UTC: other days than the named scenarios


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


@dataclass(frozen=True, slots=True)
class WorldDraw:
    """One world's parameters; every field is drawn, none is tuned."""

    index: int
    seed: int
    band: str
    volume: float  # multiplies every benign population (and abuse campaign sizes, sub-linearly)
    hours: float
    start: float
    # What people engage with
    zipf_exponent: float  # popularity law of the catalogue of popular posts
    catalogue: int  # popular posts
    popular_share: float  # share of benign likes that go to the popular catalogue
    creators: int
    fans_per_creator: int
    fan_like_p: float  # chance a fan likes a creator's new post (within the hour)
    fan_delay_s: float  # median delay from post to a fan's like
    posts_per_day: float
    # How much people do
    activity: float  # multiplies ordinary people's visits a day
    power_per_day: float  # a power user's actions a day
    power_gap_s: float  # median gap inside a power user's burst
    # Networks
    cgnat_users_per_ip: float  # how many phones share one carrier NAT address
    ipv6_share: float
    wifi_cell_share: float  # phone users who switch between home wifi and a carrier that geolocates far off
    household_size: int
    office_size: int  # accounts a social-media manager's office runs
    campus_users: int
    campus_nat_ips: int
    corp_users: int
    corp_egress_ips: int
    wifi_visitors: int
    vpn_exits: int  # exit addresses an always-on VPN user cycles through
    # Clients
    app_versions: tuple[str, ...]
    session_ttl_s: int
    # Abuse
    abuse_rate: float  # multiplies how often campaigns act
    abuse_size: float  # multiplies accounts per campaign

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["app_versions"] = list(self.app_versions)
        return d

    def label(self) -> str:
        return (f"world {self.index} ({self.band}, volume {self.volume:.2f}x, zipf {self.zipf_exponent:.2f}, "
                f"{self.hours:.0f} h)")


def band_of(index: int) -> str:
    """Worlds cycle low, medium, high volume, so any sweep of three or more covers all three."""
    return BAND_ORDER[index % len(BAND_ORDER)]


def draw(seed: int, index: int, band: str | None = None) -> WorldDraw:
    """The parameters of world ``index`` of the sweep with ``seed``."""
    rng = random.Random(f"sweep:{seed}:{index}")
    band = band or band_of(index)
    lo, hi = BANDS[band]
    volume = _log_uniform(rng, lo, hi)
    n_versions = rng.randint(2, 10)
    newest = rng.randint(405, 420)
    versions = tuple(sorted({f"{newest - rng.randint(0, 40)}.{rng.randint(0, 3)}.{rng.randint(0, 9)}"
                             for _ in range(n_versions)} | {f"{newest}.0.0"}))
    scaled = max(0.1, volume)
    return WorldDraw(
        index=index, seed=seed, band=band, volume=round(volume, 4),
        hours=round(rng.uniform(10.0, 24.0), 2),
        start=SWEEP_START + 86_400.0 * (seed % 97 + index) + rng.randrange(24) * 3600.0,
        zipf_exponent=round(rng.uniform(0.6, 1.4), 3),
        catalogue=int(_log_uniform(rng, 200, 20_000)),
        popular_share=round(rng.uniform(0.05, 0.6), 3),
        creators=max(1, round(rng.randint(1, 4) * min(scaled, 4.0) ** 0.5)),
        fans_per_creator=max(3, round(_log_uniform(rng, 20, 300) * min(scaled, 4.0) ** 0.5)),
        fan_like_p=round(rng.uniform(0.3, 0.95), 3),
        fan_delay_s=round(_log_uniform(rng, 30, 1500), 1),
        posts_per_day=round(rng.uniform(1.0, 8.0), 2),
        activity=round(_log_uniform(rng, 0.5, 2.0), 3),
        power_per_day=round(_log_uniform(rng, 100, 1200), 1),
        power_gap_s=round(rng.uniform(1.5, 8.0), 2),
        cgnat_users_per_ip=round(_log_uniform(rng, 2, 200), 1),
        ipv6_share=round(rng.uniform(0.0, 0.5), 3),
        wifi_cell_share=round(rng.uniform(0.0, 0.6), 3),
        household_size=rng.randint(2, 6),
        office_size=rng.randint(3, 25),
        campus_users=max(5, round(_log_uniform(rng, 20, 300) * min(scaled, 3.0) ** 0.5)),
        campus_nat_ips=rng.randint(1, 4),
        corp_users=max(3, round(_log_uniform(rng, 10, 200) * min(scaled, 3.0) ** 0.5)),
        corp_egress_ips=rng.randint(1, 8),
        wifi_visitors=max(3, round(_log_uniform(rng, 10, 150) * min(scaled, 3.0) ** 0.5)),
        vpn_exits=rng.randint(1, 6),
        app_versions=versions,
        session_ttl_s=int(_log_uniform(rng, 3600, 172_800)),
        abuse_rate=round(_log_uniform(rng, 0.5, 2.0), 3),
        abuse_size=round(_log_uniform(rng, 0.3, 1.0) * min(scaled, 4.0) ** 0.25, 3),
    )


PRIORS = {
    "volume": "0.1x-10x, log-uniform within the band (low 0.1-0.5, medium 0.5-2, high 2-10)",
    "hours": "10-24 virtual hours",
    "zipf_exponent": "0.6-1.4 (popular catalogue of 200-20,000 posts, 5-60% of likes)",
    "creators": "1-4 (more with volume), 20-300 fans each, 30-95% like each new post, median delay 30 s-25 min",
    "power_per_day": "100-1,200 actions a day, 1.5-8 s median gap in a burst",
    "cgnat_users_per_ip": "2-200 phones per carrier NAT address; IPv6 share 0-50%; wifi/cell switching 0-60%",
    "groups": "households 2-6, offices 3-25 accounts, campus 20-300 users on 1-4 NAT addresses, "
              "corporate gateway 10-200 users on 1-8 hosting addresses, public wifi 10-150 visitors",
    "clients": "2-10 app versions (up to 40 releases old), session lifetime 1-48 h",
    "abuse": "rate 0.5-2x, campaign size 0.3-1x; jitter fixed/uniform/lognormal/bursts; "
             "residential or mobile proxies; the app's UA and TLS emulated",
}
