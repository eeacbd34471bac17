"""The README's reference sections are generated from the code and must not drift."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_reference_sections_are_up_to_date():
    r = subprocess.run([sys.executable, str(ROOT / "scripts/update_readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_opens_with_the_two_commands_ci_runs():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert "gateway serve" in lines[3] and "bash scripts/test.sh" in lines[4]
    assert "bash scripts/test.sh" in (ROOT / ".ci/run").read_text()
