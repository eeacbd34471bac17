"""The error every config reader raises: what is wrong, where, and the fix."""


class ConfigError(ValueError):
    """A config file problem a person can fix; the message names the place and the fix."""
