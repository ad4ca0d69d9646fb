"""The bench modules import neither torch nor heavy plotting libraries at import time."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "edgevision.bench",
    "edgevision.bench.harness",
    "edgevision.bench.report",
    "edgevision.bench.flops",
    "edgevision.bench.worker",
    "edgevision.cli.bench",
]


@pytest.mark.parametrize("module", MODULES)
def test_imports_without_torch(module):
    code = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"importlib.import_module({module!r})\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
