"""The feature catalogue: every value rules, the model and the decision log can name.

One registry. Rules are type-checked against it when a pack loads, the model
is trained on (and refuses artifacts not made from) it, the decision log
records it, ``gateway features`` prints it and the README's feature reference
is generated from it.

Missing values. A feature can be absent for a request (no GeoIP database, the
first request of a session, no device header). Absent features are simply not
in the request's feature mapping. In a rule condition, any comparison or
function involving an absent value is false, ``!`` of such a comparison is
true only if written as ``!has(x)``; ``has(x)`` tests presence. Nothing ever
raises at request time. The model reads an absent number as its documented
``default``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Types a feature can have, as rule authors write them.
TYPES = ("bool", "int", "float", "string", "list")

# Cost classes: how a feature is obtained, for people budgeting latency.
COSTS = ("request", "lookup", "state")


@dataclass(frozen=True, slots=True)
class Feature:
    name: str  # dotted: namespace.what_window, e.g. ip.accounts_1h
    type: str  # one of TYPES
    window: str  # "" for point-in-time, else e.g. "10m", "1h", "24h", "last 32 actions"
    meaning: str  # one sentence a security engineer can act on
    cost: str  # "request" (parsed from the request), "lookup" (cached GeoIP/UA), "state" (state store)
    default: float | None = None  # what the model reads when the value is absent


CATALOGUE_VERSION = "1"

_REGISTRY: dict[str, Feature] = {}


def register(name: str, type: str, window: str, meaning: str, cost: str, default: float | None = None) -> Feature:
    if type not in TYPES:
        raise ValueError(f"feature {name}: type {type!r} is not one of {TYPES}")
    if cost not in COSTS:
        raise ValueError(f"feature {name}: cost {cost!r} is not one of {COSTS}")
    if name in _REGISTRY:
        raise ValueError(f"feature {name} is registered twice")
    f = Feature(name, type, window, meaning, cost, default)
    _REGISTRY[name] = f
    return f


def get(name: str) -> Feature | None:
    return _REGISTRY.get(name)


def all_features() -> list[Feature]:
    _load()
    return sorted(_REGISTRY.values(), key=lambda f: f.name)


def names() -> frozenset[str]:
    _load()
    return frozenset(_REGISTRY)


def lookup(name: str) -> Feature | None:
    _load()
    return _REGISTRY.get(name)


def _load() -> None:
    # The definitions live beside the code that computes them; importing the
    # module registers them.
    from gateway.signals import features as _  # noqa: F401
