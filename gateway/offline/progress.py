"""Progress of long replays and evaluations, on a terminal's stderr only.

Shown when stderr is a terminal and not ``--quiet``: a pipe or a log file
gets nothing, and stdout (decision lines, the report) never does. The count
is handed to the bar every ``EVERY`` items, not per item, so a replay pays
one comparison per record for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from gateway.offline.records import open_bytes

T = TypeVar("T")
EVERY = 2048  # items between updates of the bar: a few per second at replay's speed
_CHUNK = 1 << 20
_COLUMNS, _ROWS = 80, 24  # a terminal that reports no size (a bare pseudo-terminal): tqdm would draw nothing


def wanted(stream: IO[str] | None = None, *, quiet: bool = False, tty: bool | None = None) -> bool:
    """Whether to show progress on ``stream`` (stderr): only on a terminal, never when quiet.

    ``tty`` overrides the terminal check (tests, and callers that know better).
    """
    if quiet:
        return False
    if tty is not None:
        return tty
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """One bar of counted items; does nothing at all when not ``enabled``."""

    def __init__(self, desc: str, *, enabled: bool, total: int | None = None, unit: str = "records",
                 stream: IO[str] | None = None, every: int = EVERY, mininterval: float = 0.5) -> None:
        self.enabled = enabled
        self.every = max(1, every)
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            stream = sys.stderr if stream is None else stream
            sized = _columns(stream) > 0
            self._bar = tqdm(desc=desc, total=total, unit=unit, unit_scale=True, leave=False, file=stream,
                             mininterval=mininterval, dynamic_ncols=sized, ncols=None if sized else _COLUMNS,
                             nrows=None if sized else _ROWS)

    def counted(self, items: Iterable[T]) -> Iterable[T]:
        """``items`` unchanged, counted into the bar as they are taken."""
        if self._bar is None:
            return items
        return self._count(items)

    def _count(self, items: Iterable[T]) -> Iterator[T]:
        every, update, n = self.every, self._bar.update, 0
        try:
            for item in items:
                yield item
                n += 1
                if n == every:
                    update(n)
                    n = 0
        finally:
            update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):  # not a file, or not a terminal
        return 0


def note(message: str, *, enabled: bool, stream: IO[str] | None = None) -> None:
    """A one-line stage message ("simulating ..."), on the terminal only."""
    if enabled:
        print(message, file=sys.stderr if stream is None else stream, flush=True)


def count_lines(path: Path) -> int:
    """Lines in a file, read as bytes a chunk at a time: the bar's total, so it can show an end time."""
    n, last = 0, b"\n"
    with open_bytes(path) as f:
        while chunk := f.read(_CHUNK):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")
