"""A background task that calls ``check()`` every interval: the shared engine of hot reload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

from gateway.tasks import cancel

log = logging.getLogger("gateway.reload")


class Poller:
    """Subclasses set ``interval_s`` and ``poll_name`` and implement ``async check()``."""

    interval_s: float
    poll_name: str = "gateway-poller"
    _task: asyncio.Task | None = None

    async def check(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name=self.poll_name)

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # the reload loop must outlive any surprise
                log.exception("%s: check failed; will retry", self.poll_name)


class Settle:
    """Whether a file's stamp (mtime, size, ...) has held still for ``settle_s``.

    An editor saving in place or ``cp`` over a file writes it in pieces; read
    between two pieces, a file can be valid and yet cut short. A stamp seen for
    the first time starts the clock; only one unchanged for ``settle_s`` since
    is steady. (Deploying by rename, which is atomic, never shows a piece.)
    """

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = settle_s
        self.clock = clock
        self._stamp: Hashable = object()  # matches no stamp
        self._since = 0.0

    def steady(self, stamp: Hashable) -> bool:
        now = self.clock()
        if stamp != self._stamp:
            self._stamp, self._since = stamp, now
            return self.settle_s <= 0
        return now - self._since >= self.settle_s
