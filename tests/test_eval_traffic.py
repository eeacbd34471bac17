"""`gateway eval --traffic FILE`: labelled traffic nobody simulated in this run, replayed and held against the bar."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from gateway.frontdoors.replay import replay_main
from gateway.offline.evaluate import eval_main
from gateway.offline.scenarios import SCENARIOS, build

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "traffic-sample"
EXAMPLE_SOCIAL = Path(__file__).resolve().parents[1] / "eval" / "example-social" / "gateway.yaml"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The smoke scenario as a gzip'd labelled file, as a platform would hand one over."""
    path = tmp_path_factory.mktemp("traffic") / "smoke.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in build(SCENARIOS["smoke"], 1).lines())
        f.write("not json\n")
    return path


def summary(err: str) -> dict:
    """The JSON summary on stderr, after the line naming the skipped line."""
    return json.loads(err[err.index("{"):])


def test_replay_reads_gzip_input(smoke: Path, tmp_path: Path, capsys) -> None:
    plain = tmp_path / "smoke.jsonl"
    plain.write_bytes(gzip.decompress(smoke.read_bytes()))
    assert replay_main(["--input", str(smoke), "--json", "--quiet"]) == 0
    packed = summary(capsys.readouterr().err)
    assert replay_main(["--input", str(plain), "--json", "--quiet"]) == 0
    assert summary(capsys.readouterr().err) == packed
    assert packed["malformed"] == 1 and packed["valid"] > 100


def test_eval_traffic_holds_a_file_against_the_bar(smoke: Path, tmp_path: Path, capsys) -> None:
    assert eval_main(["--traffic", str(smoke), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Labelled traffic replayed (one world):")
    assert "smoke.jsonl.gz" in out and "1 malformed lines skipped" in out
    report = json.loads((tmp_path / "out" / "sweep.json").read_text())
    personas = {m["meta"]["persona"] for m in map(json.loads, gzip.decompress(smoke.read_bytes()).decode()
                                                  .splitlines()[:-1]) if m.get("label") == "benign"}
    assert set(report["personas"]) == personas  # the file's own personas, none of the simulator's others
    assert all(p["actions"] for p in report["personas"].values())
    assert "precision of enforced stops" in out and "Recall per abuse family and level" in out


def test_eval_traffic_names_a_missing_file(tmp_path: Path, capsys) -> None:
    assert eval_main(["--traffic", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


@pytest.mark.skipif(not (SAMPLE / "traffic.jsonl.gz").exists(), reason="the labelled sample is not beside this checkout")
def test_the_sample_meets_the_precision_bar(capsys) -> None:
    """The traffic sample from another platform, with the config its operators would write: precision and every
    benign persona within the bar (recall is reported, and below the bar for careful levels)."""
    assert eval_main(["--config", str(EXAMPLE_SOCIAL), "--traffic", str(SAMPLE / "traffic.jsonl.gz")]) == 0
    out = capsys.readouterr().out
    assert "(bar >= 99.5%: ok)" in out
    benign = [line for line in out.split("Benign personas")[1].split("* an abused")[0].splitlines()[2:] if line.strip()]
    assert benign and all(" ok " in line for line in benign), benign
