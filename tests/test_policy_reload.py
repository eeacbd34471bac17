"""Hot reload: an edit takes effect; a broken edit keeps the old rules and records why."""

from __future__ import annotations

import asyncio
import logging
import os
import time

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


def pack_of(prefix: str, count: int = 8) -> str:
    rules = "".join(
        f"  - id: {prefix}-{i}\n"
        f"    description: rule {i} of the {prefix} pack\n"
        f"    on: [like]\n"
        f"    when: net.class == \"hosting\" && ip.accounts_1h >= {10 + i}\n"
        f"    action: block\n"
        for i in range(count))
    return "rules:\n" + rules


async def test_a_pack_overwritten_in_place_is_never_served_half_written(tmp_path):
    """A writer copies a pack over the old one in pieces while the watcher polls: only whole packs are served.

    Every piece ends at a line, so most of the pieces on disk are valid YAML with fewer rules: the dangerous case.
    """
    import threading

    pack = tmp_path / "rules.yaml"
    pack.write_text(pack_of("old"))
    old_ids = tuple(f"old-{i}" for i in range(8))
    new_ids = tuple(f"new-{i}" for i in range(8))
    watcher = RuleSetWatcher([tmp_path], interval_s=0.01)  # the default settle interval
    assert tuple(r.id for r in watcher.current.rules) == old_ids
    lines = pack_of("new").splitlines(keepends=True)
    done = threading.Event()

    def write_slowly() -> None:
        with open(pack, "w") as f:  # truncates, as cp and most editors' in-place saves do
            for line in lines:
                f.write(line)
                f.flush()
                time.sleep(0.01)
        done.set()

    served: set[tuple[str, ...]] = set()
    await watcher.start()
    writer = threading.Thread(target=write_slowly)
    try:
        writer.start()
        while not done.is_set():  # sample what a request would get, all along the write
            served.add(tuple(r.id for r in watcher.current.rules))
            await asyncio.sleep(0.002)
        await wait_for(lambda: tuple(r.id for r in watcher.current.rules) == new_ids)
        served.add(tuple(r.id for r in watcher.current.rules))
    finally:
        writer.join()
        await watcher.close()
    assert served == {old_ids, new_ids}, sorted(served, key=len)
    assert watcher.last_error is None


def test_a_pack_changed_while_it_is_read_is_not_swapped_in(tmp_path, monkeypatch):
    """Read twice and compare: a write landing during the read leaves the old rules in force."""
    from gateway.policy import reload

    pack = tmp_path / "rules.yaml"
    pack.write_text(pack_of("old"))
    watcher = RuleSetWatcher(pack, settle_s=0)
    first = watcher.current
    real = reload.load_and_merge

    def read_then_grow(paths):
        merged = real(paths)  # reads the first half
        with open(pack, "a") as f:
            f.write(pack_of("late").removeprefix("rules:\n"))
        return merged

    edit(pack, pack_of("new", 4))
    monkeypatch.setattr(reload, "load_and_merge", read_then_grow)
    assert watcher.settled()
    assert watcher.reload_now() is False
    assert watcher.current is first and watcher.last_error is None
    monkeypatch.setattr(reload, "load_and_merge", real)
    assert watcher.settled() and watcher.reload_now() is True
    assert [r.id for r in watcher.current.rules] == [f"new-{i}" for i in range(4)] + [f"late-{i}" for i in range(8)]


def test_settle_waits_for_a_stamp_to_hold_still():
    from gateway.polling import Settle

    now = [0.0]
    settle = Settle(0.5, clock=lambda: now[0])
    assert not settle.steady((1, 100))
    now[0] = 0.4
    assert not settle.steady((1, 100))
    now[0] = 0.6
    assert not settle.steady((2, 180))  # grew: the clock starts again
    now[0] = 1.0
    assert not settle.steady((2, 180))
    now[0] = 1.1
    assert settle.steady((2, 180))
    assert Settle(0).steady((3, 1))
