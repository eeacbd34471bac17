"""Hot reload: an edit takes effect; a broken edit keeps the old rules and records why."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from gateway.metrics import REGISTRY
from gateway.policy import PolicyError
from gateway.policy.reload import RuleSetWatcher
from gateway.verdict import Decision

RULE = """\
rules:
  - id: dc
    description: datacenter
    on: [like]
    when: net.class == "hosting" && ip.accounts_1h >= {limit}
    action: {action}
"""
FEATURES = {"action": "like", "net.class": "hosting", "ip.accounts_1h": 12}


def reloads(outcome: str) -> float:
    return REGISTRY.get_sample_value("gateway_reloads_total", {"kind": "rules", "outcome": outcome}) or 0.0


def edit(path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a visible mtime change


async def wait_for(predicate, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_edit_takes_effect_and_broken_edit_keeps_old_rules(tmp_path, caplog):
    pack = tmp_path / "rules.yaml"
    pack.write_text(RULE.format(limit=20, action="block"))
    watcher = RuleSetWatcher([tmp_path], interval_s=0.02)
    first = watcher.current
    assert first.evaluate(FEATURES).decision is Decision.ALLOW
    await watcher.start()
    try:
        ok_before = reloads("ok")
        edit(pack, RULE.format(limit=10, action="block"))
        await wait_for(lambda: watcher.current is not first)
        assert watcher.current.evaluate(FEATURES).decision is Decision.BLOCK
        assert first.evaluate(FEATURES).decision is Decision.ALLOW  # a request holding the old set is unaffected
        assert reloads("ok") == ok_before + 1

        good = watcher.current
        error_before = reloads("error")
        with caplog.at_level(logging.ERROR, logger="gateway.policy"):
            edit(pack, RULE.format(limit=10, action="blok"))
            await wait_for(lambda: watcher.last_error is not None)
        assert watcher.current is good
        assert f"{pack}:6:13: action 'blok'" in watcher.last_error
        assert reloads("error") == error_before + 1
        assert any(f"{pack}:6:13" in r.getMessage() for r in caplog.records)

        (tmp_path / "more.yaml").write_text(RULE.replace("id: dc", "id: dc2").format(limit=5, action="log"))
        edit(pack, RULE.format(limit=10, action="challenge"))
        await wait_for(lambda: watcher.current is not good)
        assert watcher.last_error is None
        assert [r.id for r in watcher.current.rules] == ["dc2", "dc"]
        assert watcher.current.evaluate(FEATURES).decision is Decision.CHALLENGE
    finally:
        await watcher.close()


def test_reload_now_and_removed_file(tmp_path):
    pack = tmp_path / "a.yaml"
    pack.write_text(RULE.format(limit=10, action="block"))
    watcher = RuleSetWatcher(pack)
    assert not watcher.changed()
    pack.unlink()
    assert watcher.changed()
    assert watcher.reload_now() is False
    assert "no such file or folder" in watcher.last_error
    assert watcher.current.evaluate(FEATURES).decision is Decision.BLOCK
    pack.write_text(RULE.format(limit=10, action="log"))
    assert watcher.reload_now() is True
    assert watcher.current.evaluate(FEATURES).decision is Decision.LOG


def test_first_load_must_succeed(tmp_path):
    (tmp_path / "a.yaml").write_text("rules: [}\n")
    with pytest.raises(PolicyError) as info:
        RuleSetWatcher(tmp_path)
    assert "YAML syntax error" in info.value.errors[0]


def test_rules_that_name_kinds_no_route_declares_are_reported(tmp_path, caplog):
    """A typo in 'on:' makes a rule dead without an error: the gateway, which knows its routes, says so."""
    (tmp_path / "a.yaml").write_text(
        "rules:\n"
        "  - {id: typo, description: d, on: [lkie], when: 'net.class == \"hosting\"', action: block}\n"
        "  - {id: both, description: d, on: [like, follow], when: 'net.class == \"hosting\"', action: block}\n"
        "  - {id: all, description: d, on: '*', when: 'net.class == \"hosting\"', action: log}\n")
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):
        watcher = RuleSetWatcher(tmp_path, kinds=("like",))
    warned = [r.getMessage() for r in caplog.records if "no route declares" in r.getMessage()]
    assert len(warned) == 1 and "rule typo" in warned[0] and "'lkie'" in warned[0] and "did you mean 'like'?" in warned[0]
    caplog.clear()
    (tmp_path / "a.yaml").write_text(
        "rules:\n  - {id: gone, description: d, on: [comment], when: 'net.class == \"hosting\"', action: block}\n")
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):
        assert watcher.reload_now()
    assert any("rule gone" in r.getMessage() and "'comment'" in r.getMessage() for r in caplog.records)
