"""``edgevision video``: per-frame vs video mode on a synthetic YouTube-VIS split; bad input."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402


def test_compare_modes_writes_json_and_markdown(
    video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt
):
    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    rc = main(
        [
            "video",
            str(ck),
            "--data",
            str(video_set),
            "--compare",
            "--threads",
            "1",
            "--json",
            str(tmp_path / "r.json"),
            "--md",
            str(tmp_path / "r.md"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| per-frame, fixed:fp32 |" in out
    assert "| fixed:2, dis:medium, fixed:fp32 (default) |" in out
    assert "| adaptive, dis:medium, fixed:fp32 |" in out
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    # FP32 per frame first, then the default path (flags not given = the default's)
    assert [r["keyframes"] for r in runs] == ["none", "fixed:2", "adaptive"]
    assert [r["default"] for r in runs] == [False, True, False]
    assert [r["propagate"] for r in runs] == [False, "dis:medium", "dis:medium"]
    assert all(r["frames"] == 8 for r in runs)
    assert (
        runs[0]["keyframe_fraction"] == 1.0 and runs[1]["keyframe_fraction"] == 0.5
    )  # 2 videos x 4 frames, a keyframe every 2
    assert runs[0]["precision_share"] == {"fp32": 1.0}
    assert runs[1]["precision_share"] == {"fp32": 0.5, "none": 0.5}
    assert runs[0]["mask_ap"] is not None
    assert "edgevision video" in (tmp_path / "r.md").read_text()


def test_frame_folder_and_bad_input(
    video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt
):
    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    frames = video_set / "videos" / "val" / "val_vid000"
    assert main(["video", str(ck), "--data", str(frames), "--keyframes", "fixed:3"]) == 0
    assert "| fixed:3, dis:medium, fixed:fp32 | 4 |" in capsys.readouterr().out
    plain = tiny_yolact_ckpt(tmp_path / "plain.pt", video=False)
    assert main(["video", str(plain), "--data", str(video_set), "--propagate", "none"]) == 2
    assert "FeatFlowNet" in capsys.readouterr().err
    # a torch model has one engine: FP32
    args = ["video", str(ck), "--data", str(video_set), "--precision-policy", "fixed:int8"]
    assert main(args) == 2
    assert "needs an engine at int8" in capsys.readouterr().err
    assert main([*args[:-1], "sometimes"]) == 2
    assert "--precision-policy must be" in capsys.readouterr().err
    assert main(["video", str(plain), "--data", str(video_set), "--keyframes", "none"]) == 0
    # DIS-flow propagation runs no network on non-keyframes: no FeatFlowNet needed
    capsys.readouterr()
    assert main(["video", str(plain), "--data", str(video_set), "--propagate", "dis",
                 "--keyframes", "fixed:4"]) == 0  # fmt: skip
    assert "| fixed:4, dis, fixed:fp32 | 8 | 25 |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["video", str(plain), "--data", str(video_set), "--propagate", "farneback"])
    assert main(["video", str(ck), "--data", str(tmp_path / "missing")]) == 2
    assert main(["video", str(ck), "--data", str(video_set), "--keyframes", "often"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["video", str(ck), "--data", str(empty)]) == 2


def test_component_folder_runs_in_onnxruntime(
    video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt
):
    pytest.importorskip("onnxruntime")
    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    parts = tmp_path / "parts"
    assert main(["export", str(ck), "-o", str(parts), "--components"]) == 0
    assert "wrote 9 components" in capsys.readouterr().out
    md = tmp_path / "ort.md"
    rc = main(["video", str(parts), "--data", str(video_set), "--compare", "--threads", "1",
               "--md", str(md), "--json", str(tmp_path / "ort.json")])  # fmt: skip
    assert rc == 0
    assert "ONNX Runtime components (backbone_lower fp32" in md.read_text()
    runs = json.loads((tmp_path / "ort.json").read_text())["runs"]
    # the same numbers through a checkpoint exported on the fly
    rc = main(["video", str(ck), "--data", str(video_set), "--engine", "onnxruntime",
               "--threads", "1", "--json", str(tmp_path / "ck.json")])  # fmt: skip
    assert rc == 0
    again = json.loads((tmp_path / "ck.json").read_text())["runs"][0]
    fixed = next(r for r in runs if r["default"])
    assert again["mask_ap"] == pytest.approx(fixed["mask_ap"], abs=1e-3)
    assert main(["video", str(parts), "--data", str(video_set), "--engine", "torch"]) == 2
    assert main(["video", str(tmp_path), "--data", str(video_set)]) == 2
    assert "not a component folder" in capsys.readouterr().err


def test_component_folder_runs_in_openvino(
    video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt
):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    parts = tmp_path / "parts"
    assert main(["export", str(ck), "-o", str(parts), "--components"]) == 0
    runs = {}
    for engine in ("onnxruntime", "openvino"):
        out = tmp_path / f"{engine}.json"
        rc = main(["video", str(parts), "--data", str(video_set), "--engine", engine,
                   "--keyframes", "fixed:2", "--threads", "1", "--json", str(out)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        runs[engine] = json.loads(out.read_text())
    assert runs["openvino"]["engine"].startswith("OpenVINO components (backbone_lower fp32")
    assert runs["openvino"]["engine"].endswith("float hint f32")
    a, b = runs["onnxruntime"]["runs"][0], runs["openvino"]["runs"][0]
    assert a["frames"] == b["frames"] > 0
    assert b["mask_ap"] == pytest.approx(a["mask_ap"], abs=1e-3)
    # a checkpoint exported on the fly runs the same; the OpenVINO hint needs OpenVINO
    rc = main(["video", str(ck), "--data", str(video_set), "--engine", "openvino",
               "--ov-precision", "bf16", "--threads", "1", "--max-frames", "2"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    rc = main(["video", str(parts), "--data", str(video_set), "--ov-precision", "bf16"])
    assert rc == 2 and "--ov-precision applies to --backend openvino" in capsys.readouterr().err


def test_exact_flow_ceiling(video_set, tmp_path, one_torch_thread, tiny_yolact_ckpt):
    """Interval 1 is per-frame mode; a longer interval splats the keyframe's masks with the
    dataset's flow; a set without flow files is refused by name."""
    import shutil

    from edgevision.checkpoint import load_model
    from edgevision.errors import DataError
    from edgevision.video.evaluate import exact_flow_propagation, run_video

    torch.manual_seed(0)
    m = load_model(tiny_yolact_ckpt(tmp_path / "v.pt")).eval()
    per_frame = run_video(m, video_set, keyframes="none", conf_threshold=0.0)
    one = exact_flow_propagation(m, video_set, 1, conf_threshold=0.0)
    assert one.keyframe_fraction == 1.0 and one.frames == per_frame.frames
    assert one.mask_ap == pytest.approx(per_frame.mask_ap, abs=1e-9)
    two = exact_flow_propagation(m, video_set, 2, conf_threshold=0.0)
    assert two.keyframe_fraction == 0.5 and two.mask_ap is not None
    bare = tmp_path / "noflow"
    shutil.copytree(video_set, bare)
    for d in bare.rglob("flow"):
        shutil.rmtree(d)
    with pytest.raises(DataError, match="missing"):
        exact_flow_propagation(m, bare, 2)


