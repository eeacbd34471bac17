"""Fast constructors for the state-store ops (gateway.signals.store).

A request plans about thirty ops. The op dataclasses are frozen, and a frozen
dataclass's ``__init__`` goes through ``object.__setattr__`` once per field
(about 1.3 us for a Distinct here); writing the slots through their member
descriptors builds the very same immutable object in about half the time.
When the ops are not frozen, the plain constructor is already fast and is used.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.signals.store import Append, Distinct, Get, Incr, Put, PutIfAbsent


def _builder(cls: type) -> Callable[..., object]:
    if not cls.__dataclass_params__.frozen:
        return cls
    setters = [getattr(cls, name).__set__ for name in cls.__slots__]
    new = object.__new__
    if len(setters) == 1:
        (s0,) = setters

        def build1(a: object) -> object:
            o = new(cls)
            s0(o, a)
            return o

        return build1
    if len(setters) == 3:
        s0, s1, s2 = setters

        def build3(a: object, b: object, c: object) -> object:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            s2(o, c)
            return o

        return build3
    if len(setters) == 4:
        s0, s1, s2, s3 = setters

        def build4(a: object, b: object, c: object, d: object) -> object:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            s2(o, c)
            s3(o, d)
            return o

        return build4
    if len(setters) == 6:
        s0, s1, s2, s3, s4, s5 = setters

        def build6(a: object, b: object, c: object, d: object, e: object, f: object) -> object:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            s2(o, c)
            s3(o, d)
            s4(o, e)
            s5(o, f)
            return o

        return build6
    return cls


# Positional, in field order: see gateway.signals.store for the meanings.
distinct: Callable[[str, str, float, tuple[float, ...], float, int], Distinct] = _builder(Distinct)  # type: ignore[assignment]
append: Callable[[str, str | float, float, int], Append] = _builder(Append)  # type: ignore[assignment]
get: Callable[[str], Get] = _builder(Get)  # type: ignore[assignment]
put: Callable[[str, str, float], Put] = _builder(Put)  # type: ignore[assignment]
put_if_absent: Callable[[str, str, float], PutIfAbsent] = _builder(PutIfAbsent)  # type: ignore[assignment]
incr: Callable[[str, int, float], Incr] = _builder(Incr)  # type: ignore[assignment]
