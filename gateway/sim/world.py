"""The synthetic Internet simulated clients come from (geoip/world.yaml).

Every simulated address is drawn from a block of this map, so the fixture
GeoIP databases built from the same file resolve it. ``split`` keeps tuning
and evaluation apart: a tuning scenario draws only from ``tune`` blocks, an
evaluation scenario prefers ``holdout`` blocks and falls back to ``tune`` ones.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from gateway.settings import REPO_ROOT

WORLD_PATH = REPO_ROOT / "geoip" / "world.yaml"
KINDS = ("residential", "mobile", "hosting", "vpn", "tor", "office", "residential_proxy")
SPLITS = ("tune", "holdout")


class WorldError(ValueError):
    """The world file is missing or malformed; the message names the place."""


@dataclass(frozen=True, slots=True)
class Network:
    cidr: str
    asn: int
    org: str
    country: str
    city: str
    lat: float
    lon: float
    kind: str
    split: str
    ipv6: bool

    @property
    def utc_offset_h(self) -> int:
        """The local time zone, roughly: 15 degrees of longitude an hour."""
        return round(self.lon / 15.0)

    def host(self, rng: random.Random) -> str:
        """A random usable address in the block."""
        net = ipaddress.ip_network(self.cidr)
        size = net.num_addresses
        if self.ipv6:
            offset = rng.randrange(1, min(size, 1 << 64))
        else:
            offset = rng.randrange(1, size - 1) if size > 2 else 0
        return str(net.network_address + offset)


class World:
    def __init__(self, networks: list[Network]) -> None:
        self.networks = networks
        self._by: dict[tuple[str, str, bool], list[Network]] = {}
        for n in networks:
            self._by.setdefault((n.kind, n.split, n.ipv6), []).append(n)

    def choices(self, kind: str, split: str, ipv6: bool = False) -> list[Network]:
        """Blocks of a kind a scenario of ``split`` may draw from, best first."""
        tune = self._by.get((kind, "tune", ipv6), [])
        if split == "tune":
            return tune
        return self._by.get((kind, "holdout", ipv6), []) + tune

    def pick(self, rng: random.Random, kind: str, split: str, *, holdout_share: float = 0.7,
             avoid_country: str | None = None, ipv6: bool = False) -> Network:
        """A block of ``kind``; in an evaluation scenario, a holdout block with ``holdout_share`` odds."""
        pool = self.choices(kind, split, ipv6) or self.choices(kind, split, False)
        if avoid_country:
            pool = [n for n in pool if n.country != avoid_country] or pool
        if not pool:
            raise WorldError(f"{WORLD_PATH}: no '{kind}' network is available to a '{split}' scenario; add one")
        if split == "holdout":
            held = [n for n in pool if n.split == "holdout"]
            if held and rng.random() < holdout_share:
                return rng.choice(held)
        return rng.choice(pool)


@lru_cache(maxsize=4)
def load_world(path: str | None = None) -> World:
    """Read and check the world file (cached)."""
    p = Path(path) if path else WORLD_PATH
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise WorldError(f"{p}: cannot read the world file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise WorldError(f"{p}: YAML syntax error: {exc}") from None
    items = data.get("networks") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise WorldError(f"{p}: expected a 'networks' list")
    networks = []
    for i, item in enumerate(items):
        where = f"{p}: networks[{i}]"
        try:
            kind, split = item["kind"], item["split"]
            net = ipaddress.ip_network(item["cidr"], strict=False)
            networks.append(Network(str(net), int(item["asn"]), str(item["org"]), str(item["country"]),
                                    str(item.get("city", "")), float(item["lat"]), float(item["lon"]),
                                    kind, split, net.version == 6))
        except (KeyError, TypeError, ValueError) as exc:
            raise WorldError(f"{where}: missing or bad field ({exc})") from None
        if kind not in KINDS:
            raise WorldError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if split not in SPLITS:
            raise WorldError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    return World(networks)
