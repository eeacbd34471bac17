"""GeoIP lookups through MaxMind DB files (ASN, City/Country, Anonymous-IP, Connection-Type),
the operator's ASN lists (hosting, VPN, mobile) and the clouds' published IP ranges.

Each database is optional and is checked when the gateway starts (the file
exists, is a MaxMind DB of the right type for its slot, and a probe of its
first records decodes), so a bad file is a ConfigError naming the file and the
fix, never a failure at request time. Lookups go through maxminddb's C
extension (MODE_AUTO: memory-mapped) and are cached per IP in a bounded LRU;
a lookup that still fails (a file damaged where the probe did not reach)
yields an empty record and is counted in ``lookup_errors``.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from gateway.fingerprint.cloud_ranges import CloudRanges
from gateway.settings import ConfigError
from gateway.settings import GeoIP as GeoIPSettings

PROBE_RECORDS = 32  # records decoded at start to catch a corrupt data section


@dataclass(frozen=True, slots=True)
class GeoRecord:
    """What the databases say about one IP; None/False where a database is absent or silent."""

    asn: int | None = None
    as_org: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    lat: float | None = None
    lon: float | None = None
    connection_type: str | None = None  # Cable/DSL, Cellular, Corporate, Satellite, Dialup
    is_hosting: bool = False  # the anonymous-IP database's is_hosting_provider
    is_vpn: bool = False
    is_tor: bool = False
    is_public_proxy: bool = False
    is_residential_proxy: bool = False
    cloud: str | None = None  # aws, gcp or azure: a published cloud range holds the address
    asn_listed: str | None = None  # vpn or mobile: the ASN is in geoip.vpn_asns or geoip.mobile_asns


EMPTY = GeoRecord()


@dataclass(frozen=True, slots=True)
class _Slot:
    key: str  # the config key under geoip
    accepts: tuple[str, ...]  # database_type parts that fit the slot
    expects: tuple[str, ...]  # record keys a database of this kind carries
    describe: str


SLOTS = {
    "asn": _Slot("asn", ("ASN", "ISP"), ("autonomous_system_number",), "an ASN database (e.g. GeoLite2-ASN)"),
    "city": _Slot(
        "city",
        ("City", "Country", "Enterprise"),
        ("country", "registered_country", "location", "continent"),
        "a City or Country database (e.g. GeoLite2-City)",
    ),
    "anonymous_ip": _Slot(
        "anonymous_ip",
        ("Anonymous-IP",),
        ("is_anonymous", "is_anonymous_vpn", "is_hosting_provider", "is_public_proxy", "is_tor_exit_node", "is_residential_proxy"),
        "an Anonymous-IP database (GeoIP2-Anonymous-IP)",
    ),
    "connection_type": _Slot(
        "connection_type", ("Connection-Type",), ("connection_type",), "a Connection-Type database (GeoIP2-Connection-Type)"
    ),
}


def _fits(database_type: str, slot: _Slot) -> bool:
    return any(part in database_type for part in slot.accepts)


def open_database(path: str, slot: str) -> maxminddb.Reader:
    """Open and check one database for a slot; ConfigError naming the file and the fix if it is unusable."""
    spec = SLOTS[slot]
    where = f"geoip.{spec.key}: {path}"
    if not Path(path).is_file():
        raise ConfigError(f"{where}: file not found; fix the path (relative paths are from the config file) or remove the key")
    try:
        reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise ConfigError(
            f"{where}: not a readable MaxMind DB ({exc}); download a fresh copy of {spec.describe}"
        ) from None
    database_type = reader.metadata().database_type
    if not _fits(database_type, spec):
        reader.close()
        raise ConfigError(f"{where}: is a {database_type} database, but geoip.{spec.key} needs {spec.describe}; point the key at the right file")
    try:
        _probe(reader, spec)
    except ConfigError as exc:
        reader.close()
        raise ConfigError(f"{where}: {exc}") from None
    except (maxminddb.InvalidDatabaseError, ValueError, TypeError, OSError) as exc:
        reader.close()
        raise ConfigError(f"{where}: corrupt MaxMind DB ({exc}); download a fresh copy of {spec.describe}") from None
    return reader


def _probe(reader: maxminddb.Reader, spec: _Slot) -> None:
    # Decoding the first records reaches the data section, where corruption shows.
    records = [record for _, record in itertools.islice(reader, PROBE_RECORDS)]
    reader.get("1.1.1.1")
    if reader.metadata().ip_version == 6:
        reader.get("2001:db8::1")
    if records and not any(isinstance(r, dict) and any(k in r for k in spec.expects) for r in records):
        raise ConfigError(f"its records carry none of {', '.join(spec.expects)}; it is not {spec.describe}")


ASN_LISTS = ("hosting_asns", "vpn_asns", "mobile_asns")  # config keys of the ASN list files
MAX_LIST_BYTES = 10 * 1024 * 1024  # all the ASNs there are fit in well under a megabyte


def load_hosting_asns(path: str, key: str = "hosting_asns") -> frozenset[int]:
    """AS numbers from a text file: one a line ('AS' prefix allowed), '#' starts a comment."""
    try:
        if Path(path).stat().st_size > MAX_LIST_BYTES:
            raise ConfigError(f"geoip.{key}: {path}: larger than {MAX_LIST_BYTES // 2**20} MB, not an ASN list; "
                              "write one AS number a line")
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"geoip.{key}: {path}: cannot read it ({exc.strerror}); fix the path or remove the key") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"geoip.{key}: {path}: not UTF-8 text (byte {exc.start}); write one AS number a line") from None
    asns = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if token[:2].upper() == "AS":
            token = token[2:]
        if not token.isdigit():
            raise ConfigError(
                f"geoip.{key}: {path}:{lineno}: {line.strip()[:60]!r} is not an AS number; write one number a line, e.g. 16509"
            )
        asns.add(int(token))
    return frozenset(asns)


class GeoIP:
    """The configured MaxMind databases, ASN lists and cloud range files, opened and checked once."""

    def __init__(self, settings: GeoIPSettings, resolve: Any = None) -> None:
        def where(path: str | None) -> str | None:
            return resolve(path) if resolve is not None else path

        self._readers: dict[str, maxminddb.Reader] = {}
        self.paths: dict[str, str] = {}  # config key -> the file it names, for reports
        self.asn_lists: dict[str, frozenset[int]] = {}  # the configured ASN lists by key
        try:
            for slot in SLOTS:
                path = where(getattr(settings, slot))
                if path:
                    self._readers[slot] = open_database(path, slot)
                    self.paths[slot] = path
            for key in ASN_LISTS:
                path = where(getattr(settings, key))
                if path:
                    self.asn_lists[key] = load_hosting_asns(path, key)
                    self.paths[key] = path
            self.cloud_ranges = CloudRanges([where(p) or p for p in settings.cloud_ranges])
        except ConfigError:
            self.close()
            raise
        self.hosting_asns: frozenset[int] = self.asn_lists.get("hosting_asns", frozenset())
        # vpn first: a provider in both lists hides its users, which is what the class must say
        self._listed = {asn: "mobile" for asn in self.asn_lists.get("mobile_asns", ())}
        self._listed.update((asn, "vpn") for asn in self.asn_lists.get("vpn_asns", ()))
        self._asn = self._readers.get("asn")
        self._city = self._readers.get("city")
        self._anonymous = self._readers.get("anonymous_ip")
        self._connection = self._readers.get("connection_type")
        self.lookup_errors = 0
        self.lookup = functools.lru_cache(maxsize=max(1, settings.cache_size))(self.lookup_uncached)

    @property
    def databases(self) -> dict[str, str]:
        """slot -> database_type of each open database."""
        return {slot: r.metadata().database_type for slot, r in self._readers.items()}

    def built(self, slot: str) -> str | None:
        """The build date (UTC, YYYY-MM-DD) of the database open in a slot."""
        reader = self._readers.get(slot)
        if reader is None:
            return None
        epoch = reader.metadata().build_epoch
        return datetime.datetime.fromtimestamp(epoch, datetime.UTC).date().isoformat()

    def lookup_uncached(self, ip: str) -> GeoRecord:
        """Everything the databases know of one IP (``lookup`` is the cached form)."""
        if not self._readers and not self.cloud_ranges:
            return EMPTY
        asn = as_org = country = lat = lon = connection_type = None
        hosting = vpn = tor = public_proxy = residential_proxy = False
        if self._asn is not None and (r := self._get(self._asn, ip)):
            asn = r.get("autonomous_system_number")
            as_org = r.get("autonomous_system_organization")
        if self._city is not None and (r := self._get(self._city, ip)):
            country = (r.get("country") or r.get("registered_country") or {}).get("iso_code")
            location = r.get("location") or {}
            lat, lon = location.get("latitude"), location.get("longitude")
        if self._anonymous is not None and (r := self._get(self._anonymous, ip)):
            hosting = bool(r.get("is_hosting_provider"))
            vpn = bool(r.get("is_anonymous_vpn"))
            tor = bool(r.get("is_tor_exit_node"))
            public_proxy = bool(r.get("is_public_proxy"))
            residential_proxy = bool(r.get("is_residential_proxy"))
        if self._connection is not None and (r := self._get(self._connection, ip)):
            connection_type = r.get("connection_type")
        cloud = self.cloud_ranges.provider(ip) if self.cloud_ranges else None
        listed = self._listed.get(asn) if asn is not None and self._listed else None
        return GeoRecord(
            asn, as_org, country, lat, lon, connection_type, hosting, vpn, tor, public_proxy, residential_proxy,
            cloud, listed,
        )

    def _get(self, reader: maxminddb.Reader, ip: str) -> dict[str, Any] | None:
        try:
            record = reader.get(ip)
        except ValueError:
            # Not an IP, or an IPv6 address asked of an IPv4-only database: nothing known.
            return None
        except (maxminddb.InvalidDatabaseError, TypeError, OSError):
            self.lookup_errors += 1
            return None
        return record if isinstance(record, dict) else None

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
