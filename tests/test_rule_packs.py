"""Every inline test of every default pack in rules/, and the packs lint clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy.cli import describe_failure, lint_main
from gateway.policy.loader import load_and_merge

RULES = Path(__file__).resolve().parent.parent / "rules"
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
