"""docs/tour.md runs: every tagged block of every story, in order, on tiny data.

A block belongs to a story by ``tour=STORY`` in its info string. ``settings`` blocks are
replaced by :data:`SETTINGS` (the test checks that both set the same names), ``file=PATH``
blocks are written to the working folder, ``needs=gpu`` blocks run only with a CUDA GPU
and TensorRT (the ``gpu`` variant of each story; skipped here with that reason),
``needs=mosquitto`` blocks get a local broker in ``BROKER``. Shell blocks run in
``bash -e`` with ``edgevision`` on ``PATH`` as this interpreter's ``-m edgevision``; Python
blocks run in one namespace per story.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
TOUR = REPO / "docs" / "tour.md"

SETTINGS: dict[str, dict[str, Any]] = {
    "street": {"INPUT": "64x64", "CALIB_SIZE": 4, "BROKER": None},  # BROKER: the test's
    "detector": {
        "IMGSZ": (64, 64),
        "EPOCHS": 1,
        "BATCH": 4,
        "CALIB": 4,
        "RUNS": 3,
        "ARCH": {"neck_channels": 16, "rfcr_channels": 8},
    },
    "jetson": {"INPUT": "64x64"},
}
"""Tiny values for each story's ``settings`` block."""

OUTPUTS = {
    "street": [
        "seg.onnx",
        "seg_int8.onnx",
        "street_seg.mp4",
        "street_seg.jsonl",
        "street_seg.json",
    ],
    "detector": ["runs/street_det/best.pt", "street_det_int8.onnx", "street_det.onnx"],
    "jetson": ["det.onnx", "det_int8.onnx"],
}
"""Files each story's page says it writes."""

FENCE = re.compile(r"^```(\w+)[ \t]+([^\n]*\btour=[^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass
class Block:
    """One tagged block of the tour."""

    lang: str
    story: str
    code: str
    line: int
    flags: set[str] = field(default_factory=set)
    attrs: dict[str, str] = field(default_factory=dict)


def tour_blocks(text: str) -> list[Block]:
    """The tagged blocks of ``text`` in order (see the module docstring for the tags)."""
    out = []
    for m in FENCE.finditer(text):
        flags, attrs = set(), {}
        for tok in shlex.split(m.group(2)):
            key, eq, value = tok.partition("=")
            if eq:
                attrs[key] = value
            else:
                flags.add(key)
        line = text.count("\n", 0, m.start()) + 2
        story = attrs.pop("tour")
        out.append(Block(m.group(1), story, m.group(3), line, flags, attrs))
    return out


BLOCKS = tour_blocks(TOUR.read_text(encoding="utf-8"))
STORIES = list(dict.fromkeys(b.story for b in BLOCKS))


def _settings_names(block: Block) -> set[str]:
    if block.lang == "python":
        tree = ast.parse(block.code)
        return {t.id for s in tree.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)}  # fmt: skip
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", block.code, re.M))


def test_the_tour_is_parsed_as_three_stories():
    assert STORIES == ["street", "detector", "jetson"]
    for story in STORIES:
        blocks = [b for b in BLOCKS if b.story == story]
        settings = [b for b in blocks if "settings" in b.flags]
        assert len(settings) == 1 and settings[0] is blocks[0], story
        assert _settings_names(settings[0]) == set(SETTINGS[story]), story
        for b in blocks:
            assert b.lang in ("bash", "python", "yaml"), b.line
            assert b.flags <= {"settings"} and set(b.attrs) <= {"needs", "file"}, b.line
            assert b.attrs.get("needs", "gpu") in ("gpu", "jetson", "mosquitto"), b.line
            assert b.lang != "yaml" or "file" in b.attrs, b.line
    assert any(b.attrs.get("needs") == "gpu" for b in BLOCKS if b.story == "jetson")
    assert any(not b.attrs for b in BLOCKS if b.story == "jetson" and b.lang == "bash")
    # an untagged code block would be shown but never run
    assert len(re.findall(r"^```\w", TOUR.read_text(encoding="utf-8"), re.M)) == len(BLOCKS)


@pytest.fixture(scope="module")
def workdir_seed(tmp_path_factory, synth_images) -> Path:
    """What the stories start from: ``street.mp4``, ``frames/`` and ``street/`` (COCO)."""
    from edgevision.errors import BackendUnavailable
    from edgevision.stream.gst import gst
    from edgevision.stream.sample import make_sample_video

    try:
        gst()
    except BackendUnavailable:
        pytest.skip("needs GStreamer + PyGObject (edgevision run)")
    synth = synth_images(seed=3, size=(64, 64), train=8, val=2)
    seed = tmp_path_factory.mktemp("tour-seed")
    make_sample_video(seed / "street.mp4", size=(120, 160), frames=24)
    (seed / "frames").symlink_to(synth / "images" / "train")
    (seed / "street" / "annotations").mkdir(parents=True)
    (seed / "street" / "images").symlink_to(synth / "images")
    for split in ("train", "val"):
        src = synth / "annotations" / f"instances_{split}.json"
        (seed / "street" / "annotations" / f"{split}.json").symlink_to(src)
    return seed


