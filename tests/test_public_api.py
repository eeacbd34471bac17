"""The package's public names: each importable from ``gateway``, and ``import gateway`` alone imports nothing else."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import gateway

ROOT = Path(__file__).resolve().parents[1]


def test_import_gateway_loads_no_other_module_of_the_package() -> None:
    code = "import sys, gateway; print(sorted(m for m in sys.modules if m.split('.')[0] == 'gateway'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "['gateway']"


@pytest.mark.parametrize("name", gateway.__all__)
def test_every_public_name_is_its_home_modules(name: str) -> None:
    value = getattr(gateway, name)
    assert value is getattr(importlib.import_module(value.__module__), name)
    assert name in dir(gateway)


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Enigne'"):
        gateway.Enigne  # noqa: B018
    from gateway import metrics, testing

    assert metrics.metrics_app is gateway.metrics_app and testing.TokenMinter
