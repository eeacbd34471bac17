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
    parsed = _parse(previous)
    if parsed is None:
        return
    then, plat, plon, prev_class = parsed
    out[ns + ".prev_class"] = prev_class
    out[ns + ".travel_anonymized"] = prev_class in ANONYMIZING or net_class in ANONYMIZING
    if lat is None or lon is None or plat is None or plon is None:
        return
    km = haversine_km(plat, plon, lat, lon)
    dt = now - then
    out[ns + ".travel_km"] = km
    out[ns + ".speed_kmh"] = km * 3600.0 / (dt if dt > MIN_DT_S else MIN_DT_S)


_last: list = [None, None]  # the last record parsed and its fields: a session and its account often share one


def _parse(record: str) -> tuple | None:
    if _last[0] == record:
        return _last[1]
    parts = record.split("|")
    parsed = None
    if len(parts) == 4:
        try:
            parsed = (float(parts[0]), float(parts[1]) if parts[1] else None, float(parts[2]) if parts[2] else None,
                      parts[3])
        except ValueError:
            parsed = None
    _last[0], _last[1] = record, parsed
    return parsed
