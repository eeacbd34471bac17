"""RuleSet.evaluate: allowlists, precedence, weights and thresholds, shadow, sticky, explain, metrics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.metrics import REGISTRY
from gateway.policy import RuleSet, Sticky
from gateway.settings import PACKAGE_DIR
from gateway.verdict import Decision

PACK = """\
pack: eval
thresholds: {challenge: 50, block: 100}
allowlists:
  clients: [monitor]
  cidrs: [192.0.2.0/24, "2001:db8::/32"]
  asns: [64500]
  accounts: [brand]
rules:
  - id: dc-sharing
    description: many accounts on one datacenter IP
    on: [like]
    when: net.class == "hosting" && ip.accounts_1h >= 20
    action: block
    sticky: {scope: ip, for: 1h}
  - id: fast-likes
    description: too many likes in a minute
    on: [like]
    when: account.actions_1m >= 30
    action: throttle
    retry_after: 45
    sticky: {scope: account, for: 10m}
  - id: human-ok
    description: known good client
    on: "*"
    when: client_id == "partner" && account.actions_1m < 5
    action: allow
  - id: vpn
    description: VPN
    on: "*"
    when: net.class == "vpn"
    weight: 30
  - id: script
    description: script client
    on: [like, follow]
    when: ua.family == "http-library"
    weight: 30
  - id: just-log
    description: odd country
    on: [follow]
    when: net.country == "AQ"
    action: log
  - id: would-block
    description: shadow experiment
    on: "*"
    when: net.anonymizer
    action: block
    mode: shadow
  - id: shadow-weight
    description: shadow weight
    on: "*"
    when: net.anonymizer
    weight: 500
    mode: shadow
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> RuleSet:
    folder: Path = tmp_path_factory.mktemp("packs")
    (folder / "eval.yaml").write_text(textwrap.dedent(PACK))
    return RuleSet.load(folder)


def test_no_match_allows(rules):
    ev = rules.evaluate({"action": "like", "net.class": "residential"})
    assert ev.decision is Decision.ALLOW and ev.rules == [] and ev.shadow_rules == [] and ev.risk == 0


@pytest.mark.parametrize(("features", "rule_id"), [
    ({"client_id": "monitor"}, "allowlist:clients"),
    ({"net.ip": "192.0.2.7"}, "allowlist:cidrs"),
    ({"net.ip": "2001:db8::5"}, "allowlist:cidrs"),
    ({"net.asn": 64500}, "allowlist:asns"),
    ({"account.id": "brand"}, "allowlist:accounts"),
])
def test_allowlists_come_first(rules, features, rule_id):
    ev = rules.evaluate({"action": "like", "net.class": "hosting", "ip.accounts_1h": 50, **features})
    assert ev.decision is Decision.ALLOW and ev.rules == [rule_id]
    assert rule_id in ev.explain


def test_block_beats_throttle_and_stickies_are_reported(rules):
    ev = rules.evaluate({"action": "like", "net.class": "hosting", "ip.accounts_1h": 23, "account.actions_1m": 33})
    assert ev.decision is Decision.BLOCK
    assert ev.rules == ["dc-sharing", "fast-likes"]
    assert ev.retry_after is None
    assert ev.sticky == [Sticky("ip", Decision.BLOCK, 3600, "dc-sharing"),
                         Sticky("account", Decision.THROTTLE, 600, "fast-likes")]
    assert ev.explain.startswith(
        "block by dc-sharing: many accounts on one datacenter IP (net.class=hosting, ip.accounts_1h=23)")


def test_throttle_carries_retry_after(rules):
    ev = rules.evaluate({"action": "like", "account.actions_1m": 31})
    assert ev.decision is Decision.THROTTLE and ev.retry_after == 45


def test_allow_rule_beats_everything(rules):
    ev = rules.evaluate({"action": "like", "client_id": "partner", "account.actions_1m": 1,
                         "net.class": "vpn", "ua.family": "http-library"}, extra_risk=80)
    assert ev.decision is Decision.ALLOW and ev.sticky == []
    assert "human-ok" in ev.rules


def test_rules_are_indexed_by_action_kind(rules):
    ev = rules.evaluate({"action": "comment", "net.class": "hosting", "ip.accounts_1h": 99})
    assert ev.decision is Decision.ALLOW
    ev = rules.evaluate({"net.class": "hosting", "ip.accounts_1h": 99})  # no action: "*" rules only
    assert ev.decision is Decision.ALLOW


