"""Travel: how fast a session or account would have had to move between uses.

Each use leaves ``"ts|lat|lon|class"`` (lat/lon empty without a location);
the next use reads it back. A hop where either end is hosting, vpn or tor is
flagged ``travel_anonymized``: a VPN switch looks like teleportation and must
not be read as a stolen token.
"""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
MIN_DT_S = 60.0  # speeds are computed over at least a minute: GeoIP jitter over seconds is not travel
ANONYMIZING = frozenset(("hosting", "vpn", "tor"))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    dp, dl = p2 - p1, radians(lon2 - lon1)
    h = sin(dp * 0.5) ** 2 + cos(p1) * cos(p2) * sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))


def encode(ts: float, lat: float | None, lon: float | None, net_class: str) -> str:
    if lat is None or lon is None:
        return f"{ts:.3f}|||{net_class}"
    return f"{ts:.3f}|{lat:.4f}|{lon:.4f}|{net_class}"


def travel_features(ns: str, now: float, lat: float | None, lon: float | None, net_class: str,
                    previous: str | None, out: dict) -> None:
    """Write ``<ns>.prev_class``, ``travel_anonymized`` and, with both locations, km and km/h.

    ``previous`` is the record the previous use left (None if there was none).
    """
    if not previous:
        return
    key = (previous, now, lat, lon, net_class)
    last = _last_hop[0]
    if last[0] == key:  # the session's and its account's previous use are often the same one
        hop = last[1]
    else:
        hop = _hop(now, lat, lon, net_class, previous)
        _last_hop[0] = (key, hop)  # one assignment: a replay in another thread sees all or nothing
    if hop is None:
        return
    names = _NAMES.get(ns) or _names(ns)
    out[names[0]] = hop[0]
    out[names[1]] = hop[1]
    if len(hop) == 4:
        out[names[2]] = hop[2]
        out[names[3]] = hop[3]


def _hop(now: float, lat: float | None, lon: float | None, net_class: str, previous: str) -> tuple | None:
    """(previous class, anonymized) and, with both locations, (km, km/h); None for an unreadable record."""
    parsed = _parse(previous)
    if parsed is None:
        return None
    then, plat, plon, prev_class = parsed
    anonymized = prev_class in ANONYMIZING or net_class in ANONYMIZING
    if lat is None or lon is None or plat is None or plon is None:
        return prev_class, anonymized
    km = 0.0 if plat == lat and plon == lon else haversine_km(plat, plon, lat, lon)  # haversine's 0.0 too
    dt = now - then
    return prev_class, anonymized, km, km * 3600.0 / (dt if dt > MIN_DT_S else MIN_DT_S)


_NAMES: dict[str, tuple[str, ...]] = {}
_last_hop: list = [(None, None)]  # the last hop computed: its inputs and its values


def _names(ns: str) -> tuple[str, ...]:
    names = _NAMES[ns] = (f"{ns}.prev_class", f"{ns}.travel_anonymized", f"{ns}.travel_km", f"{ns}.speed_kmh")
    return names


def _parse(record: str) -> tuple | None:
    parts = record.split("|")
    if len(parts) == 4:
        try:
            return (float(parts[0]), float(parts[1]) if parts[1] else None, float(parts[2]) if parts[2] else None,
                    parts[3])
        except ValueError:
            pass
    return None
