"""The streaming path with an ONNX model must work where torch is not installed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == 'torch' or name.startswith('torch.'):
            raise ImportError('torch is blocked in this test')
sys.meta_path.insert(0, Block())
"""


def test_stream_modules_import_without_torch_or_gstreamer():
    code = BLOCK_TORCH + (
        "import edgevision.stream.pipeline, edgevision.stream.demo, edgevision.cli.run\n"
        "assert 'gi' not in sys.modules and 'onnxruntime' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.gst
def test_onnx_model_streams_without_torch(tiny_onnx, tmp_path):
    code = BLOCK_TORCH + (
        "from edgevision.cli.main import main\n"
        f"rc = main(['run', 'test://ball?size=64x48&frames=6', '--model', {str(tiny_onnx)!r},"
        f" '--out', {str(tmp_path / 'o.mp4')!r}, '--summary', {str(tmp_path / 's.json')!r},"
        " '--no-progress', '--threads', '1'])\n"
        "assert 'torch' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    st = s["streams"][0]
    assert st["frames_processed"] + st["frames_dropped"] == 6
    assert s["model"]["backend"] == "onnxruntime"
    assert (tmp_path / "o.mp4").is_file()
