"""train_instance: YOLACT on a few synthetic images (mask AP rises), resume, refusals."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgevision.errors import CheckpointError, ConfigError  # noqa: E402
from edgevision.train.instance import InstanceTrainConfig, evaluate_instance, train_instance  # noqa: E402

TINY = {
    "width_mult": 0.35,
    "fpn_channels": 32,
    "proto_width": 32,
    "num_protos": 8,
    "anchor_scales": [10, 19, 32, 45, 58],
}


def _cfg(data, out, **kw):
    base = dict(
        model="yolact_mobilenetv2_320",
        data=str(data),
        val_split="train",
        input_size=(64, 64),
        epochs=2,
        batch_size=4,
        lr=5e-3,
        warmup_iters=5,
        flip=False,
        out=str(out),
        model_kwargs=TINY,
    )
    return InstanceTrainConfig(**{**base, **kw})


def test_train_resume_and_refusals(synth_images, tmp_path, one_torch_thread):
    data = synth_images(seed=3, size=(64, 64), train=4, val=2)
    r = train_instance(
        _cfg(data, tmp_path / "run", epochs=1, val_split=""), quiet=True, progress=False
    )
    assert r.last.is_file() and r.steps == 1 and r.best is None
    with pytest.raises(ConfigError, match="already holds a run"):
        train_instance(
            _cfg(data, tmp_path / "run", epochs=2, val_split=""), quiet=True, progress=False
        )
    r2 = train_instance(
        _cfg(data, tmp_path / "run", epochs=2, val_split=""),
        resume=True,
        quiet=True,
        progress=False,
    )
    assert r2.steps == 2 and r2.epochs == 2
    from edgevision.train.card import read_runs

    runs = read_runs(tmp_path / "run")  # each start logged with its machine, for model cards
    assert [r["start_iter"] for r in runs] == [0, 1] and runs[1]["epochs"] == 2
    with pytest.raises(ConfigError, match="differs"):
        train_instance(
            _cfg(data, tmp_path / "run", epochs=3, lr=1e-2, val_split=""), resume=True, quiet=True
        )
    with pytest.raises(CheckpointError):
        train_instance(_cfg(data, tmp_path / "new"), resume=True, quiet=True)
    with pytest.raises(ConfigError, match="not an instance model"):
        train_instance(
            _cfg(data, tmp_path / "x", model="ddrnet23_slim", model_kwargs={}), quiet=True
        )
    from edgevision.checkpoint import load_model

    m = load_model(r2.last)
    assert m.spec.task == "instance" and m.spec.class_names == [
        "circle",
        "rectangle",
        "triangle",
        "star",
    ]


@pytest.mark.slow
def test_mask_ap_rises_when_overfitting_a_few_images(synth_images, tmp_path, one_torch_thread):
    data = synth_images(seed=3, size=(64, 64), train=4, val=2)
    from edgevision.registry import create_model

    m0 = create_model(
        "yolact_mobilenetv2_320",
        class_names=["circle", "rectangle", "triangle", "star"],
        input_size=(64, 64),
        **TINY,
    )
    torch.manual_seed(0)
    before = evaluate_instance(m0, data, "train")["segm"]["AP"]
    r = train_instance(
        _cfg(data, tmp_path / "fit", epochs=80, eval_every=80), quiet=True, progress=False
    )
    after = r.history[-1]["mask_ap"]
    assert after > max(before, 0.0) + 0.05, (before, after)
    assert r.best is not None and r.best.is_file()


def test_flow_loss_weights_are_validated():
    InstanceTrainConfig(flow_epe_weight=1.0, flow_feature_weight=0.0)  # EPE only is fine
    with pytest.raises(ConfigError, match="flow_epe_weight"):
        InstanceTrainConfig(flow_epe_weight=0.0, flow_feature_weight=0.0)
    with pytest.raises(ConfigError, match="flow_epe_weight"):
        InstanceTrainConfig(flow_epe_weight=-1.0)


def test_flow_data_must_hold_the_video_split(synth_images, tmp_path):
    from edgevision.errors import DataError

    data = synth_images(seed=3, size=(64, 64), train=4, val=2)
    cfg = _cfg(data, tmp_path / "run", flow_steps=5, flow_data=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="flow_data"):
        train_instance(cfg, quiet=True)


def test_video_stages_need_a_video_model_before_training(synth_images, tmp_path):
    data = synth_images(seed=3, size=(64, 64), train=4, val=2)
    with pytest.raises(ConfigError, match="need a video model"):
        train_instance(_cfg(data, tmp_path / "run", flow_steps=5), quiet=True)
    assert not (tmp_path / "run" / "last.pt").exists()  # refused before any step


def test_a_dataset_yaml_is_refused_with_what_instance_training_reads(tmp_path):
    from edgevision.errors import DataError

    cfg = tmp_path / "data.yaml"
    cfg.write_text("train: images/train\nnames: [a]\n")
    with pytest.raises(DataError, match="instance models train on a COCO-layout folder"):
        train_instance(_cfg(cfg, tmp_path / "run"), quiet=True)
