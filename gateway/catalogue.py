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

Ranges. A number's ``min``/``max`` are the bounds its computation can produce
(a count is never negative, a capped count saturates at its cap, a share lies
in 0..1), set only where the code guarantees them. Rule packs are checked
against them: a comparison no value in range can satisfy, or an inline test
feeding a value out of range, is an error at load.
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
    min: float | None = None  # the least value the computation can produce (None: unbounded or unknown)
    max: float | None = None  # the greatest, e.g. a capped count's cap

    def in_range(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def range_text(self) -> str:
        """The documented range as people read it: ``0..1``, ``>= 0``, or ``""`` when unknown."""
        if self.min is not None and self.max is not None:
            return f"{number_text(self.min)}..{number_text(self.max)}"
        if self.min is not None:
            return f">= {number_text(self.min)}"
        if self.max is not None:
            return f"<= {number_text(self.max)}"
        return ""


def number_text(value: float) -> str:
    """A bound as written in a rule: 33, 0.5, 4.584962501."""
    return f"{value:.10g}"


CATALOGUE_VERSION = "1"

_REGISTRY: dict[str, Feature] = {}


def register(name: str, type: str, window: str, meaning: str, cost: str, default: float | None = None,
             *, min: float | None = None, max: float | None = None) -> Feature:
    if type not in TYPES:
        raise ValueError(f"feature {name}: type {type!r} is not one of {TYPES}")
    if cost not in COSTS:
        raise ValueError(f"feature {name}: cost {cost!r} is not one of {COSTS}")
    if name in _REGISTRY:
        raise ValueError(f"feature {name} is registered twice")
    if (min is not None or max is not None) and type not in ("int", "float"):
        raise ValueError(f"feature {name}: only numbers have a range, not {type}")
    if min is not None and max is not None and min > max:
        raise ValueError(f"feature {name}: min {min} is above max {max}")
    f = Feature(name, type, window, meaning, cost, default, min, max)
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