def test_warp_error_diagnostic(video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt):
    """--warp-error: zero flow reuses the keyframe as is; the ground-truth row is computed
    from the dataset's exact flow; every error is a finite relative L2."""
    import torch

    from edgevision.checkpoint import load_model
    from edgevision.video.evaluate import warp_error

    torch.manual_seed(0)
    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    errs = warp_error(load_model(ck), video_set, pairs=4)
    assert errs["info"]["pairs"] == 4 and errs["info"]["flow_input_px"] > 0
    for src in ("zero", "featflownet", "ground truth"):
        assert set(errs[src]) == {"p4", "p5", "protos", "epe_px", "epe_valid_px"}
        assert all(0 <= errs[src][k] < 10 for k in ("p4", "p5", "protos")), errs[src]
    # the truth has no endpoint error; zero flow's error is the true motion
    assert errs["ground truth"]["epe_px"] == pytest.approx(0.0, abs=1e-5)
    assert errs["ground truth"]["epe_valid_px"] == pytest.approx(0.0, abs=1e-5)
    assert 0 < errs["info"]["valid_fraction"] <= 1
    # zero flow's endpoint error is the true motion, in the same (input) pixels
    assert errs["zero"]["epe_valid_px"] == pytest.approx(errs["info"]["flow_input_px"], rel=0.25)
    assert main(["video", str(ck), "--data", str(video_set), "--warp-error"]) == 0
    out = capsys.readouterr().out
    assert "ground truth flow:" in out and "flow endpoint error" in out
    plain = tiny_yolact_ckpt(tmp_path / "plain.pt", video=False)
    assert main(["video", str(plain), "--data", str(video_set), "--warp-error"]) == 2
