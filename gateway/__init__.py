"""An in-line gateway against credential-sharing third-party apps.

Public API::

    from gateway import GatewayMiddleware, load_settings
    app = GatewayMiddleware(app, load_settings("gateway.yaml"))
"""

from gateway.facts import RequestFacts
from gateway.settings import ConfigError, Settings, load_settings, settings_from_dict
from gateway.verdict import Decision, Verdict

__all__ = [
    "ConfigError",
    "Decision",
    "Engine",
    "GatewayMiddleware",
    "RequestFacts",
    "Settings",
    "Verdict",
    "load_settings",
    "settings_from_dict",
]


def __getattr__(name: str):
    # The engine pulls in every part; import it only when asked for.
    if name == "Engine":
        from gateway.engine import Engine

        return Engine
    if name == "GatewayMiddleware":
        from gateway.frontdoors.middleware import GatewayMiddleware

        return GatewayMiddleware
    raise AttributeError(f"module 'gateway' has no attribute {name!r}")
