"""Fixed-line moves: a residential-proxy pool rotating one session's exits vs. a person moving about."""

from __future__ import annotations

from signals_support import T0, Driver, moved, office, phone, principal


def residential(ip: str, device: str = "android-dev-9"):
    """The platform's own app on someone's home line: what a careful service's proxy exit looks like."""
    return moved(phone(ip=ip, device=device), net_class="residential", asn=64600 + int(ip.split(".")[1]))


async def test_a_session_rotating_home_lines_counts_its_moves() -> None:
    d = Driver()
    who = principal("customer", device="android-dev-9")
    last = {}
    for i in range(6):  # a new exit every ten minutes
        last = await d.act(who, residential(f"81.{10 + i}.3.7"), T0 + 600.0 * i, target=f"post-{i}")
    assert last["session.fixed_line_moves_24h"] == 5


async def test_people_moving_about_stay_at_zero_or_one() -> None:
    d = Driver()
    who = principal("laptop-user", device="mac-1")
    home, cafe = office("198.51.100.20", device="mac-1"), office("192.0.2.40", device="mac-1")
    f = await d.act(who, home, T0, target="a")
    assert f["session.fixed_line_moves_24h"] == 0
    f = await d.act(who, home, T0 + 60.0, target="b")  # same line
    assert f["session.fixed_line_moves_24h"] == 0
    f = await d.act(who, cafe, T0 + 900.0, target="c")  # home to the cafe: one move
    assert f["session.fixed_line_moves_24h"] == 1
    f = await d.act(who, home, T0 + 900.0 + 7200.0, target="d")  # back home hours later: not a move
    assert f["session.fixed_line_moves_24h"] == 1

    phone_user = principal("commuter", device="android-dev-1")
    for i in range(6):  # mobile data changes address all the time: never a fixed-line move
        f = await d.act(phone_user, phone(ip=f"100.64.{i}.7"), T0 + 60.0 * i, target=f"p{i}")
    assert f["session.fixed_line_moves_24h"] == 0

    shared = principal("victim", device="android-dev-1")  # a token used by its owner and a thief on another device
    await d.act(shared, residential("81.20.1.1", device="android-dev-1"), T0, target="x")
    f = await d.act(shared, residential("81.30.1.1", device="thief-dev"), T0 + 60.0, target="y")
    f = await d.act(shared, residential("81.20.1.1", device="android-dev-1"), T0 + 120.0, target="z")
    assert f["session.fixed_line_moves_24h"] == 0  # each device's own moves only


async def test_a_token_used_by_two_devices_in_turn_counts_its_switches() -> None:
    d = Driver()
    shared = principal("victim", device="android-dev-1")
    devices = ["android-dev-1", "thief-dev", "android-dev-1", "thief-dev", "thief-dev"]
    seen = []
    for i, device in enumerate(devices):  # owner and thief in turn, each on their own line
        f = await d.act(shared, residential(f"81.{20 + i % 2}.1.1", device=device), T0 + 600.0 * i, target=f"t{i}")
        seen.append(f["session.device_switches_24h"])
    assert seen == [0, 1, 2, 3, 3]
    f = await d.act(shared, residential("81.20.1.1", device="android-dev-1"), T0 + 600.0 * 5 + 86400.0, target="z")
    assert f["session.device_switches_24h"] == 1  # a day later only this switch is in the window


async def test_one_device_or_none_never_switches() -> None:
    d = Driver()
    person = principal("person", device="android-dev-1")
    for i in range(6):  # home line, mobile data, a cafe: one device throughout
        fp = residential(f"81.{10 + i}.3.7", device="android-dev-1") if i % 2 else phone(ip=f"100.64.{i}.7")
        f = await d.act(person, fp, T0 + 900.0 * i, target=f"p{i}")
        assert f["session.device_switches_24h"] == 0
    browser = principal("browser-user")
    for i in range(3):  # no device id sent at all
        f = await d.act(browser, office(device=None), T0 + 60.0 * i, target=f"b{i}")
        assert f["session.device_switches_24h"] == 0