def _workdir(seed: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "street.mp4").symlink_to(seed / "street.mp4")
    (work / "frames").symlink_to((seed / "frames").resolve())
    (work / "street").mkdir()
    (work / "street" / "annotations").symlink_to(seed / "street" / "annotations")
    (work / "street" / "images").symlink_to((seed / "street" / "images").resolve())
    return work


def _cli_env(tmp_path: Path) -> dict[str, str]:
    """``edgevision`` on ``PATH`` as ``sys.executable -m edgevision`` with this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "edgevision"
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m edgevision "$@"\n')
    exe.chmod(0o755)
    path = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": path}


def _run_story(story: str, work: Path, env: dict[str, str], *, gpu: bool) -> list[int]:
    """Run ``story``'s blocks in ``work``; return the lines of the blocks it skipped."""
    import contextlib

    from edgevision.stream.broker import LocalBroker, mosquitto_binary

    settings = dict(SETTINGS[story])
    ns: dict[str, Any] = {"__name__": "__tour__"}
    skipped = []
    with contextlib.ExitStack() as stack:
        for b in [b for b in BLOCKS if b.story == story]:
            where = f"docs/tour.md:{b.line}"
            needs = b.attrs.get("needs")
            if (needs == "gpu" and not gpu) or (needs == "jetson" and not (gpu and _on_jetson())):
                skipped.append(b.line)
                continue
            if needs == "mosquitto":
                if mosquitto_binary() is None:
                    skipped.append(b.line)
                    continue
                if settings.get("BROKER") is None:
                    broker = stack.enter_context(LocalBroker())
                    settings["BROKER"] = f"127.0.0.1:{broker.port}"
                    env = {**env, "BROKER": settings["BROKER"]}
            if "settings" in b.flags:
                ns.update(settings)
                env = {**env, **{k: str(v) for k, v in settings.items() if v is not None}}
            elif "file" in b.attrs:
                (work / b.attrs["file"]).write_text(b.code)
            elif b.lang == "bash":
                r = subprocess.run(
                    ["bash", "-e", "-o", "pipefail", "-c", b.code],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert r.returncode == 0, f"{where} exit {r.returncode}:\n{r.stderr[-3000:]}"
            else:
                old = os.getcwd()
                os.chdir(work)
                try:
                    exec(compile(b.code, where, "exec"), ns)  # the doc's own code
                finally:
                    os.chdir(old)
    return skipped


def _on_jetson() -> bool:
    import shutil

    return shutil.which("nvargus-daemon") is not None


@pytest.mark.slow
@pytest.mark.parametrize("story", STORIES)
def test_story_runs(story, workdir_seed, tmp_path, one_torch_thread, capsys):
    """Every block of the story except the GPU ones, as the page shows them."""
    work = _workdir(workdir_seed, tmp_path)
    skipped = _run_story(story, work, _cli_env(tmp_path), gpu=False)
    for name in OUTPUTS[story]:
        assert (work / name).is_file() and (work / name).stat().st_size > 0, name
    out = capsys.readouterr().out
    if story == "street":
        assert len((work / "street_seg.jsonl").read_text().splitlines()) == 24  # every frame
    if story == "detector":
        assert "AP50 FP32" in out and "INT8: p50" in out
    if story == "jetson":
        assert "24 frames" in out and "yolov5n" in out
    from edgevision.stream.broker import mosquitto_binary

    absent = {"gpu", "jetson"} | (set() if mosquitto_binary() else {"mosquitto"})
    device = [b.line for b in BLOCKS if b.story == story and b.attrs.get("needs") in absent]
    assert skipped == device  # the rest ran (test_story_gpu_blocks runs the GPU ones)


@pytest.mark.gpu
@pytest.mark.trt
@pytest.mark.slow
@pytest.mark.parametrize(
    "story", sorted({b.story for b in BLOCKS if b.attrs.get("needs") == "gpu"})
)
def test_story_gpu_blocks(story, workdir_seed, tmp_path):
    """The story with its GPU blocks (TensorRT); skipped without a CUDA GPU and TensorRT.
    ``needs=jetson`` blocks run only on a Jetson with its camera daemon."""
    work = _workdir(workdir_seed, tmp_path)
    env = _cli_env(tmp_path)
    env["PATH"] += os.pathsep + "/usr/src/tensorrt/bin"
    skipped = _run_story(story, work, env, gpu=True)
    assert all(b.attrs.get("needs") != "gpu" for b in BLOCKS if b.line in skipped)
