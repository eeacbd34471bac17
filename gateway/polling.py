"""A background task that calls ``check()`` every interval: the shared engine of hot reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging

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
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # the reload loop must outlive any surprise
                log.exception("%s: check failed; will retry", self.poll_name)
