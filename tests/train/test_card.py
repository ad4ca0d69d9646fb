"""``edgevision ship``: weights + model card whose metrics ``edgevision eval`` reproduces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edgevision.checkpoint import read_spec
from edgevision.cli.main import main
from edgevision.train.card import read_runs


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def trained(synth_images, tmp_path_factory) -> tuple[Path, Path]:
    data = synth_images(seed=11, size=(48, 48), train=4, val=2)
    out = tmp_path_factory.mktemp("card") / "run"
    argv = [
        "train", "deeplabv3plus_mobilenetv2", "--data", str(data), "--epochs", "2",
        "--batch-size", "2", "--crop", "48x48", "--out", str(out), "--device", "cpu",
        "--no-progress", "--set", "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
    ]  # fmt: skip
    assert main(argv) == 0
    return data, out


def test_run_log_records_command_machine_and_time(trained):
    _, out = trained
    runs = read_runs(out)
    assert len(runs) == 1
    assert runs[0]["command"].startswith("edgevision ")
    assert runs[0]["start_iter"] == 0 and runs[0]["device"] == "cpu"
    assert runs[0]["machine"]["cores"] >= 1 and runs[0]["versions"]["torch"]


def test_checkpoints_record_the_data_folder_resolved(synth_images, tmp_path, monkeypatch):
    """``train_config["data"]`` keeps the path as typed (relative to where training ran);
    both checkpoints also hold it resolved, so that ``ship`` run from elsewhere finds the
    training sequences; where the resolved folder is gone (the tree moved), the typed path
    is still tried."""
    from edgevision.checkpoint import load_checkpoint
    from edgevision.train.card import ship

    work = tmp_path / "a"
    data = work / "ds"
    shutil.copytree(synth_images(seed=12, size=(48, 48), train=2, val=2), data)
    monkeypatch.chdir(work)
    argv = [
        "train", "deeplabv3plus_mobilenetv2", "--data", "ds", "--epochs", "1",
        "--batch-size", "2", "--crop", "48x48", "--out", "run", "--device", "cpu",
        "--no-progress", "--set", "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
    ]  # fmt: skip
    assert main(argv) == 0
    for name in ("last.pt", "best.pt"):
        extra = load_checkpoint(work / "run" / name)[2]
        assert extra["train_config"]["data"] == "ds"
        assert extra["data_dir"] == str(data.resolve())
    # measured on a folder without the training split, shipped from another directory
    measure = tmp_path / "measure"
    shutil.copytree(data, measure)
    for sub in ("images", "labels"):
        shutil.rmtree(measure / sub / "train")
    (measure / "train.txt").unlink()

    def train_sequences(run: Path, weights: str) -> object:
        res = ship(run, "m", data=measure, weights_dir=tmp_path / weights, progress=False)
        return json.loads((res.dir / "card.json").read_text())["data"]["train_sequences"]

    monkeypatch.chdir(tmp_path)
    assert train_sequences(work / "run", "w1")
    # the tree moved: data_dir points nowhere, the typed "ds" is found from the new place
    moved = tmp_path / "b"
    work.rename(moved)
    monkeypatch.chdir(moved)
    assert train_sequences(moved / "run", "w2")
    monkeypatch.chdir(tmp_path)
    assert train_sequences(moved / "run", "w3") is None  # neither is here: not guessed


def test_ship_writes_card_that_eval_reproduces(trained, tmp_path, capsys):
    data, out = trained
    wdir = tmp_path / "weights"
    argv = ["ship", str(out), "--name", "tiny", "--data", str(data), "--weights-dir", str(wdir),
            "--data-label", "Tiny set (synthetic)"]  # fmt: skip
    assert main(argv) == 0
    d = wdir / "tiny"
    assert {p.name for p in d.iterdir()} == {
        "tiny.safetensors", "card.json", "README.md", "train_config.yaml"
    }  # fmt: skip
    card = json.loads((d / "card.json").read_text())
    assert read_spec(d / "tiny.safetensors").name == "deeplabv3plus_mobilenetv2"
    t = card["training"]
    assert t["epochs_done"] == 2 and t["epochs_planned"] == 2 and t["steps"] == 4
    assert t["wall_time_s"] is not None and t["wall_time_s"] > 0
    assert t["config"]["crop"] == [48, 48] and card["pretrained"] is False
    readme = (d / "README.md").read_text()
    assert "edgevision train deeplabv3plus_mobilenetv2" in readme and "wall time" in readme
    # the label describes the data; the reproduce command names the folder itself
    assert card["data"]["folder"] == "Tiny set (synthetic)"
    assert card["eval_command"].endswith(f"--data {data.as_posix()} --split val")
    capsys.readouterr()
    js = tmp_path / "eval.json"
    assert main(["eval", str(d / "tiny.safetensors"), "--data", str(data), "--json", str(js)]) == 0
    again = json.loads(js.read_text())["metrics"]
    assert again["miou"] == pytest.approx(card["metrics"]["miou"], abs=1e-9)
    assert again["per_class_iou"] == pytest.approx(card["metrics"]["per_class_iou"], nan_ok=True)


def test_a_failed_ship_leaves_no_weights_without_a_card(trained, tmp_path, capsys, monkeypatch):
    """The card's evaluation failing (here: a broken evaluator) leaves weights/NAME as it was
    (absent), not a .safetensors without card.json; nor a staging folder."""
    import edgevision.evaluate as ev

    data, out = trained
    wdir = tmp_path / "weights"

    def broken(*a, **k):
        raise OSError("disk went away")

    monkeypatch.setattr(ev, "evaluate", broken)
    argv = ["ship", str(out), "--name", "tiny", "--data", str(data), "--weights-dir", str(wdir)]
    assert main(argv) == 2
    assert wdir.is_dir() and list(wdir.iterdir()) == []
    assert "disk went away" in capsys.readouterr().err


def test_ship_errors_are_one_line(trained, tmp_path, capsys):
    data, out = trained
    code = main(["ship", str(tmp_path / "nope"), "--name", "x", "--data", str(data)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run folder" in err[0]


def test_ship_video_model_of_an_instance_run(synth_images, tmp_path, capsys):
    """--which video ships video.pt (image model + FeatFlowNet) with the image run's record."""
    import dataclasses

    from edgevision.checkpoint import load_model, save_checkpoint
    from edgevision.config import from_yaml
    from edgevision.train.instance import InstanceTrainConfig

    data = synth_images(seed=12, size=(64, 64), train=4, val=2)
    out = tmp_path / "run"
    argv = [
        "train", "yolact_mobilenetv2_320", "--data", str(data), "--epochs", "1",
        "--batch-size", "4", "--out", str(out), "--device", "cpu", "--no-progress",
        "--set", "input_size=[64, 64]", "--set",
        "model_kwargs={width_mult: 0.35, fpn_channels: 16, proto_width: 16, num_protos: 4, "
        "flow_width: 16, video: true}",
    ]  # fmt: skip
    assert main(argv) == 0
    # what the trainer writes after its FeatFlowNet phase (flow_steps > 0), made directly
    m = load_model(out / "best.pt")
    spec = dataclasses.replace(
        m.spec, extra={**m.spec.extra, "flow": {"steps": 3, "final_epe": 0.5}}
    )
    save_checkpoint(out / "video.pt", m, spec)
    wdir = tmp_path / "weights"
    argv = ["ship", str(out), "--which", "video", "--name", "v", "--data", str(data),
            "--weights-dir", str(wdir)]  # fmt: skip
    assert main(argv) == 0
    card = json.loads((wdir / "v" / "card.json").read_text())
    assert card["training"]["flow"] == {"steps": 3, "final_epe": 0.5}
    assert card["training"]["selected_epoch"] is not None and card["task"] == "instance"
    assert from_yaml(InstanceTrainConfig, wdir / "v" / "train_config.yaml").epochs == 1
    readme = (wdir / "v" / "README.md").read_text()
    assert "FeatFlowNet trained after it for 3 steps" in readme
    assert "edgevision train yolact_mobilenetv2_320" in readme  # the command was recorded
    assert "segm" in card["metrics"]
    assert card["video"] is None

    # --video-data: per-frame AP on unseen videos becomes the headline, and 'eval --videos'
    # (the card's command) gives the same numbers
    from edgevision.data.synth import SynthConfig, generate

    vids = tmp_path / "vids"
    generate(vids, SynthConfig(seed=9, image_size=(64, 64), train_images=0, val_images=0,
                               train_videos=0, val_videos=2, frames=3, write_mp4=False),
             progress=False)  # fmt: skip
    assert main([*argv, "--video-data", str(vids), "--video-label", "seed 9 videos"]) == 0
    card = json.loads((wdir / "v" / "card.json").read_text())
    v = card["video"]
    assert v["frames"] == 6 and v["videos"] == 2 and v["folder"] == "seed 9 videos"
    assert v["eval_command"].endswith(f"--data {vids.as_posix()} --videos")
    js = tmp_path / "v.json"
    assert main(["eval", str(wdir / "v" / "v.safetensors"), "--data", str(vids), "--videos",
                 "--json", str(js)]) == 0  # fmt: skip
    got = json.loads(js.read_text())
    assert got["num_images"] == 6 and set(got["sequences"]) == {"video1", "video2"}
    for kind in ("bbox", "segm"):
        assert got["metrics"][kind]["AP"] == pytest.approx(v["metrics"][kind]["AP"], nan_ok=True)
    readme = (wdir / "v" / "README.md").read_text()
    assert "### Per frame on videos: `seed 9 videos`, 6 frames of 2 videos" in readme
    assert readme.index("Per frame on videos") < readme.index("### Images: split `val`")
    # a folder without videos is refused before anything is written
    assert main([*argv, "--name", "w", "--video-data", str(data)]) != 0
    assert not (wdir / "w").exists()
    capsys.readouterr()
    w = str(wdir / "v" / "v.safetensors")
    assert main(["eval", w, "--data", str(vids), "--videos", "--track", "iou"]) == 2
    assert "--track and --videos" in capsys.readouterr().err
    assert main(["eval", w, "--data", str(data), "--videos"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ytvis_val.json" in err[0]
    assert main(["eval", w, "--data", str(vids), "--videos", "--max-images", "2"]) == 2
    assert "--max-videos" in capsys.readouterr().err
    assert main([*argv, "--video-label", "x"]) == 2
    assert "give --video-data too" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "..", ".", ".hidden", "", " m", "/abs"])