def test_weights_and_extra_risk_reach_thresholds(rules):
    one = rules.evaluate({"action": "like", "net.class": "vpn"})
    assert one.decision is Decision.ALLOW and one.risk == 30 and one.rules == ["vpn"]
    two = rules.evaluate({"action": "like", "net.class": "vpn", "ua.family": "http-library"})
    assert two.decision is Decision.CHALLENGE and two.risk == 60
    assert two.rules == ["vpn", "script", "threshold:challenge"]
    assert two.explain.startswith("challenge by threshold:challenge: risk 60 >= 50")
    model = rules.evaluate({"action": "like", "net.class": "vpn", "ua.family": "http-library"}, extra_risk=45)
    assert model.decision is Decision.BLOCK and model.rules[-1] == "threshold:block"
    alone = rules.evaluate({"action": "like"}, extra_risk=55)
    assert alone.decision is Decision.CHALLENGE and alone.rules == ["threshold:challenge"]


def test_threshold_beats_a_weaker_rule_action(rules):
    ev = rules.evaluate({"action": "follow", "net.country": "AQ", "net.class": "vpn",
                         "ua.family": "http-library"})
    assert ev.decision is Decision.CHALLENGE
    assert ev.rules == ["vpn", "script", "just-log", "threshold:challenge"]


def test_shadow_rules_are_reported_and_change_nothing(rules):
    ev = rules.evaluate({"action": "follow", "net.anonymizer": True})
    assert ev.decision is Decision.ALLOW and ev.rules == [] and ev.risk == 0
    assert ev.shadow_rules == ["would-block", "shadow-weight"]
    assert "shadow: would-block would block" in ev.explain


def test_bad_feature_types_never_raise(rules):
    ev = rules.evaluate({"action": "like", "net.class": "hosting", "ip.accounts_1h": "lots",
                         "account.actions_1m": 40, "net.ip": "not-an-ip"})
    assert ev.decision is Decision.THROTTLE  # the broken rule is skipped, the others still run
    assert rules.evaluate({"action": ["weird"]}).decision is Decision.ALLOW


def test_rule_hits_are_counted(rules):
    def hits(rule: str, mode: str) -> float:
        return REGISTRY.get_sample_value("gateway_rule_hits_total", {"rule": rule, "mode": mode}) or 0.0
    before = hits("would-block", "shadow"), hits("vpn", "enforce")
    rules.evaluate({"action": "like", "net.class": "vpn", "net.anonymizer": True})
    assert hits("would-block", "shadow") == before[0] + 1
    assert hits("vpn", "enforce") == before[1] + 1


def test_referenced_features_and_empty_set(rules):
    assert {"net.class", "ip.accounts_1h", "account.actions_1m", "client_id"} <= rules.referenced_features
    empty = RuleSet.empty()
    assert empty.evaluate({"action": "like"}, extra_risk=999).decision is Decision.ALLOW


def test_guard_index_never_changes_the_answer():
    """The index only skips rules that could not match: compare with running every rule."""
    import random

    from gateway.policy.loader import load_and_merge
    from gateway.signals import catalogue

    rules_dir = PACKAGE_DIR / "rules"
    ruleset = RuleSet.load(rules_dir)
    rules = load_and_merge(rules_dir).rules
    rng = random.Random(7)
    pools = {"bool": [True, False], "string": ["hosting", "vpn", "mobile", "residential", "http-library", "app"],
             "int": [0, 3, 12, 20, 25, 50, 256], "float": [0.0, 0.5, 0.7, 4.3, 600.0, 1500.0, 50000.0]}
    for _ in range(3000):
        features: dict[str, object] = {"action": rng.choice(["like", "follow", "comment", "login"])}
        for name in ruleset.referenced_features:
            feature = catalogue.lookup(name)
            if feature.type in pools and rng.random() < 0.7:
                features[name] = rng.choice(pools[feature.type])
        brute = [r.id for r in rules if r.mode == "enforce" and r.matches(features)]
        got = [rid for rid in ruleset.evaluate(features).rules if not rid.startswith("threshold:")]
        assert got == brute, features
