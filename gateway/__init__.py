"""An in-line gateway against credential-sharing third-party apps.

Public API: the names below, imported from ``gateway``, and the test helpers
in ``gateway.testing``::

    from gateway import GatewayMiddleware, load_settings
    app = GatewayMiddleware(app, load_settings("gateway.yaml"))

- ``GatewayMiddleware``: the ASGI middleware in front of your app.
- ``load_settings``, ``settings_from_dict``, ``Settings``, ``ConfigError``:
  reading and checking the config.
- ``Engine``, ``RequestFacts``, ``Decision``, ``Verdict``: deciding on a
  request without ASGI (another front door, a batch job, a test).
- ``metrics_app``: the Prometheus /metrics endpoint as an ASGI app.

Every other module (gateway.engine, gateway.policy, gateway.frontdoors, ...)
is internal: its names may change in any release. ``import gateway`` is
cheap: each name is imported when it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each on first use
    from gateway.engine import Engine
    from gateway.errors import ConfigError
    from gateway.facts import RequestFacts
    from gateway.frontdoors.middleware import GatewayMiddleware
    from gateway.metrics import metrics_app
    from gateway.settings import Settings, load_settings, settings_from_dict
    from gateway.verdict import Decision, Verdict

_HOME = {  # public name -> the module that defines it
    "ConfigError": "gateway.errors",
    "Decision": "gateway.verdict",
    "Engine": "gateway.engine",
    "GatewayMiddleware": "gateway.frontdoors.middleware",
    "RequestFacts": "gateway.facts",
    "Settings": "gateway.settings",
    "Verdict": "gateway.verdict",
    "load_settings": "gateway.settings",
    "metrics_app": "gateway.metrics",
    "settings_from_dict": "gateway.settings",
}

__all__ = [
    "ConfigError",
    "Decision",
    "Engine",
    "GatewayMiddleware",
    "RequestFacts",
    "Settings",
    "Verdict",
    "load_settings",
    "metrics_app",
    "settings_from_dict",
]


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
