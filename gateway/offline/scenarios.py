"""Named scenarios: who acts, for how long, from which part of the synthetic Internet.

``tune`` is for tuning rules and thresholds (tune networks only); ``holdout``
has other parameters, other seeds' worth of people and the holdout networks,
and is what reports quote. One small scenario per persona and per abuse
family and evasion level serves tests and quick looks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gateway.offline.generate import Traffic
from gateway.offline.personas import ABUSE, BENIGN, EVASIONS, Persona, populate
from gateway.offline.tokens import DemoIssuer
from gateway.offline.world import World, load_world


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    split: str  # tune or holdout: which networks it may draw from
    hours: float
    start: float  # epoch seconds
    personas: tuple[Persona, ...] = field(default_factory=tuple)
    description: str = ""


def _all_abuse(count: int = 1, size_scale: float = 1.0, rate: float = 1.0) -> tuple[Persona, ...]:
    sizes = {"password_sharing": 15, "collusion_ring": 25, "like_farm": 40, "leaked_token": 3, "cyborg": 3}
    return tuple(Persona(f, count, ev, max(1, int(sizes[f] * size_scale)), rate) for f in ABUSE for ev in EVASIONS)


SCENARIOS: dict[str, Scenario] = {}


def _add(s: Scenario) -> None:
    SCENARIOS[s.name] = s


_add(Scenario(
    "tune", "tune", 24.0, 1_709_510_400.0,  # 2024-03-04 00:00 UTC
    (Persona("mobile_cgnat", 300), Persona("home_broadband", 150), Persona("traveller", 40),
     Persona("power_user", 15), Persona("social_manager", 6), Persona("household", 30),
     Persona("third_party_app", 60), *_all_abuse()),
    "Tuning traffic: a day of every persona and every abuse family at every evasion level; tune networks only.",
))
_add(Scenario(
    "holdout", "holdout", 36.0, 1_713_160_800.0,  # 2024-04-15 06:00 UTC
    (Persona("mobile_cgnat", 360, rate=1.2), Persona("home_broadband", 120, rate=0.8), Persona("traveller", 60),
     Persona("power_user", 20, rate=1.3), Persona("social_manager", 8), Persona("household", 35),
     Persona("third_party_app", 80, rate=1.2), *_all_abuse(1, 1.3, 0.8)),
    "Evaluation traffic: other counts, sizes and rates, a day and a half, holdout networks preferred.",
))
_add(Scenario(
    "smoke", "tune", 2.0, 1_709_510_400.0 + 10 * 3600,
    (Persona("mobile_cgnat", 20), Persona("home_broadband", 10), Persona("social_manager", 1, size=4),
     Persona("like_farm", 1, "crude", 10), Persona("password_sharing", 1, "crude", 4)),
    "A small mix for tests and live runs: benign people and two crude campaigns.",
))
for _name in BENIGN:
    _add(Scenario(_name, "tune", 12.0, 1_709_510_400.0 + 6 * 3600,
                  (Persona(_name, 3 if _name in ("social_manager", "household") else 12),),
                  f"Only the benign persona {_name}."))
for _family in ABUSE:
    for _ev in EVASIONS:
        _add(Scenario(f"{_family}-{_ev}", "tune", 24.0, 1_709_510_400.0,
                      (Persona(_family, 1, _ev, 6 if _family in ("password_sharing", "collusion_ring", "like_farm") else 2),),
                      f"One {_family} campaign at {_ev} evasion (with the people it touches)."))


class ScenarioError(ValueError):
    pass


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}") from None


def build(scenario: Scenario, seed: int, *, world: World | None = None, start: float | None = None,
          issuer: DemoIssuer | None = None) -> Traffic:
    """Generate a scenario's traffic; the same seed gives the same records."""
    rng = random.Random(f"{scenario.name}:{seed}")
    traffic = Traffic(rng, world or load_world(), scenario.split, scenario.name,
                      scenario.start if start is None else start, scenario.hours, issuer)
    populate(traffic, scenario.personas)
    return traffic