def test_ship_name_must_be_one_plain_folder_name(name):
    """``--name ../x`` wrote outside --weights-dir: a name is one path component."""
    from edgevision.errors import ConfigError
    from edgevision.train.card import check_ship_name

    with pytest.raises(ConfigError, match="--name"):
        check_ship_name(name)


def test_ship_name_accepts_plain_names():
    from edgevision.train.card import check_ship_name

    for name in ("ddrnet23_slim_camvid", "yolo-v5n.v2", "m"):
        check_ship_name(name)


# ---------------------------------------------------------------- honest validation labels
REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "weights").glob("*/card.json"))
IN_SEQUENCE = (
    "in-sequence validation (sequence 0016E5, whose neighbouring frames are in train): "
    "overstates results on new streets"
)
NO_HELD_OUT = "No held-out-sequence number exists yet for these weights."


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_readme_is_the_rendered_card(path):
    """Every weights/NAME/README.md is render_card(card.json), nothing typed by hand."""
    from edgevision.train.card import render_card

    card = json.loads(path.read_text())
    assert render_card(card) == (path.parent / "README.md").read_text()


def _held_out(path: Path) -> bool:
    return json.loads(path.read_text()).get("held_out") is not None


@pytest.mark.parametrize(
    "path",
    [p for p in SHIPPED if "camvid" in p.parent.name and not _held_out(p)],
    ids=lambda p: p.parent.name,
)
def test_camvid_cards_say_val_is_in_sequence(path):
    """CamVid cards without a held-out number (the first-wave models, trained on all three
    sequences) say their val number is in-sequence."""
    from edgevision.train.card import validation_label

    card = json.loads(path.read_text())
    d = card["data"]
    assert d["measured_split"] == "val" and d["measured_sequences"] == {"0016E5": 101}
    assert d["train_sequences"] == {"0001TP": 62, "0006R0": 101, "0016E5": 204}
    assert card["held_out"] is None
    assert validation_label(card) == IN_SEQUENCE
    readme = (path.parent / "README.md").read_text()
    assert f"**{IN_SEQUENCE}**" in readme and NO_HELD_OUT in readme
    head, metrics = readme.split("## Metrics")
    assert f"Measured on {IN_SEQUENCE}. {NO_HELD_OUT}" in metrics  # next to the numbers


