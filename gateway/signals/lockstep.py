"""Lockstep: many accounts acting on one target at once, from one place.

Each action on a target leaves ``"ts|account|prefix|asn/class|anon"`` in the
target's recent-action list (the account as a short hash). The next action
reads the list back and summarises the last five minutes: actions, distinct
accounts, the share from hosting/vpn/tor, the share of the busiest prefix and
of the busiest ASN.

A target is *in a burst* when both hold:

- at least ``BURST_MIN_ACCOUNTS`` distinct accounts acted on it in the window;
- the crowd is concentrated: the busiest /24 or /64 carries at least
  ``BURST_PREFIX_SHARE`` of the actions, or anonymizing networks carry at
  least ``BURST_ANON_SHARE``, or one non-consumer ASN (hosting, vpn, tor,
  unknown) carries at least ``BURST_ASN_SHARE``.

A viral post is liked by many accounts too, but from all over: many
prefixes, residential and mobile carriers, so no share crosses the bar. A
mobile carrier's ASN alone never makes a burst: a local post can be popular
with one city's carrier.

Sample bound: the list keeps the target's newest ``MAX_RECENT`` actions, so
the 5-minute counts saturate at ``MAX_RECENT + 1``; the shares are over that
sample (the most recent actions), which is what a burst decision needs.
"""

from __future__ import annotations

WINDOW_S = 300.0
MAX_RECENT = 32
BURST_MIN_ACCOUNTS = 10
BURST_PREFIX_SHARE = 0.5
BURST_ANON_SHARE = 0.5
BURST_ASN_SHARE = 0.8
CONSUMER_CLASSES = ("/mobile", "/residential")


def encode(ts: float, account_hash: str, prefix: str, asn_key: str, anon: bool) -> str:
    return f"{ts:.3f}|{account_hash}|{prefix}|{asn_key}|{'1' if anon else '0'}"


_PARSED: dict[str, tuple] = {}
_PARSED_MAX = 65_536  # each record is parsed once on this replica; a flood costs re-parsing, never memory


def _parse(rec: object) -> tuple | None:
    parts = str(rec).split("|")
    if len(parts) != 5:
        return None
    try:
        row = (float(parts[0]), parts[1], parts[2], parts[3], parts[4] == "1")
    except ValueError:
        return None
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[rec] = row  # type: ignore[index]
    return row


class _Window:
    """A hot target's in-window rows as last read, with their running counts.

    The next read of the same target is usually the last one with one record
    pushed at the front (this replica's own write, or another's): then only
    the new row is counted in and the rows that aged out or fell off the list
    are counted out, instead of re-counting all of them.
    """

    __slots__ = ("recs", "rows", "now", "accounts", "prefixes", "asns", "anons")

    def __init__(self) -> None:
        self.recs: list = []  # the list as read (newest first)
        self.rows: list[tuple] = []  # parsed in-window rows of recs, newest first, ts never increasing
        self.now = 0.0
        self.accounts: dict[str, int] = {}
        self.prefixes: dict[str, int] = {}
        self.asns: dict[str, int] = {}
        self.anons = 0

    def add(self, row: tuple) -> None:
        _, acct, pfx, asn, anonymized = row
        self.accounts[acct] = self.accounts.get(acct, 0) + 1
        self.prefixes[pfx] = self.prefixes.get(pfx, 0) + 1
        self.asns[asn] = self.asns.get(asn, 0) + 1
        if anonymized:
            self.anons += 1

    def drop_oldest(self) -> None:
        _, acct, pfx, asn, anonymized = self.rows.pop()
        for counts, k in ((self.accounts, acct), (self.prefixes, pfx), (self.asns, asn)):
            c = counts[k] - 1
            if c:
                counts[k] = c
            else:
                del counts[k]
        if anonymized:
            self.anons -= 1

    def advance(self, now: float, previous: list) -> bool:
        """Move to ``previous`` (read at ``now``) if it is the last list plus one new record; else False."""
        recs = self.recs
        kept = len(previous) - 1
        if now < self.now or kept < 0 or kept > len(recs) or previous[1:] != recs[:kept]:
            return False
        row = _PARSED.get(previous[0]) or _parse(previous[0])
        rows = self.rows
        if row is None or (rows and row[0] < rows[0][0]):
            return False  # unreadable or out of order: recount from scratch
        while len(rows) > kept:  # fell off the end of the list
            self.drop_oldest()
        cut = now - WINDOW_S
        while rows and rows[-1][0] <= cut:  # aged out (ts never increase toward the end)
            self.drop_oldest()
        if row[0] <= cut:
            while rows:
                self.drop_oldest()
        else:
            rows.insert(0, row)
            self.add(row)
        self.recs = previous
        self.now = now
        return True

    def rebuild(self, now: float, previous: list) -> bool:
        """Count ``previous`` from scratch; False if it cannot be followed incrementally."""
        self.__init__()
        cut = now - WINDOW_S
        rows = self.rows
        for rec in previous:
            row = _PARSED.get(rec) or _parse(rec)
            if row is None or (rows and row[0] > rows[-1][0]):
                return False
            if row[0] <= cut:
                break
            rows.append(row)
            self.add(row)
        self.recs = previous
        self.now = now
        return True


