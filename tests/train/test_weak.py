"""Weak supervision: loss honours ignore/confidence, refinement, the round loop and its CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgevision.cli.main import main  # noqa: E402
from edgevision.data.pseudo_instances import PseudoInstance, PseudoLabelConfig  # noqa: E402
from edgevision.errors import ConfigError  # noqa: E402
from edgevision.losses.yolact import InstanceTargets, YolactLoss  # noqa: E402
from edgevision.train.instance import InstanceTrainConfig  # noqa: E402
from edgevision.train.weak import WeakConfig, refine_image, train_weak  # noqa: E402

TINY = {
    "width_mult": 0.35,
    "fpn_channels": 32,
    "proto_width": 32,
    "num_protos": 8,
    "anchor_scales": [10, 19, 32, 45, 58],
}
CLASSES = "circle,rectangle,triangle,star"


def _disc(h, w, cx, cy, r):
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def test_refine_splits_a_blob_the_model_sees_as_two_and_keeps_uncovered_ones():
    h, w = 80, 160
    a, b = _disc(h, w, 40, 40, 20), _disc(h, w, 70, 40, 20)  # one merged blob
    far = _disc(h, w, 130, 40, 15)
    label = np.zeros((h, w), np.int64)
    label[a | b | far] = 1
    previous = [PseudoInstance(a | b, 0, 1.0), PseudoInstance(far, 0, 0.9)]
    preds = np.stack([a, b])  # the model sees two objects in the blob, none at `far`
    cfg = PseudoLabelConfig(classes=("thing",), min_area=30)
    insts, ignore, counts = refine_image(
        label, [1], previous, preds, np.array([0, 0]), np.array([0.9, 0.8]), cfg
    )
    assert counts == {"relabelled": 1, "kept": 1}
    assert len(insts) == 3
    union = np.zeros((h, w), bool)
    for i in insts:
        assert not (i.mask & ~(label == 1)).any()  # agrees with the semantic mask
        union |= i.mask
    assert np.array_equal(union, label == 1)
    kept = [i for i in insts if i.mask[40, 130]]
    assert len(kept) == 1 and kept[0].confidence == 0.9
    assert ignore[40, 60] and not ignore[40, 40]  # the new split line (a's edge) is uncertain


def test_loss_ignores_pixels_and_weights_objects():
    torch.manual_seed(0)
    from edgevision.registry import create_model

    model = create_model("yolact_mobilenetv2_320", num_classes=2, input_size=(64, 64), **TINY)
    model.train()
    x = torch.randn(1, 3, 64, 64)
    out = model(x)
    crit = YolactLoss(2, anchor_scales=model.anchor_scales, aspect_ratios=model.aspect_ratios)
    m = torch.zeros(1, 64, 64)
    m[0, 10:40, 10:40] = 1
    t = dict(boxes=[torch.tensor([[10 / 64, 10 / 64, 40 / 64, 40 / 64]])],
             labels=[torch.tensor([0])], masks=[m])  # fmt: skip
    base = crit(out, InstanceTargets(**t)).item()
    full = dict(crit.last)
    half = crit(out, InstanceTargets(**t, weights=[torch.tensor([0.5])])).item()
    assert half < base
    assert crit.last["box"] == pytest.approx(0.5 * full["box"], rel=1e-4)
    assert crit.last["mask"] == pytest.approx(0.5 * full["mask"], rel=1e-4)
    assert crit.last["cls"] < full["cls"]
    everything = torch.ones(64, 64)
    crit(out, InstanceTargets(**t, ignore=[everything]))
    assert crit.last["mask"] == 0.0 and crit.last["semantic"] == 0.0


def test_round_loop_writes_labels_models_and_resumes(synth_images, tmp_path, one_torch_thread):
    data = synth_images(seed=4, size=(64, 64), train=4, val=2)
    cfg = InstanceTrainConfig(
        model="yolact_mobilenetv2_320", data=str(data), input_size=(64, 64), epochs=1,
        batch_size=4, lr=5e-3, warmup_iters=1, flip=False, out=str(tmp_path / "weak"),
        model_kwargs=TINY, eval_max_images=2,
    )  # fmt: skip
    weak = WeakConfig(classes=tuple(CLASSES.split(",")), rounds=1, min_area=20,
                      score_threshold=0.05)  # fmt: skip
    res = train_weak(cfg, weak, progress=False, quiet=True)
    assert [r["round"] for r in res.rounds] == [0, 1]
    for r in (0, 1):
        ann = tmp_path / "weak" / f"round{r}" / "labels" / "annotations" / "instances_train.json"
        d = json.loads(ann.read_text())
        assert d["images"] and all("confidence" in a for a in d["annotations"])
        assert (tmp_path / "weak" / f"round{r}" / "model" / "last.pt").is_file()
    assert res.final is not None and res.final.is_file()
    record = json.loads((tmp_path / "weak" / "weak.json").read_text())
    assert len(record["rounds"]) == 2 and record["weak"]["rounds"] == 1
    # agreement with the semantic mask (the check for data without instance truth)
    from edgevision.reports.weak import semantic_agreement

    png = tmp_path / "agree.png"
    agree = semantic_agreement(res.final, data, split="val", score_threshold=0.05, figure=png)
    assert set(agree["per_class"]) == set(CLASSES.split(",")) and agree["images"] == 2
    assert all(0 <= v <= 1 for v in agree["per_class"].values() if v == v)
    assert png.stat().st_size > 1000
    from edgevision.reports.weak import write_agreement_page

    r0 = res.rounds[0]["model"]
    agree0 = semantic_agreement(r0, data, split="val", score_threshold=0.05)
    page = write_agreement_page({r0: agree0, str(res.final): agree}, tmp_path / "agree.md",
                                data=str(data), command="edgevision report weak --agreement X",
                                figure=png)  # fmt: skip
    text = page.read_text()
    assert text.count("Training: `") == 1 and record["command"] in text
    assert "| class | round 0 | round 1 |" in text and "| mean |" in text
    assert "round 1: trained on" in text and "re-labelled" in text
    assert f"`{png}`" in text and "![" not in text
    # semantic labels only (no instance truth): eval scores agreement, ship carries it + the
    # weak record, and both equal semantic_agreement's numbers
    sem = tmp_path / "semantic_only"
    sem.mkdir()
    for name in ("images", "labels", "dataset.yaml"):
        if (data / name).exists():
            (sem / name).symlink_to(data / name)
    assert (
        main(["eval", str(res.final), "--data", str(sem), "--json", str(tmp_path / "e.json")]) == 0
    )
    ev = json.loads((tmp_path / "e.json").read_text())["metrics"]["agreement"]
    at_default = semantic_agreement(res.final, sem, split="val")  # score >= 0.3, as eval
    want = {k: (None if v != v else v) for k, v in at_default["per_class"].items()}
    assert ev["per_class"] == pytest.approx(want, abs=1e-12)
    assert ev["score_threshold"] == at_default["score_threshold"] == 0.3
    wdir = tmp_path / "weights"
    argv = ["ship", str(res.final.parent), "--name", "w", "--data", str(sem),
            "--weights-dir", str(wdir)]  # fmt: skip
    assert main(argv) == 0
    card = json.loads((wdir / "w" / "card.json").read_text())
    assert card["metrics"]["agreement"]["per_class"].keys() == agree["per_class"].keys()
    w = card["training"]["weak"]
    assert w["round"] == 1 and w["command"] == record["command"] and w["label_stats"]["images"] == 4
    readme = (wdir / "w" / "README.md").read_text()
    assert "weakly supervised (`edgevision train --weak`" in readme and "**agreement " in readme
    import csv

    def clock(r):  # a round's training time, from its metrics.csv
        with open(tmp_path / "weak" / f"round{r}" / "model" / "metrics.csv") as f:
            return float([e for e in csv.DictReader(f) if e["kind"] == "epoch"][-1]["elapsed_s"])

    assert w["rounds_train_s"] == pytest.approx(clock(0) + clock(1), abs=0.1)
    assert "rounds 0–1 together" in readme
    # a second start finds every round done and trains nothing
    before = (tmp_path / "weak" / "round1" / "model" / "last.pt").stat().st_mtime_ns
    train_weak(cfg, weak, progress=False, quiet=True)
    assert (tmp_path / "weak" / "round1" / "model" / "last.pt").stat().st_mtime_ns == before


def test_cli_refusals(synth_images, tmp_path, capsys):
    data = synth_images(seed=4, size=(64, 64), train=4, val=2)
    rc = main(["train", "yolact_mobilenetv2_320", "--weak", "--data", str(data)])
    assert rc == 2 and "--classes" in capsys.readouterr().err
    rc = main(["train", "ddrnet23_slim", "--weak", "--classes", "circle", "--data", str(data),
               "--out", str(tmp_path / "x")])  # fmt: skip
    assert rc == 2 and "instance model" in capsys.readouterr().err
    rc = main(["train", "yolact_mobilenetv2_320", "--weak", "--classes", "circle,dragon",
               "--data", str(data), "--out", str(tmp_path / "y")])  # fmt: skip
    assert rc == 2 and "'dragon'" in capsys.readouterr().err
    rc = main(["train", "yolact_mobilenetv2_320", "--rounds", "2", "--data", str(data)])
    assert rc == 2 and "need --weak" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        WeakConfig(classes=("a",), rounds=-1)
