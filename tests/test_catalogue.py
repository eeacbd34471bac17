"""The catalogue and the collector agree: every feature is produced, every produced key is catalogued."""

from __future__ import annotations

from test_signals_support import T0, Driver, office, phone, principal, server

from gateway import catalogue

PY_TYPES = {"bool": (bool,), "int": (int,), "float": (float,), "string": (str,), "list": (list,)}
ENGINE_ADDED = {"model.score"}  # the scorer adds it, not the collector


def check_types(features: dict) -> None:
    for name, value in features.items():
        feature = catalogue.lookup(name)
        assert feature is not None, f"{name} is produced but not in the catalogue"
        assert isinstance(value, PY_TYPES[feature.type]), f"{name}={value!r} is not a {feature.type}"
        if feature.type in ("int", "float"):
            assert not isinstance(value, bool), f"{name}={value!r} is a bool, catalogued as {feature.type}"


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
    ring = [principal(f"ring-{i}", client="partner-scheduler") for i in range(12)]
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
