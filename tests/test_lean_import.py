"""The deploy path must not pull in the training stack (STYLE rule 9)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LEAN = [
    "edgevision",
    "edgevision.config",
    "edgevision.registry",
    "edgevision.results",
    "edgevision.preprocess",
    "edgevision.runtime",
    "edgevision.postprocess",
    "edgevision.postprocess.segmentation",
    "edgevision.postprocess.letterbox",
    "edgevision.postprocess.nms",
    "edgevision.postprocess.boxes",
    "edgevision.runtime.onnxruntime",
    "edgevision.export.metadata",
    "edgevision.evaluate",
    "edgevision.data",
    "edgevision.losses",
    "edgevision.losses.class_balanced",
    "edgevision.train",
    "edgevision.train.config",
    "edgevision.cli.main",
    "edgevision.video",
    "edgevision.video.core",
    "edgevision.video.ort",
]


@pytest.mark.parametrize("module", LEAN)
def test_imports_without_torch(module):
    code = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"importlib.import_module({module!r})\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_runtime_runs_an_onnx_model_without_torch(tiny_onnx):
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from edgevision.runtime import load_engine, Predictor\n"
        f"p = Predictor(load_engine({str(tiny_onnx)!r}))\n"
        "r = p(np.zeros((50, 70, 3), np.uint8))\n"
        "assert r.class_map.shape == (50, 70), r.class_map.shape\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
