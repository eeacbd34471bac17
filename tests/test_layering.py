"""The serving path never loads the offline package, and the model sits beside the engine, not above it.

Training, evaluation and the simulator live in gateway.offline, above the
engine; a serving gateway (the engine, its model, the front doors, the admin
console) must not import them. Checked in a fresh interpreter, since this
one has imported everything the other tests needed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVE = """
import asyncio, json, sys, time
{imports}
from gateway import Engine, RequestFacts, load_settings
from gateway.demo.app import DEMO_CONFIG, issue_token

async def decide():
    engine = Engine(load_settings(DEMO_CONFIG), decision_log=False)
    await engine.start()
    token = issue_token("alice", client_id="engage-android", device_id="dev-1")
    facts = RequestFacts(ts=time.time(), method="POST", path="/v1/media/m1/like", peer="127.0.0.1",
                         headers={{"authorization": "Bearer " + token, "x-device-id": "dev-1",
                                  "user-agent": "Engage/412.0.1 (Android 14; Pixel 8; en_US)"}},
                         action="like", target="m1")
    try:
        return (await engine.decide(facts)).score
    finally:
        await engine.close()

score = asyncio.run(decide()) if {run} else None
print(json.dumps({{"score": score, "offline": sorted(m for m in sys.modules if m.startswith("gateway.offline"))}}))
"""


def loaded(imports: str, run: bool) -> dict:
    code = SERVE.format(imports=imports, run=run)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_engine_loads_nothing_offline() -> None:
    assert loaded("import gateway.engine", run=False)["offline"] == []


def test_serving_with_the_model_loads_nothing_offline() -> None:
    imports = "import gateway.frontdoors.middleware, gateway.frontdoors.forward_auth, gateway.admin.app, gateway.model"
    seen = loaded(imports, run=True)
    assert seen["score"] is not None, "the demo config's model scored the request"
    assert seen["offline"] == []


def test_the_model_package_imports_neither_offline_nor_the_engine_nor_the_front_doors() -> None:
    above = ("gateway.offline", "gateway.engine", "gateway.frontdoors")
    found = []
    for path in sorted((ROOT / "gateway" / "model").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # module level and inside functions
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.startswith(above)]
    assert found == []
