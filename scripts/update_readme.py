"""Regenerate the README's reference sections from the code (config schema, feature catalogue).

    .venv/bin/python scripts/update_readme.py          # rewrite README.md
    .venv/bin/python scripts/update_readme.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.settings import reference  # noqa: E402
from gateway.signals.catalogue import all_features  # noqa: E402


def config_table() -> str:
    rows = ["| key | type | default |", "|---|---|---|"]
    rows += [f"| `{key}` | {tp} | `{default}` |" for key, tp, default in reference()]
    return "\n".join(rows)


def feature_table() -> str:
    rows = ["| feature | type | range | window | cost | meaning |", "|---|---|---|---|---|---|"]
    for f in all_features():
        rows.append(f"| `{f.name}` | {f.type} | {f.range_text or '-'} | {f.window or '-'} | {f.cost} | "
                    f"{f.meaning.replace('|', '/')} |")
    return "\n".join(rows)


def render(text: str) -> str:
    for name, body in (("config-reference", config_table()), ("features", feature_table())):
        text = re.sub(
            rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)",
            lambda m, body=body: m.group(1) + body + "\n" + m.group(2),
            text,
            flags=re.S,
        )
    return text


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = render(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md is out of date: run .venv/bin/python scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
