"""A drawn world's traffic: its people at its volume, and every abuse family at every level.

``build_world(draw(seed, i))`` gives the same records for the same seed and
index. The world draws from the sweep split of the map (every block, the
special-role ones included), so named scenarios never see its networks.
"""

from __future__ import annotations

import random

from gateway.offline.generate import Traffic
from gateway.offline.personas import PERSONAS, Persona
from gateway.offline.priors import WorldDraw
from gateway.offline.tokens import DemoIssuer
from gateway.offline.wild_abuse import all_campaigns
from gateway.offline.wild_people import WRITERS, ZipfTargets
from gateway.offline.world import World, load_world

# People (groups for the group personas) at volume 1; a world multiplies them by its volume.
BASE = {
    "mobile_cgnat": 240, "home_broadband": 100, "traveller": 24, "power_user": 6, "social_manager": 2,
    "household": 16, "third_party_app": 30, "vpn_user": 30, "campus": 1, "corporate_gateway": 1,
    "public_wifi": 1, "creator_fan": 1, "partner_app_user": 30,
}
GROUPS = ("social_manager", "household", "campus", "corporate_gateway", "public_wifi", "creator_fan")
BENIGN_PERSONAS = tuple(BASE)


def population(w: WorldDraw) -> dict[str, int]:
    """How many of each persona this world has: at least one of each, so every persona is measured."""
    out = {}
    for name, base in BASE.items():
        n = base * w.volume
        if name == "creator_fan":
            n = w.creators
        elif name in GROUPS:
            n = base * w.volume ** 0.5  # more groups, and (from the priors) bigger ones
        out[name] = max(1, round(n))
    return out


def build_world(w: WorldDraw, *, world: World | None = None, issuer: DemoIssuer | None = None) -> Traffic:
    rng = random.Random(f"world:{w.seed}:{w.index}")
    issuer = issuer or DemoIssuer(ttl_s=w.session_ttl_s)
    traffic = Traffic(rng, world or load_world(), "sweep", f"sweep{w.seed}-{w.index}", w.start, w.hours, issuer)
    targets = ZipfTargets(rng, w)
    for name, n in population(w).items():
        if name in WRITERS:
            WRITERS[name](traffic, w, n, targets)
        else:
            size = {"social_manager": w.office_size, "household": w.household_size}.get(name)
            PERSONAS[name](traffic, Persona(name, n, size=size, rate=w.activity), targets)
    all_campaigns(traffic, w, targets)
    return traffic
