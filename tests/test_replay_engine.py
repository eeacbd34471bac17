"""Replay end to end through the real engine: output shape, metrics, malformed lines, --features, --diff."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.frontdoors.replay import replay_main
from gateway.offline.personas import Persona
from gateway.offline.scenarios import Scenario, build
from gateway.settings import PACKAGE_DIR

OUTPUT_KEYS = {"id", "ts", "decision", "enforced", "status", "risk", "score", "rules", "shadow_rules", "explain",
               "label", "meta"}
SMALL = Scenario("e2e", "tune", 4.0, 1_709_510_400.0 + 12 * 3600,
                 (Persona("home_broadband", 12), Persona("mobile_cgnat", 12), Persona("like_farm", 1, "crude", 40)))


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "traffic.jsonl"
    path.write_text("".join(line + "\n" for line in build(SMALL, 11).lines()))
    return path


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = replay_main(argv)
    return code, capsys.readouterr().err


def test_one_output_line_per_input_line_with_the_documented_fields(traffic: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "decisions.jsonl"
    code, err = run(["--input", str(traffic), "--output", str(out), "--by", "family", "persona"], capsys)
    assert code == 0, err
    inputs = [json.loads(x) for x in traffic.read_text().splitlines()]
    outputs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [o["id"] for o in outputs] == [i["id"] for i in inputs]
    for i, o in zip(inputs, outputs, strict=True):
        assert set(o) == OUTPUT_KEYS
        assert o["label"] == i["label"] and o["meta"] == i["meta"]
        if i["path"] == "/oauth/token":
            assert o["decision"] == "allow" and o["status"] == 200 and "token endpoint" in o["explain"]
        elif o["decision"] == "block" and o["enforced"]:
            assert o["status"] == 403 and o["rules"]
    farm = [o for o in outputs if o["label"] == "abuse" and o["meta"]["kind"] != "login"]
    stopped = [o for o in farm if o["enforced"] and o["decision"] in ("block", "challenge", "throttle", "absorb")]
    assert len(stopped) > len(farm) * 0.5, "a crude like farm on one emulator id is mostly stopped"
    people = [o for o in outputs if o["label"] == "benign" and o["meta"]["kind"] != "login"]
    assert people and not [o for o in people if o["enforced"] and o["decision"] != "allow"]
    assert "by family:" in err and "like_farm" in err and "labelled: precision 100.00%" in err


def test_features_come_with_each_decision(traffic: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "decisions.jsonl"
    code, _ = run(["--input", str(traffic), "--output", str(out), "--features"], capsys)
    assert code == 0
    actions = [json.loads(x) for x in out.read_text().splitlines() if '"kind":"login"' not in x]
    assert actions and all("features" in a for a in actions)
    assert "ip.accounts_1h" in actions[-1]["features"] and actions[-1]["features"]["action"] in ("like", "follow", "comment")


def test_a_malformed_line_is_skipped_or_fatal(traffic: Path, tmp_path: Path, capsys) -> None:
    lines = traffic.read_text().splitlines()[:30]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:5] + ['{"id": "x", "ts": "soon"}'] + lines[5:]) + "\n")
    out = tmp_path / "decisions.jsonl"
    code, err = run(["--input", str(bad), "--output", str(out)], capsys)
    assert code == 0 and "skipped line 6: ts:" in err and "1 malformed" in err
    assert len(out.read_text().splitlines()) == 30
    code, err = run(["--input", str(bad), "--output", str(out), "--strict"], capsys)
    assert code == 1 and "line 6: ts:" in err and "Traceback" not in err
    assert len(out.read_text().splitlines()) == 5, "the decisions before the bad line are kept"


def test_missing_input_and_bad_config_are_clear(tmp_path: Path, capsys) -> None:
    code, err = run(["--input", str(tmp_path / "none.jsonl")], capsys)
    assert code == 2 and "no such file" in err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("mode: sometimes\n")
    (tmp_path / "t.jsonl").write_text("")
    code, err = run(["--config", str(cfg), "--input", str(tmp_path / "t.jsonl")], capsys)
    assert code == 2 and "mode" in err


def test_bad_rules_or_config_are_a_clear_error_before_any_traffic_runs(traffic: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "p.yaml").write_text("rules:\n  - {id: a, description: d, on: '*', when: 'ip.x > 1', action: log}\n")
    code, err = run(["--input", str(traffic), "--diff", str(bad)], capsys)
    assert code == 2 and "p.yaml:2:" in err and "unknown feature 'ip.x'" in err and "Traceback" not in err
    code, err = run(["--input", str(traffic), "--diff", str(tmp_path / "nope")], capsys)
    assert code == 2 and "no such file or folder" in err
    config = tmp_path / "gw.yaml"
    config.write_text(f"rules: [{bad}]\n")
    code, err = run(["--config", str(config), "--input", str(traffic)], capsys)
    assert code == 2 and "unknown feature 'ip.x'" in err
    config.write_bytes(b"mode: \xff\n")
    code, err = run(["--config", str(config), "--input", str(traffic)], capsys)
    assert code == 2 and "not UTF-8 text" in err


def test_lines_no_record_can_come_from_are_skipped_and_counted_never_the_end(traffic: Path, tmp_path: Path,
                                                                              capsys) -> None:
    """A byte that is not UTF-8 once ended the whole replay; a number past a float, a value nested past the stack
    or a lone surrogate in a body were tracebacks; every malformed line was kept in memory."""
    good = traffic.read_text().splitlines()[:3]
    body = json.loads(good[0])
    odd = [b"\xff not utf-8", json.dumps({**body, "ts": 10**400}).encode(),
           (good[0][:-1] + ', "meta": ' + "[" * 1000 + "]" * 1000 + "}").encode(),
           json.dumps({**body, "id": "surrogate", "body": "\ud800"}).encode(), b"x" * (1 << 21), b"[]"]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join([good[0].encode(), *odd, *([b"[]"] * 300), good[1].encode(), good[2].encode()]) + b"\n")
    out = tmp_path / "decisions.jsonl"
    code, err = run(["--input", str(path), "--output", str(out), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(err[err.index("{"):])
    assert summary["malformed"] == 5 + 300 and len(summary["malformed_lines"]) == 100
    assert summary["malformed_lines"][0] == {"line": 2, "error": summary["malformed_lines"][0]["error"]}
    assert "not UTF-8" in summary["malformed_lines"][0]["error"] and "longer than" in summary["malformed_lines"][3]["error"]
    assert len(out.read_text().splitlines()) == 4  # the three good lines and the one with an odd body


def rules_only_config(tmp_path: Path) -> Path:
    """The demo config without its model (which alone can tip what a removed pack no longer does)."""
    demo = (PACKAGE_DIR / "demo" / "config.yaml").read_text()
    config = tmp_path / "rules-only.yaml"
    config.write_text(demo.replace("jwks_file: demo-jwks.json", "jwks_file: builtin:demo/demo-jwks.json")
                      .replace(": geoip/", ": builtin:demo/geoip/")
                      .replace("model: ../model/default-model.json", "model: null"))
    return config


def test_diff_shows_what_removing_a_rule_pack_changes(traffic: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "rules"
    shutil.copytree(PACKAGE_DIR / "rules", other)
    (other / "like-farms.yaml").unlink()
    changes = tmp_path / "changes.jsonl"
    code, err = run(["--config", str(rules_only_config(tmp_path)), "--input", str(traffic), "--diff", str(other),
                     "--diff-output", str(changes)], capsys)
    assert code == 0, err
    listed = [json.loads(x) for x in changes.read_text().splitlines()]
    assert listed and all(c["from"] != c["to"] or c["enforced"][0] != c["enforced"][1] for c in listed)
    assert any("farm-shared-device" in c["rules_before"] and "farm-shared-device" not in c["rules_after"] for c in listed)
    assert f"diff: {len(listed)} requests change decision" in err
    assert "farm-shared-device:" in err and " -> 0 (-" in err
