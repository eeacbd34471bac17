"""``gateway eval``: what it writes into its report folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.offline.evaluate import eval_main, eval_parser


def test_the_report_folder_holds_the_reports_and_the_traffic_only_when_asked(tmp_path: Path, capsys) -> None:
    plain, kept = tmp_path / "plain", tmp_path / "kept"
    assert eval_main(["--scenario", "smoke", "--out", str(plain), "--quiet"]) == 0
    assert sorted(p.name for p in plain.iterdir()) == ["report.html", "report.md"]
    assert eval_main(["--scenario", "smoke", "--out", str(kept), "--keep-traffic", "--quiet"]) == 0
    assert sorted(p.name for p in kept.iterdir()) == ["report.html", "report.md", "traffic.jsonl"]
    assert (kept / "traffic.jsonl").read_text().count("\n") > 100
    assert (plain / "report.md").read_text() == (kept / "report.md").read_text()
    assert "traffic.jsonl" in capsys.readouterr().err


def test_keep_traffic_is_documented_and_needs_a_folder(capsys) -> None:
    help_text = eval_parser().format_help()
    assert "--keep-traffic" in help_text and "traffic.jsonl" in help_text
    with pytest.raises(SystemExit) as exit_:
        eval_main(["--scenario", "smoke", "--keep-traffic"])
    assert exit_.value.code == 2 and "--keep-traffic needs --out" in capsys.readouterr().err
