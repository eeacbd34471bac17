"""Watch rule pack files and swap in a new RuleSet when they change.

``watcher.current`` is a plain attribute: reading it is atomic, and a request
keeps the RuleSet object it read for its whole evaluation, so a swap never
affects a request in flight. A change is loaded in full (every file, every
check); only a clean load is swapped in. A broken edit keeps the last good set,
logs each error with its place and counts it in gateway_reloads.

A file written in place (an editor saving, ``cp`` over it) is read only once
it is stable: the files' mtimes and sizes unchanged for ``settle_s``, and
unchanged again after they were read. A pack cut short can be valid YAML with
fewer rules, so a loadable file is not proof of a whole one. Deploying by
rename (write a temporary file in the same folder, then ``mv`` it over the
pack) is atomic and needs no waiting.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from gateway.metrics import RELOADS
from gateway.policy.loader import PACK_SUFFIXES, as_paths, load_and_merge
from gateway.policy.ruleset import RuleSet
from gateway.polling import Poller, Settle

log = logging.getLogger("gateway.policy")

Signature = tuple[tuple[str, int, int], ...]


class RuleSetWatcher(Poller):
    poll_name = "rules-watcher"

    def __init__(self, paths: str | Path | Iterable[str | Path], interval_s: float = 1.0,
                 *, initial: RuleSet | None = None, kinds: Iterable[str] = (), settle_s: float = 0.5) -> None:
        """Load the packs now (raising PolicyError if they are broken) and remember their state.

        ``kinds``: the action kinds the gateway's routes declare. At every load a rule is
        reported that can never match (it names none of them) or names a kind close to
        one of them (a typo such as ``lkie``). ``settle_s``: how long a change must hold still
        before it is read (a file being written is not).
        """
        self.paths = as_paths(paths)
        self.interval_s = interval_s
        self._settle = Settle(settle_s)
        self.kinds = frozenset(kinds)
        self._signature = self._scan()
        self.current: RuleSet = initial if initial is not None else RuleSet.load(self.paths)
        self._warn_unrouted(self.current)
        self.last_error: str | None = None  # every error of the last failed reload, one per line

    def changed(self) -> bool:
        """Whether any pack file was added, removed or modified since the last load."""
        return self._scan() != self._signature

    def settled(self) -> bool:
        """Whether the packs changed and have since held still for ``settle_s`` (ready to read)."""
        signature = self._scan()
        return signature != self._signature and self._settle.steady(signature)

    def reload_now(self) -> bool:
        """Load the packs in full; swap them in on success. Returns whether the swap happened."""
        before = self._scan()
        try:
            merged = load_and_merge(self.paths)
            errors = merged.errors
            fresh = RuleSet(merged) if not errors else None
        except Exception as exc:  # never let a reload take the gateway down
            errors, fresh = [f"unexpected error while loading rules: {exc!r}"], None
        if self._scan() != before:
            # Written to while being read: what was read may be a piece. The next poll retries.
            log.info("a rule pack changed while it was read; reading it again once it is stable")
            return False
        self._signature = before
        if fresh is None:
            for error in errors:
                log.error("rule reload failed, keeping the previous rules: %s", error)
            self.last_error = "\n".join(errors)
            RELOADS.labels(kind="rules", outcome="error").inc()
            return False
        self.current = fresh
        self._warn_unrouted(fresh)
        self.last_error = None
        RELOADS.labels(kind="rules", outcome="ok").inc()
        log.info("rules reloaded: %d rules from %d files", len(fresh.rules), len(fresh.files))
        return True

    def _warn_unrouted(self, rules: RuleSet) -> None:
        if not self.kinds:
            return
        for rule in rules.rules:
            if rule.on is None:
                continue
            dead = not (rule.on & self.kinds)
            for kind in sorted(rule.on - self.kinds):
                close = difflib.get_close_matches(kind, self.kinds, n=1, cutoff=0.6)
                if dead or close:
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    log.warning("rule %s (%s) names action kind '%s', which no route declares%s (the routes' kinds: "
                                "%s)", rule.id, rule.place, kind, hint, ", ".join(sorted(self.kinds)))

    async def check(self) -> bool:
        """Reload if any pack changed and is stable; True if a new set was swapped in. File work runs in a thread."""
        if await asyncio.to_thread(self.settled):
            return await asyncio.to_thread(self.reload_now)
        return False

    def _scan(self) -> Signature:
        entries: list[tuple[str, int, int]] = []
        for path in self.paths:
            try:
                if path.is_dir():
                    with os.scandir(path) as it:
                        for entry in it:
                            if entry.name.endswith(PACK_SUFFIXES) and entry.is_file():
                                st = entry.stat()
                                entries.append((entry.path, st.st_mtime_ns, st.st_size))
                else:
                    st = path.stat()
                    entries.append((str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                entries.append((str(path), -1, -1))  # missing: a change when it comes back
        return tuple(sorted(entries))
