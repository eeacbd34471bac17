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


def test_the_rule_pack_examples_load(tmp_path):
    """Every example pack in the READMEs (a yaml block with rules) loads without an error."""
    import re

    from gateway.policy.loader import load_and_merge

    examples = [block for doc in ("README.md", "gateway/policy/README.md")
                for block in re.findall(r"```yaml\n(.*?)```", (ROOT / doc).read_text(), re.S) if "\n  - id: " in block]
    assert len(examples) >= 2
    for i, block in enumerate(examples):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(block)
        assert load_and_merge(path).errors == [], block
