"""Hot reload: keep the current scorer, swap in a new artifact when the file changes.

A bad artifact at start is an error (the gateway must not start with a model
it cannot read); a bad artifact at reload is logged and counted, and the last
good scorer keeps serving, because a half-copied file must never switch the
model off or, worse, on with the wrong weights.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gateway.metrics import RELOADS
from gateway.model.errors import ModelError
from gateway.model.scorer import Scorer
from gateway.polling import Poller

log = logging.getLogger("gateway.model")


class ModelWatcher(Poller):
    """``current`` is the scorer in force; ``start()`` polls the file's mtime and size in the background."""

    poll_name = "gateway-model-reload"

    def __init__(self, path: str | Path, interval_s: float = 2.0) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._stamp = self._file_stamp()
        self.current: Scorer | None = Scorer.load(self.path)
        self.last_error: str | None = None

    async def check(self) -> bool:
        """Reload now if the file changed; True if a new scorer was swapped in."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            scorer = await asyncio.to_thread(Scorer.load, self.path)
        except ModelError as exc:
            self.last_error = str(exc)
            RELOADS.labels("model", "error").inc()
            log.error("model reload refused, keeping the previous model: %s", exc)
            return False
        self.current, self.last_error = scorer, None
        RELOADS.labels("model", "ok").inc()
        log.info("model reloaded from %s (%s)", self.path, scorer.checksum)
        return True

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)
