"""ModelWatcher: load at start, swap on change, keep the last good model when the new file is bad."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from model_support import write_labelled

from gateway.metrics import RELOADS
from gateway.model import ModelError, ModelWatcher, artifact

pytest.importorskip("sklearn")
from gateway.offline.dataset import read_rows  # noqa: E402
from gateway.offline.train import train  # noqa: E402


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch")
    data = read_rows(write_labelled(folder / "rows.jsonl", seed=5))
    return train(data, seed=1).document, train(data, seed=2).document


def _count(outcome: str) -> float:
    return RELOADS.labels("model", outcome)._value.get()


def _touch_later(path) -> None:
    # mtime granularity can hide a quick rewrite; move the stamp forward explicitly
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


async def test_reload_swaps_in_a_changed_model(documents, tmp_path):
    first, second = documents
    path = tmp_path / "model.json"
    artifact.write(path, first)
    watcher = ModelWatcher(path)
    old = watcher.current
    assert old is not None and old.checksum == artifact.checksum(first)
    assert await watcher.check() is False  # unchanged file: nothing to do
    ok = _count("ok")
    artifact.write(path, second)
    _touch_later(path)
    assert await watcher.check() is True
    assert watcher.current.checksum == artifact.checksum(second) != old.checksum
    assert _count("ok") == ok + 1


async def test_bad_artifact_at_reload_keeps_the_last_good_model(documents, tmp_path, caplog):
    first, _ = documents
    path = tmp_path / "model.json"
    artifact.write(path, first)
    watcher = ModelWatcher(path)
    good = watcher.current
    errors = _count("error")
    path.write_text(artifact.dumps(first)[:300])  # a half-copied file
    _touch_later(path)
    assert await watcher.check() is False
    assert watcher.current is good
    assert "not valid JSON" in watcher.last_error and "model.json" in watcher.last_error
    assert _count("error") == errors + 1
    assert "keeping the previous model" in caplog.text
    path.unlink()  # a deleted file is just as bad
    assert await watcher.check() is False and watcher.current is good
    artifact.write(path, first)  # fixed: serving the fixed file again
    assert await watcher.check() is True and watcher.last_error is None


async def test_background_polling_picks_up_a_change(documents, tmp_path):
    first, second = documents
    path = tmp_path / "model.json"
    artifact.write(path, first)
    watcher = ModelWatcher(path, interval_s=0.02)
    await watcher.start()
    try:
        artifact.write(path, second)
        _touch_later(path)
        for _ in range(250):  # bounded: up to ~5 s on a busy machine
            if watcher.current.checksum == artifact.checksum(second):
                break
            await asyncio.sleep(0.02)
        assert watcher.current.checksum == artifact.checksum(second)
    finally:
        await watcher.close()
    await watcher.close()  # idempotent


def test_bad_artifact_at_start_is_an_error(documents, tmp_path):
    first, _ = documents
    path = tmp_path / "model.json"
    doc = json.loads(artifact.dumps(first))
    doc["intercept"] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"model.json: checksum mismatch.*gateway train"):
        ModelWatcher(path)
