"""The learned score: a small calibrated model beside the rules.

Serving needs only this package's plain-Python scorer; training
(``gateway.offline.train``) needs the optional ``[train]`` extra.
"""

from pathlib import Path

from gateway.model.errors import ModelError
from gateway.model.scorer import Scorer
from gateway.model.watcher import ModelWatcher

DEFAULT_MODEL = Path(__file__).with_name("default-model.json")

__all__ = ["DEFAULT_MODEL", "ModelError", "ModelWatcher", "Scorer"]
