"""Every inline test of every default pack in gateway/rules/, and the packs lint clean."""

from __future__ import annotations

import pytest

from gateway.policy.cli import describe_failure, lint_main
from gateway.policy.loader import load_and_merge
from gateway.settings import PACKAGE_DIR

RULES = PACKAGE_DIR / "rules"
_MERGED = load_and_merge(RULES)
_CASES = [
    pytest.param(rule, test, id=f"{rule.id}: {test.name}")
    for rule in _MERGED.rules
    for test in rule.tests
]


def test_default_packs_load_without_errors():
    assert _MERGED.errors == []
    assert len(_MERGED.files) >= 6


def test_lint_is_clean(capsys):
    assert lint_main([str(RULES)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


@pytest.mark.parametrize(("rule", "case"), _CASES)
def test_inline_rule_test(rule, case):
    assert rule.matches(case.features) == case.match, describe_failure(rule, case)


def test_every_rule_has_tests_for_abuse_and_look_alike():
    for rule in _MERGED.rules:
        outcomes = {t.match for t in rule.tests}
        assert outcomes == {True, False}, f"{rule.id} needs a matching and a non-matching test"


def test_packs_include_shadow_and_sticky_rules():
    assert any(r.mode == "shadow" for r in _MERGED.rules)
    assert any(r.sticky is not None for r in _MERGED.rules)


async def test_like_rate_burst_throttles_a_script_and_spares_a_bingeing_person():
    """The rule fires on features the collector really produces: a like every 0.8 s, not one every 1.6 s."""
    from signals_support import T0, Driver, phone, principal

    from gateway.policy.ruleset import RuleSet
    from gateway.verdict import Decision

    rule = next(r for r in _MERGED.rules if r.id == "like-rate-burst")
    rules = RuleSet.load(RULES)

    async def decisions(pace_s: float, count: int) -> list[bool]:
        d = Driver()
        who = principal(f"paced-{pace_s}")
        return [rule.matches(await d.act(who, phone(), T0 + pace_s * i, target=f"post-{i}")) for i in range(count)]

    script = await decisions(0.8, 40)
    assert not any(script[:32]) and all(script[32:])  # from the 33rd like inside one minute
    assert not any(await decisions(1.6, 60))  # bingeing a feed: 33 in under a minute, but at a thumb's pace
    assert not any(await decisions(3.0, 60))  # 20 likes a minute, sustained
    d = Driver()
    who = principal("script")
    for i in range(33):
        features = await d.act(who, phone(), T0 + 0.8 * i, target=f"post-{i}")
    assert rules.evaluate(features).decision is Decision.THROTTLE