@pytest.mark.parametrize(
    "path",
    [p for p in SHIPPED if "camvid" in p.parent.name and _held_out(p)],
    ids=lambda p: p.parent.name,
)
def test_held_out_camvid_cards_never_trained_on_their_headline_sequences(path):
    card = json.loads(path.read_text())
    h = card["held_out"]
    assert h["sequences"] and not set(h["sequences"]) & set(card["data"]["train_sequences"])
    readme = (path.parent / "README.md").read_text()
    assert readme.split("## Metrics")[1].lstrip().startswith("### Held-out sequences")


def _card(measured: dict | None, train: dict | None, held_out=None) -> dict:
    card = json.loads((REPO / "weights/ddrnet23_slim_camvid/card.json").read_text())
    card["data"].update(measured_sequences=measured, train_sequences=train)
    card["held_out"] = held_out
    return card


def test_card_label_follows_the_sequences():
    from edgevision.train.card import render_card, validation_label

    # a held-out sequence: nothing to warn about
    card = _card({"0006R0": 101}, {"0001TP": 62, "0016E5": 204})
    assert validation_label(card) is None
    text = render_card(card)
    assert "in-sequence" not in text and "held-out" not in text
    assert "101 images (sequence 0006R0)" in text
    # several shared sequences are all named
    label = validation_label(_card({"a": 1, "b": 2, "c": 1}, {"a": 5, "b": 5}))
    assert label is not None and label.startswith("in-sequence validation (sequences a, b, ")
    # cards from before sequences were recorded: no claim either way
    old = _card(None, None)
    assert validation_label(old) is None and "sequence" not in render_card(old).split("##")[1]
    # once a held-out number exists the card stops saying there is none
    held = {
        "split": "train:0006R0",
        "images": 101,
        "sequences": {"0006R0": 101},
        "metrics": {"miou": 0.5, "per_class_iou": {"Sky": 0.9}},
        "eval_command": "edgevision eval w --data d --split train:0006R0",
    }
    done = _card({"0016E5": 101}, {"0016E5": 204}, held)
    text = render_card(done)
    assert NO_HELD_OUT not in text and "`train:0006R0`" in text
    # the held-out number comes first, the in-sequence one after it, labelled
    metrics = text.split("## Metrics")[1]
    assert metrics.index("**mIoU 50.00**") < metrics.index(
        "in-sequence validation (sequence 0016E5"
    )
    assert metrics.index("### Held-out sequences") < metrics.index("### Split `val`")


