"""The cloud providers' published IP ranges: is this address inside AWS, Google Cloud or Azure?

Operators download the files themselves (nothing is fetched here) and list
them under ``geoip.cloud_ranges``; each file's format is told from its
content:

* AWS ``ip-ranges.json``: ``{"prefixes": [{"ip_prefix": ...}], "ipv6_prefixes": [{"ipv6_prefix": ...}]}``
* Google Cloud ``cloud.json``: ``{"prefixes": [{"ipv4Prefix": ...} | {"ipv6Prefix": ...}]}``
* Azure Service Tags ``ServiceTags_Public_*.json``: ``{"values": [{"properties": {"addressPrefixes": [...]}}]}``

At load every prefix becomes an interval of integers; overlapping and
adjacent intervals of one provider merge, and the result is kept as sorted
parallel lists per IP version, so a lookup is one bisect (a few
microseconds for AWS's ~10k prefixes, memory proportional to the files).
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.settings import ConfigError

MAX_FILE_BYTES = 50 * 1024 * 1024  # the published files are a few MB; past this it is not one of them
FORMATS = (
    "AWS ip-ranges.json ({\"prefixes\": [{\"ip_prefix\": ...}], \"ipv6_prefixes\": [{\"ipv6_prefix\": ...}]}), "
    "Google Cloud cloud.json ({\"prefixes\": [{\"ipv4Prefix\": ...} or {\"ipv6Prefix\": ...}]}) or "
    "Azure ServiceTags_Public_*.json ({\"values\": [{\"properties\": {\"addressPrefixes\": [...]}}]})"
)


@dataclass(frozen=True, slots=True)
class RangeFile:
    """One loaded file, as the doctor reports it."""

    path: str
    provider: str  # aws, gcp or azure
    prefixes: int
    published: str | None  # the file's own date stamp, when it carries one


class _Reader:
    """Reads one file's prefixes, naming the place of any problem."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where
        self.found: list[tuple[str, Any]] = []  # (place in the file, prefix text)

    def fail(self, place: str, problem: str, fix: str) -> ConfigError:
        at = f"{self.where}: {self.path}" + (f": {place}" if place else "")
        return ConfigError(f"{at}: {problem}; {fix}")

    def entries(self, data: dict, key: str) -> list:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {type(value).__name__}", f"the file must be {FORMATS}")
        return value

    def field(self, entries: list, key: str, names: tuple[str, ...]) -> None:
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise self.fail(f"{key}[{i}]", f"expected a mapping, got {type(entry).__name__}",
                                "download a fresh copy of the file")
            name = next((n for n in names if n in entry), None)
            if name is None:
                raise self.fail(f"{key}[{i}]", f"has none of {', '.join(names)}", "download a fresh copy of the file")
            self.found.append((f"{key}[{i}].{name}", entry[name]))


def _detect(data: Any, reader: _Reader) -> str:
    """aws, gcp or azure, from the shape of the document."""
    if isinstance(data, dict):
        if "values" in data and "prefixes" not in data:
            return "azure"
        prefixes = data.get("prefixes")
        if isinstance(prefixes, list):
            first = next((p for p in prefixes if isinstance(p, dict)), {})
            if "ip_prefix" in first or ("ipv6_prefixes" in data and not first):
                return "aws"
            if "ipv4Prefix" in first or "ipv6Prefix" in first:
                return "gcp"
        elif "ipv6_prefixes" in data:
            return "aws"
    shape = f"a mapping with keys {', '.join(sorted(map(str, data))[:6])}" if isinstance(data, dict) else type(data).__name__
    raise reader.fail("", f"is not a cloud IP range file (found {shape})", f"point geoip.cloud_ranges at {FORMATS}")


