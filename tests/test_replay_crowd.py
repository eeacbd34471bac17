"""A careful like farm through the real engine: its pool is challenged together, people are left alone."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.sim.personas import Persona
from gateway.sim.replay import replay_main
from gateway.sim.scenarios import Scenario, build

RULE = "same-crowd-target-after-target"
DAY = Scenario("crowd", "tune", 24.0, 1_709_510_400.0,
               (Persona("home_broadband", 20), Persona("power_user", 6), Persona("like_farm", 1, "careful", 30)))


def test_a_careful_farms_pool_is_challenged_together(tmp_path: Path, capsys) -> None:
    traffic, out = tmp_path / "traffic.jsonl", tmp_path / "decisions.jsonl"
    traffic.write_text("".join(line + "\n" for line in build(DAY, 5).lines()))
    assert replay_main(["--input", str(traffic), "--output", str(out)]) == 0, capsys.readouterr().err
    records = {r["id"]: r for r in map(json.loads, traffic.read_text().splitlines())}
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    actions = [d for d in decisions if d["meta"].get("kind") != "login"]
    farm = [d for d in actions if d["label"] == "abuse"]
    matched, pinned = set(), set()  # the farm's sessions that met the rule themselves / were only pinned by another's
    for d in farm:
        session = records[d["id"]]["headers"]["authorization"]  # one token per farm session
        if RULE in d["rules"] and "sticky" not in d["explain"]:
            matched.add(session)
        elif RULE in d["rules"] and session not in matched:
            pinned.add(session)
            assert d["decision"] == "challenge" and "sticky on this session" in d["explain"]
    assert matched, "the rule matches the pool on its own"
    assert pinned, "sessions of the pool that never matched are challenged with it"
    people = [d for d in actions if d["label"] == "benign"]
    assert people and not [d for d in people if d["enforced"] and d["decision"] != "allow"]
