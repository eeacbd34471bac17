"""Progress of replay and eval: on a terminal's stderr only, never with --quiet, never in the output."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.offline.progress import Progress, count_lines, wanted
from gateway.offline.scenarios import build, get_scenario

BAR = "lines/s"  # tqdm's rate, in the unit replay counts in


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "traffic.jsonl"
    path.write_text("".join(line + "\n" for line in build(get_scenario("smoke"), 1).lines()))
    return path


def gateway(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    """Run ``gateway ARGS`` with stderr on a pseudo-terminal (or a pipe); (code, stdout, stderr)."""
    command = [sys.executable, "-m", "gateway.cli", *args]
    if not tty:
        r = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout, r.stderr
    master, slave = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave) as proc:
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed: the command ended
                break
            if not chunk:
                break
            err += chunk
        out = proc.stdout.read() if proc.stdout else b""
        code = proc.wait(timeout=120)
    os.close(master)
    return code, out.decode(), err.decode(errors="replace")


def test_replay_shows_progress_on_a_terminal(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    code, stdout, err = gateway(["replay", "--input", str(traffic), "--output", str(out)], tty=True)
    assert code == 0, err
    assert "replay:" in err and BAR in err and f"/{count_lines(traffic)}" in err
    assert stdout == ""
    assert all(json.loads(line)["id"] for line in out.read_text().splitlines()), "the decision lines are JSON only"


def test_replay_is_quiet_off_a_terminal_and_with_quiet(traffic: Path, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    code, _, err = gateway(["replay", "--input", str(traffic), "--output", str(out)], tty=False)
    assert code == 0 and BAR not in err and "%|" not in err and "protected actions" in err
    code, _, err = gateway(["replay", "--input", str(traffic), "--output", str(out), "--quiet"], tty=True)
    assert code == 0 and BAR not in err and "%|" not in err and "protected actions" in err


def test_eval_shows_its_stages_on_a_terminal_and_keeps_stdout_the_report(tmp_path: Path) -> None:
    code, stdout, err = gateway(["eval", "--scenario", "smoke"], tty=True)
    assert code == 0, err
    assert "simulating scenario smoke" in err and "replay:" in err and "records/s" in err
    assert stdout.startswith("# Detection quality") and "records/s" not in stdout and "\r" not in stdout
    code, stdout, err = gateway(["eval", "--scenario", "smoke", "--quiet"], tty=True)
    assert code == 0 and "simulating" not in err and "records/s" not in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_updated_every_n_items_not_per_item() -> None:
    stream = FakeTerminal()
    with Progress("t", enabled=True, total=25, stream=stream, every=10) as bar:
        calls = []
        update = bar._bar.update
        bar._bar.update = lambda n: (calls.append(n), update(n))
        assert list(bar.counted(range(25))) == list(range(25))
        assert calls == [10, 10, 5] and bar._bar.n == 25
    assert "t:" in stream.getvalue()


def test_disabled_progress_costs_nothing_and_writes_nothing() -> None:
    stream = FakeTerminal()
    items = [1, 2, 3]
    with Progress("t", enabled=False, stream=stream) as bar:
        assert bar.counted(items) is items
    assert stream.getvalue() == ""


def test_wanted_only_on_a_terminal_and_not_when_quiet() -> None:
    assert wanted(FakeTerminal()) and not wanted(io.StringIO())
    assert not wanted(FakeTerminal(), quiet=True)
    assert wanted(io.StringIO(), tty=True) and not wanted(FakeTerminal(), tty=False)


def test_count_lines_counts_a_last_line_without_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for text, n in (("", 0), ("a\n", 1), ("a\nb", 2), ("a\n\nb\n", 3)):
        path.write_text(text)
        assert count_lines(path) == n
