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
BURST_HISTORY_S = 3600.0  # how long an account's burst record is kept (account.burst_*_1h)
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


def target_features(now: float, account_hash: str, prefix: str, asn_key: str, anon: bool, previous: list, out: dict) -> bool:
    """Write the target.* features; return whether the target is in a burst now."""
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
    prefix_share = top_prefix_n / n
    asn_share = top_asn_n / n
    anon_share = anons / n
    distinct_accounts = len(accounts)
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
    (this one included). ``burst_marks`` is the count returned by the account's
    burst set, which always holds the fresh marker ``PRESENT`` besides the
    targets recorded as in a burst. Whether *this* target is in a burst is only
    known once the state is read, so it is recorded with the next exchange.
    """
    bursts = burst_marks - 1 + (1 if in_burst else 0)
    if bursts > targets_1h:
        bursts = targets_1h
    if bursts < 0:
        bursts = 0
    out["account.burst_targets_1h"] = bursts
    out["account.burst_share_1h"] = bursts / targets_1h if targets_1h > 0 else 0.0


PRESENT = "-"  # a member every read refreshes, so reading the burst set never needs a separate op
