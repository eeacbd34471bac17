"""gateway rules lint / rules test / features, through their entry functions."""

from __future__ import annotations

from gateway.policy.cli import features_main, lint_main
from gateway.policy.cli import test_main as rules_test_main
from gateway.settings import PACKAGE_DIR
from gateway.signals import catalogue

RULES = PACKAGE_DIR / "rules"

PACK = """\
rules:
  - id: dc
    description: datacenter crowd
    on: [like]
    when: net.class == "hosting" && ip.accounts_1h >= 20
    action: block
    tests:
      - name: farm
        features: {action: like, net.class: hosting, ip.accounts_1h: 30}
        match: true
      - name: wrong expectation
        features: {action: like, net.class: hosting}
        match: true
      - name: other action
        features: {action: comment, net.class: hosting, ip.accounts_1h: 30}
        match: true
"""


def test_lint_ok_and_errors(tmp_path, capsys):
    assert lint_main([str(RULES)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and " rules in 6 files" in out
    (tmp_path / "a.yaml").write_text("rules:\n  - {id: x, description: d, on: '*', when: 'ip.acounts_1h > 1', acton: log}\n")
    (tmp_path / "b.yaml").write_text("thresholds: {challenge: 2000}\n")
    assert lint_main([str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(line.startswith(str(tmp_path)) for line in lines)
    assert any("did you mean 'action'?" in line for line in lines)
    assert any("did you mean 'ip.accounts_1h'?" in line for line in lines)


def test_rule_tests_pass_and_fail(tmp_path, capsys):
    assert rules_test_main([str(RULES)]) == 0
    assert "PASS dc-account-farm: " in capsys.readouterr().out
    (tmp_path / "p.yaml").write_text(PACK)
    assert rules_test_main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PASS dc: farm"
    assert out[1].startswith("FAIL dc: wrong expectation (")
    assert "expected match, got no match (condition is missing); net.class=hosting, ip.accounts_1h=missing" in out[1]
    assert "the rule is not 'on' action 'comment'" in out[2]


def test_features_table_and_markdown(capsys):
    assert features_main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["name", "type", "range", "window", "cost", "meaning"]
    assert len(lines) == 1 + len(catalogue.all_features())
    assert features_main(["--markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0] == "| name | type | range | window | cost | meaning |"
    assert any(line.startswith("| `ip.accounts_1h` | int | 1..128 | 1h | state |") for line in md)
    assert any(line.startswith("| `account.actions_1m` | int | 1..33 | 1m | state |") for line in md)
