"""Bad inputs through the CLI: one table, one assertion per case.

Every case runs ``edgevision ...`` in-process and expects a user error: exit code 2, at most
three lines on stderr that name the offending file or flag, no traceback, and no output left
behind (the output path a case names does not exist afterwards). Each case fails before any
heavy work (no training, export or benchmark runs), so the whole table takes seconds.

Placeholders in the argument lists: ``{in}`` is a folder of shared inputs (a tiny semantic
dataset ``ds``, ONNX files, corrupt files ...: see :func:`inputs`), ``{t}`` the case's own
empty folder, ``{file}`` a plain file in it (a parent that is not a folder) and ``{dir}`` an
empty folder in it (a folder where a file goes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from edgevision.cli.main import main

CLASSES = ["road", "Car", "Pedestrian", "Bicyclist", "SignSymbol"]


class Case(NamedTuple):
    id: str
    argv: str  # split on spaces after the placeholders are filled in
    says: str  # stderr contains this (case-insensitive): the file or flag at fault
    out: str | None = None  # must not exist afterwards
    root_skips: bool = False  # needs a read-only folder, which root can write anyway


def _png(path: Path, shape: tuple[int, ...], value: int = 0) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(shape, value, np.uint8))


def _semantic(
    root: Path,
    size: tuple[int, int] = (32, 48),
    label: tuple[int, int] | None = None,
    classes: list[str] = CLASSES,
) -> None:
    """A semantic dataset: dataset.yaml, one image and label per split (label size optional)."""
    import cv2

    root.mkdir(parents=True)
    (root / "dataset.yaml").write_text(f"classes: {classes}\nignore_index: 255\n")
    for split in ("train", "val"):
        _png(root / "images" / split / "a.png", (*size, 3), 90)
        lab = np.zeros(label or size, np.uint8)
        lab[4:12, 4:12] = 1
        (root / "labels" / split).mkdir(parents=True)
        cv2.imwrite(str(root / "labels" / split / "a.png"), lab)


def _onnx(path: Path, *, rank: int = 4, spec: bool = True) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgevision.config import ModelSpec

    dims = ["batch", 3, "height", "width"][:rank] if rank <= 4 else ["b", 3, "t", "h", "w"]
    g = helper.make_graph(
        [helper.make_node("Relu", ["images"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, dims)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    if spec:
        s = ModelSpec(
            name="tiny",
            task="semantic",
            class_names=CLASSES,
            input_size=(32, 48),
            postprocess="semantic_argmax",
        )
        m.metadata_props.add(key="edgevision.spec", value=s.to_json())
    onnx.save(m, str(path))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Shared, read-only inputs; no case writes here."""
    d = tmp_path_factory.mktemp("inputs")
    _semantic(d / "ds")
    _semantic(d / "fewclasses", classes=["road", "Car"])
    _semantic(d / "badlabel", label=(16, 16))  # labels of another size than their images
    empty = d / "emptysplit"  # dataset.yaml and folders, but no images
    empty.mkdir()
    (empty / "dataset.yaml").write_text(f"classes: {CLASSES}\n")
    for sub in ("images/train", "images/val", "labels/train", "labels/val"):
        (empty / sub).mkdir(parents=True)
    nolabel = d / "nolabel"
    _semantic(nolabel)
    (nolabel / "labels" / "train" / "a.png").unlink()
    corrupt = d / "corruptlabel"
    _semantic(corrupt)
    (corrupt / "labels" / "train" / "a.png").write_bytes(b"not a png")
    badyaml = d / "badyaml"
    _semantic(badyaml)
    (badyaml / "dataset.yaml").write_text("classes: [a, b\n  : :\n")
    (d / "emptydir").mkdir()
    _onnx(d / "tiny.onnx")
    _onnx(d / "rank3.onnx", rank=3)
    _onnx(d / "rank5.onnx", rank=5)
    _onnx(d / "nometa.onnx", spec=False)
    (d / "garbage.onnx").write_text("this is not a protobuf")
    (d / "empty.onnx").write_bytes(b"")
    (d / "garbage.pt").write_bytes(b"not a zip file")
    (d / "garbage.safetensors").write_bytes(b"\x00\x01")
    (d / "notes.txt").write_text("hello")
    (d / "bad.yaml").write_text("model: [unclosed\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "garbage.json").write_text("{not json")
    (d / "list.json").write_text("[1, 2]")
    (d / "image.png").write_bytes(b"")
    ro = d / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    run = d / "run"  # a training run folder without checkpoints
    run.mkdir()
    (run / "config.yaml").write_text("model: deeplabv3plus_mobilenetv2\ndata: x\n")
    return d


# flag-value shorthands
NEG, ZERO, WORD = "-1", "0", "abc"

# fmt: off
CASES: list[Case] = [
    # --- the console script itself -------------------------------------------------------
    Case("no-command", "", "command"),
    Case("unknown-command", "frobnicate", "frobnicate"),
    # --- models --------------------------------------------------------------------------
    Case("models-unknown-task", "models --task segmentation", "--task"),
    Case("models-unknown-flag", "models --bogus", "--bogus"),
    Case("models-two-patterns", "models a b", "unrecognized arguments: b"),
    # --- data synth ----------------------------------------------------------------------
    Case("synth-out-under-a-file", "data synth --out {file}/ds", "{file}", "{file}/ds"),
    Case("synth-out-is-a-file", "data synth --out {file}", "{file}"),
    Case("synth-out-missing", "data synth", "--out"),
    Case("synth-negative-images", "data synth --out {t}/o --images -1", "--images", "{t}/o"),
    Case("synth-images-not-a-number", "data synth --out {t}/o --images abc", "--images", "{t}/o"),
    Case("synth-negative-val-images", "data synth --out {t}/o --val-images -2", "--val-images"),
    Case("synth-negative-videos", "data synth --out {t}/o --videos -1", "--videos", "{t}/o"),
    Case("synth-zero-frames", "data synth --out {t}/o --frames 0", "--frames", "{t}/o"),
    Case("synth-one-frame", "data synth --out {t}/o --frames 1", "frames", "{t}/o"),
    Case("synth-size-axb", "data synth --out {t}/o --size axb", "--size", "{t}/o"),
    Case("synth-size-zero", "data synth --out {t}/o --size 0x64", "--size", "{t}/o"),
    Case("synth-size-too-small", "data synth --out {t}/o --size 8x8", "image_size", "{t}/o"),
    Case("synth-size-without-width", "data synth --out {t}/o --size 64x", "--size", "{t}/o"),
    Case("synth-seed-not-a-number", "data synth --out {t}/o --seed x", "--seed", "{t}/o"),
    Case("synth-set-unknown-field", "data synth --out {t}/o --set nosuch=1", "nosuch", "{t}/o"),
    Case("synth-set-without-value", "data synth --out {t}/o --set noise_std", "noise_std"),
    Case("synth-set-wrong-type", "data synth --out {t}/o --set noise_std=abc", "noise_std"),
    Case("synth-out-not-empty", "data synth --out {in}/ds", "{in}/ds"),
    Case(
        "synth-out-in-read-only-folder",
        "data synth --out {in}/readonly/o",
        "not writable",
        "{in}/readonly/o",
        root_skips=True,
    ),
    # --- data info -----------------------------------------------------------------------
    Case("info-missing-folder", "data info {t}/nope", "{t}/nope"),
    Case("info-folder-is-a-file", "data info {file}", "{file}"),
    Case("info-no-dataset-yaml", "data info {in}/emptydir", "{in}/emptydir"),
    Case("info-unknown-split", "data info {in}/ds --split nosuch", "nosuch"),
    Case("info-corrupt-dataset-yaml", "data info {in}/badyaml", "dataset.yaml"),
    Case("info-image-without-label", "data info {in}/nolabel", "a.png"),
    Case("info-corrupt-label", "data info {in}/corruptlabel", "a.png"),
    Case("info-missing-dir-argument", "data info", "dir"),
    # --- data stats ----------------------------------------------------------------------
    Case("stats-missing-folder", "data stats {t}/nope", "{t}/nope"),
    Case("stats-unknown-split", "data stats {in}/ds --split nosuch", "nosuch"),
    Case("stats-empty-split", "data stats {in}/emptysplit --no-cache", "no images"),
    Case("stats-corrupt-label", "data stats {in}/corruptlabel --no-cache", "a.png"),
    Case("stats-beta-above-one", "data stats {in}/ds --beta 2", "--beta"),
    Case("stats-beta-not-a-number", "data stats {in}/ds --beta high", "--beta"),
    Case("stats-unknown-unit", "data stats {in}/ds --unit bytes", "--unit"),
    Case("stats-json-under-a-file", "data stats {in}/ds --json {file}/s.json", "{file}"),
    Case("stats-json-is-a-folder", "data stats {in}/ds --json {dir}", "{dir}"),
    Case("stats-cache-dir-is-a-file", "data stats {in}/ds --cache-dir {file}", "{file}"),
    # --- data camvid-boxes ---------------------------------------------------------------
    Case("boxes-missing-folder", "data camvid-boxes {t}/nope --out {t}/o", "{t}/nope", "{t}/o"),
    Case("boxes-folder-is-a-file", "data camvid-boxes {file} --out {t}/o", "{file}", "{t}/o"),
    Case(
        "boxes-empty-split-writes-nothing",
        "data camvid-boxes {in}/emptysplit --out {t}/o",
        "no images",
        "{t}/o",
    ),
    Case(
        "boxes-label-of-wrong-size",
        "data camvid-boxes {in}/badlabel --out {t}/o",
        "labels/train/a.png",
        "{t}/o",
    ),
    Case("boxes-unknown-split", "data camvid-boxes {in}/ds --out {t}/o --splits x", "'x'", "{t}/o"),
    Case("boxes-classes-not-in-data", "data camvid-boxes {in}/fewclasses --out {t}/o",
         "Pedestrian", "{t}/o"),
    Case("boxes-zero-min-area", "data camvid-boxes {in}/ds --out {t}/o --min-area 0", "--min-area"),
    Case("boxes-solidity-above-one", "data camvid-boxes {in}/ds --out {t}/o --split-solidity 2",
         "--split-solidity", "{t}/o"),
    Case("boxes-negative-max-images", "data camvid-boxes {in}/ds --out {t}/o --max-images -1",
         "--max-images", "{t}/o"),
    Case("boxes-out-is-a-file", "data camvid-boxes {in}/ds --out {file}", "{file}"),
    Case("boxes-out-under-a-file", "data camvid-boxes {in}/ds --out {file}/o", "{file}"),
    Case("boxes-out-missing", "data camvid-boxes {in}/ds", "--out"),
    # --- data semantic-to-instances ------------------------------------------------------
    Case("s2i-missing-folder", "data semantic-to-instances {t}/nope --out {t}/o --classes Car",
         "{t}/nope", "{t}/o"),
    Case("s2i-out-is-a-file", "data semantic-to-instances {in}/ds --out {file} --classes Car",
         "{file}"),
    Case("s2i-out-under-a-file",
         "data semantic-to-instances {in}/ds --out {file}/o --classes Car", "{file}"),
    Case("s2i-no-classes", "data semantic-to-instances {in}/ds --out {t}/o --classes ,",
         "classes", "{t}/o"),
    Case("s2i-class-not-in-data", "data semantic-to-instances {in}/ds --out {t}/o --classes Bus",
         "Bus", "{t}/o"),
    Case("s2i-repeated-class",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car,Car", "Car", "{t}/o"),
    Case("s2i-zero-min-area",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car --min-area 0",
         "--min-area", "{t}/o"),
    Case("s2i-zero-min-peak",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car --min-peak 0",
         "min_peak", "{t}/o"),
    Case("s2i-neck-ratio-above-one",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car --neck-ratio 2",
         "neck_ratio", "{t}/o"),
    Case("s2i-negative-boundary",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car --boundary-px -1",
         "boundary_px", "{t}/o"),
    Case("s2i-negative-max-images",
         "data semantic-to-instances {in}/ds --out {t}/o --classes Car --max-images -1",
         "--max-images", "{t}/o"),
    Case("s2i-classes-missing", "data semantic-to-instances {in}/ds --out {t}/o", "--classes"),
    Case("s2i-empty-split",
         "data semantic-to-instances {in}/emptysplit --out {t}/o --classes Car",
         "no images", "{t}/o"),
    # --- export --------------------------------------------------------------------------
    Case("export-unknown-model", "export nosuchmodel -o {t}/m.onnx", "nosuchmodel", "{t}/m.onnx"),
    Case("export-out-is-a-folder", "export deeplabv3plus_mobilenetv2 -o {dir}", "{dir}"),
    Case("export-out-under-a-file", "export deeplabv3plus_mobilenetv2 -o {file}/m.onnx",
         "{file}"),
    Case("export-json-under-a-file",
         "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --json {file}/r.json",
         "{file}", "{t}/m.onnx"),
    Case("export-components-out-is-a-file",
         "export yolact_mobilenetv2_320 --components -o {file}", "{file}"),
    Case("export-input-axb", "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --input axb",
         "--input", "{t}/m.onnx"),
    Case("export-input-zero", "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --input 0x64",
         "--input", "{t}/m.onnx"),
    Case("export-opset-zero", "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --opset 0",
         "--opset", "{t}/m.onnx"),
    Case("export-opset-word", "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --opset new",
         "--opset", "{t}/m.onnx"),
    Case("export-negative-atol", "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx --atol -1",
         "--atol", "{t}/m.onnx"),
    Case("export-model-arg-without-value",
         "export deeplabv3plus_mobilenetv2 -o {t}/m.onnx -m width_mult",
         "width_mult", "{t}/m.onnx"),
    Case("export-missing-checkpoint", "export {t}/nope.pt -o {t}/m.onnx", "nope.pt",
         "{t}/m.onnx"),
    Case("export-corrupt-checkpoint", "export {in}/garbage.pt -o {t}/m.onnx", "garbage.pt",
         "{t}/m.onnx"),
    Case("export-corrupt-safetensors", "export {in}/garbage.safetensors -o {t}/m.onnx",
         "garbage.safetensors", "{t}/m.onnx"),
    Case("export-out-missing", "export deeplabv3plus_mobilenetv2", "--out"),
    # --- bench ---------------------------------------------------------------------------
    Case("bench-nothing-to-do", "bench", "TARGET"),
    Case("bench-tracker-and-target", "bench {in}/tiny.onnx --tracker iou", "TARGET"),
    Case("bench-unknown-tracker", "bench --tracker sort --json {t}/b.json", "sort", "{t}/b.json"),
    Case("bench-tracker-zero-objects", "bench --tracker iou --objects 0", "--objects"),
    Case("bench-missing-onnx", "bench {t}/nope.onnx --json {t}/r.json", "nope.onnx", "{t}/r.json"),
    Case("bench-corrupt-onnx", "bench {in}/garbage.onnx --json {t}/r.json", "garbage.onnx",
         "{t}/r.json"),
    Case("bench-empty-onnx", "bench {in}/empty.onnx", "empty.onnx"),
    Case("bench-onnx-without-metadata", "bench {in}/nometa.onnx", "nometa.onnx"),
    Case("bench-text-file-target", "bench {in}/notes.txt", "notes.txt"),
    Case("bench-folder-target", "bench {in}/emptydir", "emptydir"),
    Case("bench-unknown-model", "bench nosuchmodel", "nosuchmodel"),
    Case("bench-json-under-a-file", "bench {in}/tiny.onnx --json {file}/r.json", "{file}"),
    Case("bench-json-is-a-folder", "bench {in}/tiny.onnx --json {dir}", "{dir}"),
    Case("bench-md-under-a-file", "bench {in}/tiny.onnx --md {file}/r.md", "{file}"),
    Case("bench-plot-under-a-file", "bench {in}/tiny.onnx --plot {file}/r.png", "{file}"),
    Case("bench-zero-threads", "bench {in}/tiny.onnx --threads 0", "--threads"),
    Case("bench-zero-runs", "bench {in}/tiny.onnx --runs 0", "--runs"),
    Case("bench-zero-batch", "bench {in}/tiny.onnx --batch 0", "--batch"),
    Case("bench-negative-warmup", "bench {in}/tiny.onnx --warmup -1", "--warmup"),
    Case("bench-zero-blocks", "bench {in}/tiny.onnx --blocks 0", "--blocks"),
    Case("bench-negative-max-images", "bench {in}/tiny.onnx --max-images -1", "--max-images"),
    Case("bench-input-axb", "bench {in}/tiny.onnx --input axb", "--input"),
    Case("bench-missing-dataset", "bench {in}/tiny.onnx --data {t}/nope", "{t}/nope"),
    Case("bench-unknown-backend", "bench {in}/tiny.onnx --backend tvm", "--backend"),
    Case("bench-unknown-provider", "bench {in}/tiny.onnx --providers nosuchep", "nosuchep"),
    Case("bench-compare-and-targets", "bench {in}/tiny.onnx --compare {in}/list.json", "--compare"),
    Case("bench-compare-missing-json", "bench --compare {t}/nope.json --md {t}/c.md",
         "nope.json", "{t}/c.md"),
    Case("bench-compare-corrupt-json", "bench --compare {in}/garbage.json --md {t}/c.md",
         "garbage.json", "{t}/c.md"),
    Case("bench-compare-json-of-a-list", "bench --compare {in}/list.json --md {t}/c.md",
         "list.json", "{t}/c.md"),
    Case("bench-compare-with-json", "bench --compare {in}/list.json --json {t}/r.json", "--json",
         "{t}/r.json"),
    Case("bench-compare-md-under-a-file", "bench --compare {in}/list.json --md {file}/c.md",
         "{file}"),
    # --- eval ----------------------------------------------------------------------------
    Case("eval-missing-model", "eval {t}/nope.onnx --data {in}/ds", "nope.onnx"),
    Case("eval-unknown-tracker", "eval {in}/tiny.onnx --data {in}/ds --track sort", "sort"),
    Case("eval-track-semantic-model", "eval {in}/tiny.onnx --data {in}/ds --track iou "
         "--json {t}/e.json", "--track", "{t}/e.json"),
    Case("eval-videos-without-videos", "eval {in}/tiny.onnx --data {in}/ds --videos "
         "--json {t}/e.json", "ytvis_val.json", "{t}/e.json"),
    Case("eval-videos-and-track", "eval {in}/tiny.onnx --data {in}/ds --videos --track iou",
         "--track and --videos"),
    Case("eval-videos-max-images", "eval {in}/tiny.onnx --data {in}/ds --videos "
         "--max-images 3", "--max-videos"),
    Case("eval-corrupt-onnx", "eval {in}/garbage.onnx --data {in}/ds", "garbage.onnx"),
    Case("eval-empty-onnx", "eval {in}/empty.onnx --data {in}/ds", "empty.onnx"),
    Case("eval-onnx-of-rank-3", "eval {in}/rank3.onnx --data {in}/ds --json {t}/r.json",
         "rank3.onnx", "{t}/r.json"),
    Case("eval-onnx-of-rank-5", "eval {in}/rank5.onnx --data {in}/ds", "rank5.onnx"),
    Case("eval-onnx-without-metadata", "eval {in}/nometa.onnx --data {in}/ds", "nometa.onnx"),
    Case("eval-corrupt-checkpoint", "eval {in}/garbage.pt --data {in}/ds", "garbage.pt"),
    Case("eval-text-file-model", "eval {in}/notes.txt --data {in}/ds", "notes.txt"),
    Case("eval-unknown-model", "eval nosuchmodel --data {in}/ds", "nosuchmodel"),
    Case("eval-missing-dataset", "eval {in}/tiny.onnx --data {t}/nope --json {t}/r.json",
         "{t}/nope", "{t}/r.json"),
    Case("eval-dataset-is-a-file", "eval {in}/tiny.onnx --data {file}", "{file}"),
    Case("eval-unknown-split", "eval {in}/tiny.onnx --data {in}/ds --split nosuch --json {t}/r",
         "nosuch", "{t}/r"),
    Case("eval-json-under-a-file", "eval {in}/tiny.onnx --data {in}/ds --json {file}/r.json",
         "{file}"),
    Case("eval-json-is-a-folder", "eval {in}/tiny.onnx --data {in}/ds --json {dir}", "{dir}"),
    Case("eval-json-in-read-only-folder",
         "eval {in}/tiny.onnx --data {in}/ds --json {in}/readonly/r.json", "not writable",
         "{in}/readonly/r.json", root_skips=True),
    Case("eval-zero-threads", "eval {in}/tiny.onnx --data {in}/ds --threads 0", "--threads"),
    Case("eval-negative-max-images", "eval {in}/tiny.onnx --data {in}/ds --max-images -1",
         "--max-images"),
    Case("eval-unknown-backend", "eval {in}/tiny.onnx --data {in}/ds --backend tvm", "--backend"),
    Case("eval-data-missing", "eval {in}/tiny.onnx", "--data"),
    # --- train ---------------------------------------------------------------------------
    Case("train-unknown-model", "train nosuchmodel --data {in}/ds --out {t}/r", "nosuchmodel",
         "{t}/r"),
    Case("train-no-model", "train --data {in}/ds --out {t}/r", "MODEL", "{t}/r"),
    Case("train-no-dataset", "train deeplabv3plus_mobilenetv2 --out {t}/r", "--data", "{t}/r"),
    Case("train-out-is-a-file", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {file}",
         "{file}"),
    Case("train-out-under-a-file",
         "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {file}/r", "{file}"),
    Case("train-zero-epochs", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--epochs 0", "--epochs", "{t}/r"),
    Case("train-zero-batch-size", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--batch-size 0", "--batch-size", "{t}/r"),
    Case("train-negative-lr", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--lr -0.1", "--lr", "{t}/r"),
    Case("train-negative-workers", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--workers -1", "--workers", "{t}/r"),
    Case("train-crop-axb", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--crop axb", "--crop", "{t}/r"),
    Case("train-set-unknown-field", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--set nosuch=1", "nosuch", "{t}/r"),
    Case("train-set-wrong-type", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--set epochs=many", "epochs", "{t}/r"),
    Case("train-set-without-value", "train deeplabv3plus_mobilenetv2 --data {in}/ds "
         "--out {t}/r --set ema", "ema", "{t}/r"),
    Case("train-missing-config", "train --config {t}/nope.yaml --out {t}/r", "nope.yaml",
         "{t}/r"),
    Case("train-missing-pretrained", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--pretrained {t}/nope.pth", "{t}/nope.pth", "{t}/r"),
    Case("train-corrupt-pretrained", "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r "
         "--batch-size 1 --pretrained {in}/garbage.pt", "garbage.pt", "{t}/r"),
    # --- convert -------------------------------------------------------------------------
    Case("convert-missing-src", "convert {t}/nope.pth -o {t}/o.pt --model espnet", "{t}/nope.pth",
         "{t}/o.pt"),
    Case("convert-corrupt-src", "convert {in}/garbage.pt -o {t}/o.pt --model espnet",
         "garbage.pt", "{t}/o.pt"),
    Case("convert-not-a-state-dict", "convert {in}/garbage.safetensors -o {t}/o.pt "
         "--model espnet", "garbage.safetensors", "{t}/o.pt"),
    Case("convert-no-model", "convert {in}/garbage.pt -o {t}/o.pt", "--model", "{t}/o.pt"),
    Case("convert-no-out", "convert {in}/garbage.pt --model espnet", "-o OUT"),
    Case("convert-unknown-model", "convert {in}/garbage.pt -o {t}/o.pt --model nosuchmodel",
         "nosuchmodel", "{t}/o.pt"),
    Case("convert-unknown-source", "convert {in}/garbage.pt -o {t}/o.pt --model espnet "
         "--from nosuchsource", "nosuchsource", "{t}/o.pt"),
    Case("convert-out-under-a-file", "convert {in}/garbage.pt -o {file}/o.pt --model espnet",
         "{file}"),
    Case("convert-out-is-a-folder", "convert {in}/garbage.pt -o {dir} --model espnet", "{dir}"),
    Case("convert-out-bad-suffix", "convert {in}/garbage.pt -o {t}/o.onnx --model espnet",
         "o.onnx", "{t}/o.onnx"),
    Case("train-corrupt-config", "train --config {in}/bad.yaml --out {t}/r", "bad.yaml", "{t}/r"),
    Case("train-config-not-a-mapping", "train --config {in}/list.yaml --out {t}/r", "model",
         "{t}/r"),
    Case("train-resume-missing-folder", "train --resume --out {t}/nope", "{t}/nope/config.yaml",
         "{t}/nope"),
    Case("train-resume-named-model-missing-folder",
         "train deeplabv3plus_mobilenetv2 --data {in}/ds --resume --out {t}/nope",
         "{t}/nope/last.pt", "{t}/nope"),
    Case("train-resume-run-without-last-pt", "train --resume --out {in}/run", "last.pt"),
    Case("train-unknown-loss", "train deeplabv3plus_mobilenetv2 --data {in}/ds --loss l2",
         "--loss"),
    Case("train-classes-without-weak",
         "train deeplabv3plus_mobilenetv2 --data {in}/ds --out {t}/r --classes Car",
         "--weak", "{t}/r"),
    Case("train-weak-on-a-semantic-model",
         "train deeplabv3plus_mobilenetv2 --weak --classes Car --data {in}/ds --out {t}/r",
         "--weak", "{t}/r"),
    Case("train-weak-without-classes",
         "train yolact_mobilenetv2_320 --weak --data {in}/ds --out {t}/r", "--classes",
         "{t}/r"),
    Case("train-negative-rounds", "train yolact_mobilenetv2_320 --weak --classes Car "
         "--data {in}/ds --rounds -1", "--rounds"),
    Case("train-loss-on-a-detector", "train yolov5n --data {in}/ds --out {t}/r --loss focal",
         "--loss", "{t}/r"),
    # --- ship ----------------------------------------------------------------------------
    Case("ship-name-climbs-out", "ship {in}/run --name ../x --data {in}/ds --weights-dir {t}/w",
         "--name", "{t}/x"),
    Case("ship-name-with-slash", "ship {in}/run --name a/b --data {in}/ds --weights-dir {t}/w",
         "--name", "{t}/w"),
    Case("ship-name-with-backslash",
         "ship {in}/run --name a\\b --data {in}/ds --weights-dir {t}/w", "--name", "{t}/w"),
    Case("ship-name-dot-dot", "ship {in}/run --name .. --data {in}/ds --weights-dir {t}/w",
         "--name", "{t}/w"),
    Case("ship-name-hidden", "ship {in}/run --name .x --data {in}/ds --weights-dir {t}/w",
         "--name", "{t}/w"),
    Case("ship-name-empty", "ship {in}/run --name= --data {in}/ds --weights-dir {t}/w",
         "--name", "{t}/w"),
    Case("ship-video-label-alone", "ship {in}/run --name m --data {in}/ds --weights-dir {t}/w "
         "--video-label x", "--video-data"),
    Case("ship-video-data-without-videos", "ship {in}/run --name m --data {in}/ds "
         "--weights-dir {t}/w --video-data {in}/ds", "ytvis_val.json"),
    Case("ship-missing-run", "ship {t}/nope --name m --data {in}/ds --weights-dir {t}/w",
         "{t}/nope", "{t}/w"),
    Case("ship-run-is-a-file", "ship {file} --name m --data {in}/ds --weights-dir {t}/w",
         "{file}", "{t}/w"),
    Case("ship-missing-dataset", "ship {in}/run --name m --data {t}/nope --weights-dir {t}/w",
         "{t}/nope", "{t}/w"),
    Case("ship-run-without-best-pt", "ship {in}/run --name m --data {in}/ds --weights-dir {t}/w",
         "best.pt", "{t}/w"),
    Case("ship-weights-dir-is-a-file", "ship {in}/run --name m --data {in}/ds --weights-dir "
         "{file}", "{file}"),
    Case("ship-unknown-which", "ship {in}/run --name m --data {in}/ds --which first", "--which"),
    Case("ship-name-missing", "ship {in}/run --data {in}/ds", "--name"),
    # --- report --------------------------------------------------------------------------
    Case("report-unknown-kind", "report summary", "summary"),
    Case("report-seg-missing-dataset", "report segmentation {in}/tiny.onnx --data {t}/nope "
         "--out {t}/s.md", "{t}/nope", "{t}/s.md"),
    Case("report-seg-out-under-a-file", "report segmentation {in}/tiny.onnx --data {in}/ds "
         "--out {file}/s.md", "{file}"),
    Case("report-seg-out-is-a-folder", "report segmentation {in}/tiny.onnx --data {in}/ds "
         "--out {dir}", "{dir}"),
    Case("report-seg-figures-is-a-file", "report segmentation {in}/tiny.onnx --data {in}/ds "
         "--out {t}/s.md --figures {file}", "{file}", "{t}/s.md"),
    Case("report-seg-input-axb", "report segmentation {in}/tiny.onnx --data {in}/ds "
         "--out {t}/s.md --input axb", "--input", "{t}/s.md"),
    Case("report-seg-zero-threads", "report segmentation {in}/tiny.onnx --data {in}/ds "
         "--out {t}/s.md --threads 0", "--threads", "{t}/s.md"),
    Case("report-ablation-missing-dataset", "report ablation {in}/tiny.onnx --labels A "
         "--data {t}/nope --out {t}/a.md", "{t}/nope", "{t}/a.md"),
    Case("report-ablation-out-under-a-file", "report ablation {in}/tiny.onnx --labels A "
         "--data {in}/ds --out {file}/a.md", "{file}"),
    Case("report-weak-missing-dataset", "report weak --data {t}/nope --out {t}/w.md "
         "--work {t}/work", "{t}/nope", "{t}/work"),
    Case("report-weak-work-is-a-file", "report weak --data {in}/ds --out {t}/w.md "
         "--work {file}", "{file}", "{t}/w.md"),
    Case("report-calibration-missing-dataset", "report calibration {in}/garbage.pt --data "
         "{t}/nope --out {t}/c.md --work {t}/work", "{t}/nope", "{t}/work"),
    Case("report-calibration-out-under-a-file", "report calibration {in}/garbage.pt --data "
         "{in}/ds --out {file}/c.md", "{file}"),
    Case("report-instance-missing-dataset", "report instance {in}/garbage.pt --data {t}/nope "
         "--out {t}/i.md --work {t}/work", "{t}/nope", "{t}/work"),
    Case("report-detection-out-is-a-file", "report detection --data {in}/ds --out {file} "
         "--md {t}/d.md", "{file}", "{t}/d.md"),
    Case("report-detection-md-under-a-file", "report detection --data {in}/ds --out {t}/work "
         "--md {file}/d.md", "{file}", "{t}/work"),
    Case("report-detection-speed-missing-dataset", "report detection-speed {in}/garbage.pt "
         "--data {t}/nope --out {t}/d.md --work {t}/work", "{t}/nope", "{t}/work"),
    Case("report-streaming-out-under-a-file", "report streaming {in}/tiny.onnx "
         "--out {file}/s.md --work {t}/work", "{file}", "{t}/work"),
    Case("report-streaming-work-is-a-file", "report streaming {in}/tiny.onnx "
         "--out {t}/s.md --work {file}", "{file}", "{t}/s.md"),
    Case("report-streaming-zero-threads", "report streaming {in}/tiny.onnx --out {t}/s.md "
         "--work {t}/work --threads 0", "--threads", "{t}/work"),
    Case("report-tracking-missing-model", "report tracking {t}/nope.onnx --out {t}/t.md "
         "--work {t}/work", "nope.onnx", "{t}/work"),
    Case("report-tracking-corrupt-checkpoint", "report tracking {in}/garbage.pt --out {t}/t.md "
         "--work {t}/work", "garbage.pt", "{t}/work"),
    Case("report-tracking-semantic-model", "report tracking {in}/tiny.onnx --out {t}/t.md "
         "--work {t}/work", "detection or instance", "{t}/work"),
    Case("report-tracking-unknown-tracker", "report tracking {in}/tiny.onnx --out {t}/t.md "
         "--work {t}/work --trackers sort", "sort", "{t}/work"),
    Case("report-tracking-bad-motions", "report tracking {in}/tiny.onnx --out {t}/t.md "
         "--motions fast", "--motions", "{t}/t.md"),
    # --- run -----------------------------------------------------------------------------
    Case("run-zero-fps", "run test://ball --model {in}/tiny.onnx --out {t}/o.mp4 --fps 0",
         "--fps", "{t}/o.mp4"),
    Case("run-negative-fps", "run test://ball --model {in}/tiny.onnx --out {t}/o.mp4 --fps -5",
         "--fps", "{t}/o.mp4"),
    Case("run-fps-not-a-number", "run test://ball --model {in}/tiny.onnx --fps fast", "--fps"),
    Case("run-zero-queue", "run test://ball --model {in}/tiny.onnx --queue 0", "--queue"),
    Case("run-zero-threads", "run test://ball --model {in}/tiny.onnx --threads 0", "--threads"),
    Case("run-bad-precision-policy",
         "run test://ball --model {in}/tiny.onnx --precision-policy sometimes",
         "--precision-policy"),
    Case("run-small-input-without-components",
         "run test://ball --model {in}/tiny.onnx --small-input 224x224", "--small-input"),
    Case("run-small-input-not-a-size",
         "run test://ball --model {in}/tiny.onnx --small-input big", "--small-input"),
    Case("run-precision-engines-without-components",
         "run test://ball --model {in}/tiny.onnx --precision-engines {in}/emptydir",
         "--precision-engines"),
    Case("run-negative-batch", "run test://ball --model {in}/tiny.onnx --batch -1", "--batch"),
    Case("run-negative-max-frames", "run test://ball --model {in}/tiny.onnx --max-frames -1",
         "--max-frames"),
    Case("run-negative-duration", "run test://ball --model {in}/tiny.onnx --duration -1",
         "--duration"),
    Case("run-zero-timeout", "run test://ball --model {in}/tiny.onnx --timeout 0", "--timeout"),
    Case("run-negative-rtsp-latency", "run test://ball --model {in}/tiny.onnx --rtsp-latency -1",
         "--rtsp-latency"),
    Case("run-negative-reconnect-timeout",
         "run test://ball --model {in}/tiny.onnx --reconnect-timeout -1",
         "--reconnect-timeout"),
    Case("run-conf-above-one", "run test://ball --model {in}/tiny.onnx --conf 1.5", "--conf"),
    Case("run-unknown-tracker", "run test://ball --model {in}/tiny.onnx --track sort", "sort"),
    Case("run-track-semantic-model", "run test://ball --model {in}/tiny.onnx --track iou "
         "--meta {t}/m.jsonl", "--track", "{t}/m.jsonl"),
    Case("run-unknown-transport", "run test://ball --model {in}/tiny.onnx --rtsp-transport quic",
         "--rtsp-transport"),
    Case("run-mqtt-bad-scheme", "run test://ball --model {in}/tiny.onnx --mqtt http://h/t",
         "--mqtt"),
    Case("run-mqtt-no-topic", "run test://ball --model {in}/tiny.onnx --mqtt mqtt://h:1883",
         "--mqtt"),
    Case("run-mqtt-password-in-url",
         "run test://ball --model {in}/tiny.onnx --mqtt mqtt://u:pw@127.0.0.1:1/t",
         "no credentials in the URL"),
    Case("run-mqtt-credentials-without-mqtt",
         "run test://ball --model {in}/tiny.onnx --mqtt-credentials {file}", "--mqtt"),
    Case("run-mqtt-credentials-file-missing",
         "run test://ball --model {in}/tiny.onnx --mqtt mqtt://127.0.0.1:1/t "
         "--mqtt-credentials {in}/nope", "--mqtt-credentials"),
    Case("run-mqtt-broker-unreachable",
         "run test://ball --model {in}/tiny.onnx --mqtt mqtt://127.0.0.1:1/t", "cannot connect"),
    Case("run-meta-under-a-file", "run test://ball --model {in}/tiny.onnx --meta {file}/m.jsonl",
         "{file}"),
    Case("run-meta-is-a-folder", "run test://ball --model {in}/tiny.onnx --meta {dir}", "{dir}"),
    Case("run-summary-under-a-file",
         "run test://ball --model {in}/tiny.onnx --summary {file}/s.json", "{file}"),
    Case("run-summary-is-a-folder", "run test://ball --model {in}/tiny.onnx --summary {dir}",
         "{dir}"),
    Case("run-summary-in-read-only-folder",
         "run test://ball --model {in}/tiny.onnx --summary {in}/readonly/s.json", "not writable",
         "{in}/readonly/s.json", root_skips=True),
    Case("run-out-under-a-file", "run test://ball --model {in}/tiny.onnx --out {file}/o.mp4",
         "{file}"),
    Case("run-out-is-a-folder", "run test://ball --model {in}/tiny.onnx --out {dir}", "{dir}"),
    Case("run-no-source", "run --model {in}/tiny.onnx --summary {t}/s.json", "SOURCE",
         "{t}/s.json"),
    Case("run-no-model", "run test://ball --summary {t}/s.json", "--model", "{t}/s.json"),
    Case("run-sample-under-a-file", "run --sample {file}/s.mp4", "{file}"),
    Case("run-sample-is-a-folder", "run --sample {dir}", "{dir}"),
    Case("run-size-axb", "run test://ball --model {in}/tiny.onnx --size axb --summary {t}/s",
         "--size", "{t}/s"),
    # --- quantize ------------------------------------------------------------------------
    Case("quantize-out-under-a-file", "quantize {in}/tiny.onnx -o {file}/q.onnx --calib-data "
         "{in}/ds", "{file}"),
    Case("quantize-out-is-a-folder", "quantize {in}/tiny.onnx -o {dir} --calib-data {in}/ds",
         "{dir}"),
    Case("quantize-json-under-a-file", "quantize {in}/tiny.onnx -o {t}/q.onnx --json "
         "{file}/q.json", "{file}", "{t}/q.onnx"),
    Case("quantize-report-under-a-file", "quantize {in}/tiny.onnx -o {t}/q.onnx --report "
         "{file}/q.md", "{file}", "{t}/q.onnx"),
    Case("quantize-out-missing", "quantize {in}/tiny.onnx --calib-data {in}/ds", "--out"),
    Case("quantize-zero-calib-size", "quantize {in}/tiny.onnx -o {t}/q.onnx --calib-size 0",
         "--calib-size", "{t}/q.onnx"),
    Case("quantize-zero-runs", "quantize {in}/tiny.onnx -o {t}/q.onnx --runs 0", "--runs"),
    Case("quantize-zero-threads", "quantize {in}/tiny.onnx -o {t}/q.onnx --threads 0",
         "--threads"),
    Case("quantize-negative-check-images", "quantize {in}/tiny.onnx -o {t}/q.onnx "
         "--check-images -1",
         "--check-images"),
    Case("quantize-precision-without-value", "quantize {in}/tiny.onnx -o {t}/q.onnx "
         "--precision backbone", "backbone", "{t}/q.onnx"),
    Case("quantize-unknown-precision", "quantize {in}/tiny.onnx -o {t}/q.onnx "
         "--precision backbone=int3", "int3", "{t}/q.onnx"),
    Case("quantize-input-axb", "quantize {in}/tiny.onnx -o {t}/q.onnx --input axb", "--input",
         "{t}/q.onnx"),
    Case("quantize-unknown-mode", "quantize {in}/tiny.onnx -o {t}/q.onnx --mode int4", "--mode"),
    Case("quantize-qat-without-data", "quantize {in}/tiny.onnx -o {t}/q.onnx --mode qat",
         "--train-data", "{t}/q.onnx"),
    Case("quantize-qat-zero-epochs", "quantize {in}/tiny.onnx -o {t}/q.onnx --mode qat "
         "--epochs 0", "--epochs"),
    Case("quantize-qat-negative-lr", "quantize {in}/tiny.onnx -o {t}/q.onnx --mode qat "
         "--lr -1", "--lr"),
    Case("quantize-analyze-dynamic", "quantize {in}/tiny.onnx --analyze --mode dynamic",
         "--mode static"),
    Case("quantize-analyze-without-calib-data", "quantize {in}/tiny.onnx --analyze",
         "--calib-data"),
    Case("quantize-auto-without-out", "quantize {in}/tiny.onnx --auto --calib-data {in}/ds",
         "--out"),
    Case("quantize-zero-top-k", "quantize {in}/tiny.onnx --analyze --top-k 0", "--top-k"),
    Case("quantize-negative-max-drop", "quantize {in}/tiny.onnx --analyze --max-drop -1",
         "--max-drop"),
    # --- compare -------------------------------------------------------------------------
    Case("compare-md-under-a-file", "compare {in}/garbage.pt --data {in}/ds --md {file}/c.md "
         "--work {t}/work", "{file}", "{t}/work"),
    Case("compare-plot-under-a-file", "compare {in}/garbage.pt --data {in}/ds --md {t}/c.md "
         "--plot {file}/c.png --work {t}/work", "{file}", "{t}/work"),
    Case("compare-json-under-a-file", "compare {in}/garbage.pt --data {in}/ds --md {t}/c.md "
         "--json {file}/c.json --work {t}/work", "{file}", "{t}/work"),
    Case("compare-work-is-a-file", "compare {in}/garbage.pt --data {in}/ds --md {t}/c.md "
         "--work {file}", "{file}", "{t}/c.md"),
    Case("compare-zero-calib-size", "compare {in}/garbage.pt --data {in}/ds --calib-size 0",
         "--calib-size"),
    Case("compare-zero-runs", "compare {in}/garbage.pt --data {in}/ds --runs 0", "--runs"),
    Case("compare-zero-blocks", "compare {in}/garbage.pt --data {in}/ds --blocks 0", "--blocks"),
    Case("compare-negative-warmup", "compare {in}/garbage.pt --data {in}/ds --warmup -1",
         "--warmup"),
    Case("compare-zero-qat-epochs", "compare {in}/garbage.pt --data {in}/ds --qat-epochs 0",
         "--qat-epochs"),
    Case("compare-qat-crop-axb", "compare {in}/garbage.pt --data {in}/ds --md {t}/c.md "
         "--work {t}/work --qat-crop axb", "--qat-crop", "{t}/work"),
    Case("compare-unknown-method", "compare {in}/garbage.pt --data {in}/ds --method mean",
         "--method"),
    Case("compare-data-missing", "compare {in}/garbage.pt", "--data"),
    # --- video ---------------------------------------------------------------------------
    Case("video-missing-data", "video {in}/garbage.pt --data {t}/nope --json {t}/v.json",
         "{t}/nope", "{t}/v.json"),
    Case("video-data-is-a-file", "video {in}/garbage.pt --data {file}", "{file}"),
    Case("video-unknown-keyframes", "video {in}/garbage.pt --data {in}/ds --keyframes every:2",
         "every:2"),
    Case("video-zero-threads", "video {in}/garbage.pt --data {in}/ds --threads 0", "--threads"),
    Case("video-negative-max-frames", "video {in}/garbage.pt --data {in}/ds --max-frames -1",
         "--max-frames"),
    Case("video-zero-rounds", "video {in}/garbage.pt --data {in}/ds --rounds 0", "--rounds"),
    Case("video-json-under-a-file", "video {in}/garbage.pt --data {in}/ds --json {file}/v.json",
         "{file}"),
    Case("video-md-is-a-folder", "video {in}/garbage.pt --data {in}/ds --md {dir}", "{dir}"),
    Case("video-corrupt-checkpoint", "video {in}/garbage.pt --data {in}/ds --json {t}/v.json",
         "garbage.pt", "{t}/v.json"),
    Case("video-folder-not-components", "video {in}/emptydir --data {in}/ds", "emptydir"),
    Case("video-unknown-engine", "video {in}/garbage.pt --data {in}/ds --engine tvm", "--engine"),
    Case("video-unknown-propagation", "video {in}/garbage.pt --data {in}/ds --propagate raft",
         "--propagate"),
    Case("video-bad-precision-policy",
         "video {in}/garbage.pt --data {in}/ds --precision-policy fixed:fp16",
         "--precision-policy"),
    Case("video-precision-engines-not-components",
         "video {in}/emptydir --data {in}/ds --precision-engines {in}/emptydir", "emptydir"),
]
# fmt: on


def _fill(text: str, inp: Path, t: Path) -> str:
    return (
        text.replace("{in}", str(inp))
        .replace("{t}", str(t))
        .replace("{file}", str(t / "afile"))
        .replace("{dir}", str(t / "adir"))
    )


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``edgevision ARGV`` in-process: (exit code, stderr)."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def test_the_table_is_large_and_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, inputs: Path, tmp_path: Path, capsys, monkeypatch):
    if case.root_skips and os.access(inputs / "readonly", os.W_OK):
        pytest.skip("root (or this file system) writes read-only folders")
    monkeypatch.chdir(tmp_path)  # a relative default output (runs/, docs/) lands here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEVISION_CACHE", raising=False)  # it comes first
    (tmp_path / "afile").write_text("a file where a folder is expected\n")
    (tmp_path / "adir").mkdir()
    argv = _fill(case.argv, inputs, tmp_path).split()
    code, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert 1 <= len(lines) <= 3, err
    assert _fill(case.says, inputs, tmp_path).lower() in err.lower(), err
    if case.out is not None:
        out = Path(_fill(case.out, inputs, tmp_path))
        assert not (out.exists() or out.is_symlink()), f"{out} was left behind"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["adir", "afile"]
