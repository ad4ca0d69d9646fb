"""``edgevision report instance``: Tables I-IV on a synthetic YouTube-VIS split; bad input."""

from __future__ import annotations

import json

import pytest

from edgevision.errors import ConfigError

torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402


def test_instance_report_tables(video_set, tmp_path, capsys, one_torch_thread, tiny_yolact_ckpt):
    pytest.importorskip("onnxruntime")
    import shutil

    ck = tiny_yolact_ckpt(tmp_path / "v.pt")
    data = tmp_path / "data"
    shutil.copytree(video_set, data)
    # calibration images: the val frames stand in for an image split
    (data / "images" / "train").mkdir(parents=True, exist_ok=True)
    for f in sorted((data / "videos" / "val").rglob("0000*.png"))[:4]:
        shutil.copy(f, data / "images" / "train" / f"{f.parent.name}_{f.name}")
    md = tmp_path / "instance.md"
    rc = main(["report", "instance", str(ck), "--data", str(data), "--calib-size", "2",
               "--rounds", "1", "--threads", "1", "--out", str(md), "--work",
               str(tmp_path / "w")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = md.read_text()
    assert "## Table I" in text and "## Table II" in text
    for row in ("| all FP32 |", "| all INT8 |", "| INT8, FPN + head FP32 |"):
        assert row in text
    assert "| all FP32 | warped protos | fixed:5 |" in text
    assert "| all FP32 | ProtoNet | adaptive |" in text
    assert "| all FP32 | propagated | fixed:5 |" in text
    assert "| all FP32 | propagated, DIS flow | fixed:5 |" in text
    assert "## Table III" in text
    for k in (2, 3, 4, 5):
        assert f"| all FP32 | DIS medium | fixed:{k} |" in text
        assert f"| INT8, FPN + head FP32 | DIS flow | fixed:{k} |" in text
        assert f"\n| fixed:{k} | " in text  # the exact-flow ceiling row
    rep = json.loads((tmp_path / "w" / "report.json").read_text())
    assert set(rep["ceiling"]) == {"fixed:2", "fixed:3", "fixed:4", "fixed:5"}
    # Table V: FP32 per frame first, the default path at each precision and adaptive
    assert "## Table V" in text
    assert "| per-frame, fixed:fp32 |  | fp32 100 % |" in text
    assert "| fixed:2, dis:medium, fixed:mixed | yes | mixed 50 %, none 50 % |" in text
    assert "| fixed:2, dis:medium, fixed:int8 |  | int8 50 %, none 50 % |" in text
    assert "| fixed:2, dis:medium, fixed:small |  | none 50 %, small 50 % |" in text
    assert "| fixed:2, dis:medium, adaptive:0.01,0.04:mixed,small |  |" in text
    assert [r["default"] for r in rep["table5"]] == [False, False, True, False, False, False]
    assert main(["report", "instance", str(ck), "--data", str(data), "--intervals", "1,5",
                 "--out", str(tmp_path / "x.md")]) == 2  # fmt: skip
    assert "--intervals must be >= 2" in capsys.readouterr().err
    assert (tmp_path / "instance_strip.png").stat().st_size > 1000
    # the cached component folders belong to that checkpoint: another one is exported again
    from edgevision.data.synth import SynthConfig, generate
    from edgevision.reports.instance_video import instance_report

    moving = tmp_path / "moving"  # videos of varying motion: Table IV
    generate(moving, SynthConfig(seed=5, image_size=(64, 64), train_images=0, val_images=0,
                                 train_videos=0, val_videos=2, frames=4, write_mp4=False,
                                 motion_range=(0.5, 2.0)), progress=False)  # fmt: skip
    ck2 = tiny_yolact_ckpt(tmp_path / "v2.pt")
    said: list[str] = []
    instance_report(ck2, data, out=tmp_path / "again.md", work=tmp_path / "w",
                    calib_size=2, rounds=1, threads=1, configs=["all FP32"], intervals=(),
                    int8_config="all FP32", max_frames=3, motion_data=moving,
                    log=said.append)  # fmt: skip
    assert any("another checkpoint" in m for m in said), said
    assert any(m.startswith("exporting components") for m in said)
    with pytest.raises(ConfigError, match="fixed:K"):  # Table IV needs a fixed policy
        instance_report(ck2, data, out=tmp_path / "x.md", work=tmp_path / "w",
                        keyframes="adaptive", motion_data=moving)  # fmt: skip
    again = (tmp_path / "again.md").read_text()
    assert "## Table IV" in again and "per-video motion factors" in again
    assert "## Table V" not in again  # one precision: no precision policy to compare
    assert (
        "| all FP32 | DIS flow | adaptive |" in again
        and "| all FP32 | DIS medium | fixed:5 |" in again
    )
    assert "## Table III" not in again
