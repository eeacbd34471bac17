"""The catalogue and the collector agree: every feature is produced, every produced key is catalogued."""

from __future__ import annotations

from signals_support import T0, Driver, office, phone, principal, server

from gateway.signals import catalogue

PY_TYPES = {"bool": (bool,), "int": (int,), "float": (float,), "string": (str,), "list": (list,)}
ENGINE_ADDED = {"model.score"}  # the scorer adds it, not the collector


def check_types(features: dict) -> None:
    for name, value in features.items():
        feature = catalogue.lookup(name)
        assert feature is not None, f"{name} is produced but not in the catalogue"
        assert isinstance(value, PY_TYPES[feature.type]), f"{name}={value!r} is not a {feature.type}"
        if feature.type in ("int", "float"):
            assert not isinstance(value, bool), f"{name}={value!r} is a bool, catalogued as {feature.type}"
            assert feature.in_range(value), f"{name}={value!r} is outside its documented range {feature.range_text}"


async def realistic_day() -> set[str]:
    """A phone session born at the token endpoint, a DPoP-bound web session, a ring on one post."""
    d = Driver()
    seen: set[str] = set()

    def keep(f: dict) -> None:
        check_types(f)
        seen.update(f)

    own = principal("owner", device="android-dev-1")
    await d.birth(own, phone(), T0)
    for i in range(6):
        keep(await d.act(own, phone(), T0 + 60.0 + 47.0 * i, target=f"post-{i}"))
    web = principal("owner", session="web", client="engage-web", bound=True, dpop_valid=True)
    keep(await d.act(web, office(device="laptop-1"), T0 + 900.0, action="comment", target="post-1"))
    ring = [principal(f"ring-{i}", client="partner-scheduler", scopes=("read", "comment")) for i in range(12)]
    for i, who in enumerate(ring):
        keep(await d.act(who, server(ip=f"203.0.113.{i + 1}"), T0 + 1000.0 + i, target="bought"))
    keep(await d.act(own, server(ip="203.0.113.99"), T0 + 1100.0, action="follow", target="user-9"))
    return seen


async def test_every_catalogued_feature_is_produced() -> None:
    seen = await realistic_day()
    missing = catalogue.names() - ENGINE_ADDED - seen
    assert not missing, f"catalogued but never produced: {sorted(missing)}"


def test_catalogue_entries_are_well_formed() -> None:
    for f in catalogue.all_features():
        assert f.type in catalogue.TYPES and f.cost in catalogue.COSTS
        assert f.meaning and f.meaning[0].isupper() and f.meaning.endswith((".", ")")), f.name
        assert f.name == f.name.lower() and " " not in f.name
    assert catalogue.lookup("ip.accounts_1h").window == "1h"


async def test_saturated_values_stay_within_the_documented_ranges() -> None:
    """A script hammering likes and a farm's crowd reach the caps; every value stays in range."""
    d = Driver()
    bot = principal("bot", client="partner-scheduler")
    last: dict = {}
    for i in range(80):  # a like every half second on new targets: the timing and target counts saturate
        last = await d.act(bot, server(), T0 + 0.5 * i, target=f"post-{i}")
        check_types(last)
    assert last["account.actions_1m"] == catalogue.lookup("account.actions_1m").max == 33
    assert last["account.gaps"] == catalogue.lookup("account.gaps").max
    farm = [principal(f"farm-{i}", client="partner-scheduler") for i in range(140)]
    for i, who in enumerate(farm):  # more accounts on one hosting address and target than the caps keep
        last = await d.act(who, server(), T0 + 100.0 + 0.1 * i, target="bought")
        check_types(last)
    assert last["ip.accounts_1h"] == catalogue.lookup("ip.accounts_1h").max == 128
    assert last["target.actions_5m"] == catalogue.lookup("target.actions_5m").max == 33


def test_ranges_are_only_on_numbers_and_ordered() -> None:
    ranged = [f for f in catalogue.all_features() if f.min is not None or f.max is not None]
    assert len(ranged) > 50
    for f in ranged:
        assert f.type in ("int", "float"), f.name
        assert f.min is None or f.max is None or f.min <= f.max, f.name
        assert f.range_text, f.name
    assert catalogue.lookup("account.actions_1m").range_text == "1..33"
    assert catalogue.lookup("model.score").range_text == "0..1"
    assert catalogue.lookup("account.actions_1h").range_text == ">= 1"
    assert catalogue.lookup("net.asn").range_text == ""  # whatever the ASN database says
