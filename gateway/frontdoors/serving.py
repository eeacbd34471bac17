"""How the front doors run under uvicorn, from the command line or in a thread.

uvicorn's own proxy-header handling is off: it would replace the peer address
with one taken from X-Forwarded-For before the engine sees it, and the engine
must see the real peer to apply ``network.trusted_proxies`` itself (and to
believe device and TLS headers only from a trusted proxy).

uvicorn parses HTTP with httptools and runs on uvloop when they are installed
(they are dependencies): a request costs a third of what h11 on asyncio costs.
A front door that must see the whole request target asks for h11 with an
``http_parser = "h11"`` attribute (the reverse proxy does).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn


def uvicorn_config(app, host: str = "127.0.0.1", port: int = 9000) -> uvicorn.Config:
    # Date and Server come from the upstream when proxying; uvicorn must not add a second pair.
    return uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False,
                          server_header=False, date_header=False, access_log=False,
                          http=getattr(app, "http_parser", "auto"), loop="auto")


@contextlib.contextmanager
def serving(app, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` in a background thread with the front doors' uvicorn settings; yield its base URL."""
    server = uvicorn.Server(uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
