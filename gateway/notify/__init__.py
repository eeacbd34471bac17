"""Telling the owner, cutting the app off, listing what it did: events, sinks, signed links, removals.

Nothing here runs on the request path: ``Notifier.observe`` appends to bounded
queues and a background task does the rest (README: What the person and the
owner see).
"""

from gateway.notify.notifier import Notifier

__all__ = ["Notifier"]
