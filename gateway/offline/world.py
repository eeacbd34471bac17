"""The synthetic Internet simulated clients come from (gateway/demo/geoip/world.yaml).

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
from typing import Any

import yaml

from gateway.settings import PACKAGE_DIR

WORLD_PATH = PACKAGE_DIR / "demo" / "geoip" / "world.yaml"
CONNECTION_TYPES = ("Cable/DSL", "Cellular", "Corporate", "Satellite", "Dialup")
KINDS = ("residential", "mobile", "hosting", "vpn", "tor", "office", "residential_proxy")
SPLITS = ("tune", "holdout", "sweep")  # sweep: drawn worlds only, so named scenarios keep their traffic
ANONYMOUS_FLAGS = {
    "hosting": "is_hosting_provider",
    "vpn": "is_anonymous_vpn",
    "tor": "is_tor_exit_node",
    "public_proxy": "is_public_proxy",
    "residential_proxy": "is_residential_proxy",
}
REQUIRED = ("cidr", "asn", "org", "country", "city", "lat", "lon", "connection_type", "anonymous", "kind", "split")


class WorldError(ValueError):
    """The world file is missing or malformed; the message names the entry and the fix."""


@dataclass(frozen=True, slots=True)
class Network:
    cidr: str
    asn: int
    org: str
    country: str
    country_name: str
    continent: str
    city: str
    lat: float
    lon: float
    accuracy_radius: int
    connection_type: str
    anonymous: tuple[str, ...]
    kind: str
    split: str
    role: str = ""  # a special use of a kind (campus, public_wifi, corporate_gateway); drawn worlds only

    @property
    def ipv6(self) -> bool:
        return ":" in self.cidr

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


def read_networks(path: Path) -> list[Network]:
    """Read and check world.yaml; raise WorldError naming the entry and the fix."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("countries"), dict) or not isinstance(data.get("networks"), list):
        raise WorldError(f"{path}: expected a mapping with 'countries' (a mapping) and 'networks' (a list)")
    countries: dict[str, Any] = data["countries"]
    for code, info in countries.items():
        if not isinstance(info, dict) or not {"name", "continent"} <= info.keys():
            raise WorldError(f"{path}: countries.{code}: give {{name: ..., continent: ...}}")
    networks: list[Network] = []
    seen: list[tuple[int, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for i, entry in enumerate(data["networks"]):
        where = f"{path}: networks[{i}]"
        if not isinstance(entry, dict):
            raise WorldError(f"{where}: expected a mapping")
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise WorldError(f"{where}: missing {', '.join(missing)}")
        try:
            net = ipaddress.ip_network(str(entry["cidr"]))
        except ValueError as exc:
            raise WorldError(f"{where}.cidr: {exc}; write a network address with its prefix length") from None
        for j, other in seen:
            if other.version == net.version and other.overlaps(net):
                raise WorldError(f"{where}.cidr: {net} overlaps networks[{j}] ({other}); give each block its own range")
        seen.append((i, net))
        if entry["country"] not in countries:
            raise WorldError(f"{where}.country: {entry['country']!r} is not in 'countries'; add it there")
        if entry["connection_type"] not in CONNECTION_TYPES:
            raise WorldError(f"{where}.connection_type: use one of {', '.join(CONNECTION_TYPES)}")
        if entry["kind"] not in KINDS:
            raise WorldError(f"{where}.kind: use one of {', '.join(KINDS)}")
        if entry["split"] not in SPLITS:
            raise WorldError(f"{where}.split: use one of {', '.join(SPLITS)}")
        anonymous = tuple(entry["anonymous"] or ())
        for flag in anonymous:
            if flag not in ANONYMOUS_FLAGS:
                raise WorldError(f"{where}.anonymous: {flag!r} is not one of {', '.join(ANONYMOUS_FLAGS)}")
        if not isinstance(entry["asn"], int) or not 0 < entry["asn"] < 2**32:
            raise WorldError(f"{where}.asn: expected an AS number (a positive whole number)")
        country = countries[entry["country"]]
        networks.append(
            Network(
                cidr=str(net),
                asn=entry["asn"],
                org=str(entry["org"]),
                country=entry["country"],
                country_name=str(country["name"]),
                continent=str(country["continent"]),
                city=str(entry["city"]),
                lat=float(entry["lat"]),
                lon=float(entry["lon"]),
                accuracy_radius=int(entry.get("accuracy_radius", 50)),
                connection_type=entry["connection_type"],
                anonymous=anonymous,
                kind=entry["kind"],
                split=entry["split"],
                role=str(entry.get("role") or ""),
            )
        )
    return networks


class World:
    def __init__(self, networks: list[Network]) -> None:
        self.networks = networks
        self._by: dict[tuple[str, str, bool], list[Network]] = {}
        self._roles: dict[str, list[Network]] = {}
        for n in networks:
            if n.role:  # a campus or a hotspot is never an ordinary home or office
                self._roles.setdefault(n.role, []).append(n)
            else:
                self._by.setdefault((n.kind, n.split, n.ipv6), []).append(n)

    def choices(self, kind: str, split: str, ipv6: bool = False) -> list[Network]:
        """Blocks of a kind a scenario of ``split`` may draw from, best first."""
        tune = self._by.get((kind, "tune", ipv6), [])
        if split == "tune":
            return tune
        held = self._by.get((kind, "holdout", ipv6), []) + tune
        if split == "sweep":
            return self._by.get((kind, "sweep", ipv6), []) + held
        return held

    def with_role(self, role: str, ipv6: bool | None = None) -> list[Network]:
        """Blocks with a special role (campus, public_wifi, corporate_gateway)."""
        return [n for n in self._roles.get(role, []) if ipv6 is None or n.ipv6 == ipv6]

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
        return World(read_networks(p))
    except OSError as exc:
        raise WorldError(f"{p}: cannot read the world file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise WorldError(f"{p}: YAML syntax error: {exc}") from None
