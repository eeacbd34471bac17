"""The one error the model package raises for anything a person can fix."""

from __future__ import annotations


class ModelError(Exception):
    """A model artifact or training input that cannot be used; the message names the file and the fix."""
