"""Secrets from the config: the value itself, or the environment variable it names."""

from __future__ import annotations

import os

from gateway.settings import ConfigError


def secret(value: str | None, env: str | None, key: str) -> bytes:
    """The secret for ``key``; ConfigError naming the key and the variable when neither is set."""
    found = value or (os.environ.get(env) if env else None)
    if not found:
        raise ConfigError(f"{key}: no secret; set {key.rsplit('.', 1)[0]}.secret or the environment variable {env}")
    return found.encode()
