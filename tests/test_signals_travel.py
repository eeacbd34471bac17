"""Travel: a flight, a VPN hop and an impossible trip look different."""

from __future__ import annotations

import math

from signals_support import (
    ASHBURN,
    LONDON,
    NEW_YORK,
    PARIS,
    T0,
    Driver,
    moved,
    office,
    phone,
    principal,
    server,
)

from gateway.signals.travel import MIN_DT_S, haversine_km


def test_haversine_against_known_distances() -> None:
    assert abs(haversine_km(*LONDON, *NEW_YORK) - 5570) < 15  # London-New York, about 5,570 km
    assert abs(haversine_km(*LONDON, *PARIS) - 344) < 5
    assert haversine_km(*PARIS, *PARIS) == 0.0


async def test_a_flight_is_a_plausible_speed() -> None:
    """London at noon, New York eight hours later: about 700 km/h, no anonymizer at either end."""
    d = Driver()
    who = principal("flyer")
    await d.act(who, phone(), T0)
    f = await d.act(who, phone(ip="100.65.1.9", where=NEW_YORK, country="US", asn=64520), T0 + 8 * 3600.0)
    assert abs(f["session.travel_km"] - haversine_km(*LONDON, *NEW_YORK)) < 1.0
    assert 600.0 < f["session.speed_kmh"] < 800.0
    assert f["session.travel_anonymized"] is False
    assert f["session.prev_class"] == "mobile"
    assert f["account.speed_kmh"] == f["session.speed_kmh"]


async def test_a_vpn_hop_is_fast_but_anonymized() -> None:
    """A traveller in Paris switches on a VPN with an exit in Virginia two minutes later.

    The rule shape that leaves them alone: ``session.speed_kmh > 1000 && !session.travel_anonymized``.
    """
    d = Driver()
    who = principal("traveller")
    await d.birth(who, office(where=PARIS, country="FR"), T0)
    await d.act(who, office(where=PARIS, country="FR"), T0 + 60.0)
    f = await d.act(who, server(net_class="vpn", where=ASHBURN, ua=office().user_agent, tls=office().tls,
                                 platform="macos"), T0 + 180.0)
    assert f["session.speed_kmh"] > 100_000.0
    assert f["session.travel_anonymized"] is True
    assert f["session.prev_class"] == "residential"
    assert f["session.ua_changed"] is False and f["session.tls_changed"] is False
    fair_rule = f["session.speed_kmh"] > 1000 and not f["session.travel_anonymized"]
    assert not fair_rule


async def test_impossible_travel_without_an_anonymizer() -> None:
    d = Driver()
    who = principal("teleporter")
    await d.act(who, phone(), T0)
    f = await d.act(who, phone(ip="100.65.1.9", where=NEW_YORK, country="US"), T0 + 600.0)
    assert f["session.speed_kmh"] > 30_000.0
    assert f["session.travel_anonymized"] is False
    fair_rule = f["session.speed_kmh"] > 1000 and not f["session.travel_anonymized"]
    assert fair_rule


async def test_tiny_time_deltas_use_the_floor() -> None:
    """Two uses a second apart, 344 km apart: the speed is taken over a minute, not a second."""
    d = Driver()
    who = principal("jitter")
    await d.act(who, phone(where=LONDON), T0)
    f = await d.act(who, phone(where=PARIS), T0 + 1.0)
    assert math.isclose(f["session.speed_kmh"], f["session.travel_km"] * 3600.0 / MIN_DT_S)


async def test_account_travel_spans_sessions() -> None:
    """The account's travel is between its own consecutive uses, whichever session made them."""
    d = Driver()
    a = principal("shared", session="phone-session")
    b = principal("shared", session="server-session")
    await d.act(a, phone(), T0)
    f = await d.act(b, server(), T0 + 300.0)
    assert "session.travel_km" not in f  # the server session's first use
    assert f["account.travel_km"] > 5000.0 and f["account.travel_anonymized"] is True
    assert f["account.prev_class"] == "mobile"


async def test_no_location_no_distance() -> None:
    d = Driver()
    who = principal("nowhere")
    await d.act(who, moved(phone(), lat=None, lon=None), T0)
    f = await d.act(who, phone(), T0 + 60.0)
    assert f["session.prev_class"] == "mobile"
    assert "session.travel_km" not in f and "session.speed_kmh" not in f
