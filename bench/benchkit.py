"""What several benches share: ports, the machine's load, uvicorn's stack, wrk scripts, a timed decide."""

from __future__ import annotations

import importlib
import os
import socket
import time

APP_UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile of ``samples`` (0.99: the p99), nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def python_pace() -> str:
    """How fast this interpreter runs plain Python here (a million loop additions, best of five), so
    absolute figures from different machines can be compared: they scale with it."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return f"python pace {best * 1000:.0f} ms per million loop additions"


def server_stack() -> str:
    """What uvicorn's "auto" picks here: the HTTP parser and the event loop."""
    picked = []
    for module, fallback in (("httptools", "h11"), ("uvloop", "asyncio")):
        try:
            importlib.import_module(module)
            picked.append(module)
        except ImportError:
            picked.append(fallback)
    return " + ".join(picked)


def wrk_script(method: str, token: str, **headers: str) -> str:
    """A wrk Lua script sending the app's request headers (plus ``headers``, underscores as dashes)."""
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Authorization"] = "Bearer {token}"',
             f'wrk.headers["User-Agent"] = "{APP_UA}"', 'wrk.headers["Accept"] = "application/json"',
             'wrk.headers["Accept-Language"] = "en-US"', 'wrk.headers["X-Device-Id"] = "dev-bench"']
    lines += [f'wrk.headers["{name.replace("_", "-")}"] = "{value}"' for name, value in headers.items()]
    return "\n".join(lines) + "\n"


def time_decisions(engine) -> list[int]:
    """Wrap ``engine.decide`` so each call's nanoseconds land in the returned one-item list."""
    decide = engine.decide
    last = [0]

    async def timed_decide(facts):
        t0 = time.perf_counter_ns()
        verdict = await decide(facts)
        last[0] = time.perf_counter_ns() - t0
        return verdict

    engine.decide = timed_decide
    return last
