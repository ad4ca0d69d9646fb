"""Fixtures for the streaming tests: the stub model plugin, importable in this process or on a
subprocess's path (``stub_dir`` and ``tiny_video`` are in tests/conftest.py, shared with the
report tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def stub_module(stub_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The stub plugin module, importable in this process."""
    monkeypatch.syspath_prepend(str(stub_dir))
    import importlib

    sys.modules.pop("evstub", None)
    return importlib.import_module("evstub")


@pytest.fixture
def stub_env(stub_dir: Path) -> dict[str, str]:
    """Environment for CLI subprocesses that can import ``evstub``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(stub_dir), env.get("PYTHONPATH", "")])
    env.pop("DISPLAY", None)
    return env