def _published(data: dict, provider: str) -> str | None:
    key = {"aws": "createDate", "gcp": "creationTime", "azure": "changeNumber"}[provider]
    value = data.get(key)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def read_range_file(path: str, where: str = "geoip.cloud_ranges") -> tuple[RangeFile, list[tuple[int, int, int]]]:
    """One file's (summary, [(version, first, last), ...]); ConfigError naming the file, the place and the fix."""
    reader = _Reader(path, where)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise reader.fail("", f"is {size / 1e6:.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB a range file "
                              "may be", f"point the key at one of {FORMATS}")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise reader.fail("", "file not found", "fix the path (relative paths are from the config file) or remove it") from None
    except OSError as exc:
        raise reader.fail("", f"cannot read it ({exc.strerror})", "fix the path or its permissions") from None
    except UnicodeDecodeError as exc:
        raise reader.fail("", f"not UTF-8 text (byte {exc.start})", "download a fresh copy of the file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.fail(f"line {exc.lineno} column {exc.colno}", f"not valid JSON ({exc.msg})",
                          "download a fresh copy of the file") from None
    except RecursionError:
        raise reader.fail("", "JSON nested too deep", f"the file must be {FORMATS}") from None
    provider = _detect(data, reader)
    if provider == "aws":
        reader.field(reader.entries(data, "prefixes"), "prefixes", ("ip_prefix",))
        reader.field(reader.entries(data, "ipv6_prefixes"), "ipv6_prefixes", ("ipv6_prefix",))
    elif provider == "gcp":
        reader.field(reader.entries(data, "prefixes"), "prefixes", ("ipv4Prefix", "ipv6Prefix"))
    else:
        for i, value in enumerate(reader.entries(data, "values")):
            props = value.get("properties") if isinstance(value, dict) else None
            listed = props.get("addressPrefixes") if isinstance(props, dict) else None
            if not isinstance(listed, list):
                raise reader.fail(f"values[{i}].properties.addressPrefixes", "missing or not a list",
                                  "download a fresh copy of the file")
            reader.found.extend((f"values[{i}].properties.addressPrefixes[{j}]", p) for j, p in enumerate(listed))
    if not reader.found:
        raise reader.fail("", "holds no prefixes", "download a fresh copy of the file or remove it from the list")
    intervals = []
    for place, text_prefix in reader.found:
        try:
            if not isinstance(text_prefix, str):
                raise ValueError
            net = ipaddress.ip_network(text_prefix, strict=False)
        except ValueError:
            raise reader.fail(place, f"{str(text_prefix)[:60]!r} is not an IP prefix",
                              "download a fresh copy of the file (prefixes look like 3.5.140.0/22 or 2600:1f14::/35)") from None
        first = int(net.network_address)
        intervals.append((net.version, first, first + net.num_addresses - 1))
    return RangeFile(path, provider, len(intervals), _published(data, provider)), intervals


class _Table:
    """Disjoint, sorted intervals of one IP version: starts[i]..ends[i] belong to providers[i]."""

    __slots__ = ("starts", "ends", "providers")

    def __init__(self, intervals: list[tuple[int, int, str]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.providers: list[str] = []
        for first, last, provider in sorted(intervals):
            if self.ends and first <= self.ends[-1] + 1:
                if last <= self.ends[-1]:
                    continue  # inside the previous interval (AWS lists AMAZON around EC2, for one)
                if provider == self.providers[-1]:
                    self.ends[-1] = last
                    continue
                first = self.ends[-1] + 1  # another provider's overlap: the first listed keeps its part
            self.starts.append(first)
            self.ends.append(last)
            self.providers.append(provider)

    def find(self, value: int) -> str | None:
        i = bisect.bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.providers[i]
        return None

    def __len__(self) -> int:
        return len(self.starts)


class CloudRanges:
    """Every configured range file, merged into one lookup table per IP version."""

    def __init__(self, paths: list[str] | tuple[str, ...] = (), where: str = "geoip.cloud_ranges") -> None:
        self.files: list[RangeFile] = []
        v4: list[tuple[int, int, str]] = []
        v6: list[tuple[int, int, str]] = []
        for i, path in enumerate(paths):
            summary, intervals = read_range_file(path, f"{where}[{i}]")
            self.files.append(summary)
            for version, first, last in intervals:
                (v4 if version == 4 else v6).append((first, last, summary.provider))
        self._v4 = _Table(v4)
        self._v6 = _Table(v6)

    def __bool__(self) -> bool:
        return bool(self.files)

    @property
    def intervals(self) -> int:
        """Disjoint intervals kept after merging (the memory the tables take is proportional to it)."""
        return len(self._v4) + len(self._v6)

    def provider(self, ip: str) -> str | None:
        """aws, gcp or azure when a range file lists the address; None otherwise (or not an IP)."""
        try:
            if ":" in ip:
                packed = socket.inet_pton(socket.AF_INET6, ip)
                if packed[:12] == b"\0" * 10 + b"\xff\xff":  # ::ffff:a.b.c.d is the IPv4 address
                    return self._v4.find(int.from_bytes(packed[12:], "big"))
                return self._v6.find(int.from_bytes(packed, "big"))
            return self._v4.find(int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big"))
        except (OSError, ValueError, TypeError):
            return None
