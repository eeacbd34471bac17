"""The sweep: worlds drawn from wide priors, replayed, reduced to the worst world per persona and rule."""

from __future__ import annotations

import ipaddress
import json

import pytest

from gateway.offline.evaluate import eval_main
from gateway.offline.priors import BANDS, draw
from gateway.offline.scenarios import SCENARIOS, build
from gateway.offline.sweep import SweepSpec, combine, run_sweep
from gateway.offline.sweep_report import format_table
from gateway.offline.wild import BENIGN_PERSONAS, build_world, population
from gateway.offline.world import load_world

TINY = SweepSpec(seed=5, max_hours=1.5)


@pytest.fixture(scope="module")
def tiny_sweep() -> tuple[list[dict], dict]:
    results = list(run_sweep(TINY, 3, jobs=1))
    return results, combine(results)


def test_priors_vary_between_worlds_and_repeat_for_a_seed() -> None:
    worlds = [draw(1, i) for i in range(3)]
    assert [w.band for w in worlds] == ["low", "medium", "high"]
    for w in worlds:
        lo, hi = BANDS[w.band]
        assert lo <= w.volume <= hi and 0.6 <= w.zipf_exponent <= 1.4
    assert len({w.volume for w in worlds}) == 3 and len({w.zipf_exponent for w in worlds}) == 3
    assert len({w.cgnat_users_per_ip for w in worlds}) == 3 and len({w.session_ttl_s for w in worlds}) == 3
    assert draw(1, 2) == draw(1, 2) and draw(1, 2) != draw(2, 2)


def test_volume_scales_the_population() -> None:
    low, high = population(draw(1, 0)), population(draw(1, 2))
    assert set(low) == set(high) == set(BENIGN_PERSONAS)
    assert all(n >= 1 for n in low.values())
    assert high["mobile_cgnat"] > 10 * low["mobile_cgnat"]


def test_a_world_is_reproducible_and_has_every_persona_and_family_level() -> None:
    spec = SweepSpec(seed=3)  # whole days: office-hours personas act too
    a = [r["meta"] for r in build_world(spec.world(0)).records()]
    b = [r["meta"] for r in build_world(spec.world(0)).records()]
    assert a == b
    personas = {m.get("persona") for m in a}
    assert set(BENIGN_PERSONAS) <= personas
    levels = {(m["family"], m["level"]) for m in a if "family" in m}
    assert {("like_farm", lv) for lv in range(4)} <= levels and ("auto_liker", 3) in levels


def test_named_scenarios_never_draw_the_sweep_networks() -> None:
    sweep = [ipaddress.ip_network(n.cidr) for n in load_world().networks if n.split == "sweep"]
    assert sweep
    for rec in build(SCENARIOS["smoke"], 1).records():
        ip = ipaddress.ip_address(rec["headers"]["x-forwarded-for"])
        assert not any(ip in net for net in sweep if net.version == ip.version)


def test_sweep_reports_every_persona_and_the_worst_world(tiny_sweep: tuple[list[dict], dict]) -> None:
    results, summary = tiny_sweep
    assert len(summary["worlds"]) == 3
    assert set(BENIGN_PERSONAS) <= set(summary["personas"])
    for name, p in summary["personas"].items():
        rates = [r["personas"][name]["stopped"] / r["personas"][name]["actions"]
                 for r in results if r["personas"].get(name, {}).get("actions")]
        assert p["worst_fpr"] == max(rates, default=0.0)
    for key, f in summary["families"].items():
        rec = [r["families"][key]["stopped"] / r["families"][key]["actions"] for r in results if key in r["families"]]
        assert f["worst_recall"] == min(rec)
    table = format_table(summary)
    for name in BENIGN_PERSONAS:
        assert name in table
    assert "precision" in table and "like_farm/L0" in table


def test_combine_keeps_the_worst_world_per_persona_and_rule() -> None:
    def world(i: int, stopped: int, actions: int, rule_hits: int) -> dict:
        return {"label": f"w{i}", "world": {"index": i}, "records": actions, "actions": actions,
                "overall": {"tp": 0, "fp": stopped, "fn": 0, "tn": actions - stopped},
                "personas": {"power_user": {"actions": actions, "stopped": stopped, "rules": {"r": rule_hits},
                                            "sticky": 1}},
                "families": {"like_farm/L0": {"actions": 10, "stopped": 10 - i}},
                "rules": {"r": {"benign": rule_hits, "abuse": 0, "sticky_benign": 1}}, "examples": []}

    s = combine([world(0, 1, 1000, 1), world(1, 5, 100, 5), world(2, 0, 50, 0)])
    assert s["personas"]["power_user"]["worst_fpr"] == 0.05 and s["personas"]["power_user"]["worst_world"] == 1
    assert s["rules"]["r"]["worst_benign_fpr"] == 0.05 and s["rules"]["r"]["worst_world"] == 1
    assert s["rules"]["r"]["sticky_benign"] == 3
    assert s["families"]["like_farm/L0"]["worst_recall"] == 0.8 and s["families"]["like_farm/L0"]["worst_world"] == 2


def test_eval_sweep_writes_json_and_svg(tmp_path, capsys) -> None:
    code = eval_main(["--sweep", "1", "--seed", "2", "--max-hours", "1", "--jobs", "1", "--quiet",
                      "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Benign personas" in out and "Recall per abuse family" in out
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["bar"]["persona_fpr"] == 0.0005 and data["worlds"][0]["params"]["band"] == "low"
    assert (tmp_path / "sweep.svg").read_text().startswith("<svg")


def test_simulate_writes_a_sweep_world_as_replay_input(tmp_path, capsys) -> None:
    """`gateway simulate --world N --seed S` writes the world the sweep draws, for training and backtests."""
    from gateway.offline.cli import simulate_main

    out = tmp_path / "w.jsonl"
    assert simulate_main(["--world", "1", "--seed", "4", "--out", str(out)]) == 0
    assert "records of sweep world 1 (seed 4)" in capsys.readouterr().err
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == list(build_world(draw(4, 1)).records())
    assert simulate_main(["--world", "-1"]) == 2
    assert "--world takes a world number" in capsys.readouterr().err