def _sequence_set(root: Path) -> Path:
    """A synthetic semantic set whose train images belong to sequences A and B."""
    import shutil

    for sub in ("images", "labels"):
        for i, f in enumerate(sorted((root / sub / "train").iterdir())):
            shutil.move(f, f.with_name(f"{'AB'[i % 2]}_{f.name}"))
    names = (root / "train.txt").read_text().split()
    (root / "train.txt").write_text("".join(f"{'AB'[i % 2]}_{n}\n" for i, n in enumerate(names)))
    return root


def test_ship_held_out_is_the_headline_and_must_be_held_out(
    synth_images, tmp_path, capsys, monkeypatch
):
    import shutil

    data = _sequence_set(shutil.copytree(synth_images(seed=13, size=(48, 48), train=4, val=2),
                                         tmp_path / "ds"))  # fmt: skip
    out = tmp_path / "run"
    argv = [
        "train", "deeplabv3plus_mobilenetv2", "--data", str(data), "--epochs", "1",
        "--batch-size", "2", "--crop", "48x48", "--out", str(out), "--device", "cpu",
        "--no-progress", "--set", "model_kwargs={width_mult: 0.35, aspp_channels: 16}",
        "--set", "train_split=train-B", "--set", "val_split=train:B",
    ]  # fmt: skip
    assert main(argv) == 0
    ship = ["ship", str(out), "--name", "t", "--data", str(data), "--weights-dir",
            str(tmp_path / "w")]  # fmt: skip
    # trained on A, selected on B: best.pt cannot claim B as held out
    capsys.readouterr()
    assert main([*ship, "--held-out", "train:B"]) != 0
    err = capsys.readouterr().err
    assert "selected on B" in err and "--which last" in err and len(err.strip().splitlines()) == 1
    assert main([*ship, "--held-out", "train:A", "--which", "last"]) != 0
    assert "the run trained on A" in capsys.readouterr().err
    assert not (tmp_path / "w" / "t").exists()
    assert main([*ship, "--held-out", "train:B", "--which", "last"]) == 0
    card = json.loads((tmp_path / "w" / "t" / "card.json").read_text())
    h = card["held_out"]
    assert h["split"] == "train:B" and h["sequences"] == {"B": 2} and h["images"] == 2
    js = tmp_path / "e.json"
    assert main(["eval", str(tmp_path / "w" / "t" / "t.safetensors"), "--data", str(data),
                 "--split", "train:B", "--json", str(js)]) == 0  # fmt: skip
    assert json.loads(js.read_text())["metrics"]["miou"] == pytest.approx(h["metrics"]["miou"])
    assert "### Held-out sequences: split `train:B`" in (tmp_path / "w/t/README.md").read_text()

    # --video-data on a semantic model: one line, before anything is staged or measured
    import edgevision.train.card as card_mod
    from edgevision.data.synth import SynthConfig, generate

    vids = tmp_path / "vids"
    generate(vids, SynthConfig(seed=9, image_size=(48, 48), train_images=0, val_images=0,
                               train_videos=0, val_videos=1, frames=2, write_mp4=False),
             progress=False)  # fmt: skip

    def reached(*a, **k):
        raise AssertionError("ship went on to write and measure")

    monkeypatch.setattr(card_mod, "_ship_into", reached)
    capsys.readouterr()
    assert main([*ship, "--which", "last", "--name", "u", "--video-data", str(vids)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a detection or instance model" in err[0]
    assert not (tmp_path / "w" / "u").exists()


def test_card_sequences_from_the_folder(tmp_path):
    from edgevision.train.card import card_sequences

    for n in ("0001TP_1", "0016E5_1", "0016E5_2"):
        (tmp_path / "images" / "train").mkdir(parents=True, exist_ok=True)
        (tmp_path / "images" / "train" / f"{n}.png").write_bytes(b"")
    got = card_sequences(tmp_path, "train", {"0016E5": 3})
    assert got == {
        "train_sequences": {"0001TP": 1, "0016E5": 2},
        "measured_sequences": {"0016E5": 3},
    }
    assert card_sequences(tmp_path, "nope", {}) == {
        "train_sequences": None,
        "measured_sequences": None,
    }


def test_card_says_what_the_run_started_from():
    from edgevision.train.card import render_card

    card = _card(None, None)
    assert "Trained from scratch (no pretrained weights)." in render_card(card)
    card["pretrained"] = {
        "source": "ddrnet23-slim",
        "file": "/data/DDRNet23s_imagenet.pth",
        "backbone_matched": 290,
        "backbone_total": 290,
        "missing": 54,
    }
    text = render_card(card)
    assert "Trained from scratch (no pretrained weights)." not in text
    assert (
        "Started from pretrained weights `DDRNet23s_imagenet.pth` (ddrnet23-slim: 290/290 "
        "backbone tensors imported; 54 tensors of the model started from their initialisation)."
    ) in text


def test_card_headlines_pq_and_depth_and_says_when_nothing_was_selected():
    from edgevision.train.card import metric_headline, render_card

    card = _card({"0006R0": 101}, {"0001TP": 62, "0016E5": 204})
    card["metrics"] = {
        "miou": 0.5, "pixel_acc": 0.9, "mean_acc": 0.6, "per_class_iou": {"a": 0.4, "b": 0.6},
        "pq": 0.7, "pq_things": 0.6, "pq_stuff": 0.9, "sq": 0.8, "rq": 0.875,
        "per_class_pq": {"a": 0.9, "b": 0.6}, "pq_images": 20,
    }  # fmt: skip
    card["training"]["checkpoint"] = "last"
    text = render_card(card)
    metrics = text.split("## Metrics")[1]
    assert metrics.index("**PQ 70.00** (things 60.00, stuff 90.00)") < metrics.index("**mIoU")
    assert "| a | 40.00 | 90.00 |" in metrics and "on 20 images with panoptic truth" in metrics
    assert "no checkpoint selection: the last checkpoint of a fixed schedule" in text
    assert "checkpoint selected on" not in text
    assert metric_headline(card["metrics"]) == "PQ 70.00, mIoU 50.00"
    depth = {"miou": 0.5, "abs_rel": 0.25, "rmse": 3.5, "delta1": 0.61, "depth_images": 7}
    card["metrics"] = {**depth, "per_class_iou": {}, "pq": float("nan")}
    metrics = render_card(card).split("## Metrics")[1]
    assert "**depth δ<1.25 61.00**, AbsRel 0.250, RMSE 3.50 m on 7 images" in metrics
    assert "PQ" not in metrics  # NaN PQ (no panoptic truth) is not shown
    card["metrics"]["scale"] = 0.75
    metrics = render_card(card).split("## Metrics")[1]
    assert "RMSE 3.50 m, scale 0.750 (pred/truth) on 7 images" in metrics
    assert metric_headline(depth) == "depth δ<1.25 61.00, mIoU 50.00"
    assert (
        metric_headline({"segm": {"AP": 0.3}, "bbox": {"AP": 0.4}}) == "mask AP 30.00, box AP 40.00"
    )
    assert metric_headline({}) == "metrics in card"


def test_card_sequences_prefer_the_runs_own_training_folder(tmp_path):
    """A card measured on another folder (a test folder without the training split) still
    records the training sequences, from the run's own training folder."""
    from edgevision.errors import ConfigError
    from edgevision.train.card import card_sequences, check_held_out

    own, test = tmp_path / "own", tmp_path / "test"
    for root, split, names in ((own, "train", ("A_1", "B_1", "B_2")), (test, "test", ("C_1",))):
        (root / "images" / split).mkdir(parents=True)
        for n in names:
            (root / "images" / split / f"{n}.png").write_bytes(b"")
    got = card_sequences(test, "train", {"C": 1}, train_data=own)
    assert got["train_sequences"] == {"A": 1, "B": 2}
    assert (
        card_sequences(test, "train", {}, train_data=tmp_path / "gone")["train_sequences"] is None
    )
    check_held_out(test, "test", {"data": str(own), "train_split": "train"}, "last")
    (own / "images" / "train" / "C_9.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="trained on C"):
        check_held_out(test, "test", {"data": str(own), "train_split": "train"}, "last")
