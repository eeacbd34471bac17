"""Build the fixture GeoIP databases from world.yaml.

    .venv/bin/python geoip/build.py [--world geoip/world.yaml] [--out geoip/]

Writes four MaxMind DB files with MaxMind's own database_type names and record
schemas, so the gateway reads them exactly as it reads the operator's real
copies, plus the hosting-ASN list:

    fixture-asn.mmdb              GeoLite2-ASN
    fixture-city.mmdb             GeoIP2-City
    fixture-anonymous-ip.mmdb     GeoIP2-Anonymous-IP
    fixture-connection-type.mmdb  GeoIP2-Connection-Type
    hosting-asns.txt              every ASN of a `kind: hosting` network

Builds are reproducible: the same world.yaml gives byte-identical files (the
build epoch is fixed; set SOURCE_DATE_EPOCH to change it).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MmdbU64, MMDBWriter
from netaddr import IPSet

HERE = Path(__file__).resolve().parent
DEFAULT_EPOCH = 1735689600  # 2025-01-01T00:00:00Z

CONNECTION_TYPES = ("Cable/DSL", "Cellular", "Corporate", "Satellite", "Dialup")
KINDS = ("residential", "mobile", "hosting", "vpn", "tor", "office", "residential_proxy")
SPLITS = ("tune", "holdout")
ANONYMOUS_FLAGS = {
    "hosting": "is_hosting_provider",
    "vpn": "is_anonymous_vpn",
    "tor": "is_tor_exit_node",
    "public_proxy": "is_public_proxy",
    "residential_proxy": "is_residential_proxy",
}
REQUIRED = ("cidr", "asn", "org", "country", "city", "lat", "lon", "connection_type", "anonymous", "kind", "split")


class WorldError(ValueError):
    """world.yaml is wrong; the message names the entry and the fix."""


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


def load_world(path: Path) -> list[Network]:
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
            )
        )
    return networks


class _ReproducibleWriter(MMDBWriter):
    """MMDBWriter with a fixed build epoch, so rebuilding changes no bytes."""

    def __init__(self, database_type: str, description: str, epoch: int) -> None:
        super().__init__(
            ip_version=6,
            ipv4_compatible=True,
            database_type=database_type,
            languages=["en"],
            description={"en": description},
        )
        self._epoch = epoch

    def _build_meta(self) -> dict[str, Any]:
        meta = super()._build_meta()
        meta["build_epoch"] = MmdbU64(self._epoch)
        return meta


def asn_record(n: Network) -> dict[str, Any]:
    return {"autonomous_system_number": MmdbU32(n.asn), "autonomous_system_organization": n.org}


def city_record(n: Network) -> dict[str, Any]:
    return {
        "city": {"names": {"en": n.city}},
        "continent": {"code": n.continent},
        "country": {"iso_code": n.country, "names": {"en": n.country_name}},
        "location": {
            "accuracy_radius": MmdbU16(n.accuracy_radius),
            "latitude": MmdbF64(n.lat),
            "longitude": MmdbF64(n.lon),
        },
        "registered_country": {"iso_code": n.country, "names": {"en": n.country_name}},
    }


def anonymous_record(n: Network) -> dict[str, Any] | None:
    # MaxMind stores only the flags that are true, and no record for clean blocks.
    if not n.anonymous:
        return None
    record: dict[str, Any] = {"is_anonymous": True}
    for flag in ANONYMOUS_FLAGS:
        if flag in n.anonymous:
            record[ANONYMOUS_FLAGS[flag]] = True
    return record


def connection_record(n: Network) -> dict[str, Any]:
    return {"connection_type": n.connection_type}


DATABASES = (
    ("fixture-asn.mmdb", "GeoLite2-ASN", asn_record),
    ("fixture-city.mmdb", "GeoIP2-City", city_record),
    ("fixture-anonymous-ip.mmdb", "GeoIP2-Anonymous-IP", anonymous_record),
    ("fixture-connection-type.mmdb", "GeoIP2-Connection-Type", connection_record),
)


def build(world: Path, out: Path, epoch: int = DEFAULT_EPOCH) -> list[Path]:
    networks = load_world(world)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, database_type, make_record in DATABASES:
        writer = _ReproducibleWriter(database_type, f"Gateway fixture {database_type} (synthetic, from world.yaml)", epoch)
        for n in networks:
            record = make_record(n)
            if record is not None:
                writer.insert_network(IPSet([n.cidr]), record)
        path = out / filename
        writer.to_db_file(str(path))
        written.append(path)
    path = out / "hosting-asns.txt"
    path.write_text(hosting_asns_text(networks))
    written.append(path)
    return written


def hosting_asns_text(networks: list[Network]) -> str:
    orgs: dict[int, str] = {}
    for n in networks:
        if n.kind == "hosting":
            orgs.setdefault(n.asn, n.org)
    lines = [
        "# Hosting / datacenter AS numbers: addresses in these ASNs are classed as hosting",
        "# even where the anonymous-IP database does not flag them.",
        "# Generated by geoip/build.py from geoip/world.yaml (every `kind: hosting` network).",
        "# Format: one AS number a line; '#' starts a comment. Operators keep their own list",
        "# (e.g. from their cloud-provider ranges) and point geoip.hosting_asns at it.",
    ]
    lines += [f"{asn}  # {org}" for asn, org in sorted(orgs.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the fixture GeoIP databases from world.yaml.")
    parser.add_argument("--world", type=Path, default=HERE / "world.yaml")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))
    try:
        written = build(args.world, args.out, epoch)
    except (WorldError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