WINDOWS_MAX = 1024  # hot targets a collector follows incrementally; past it its table starts over
_FOLLOW_FROM = 8  # shorter lists are cheaper to count than to follow


def _followed(windows: dict[str, _Window], key: str, now: float, previous: list) -> _Window | None:
    window = windows.get(key)
    if window is not None and window.advance(now, previous):
        return window
    if len(previous) < _FOLLOW_FROM:
        if window is not None:
            del windows[key]
        return None
    if window is None:
        if len(windows) >= WINDOWS_MAX:
            windows.clear()
        window = windows[key] = _Window()
    if window.rebuild(now, previous):
        return window
    del windows[key]
    return None


def target_features(now: float, account_hash: str, prefix: str, asn_key: str, anon: bool, previous: list, out: dict,
                    key: str | None = None, windows: dict | None = None) -> bool:
    """Write the target.* features; return whether the target is in a burst now.

    With ``key`` (the target) and ``windows`` (the caller's followed targets:
    a collector's own, as a replay in another thread has its own), a hot
    target's counts are followed from one read to the next instead of
    recounted; the features are the same either way.
    """
    window = _followed(windows, key, now, previous) if key is not None and windows is not None else None
    if window is not None:
        n = len(window.rows) + 1
        accounts = window.accounts
        distinct_accounts = len(accounts) + (0 if account_hash in accounts else 1)
        prefixes = window.prefixes
        own = prefixes.get(prefix, 0) + 1
        top_prefix_n = max(own, max(prefixes.values(), default=0))
        asns = window.asns
        top_asn, top_asn_n = asn_key, asns.get(asn_key, 0) + 1
        if asns:
            busiest = max(asns, key=asns.__getitem__)
            if busiest != asn_key and asns[busiest] > top_asn_n:
                top_asn, top_asn_n = busiest, asns[busiest]
        anons = window.anons + (1 if anon else 0)
        return _shares(n, distinct_accounts, top_prefix_n, top_asn, top_asn_n, anons, out)
    return _recount(now, account_hash, prefix, asn_key, anon, previous, out)


def _recount(now: float, account_hash: str, prefix: str, asn_key: str, anon: bool, previous: list, out: dict) -> bool:
    cut = now - WINDOW_S
    parsed = _PARSED
    accounts = {account_hash}
    by_prefix = {prefix: 1}
    by_asn = {asn_key: 1}
    top_prefix_n = top_asn_n = 1
    top_asn = asn_key
    anons = 1 if anon else 0
    n = 1
    for rec in previous:
        row = parsed.get(rec) or _parse(rec)
        if row is None:
            continue
        ts, acct, pfx, asn, anonymized = row
        if ts <= cut:
            break  # newest first: the rest are older still
        n += 1
        accounts.add(acct)
        c = by_prefix.get(pfx, 0) + 1
        by_prefix[pfx] = c
        if c > top_prefix_n:
            top_prefix_n = c
        c = by_asn.get(asn, 0) + 1
        by_asn[asn] = c
        if c > top_asn_n:
            # Ties may name either ASN; the name matters only past BURST_ASN_SHARE (> half), where it is unique.
            top_asn_n, top_asn = c, asn
        if anonymized:
            anons += 1
    distinct_accounts = len(accounts)
    return _shares(n, distinct_accounts, top_prefix_n, top_asn, top_asn_n, anons, out)


def _shares(n: int, distinct_accounts: int, top_prefix_n: int, top_asn: str, top_asn_n: int, anons: int,
            out: dict) -> bool:
    prefix_share = top_prefix_n / n
    asn_share = top_asn_n / n
    anon_share = anons / n
    out["target.actions_5m"] = n
    out["target.accounts_5m"] = distinct_accounts
    out["target.anonymized_share_5m"] = anon_share
    out["target.top_prefix_share_5m"] = prefix_share
    out["target.top_asn_share_5m"] = asn_share
    if distinct_accounts < BURST_MIN_ACCOUNTS:
        return False
    return (
        prefix_share >= BURST_PREFIX_SHARE
        or anon_share >= BURST_ANON_SHARE
        or (asn_share >= BURST_ASN_SHARE and not top_asn.endswith(CONSUMER_CLASSES))
    )


def burst_features(targets_1h: int, burst_marks: int, in_burst: bool, out: dict) -> None:
    """The account's share of recent targets that were in bursts.

    ``targets_1h`` counts the distinct targets the account acted on in the hour
    (this one included); ``burst_marks`` those recorded as in a burst. Whether
    *this* target is in a burst is only known once the state is read, so it is
    recorded with the next exchange and counted here by hand.
    """
    bursts = burst_marks + (1 if in_burst else 0)
    if bursts > targets_1h:
        bursts = targets_1h
    out["account.burst_targets_1h"] = bursts
    out["account.burst_share_1h"] = bursts / targets_1h if targets_1h > 0 else 0.0
