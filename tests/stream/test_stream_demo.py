"""``make demo`` helpers: model choice and the report (the full demo runs in scripts/demo.sh)."""

from __future__ import annotations

import shutil

import pytest

from edgevision.stream.demo import pick_model, write_report


def test_pick_prefers_shipped_weights_then_registry(tmp_path, tiny_onnx):
    empty = pick_model(tmp_path / "weights")
    assert empty["TRAINED"] == "0" and "RANDOM" in empty["WHY"]
    assert empty["MODEL"] == empty["CKPT"]
    w = tmp_path / "weights"
    w.mkdir()
    (w / "junk.onnx").write_bytes(b"not onnx")
    shutil.copy(tiny_onnx, w / "seg.onnx")
    got = pick_model(w)
    assert got["MODEL"] == str(w / "seg.onnx")
    assert (got["TASK"], got["TRAINED"], got["INT8"]) == ("semantic", "1", "")
    # another folder's weights of the same architecture are not this model's INT8 form
    other = w / "zz_other"
    other.mkdir()
    shutil.copy(tiny_onnx, other / "seg_int8.onnx")
    import onnx

    from edgevision.export.metadata import embed_spec, read_spec

    m = onnx.load(str(other / "seg_int8.onnx"))
    embed_spec(m, read_spec(other / "seg_int8.onnx"), precision="int8")
    onnx.save(m, str(other / "seg_int8.onnx"))
    assert pick_model(w)["INT8"] == ""
    shutil.copy(other / "seg_int8.onnx", w / "seg_int8.onnx")
    assert pick_model(w)["INT8"] == str(w / "seg_int8.onnx")


def _demo_report(out, stub_module, **cfg_kw) -> str:
    """The report after one short stub run whose summary stands for the demo.mp4 run."""
    from edgevision.stream.pipeline import RunConfig, run_stream

    summary = str(out / "run_perframe_fp32.json")
    cfg = RunConfig(["test://ball?size=32x24&frames=5"], "stub", summary=summary, **cfg_kw)
    run_stream(cfg, plugin=stub_module.make(), progress=False)
    return write_report(out, "stub model").read_text()


@pytest.mark.gst
def test_report_from_run_summaries(tmp_path, stub_module):
    text = _demo_report(tmp_path, stub_module)
    assert "| per-frame, FP32 — demo.mp4 |" in text
    assert "Model: stub model" in text
    assert "no INT8 model" in text and "no video-mode row" in text
    assert "## Tracks" not in text


@pytest.mark.gst
def test_report_lists_the_tracks_of_the_demo_run(tmp_path, stub_module):
    text = _demo_report(tmp_path, stub_module, track="bytetrack")
    assert "## Tracks in demo.mp4 (bytetrack)" in text
    assert "1 tracks started, 0 ended" in text
    assert "| #1 | thing | " in text  # (a live test source may drop its first frame)


def test_calibration_frames(tmp_path):
    from edgevision.stream.demo import write_calibration_frames

    d = write_calibration_frames(tmp_path / "calib", 3)
    assert sorted(p.name for p in d.iterdir()) == [f"calib_{i:03d}.png" for i in range(3)]


def test_pick_finds_a_pth_checkpoint_as_the_pytorch_form(tmp_path, tiny_onnx):
    """Model files are recognised by edgevision.io's suffix lists: ``.pth`` (and upper-case
    suffixes) count as checkpoints, as everywhere else."""
    torch = pytest.importorskip("torch")
    from edgevision.checkpoint import save_checkpoint
    from edgevision.export.metadata import read_spec
    from edgevision.registry import model_from_spec

    w = tmp_path / "weights"
    w.mkdir()
    shutil.copy(tiny_onnx, w / "seg.ONNX")
    torch.manual_seed(0)
    save_checkpoint(w / "seg.pth", model_from_spec(read_spec(tiny_onnx)))
    got = pick_model(w)
    assert (got["MODEL"], got["CKPT"]) == (str(w / "seg.ONNX"), str(w / "seg.pth"))


def test_report_merges_alternating_rounds(tmp_path):
    import json

    def summary(fps, mode):
        return {
            "engine_only_fps": fps,
            "aggregate_fps": fps / 2,
            "frames_processed": 150,
            "frames_dropped": 0,
            "stages_ms": {
                "inference": {"p50": 1000 / fps, "p99": 2000 / fps},
                "latency": {"p50": 50.0, "p99": 90.0},
            },
            "model": {"backend": "onnxruntime (components)", "precision": "fp32", "mode": mode},
        }

    for name, fps in (("perframe_fp32_r1", 10.0), ("perframe_fp32_r2", 12.0),
                      ("perframe_fp32_r3", 40.0), ("default_r1", 20.0), ("default_r2", 30.0),
                      ("default_r3", 25.0), ("output", 5.0)):  # fmt: skip
        mode = "video (fixed:2)" if name.startswith(("default", "output")) else "per-frame"
        (tmp_path / f"run_{name}.json").write_text(json.dumps(summary(fps, mode)))
    text = write_report(tmp_path).read_text()
    assert "| per-frame, FP32 (median of 3 rounds) |" in text
    assert "| default video path (`run --video`) (median of 3 rounds) |" in text
    # the median per mode (12 and 25), not the run that wrote demo.mp4 (5 FPS)
    assert "(video (fixed:2)) vs per-frame FP32, engine only: 2.08×" in text
    assert "| 12.00 |" in text and "demo.mp4 (not in the comparison)" in text
