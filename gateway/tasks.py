"""Background tasks: how one is stopped, written once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def cancel(task: asyncio.Task | None) -> None:
    """Cancel ``task`` (if any) and wait until it has stopped; its cancellation is not the caller's."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def on_each_wake(wake: asyncio.Event, work: Callable[[], Awaitable[None]], logger: logging.Logger,
                       failed: str, pause_s: float = 0.0) -> None:
    """Run ``work`` each time ``wake`` is set, for good: a failure is logged (``failed``), never the end of it."""
    while True:
        await wake.wait()
        wake.clear()
        try:
            await work()
        except Exception:  # noqa: BLE001 - best effort off the request path: the task must outlive any fault
            logger.exception(failed)
            if pause_s:
                await asyncio.sleep(pause_s)
