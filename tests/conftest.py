"""Shared fixtures. Markers: slow, gst, gpu, trt, data (see pyproject.toml).

Tests marked ``gpu``/``trt``/``gst`` are skipped automatically where the hardware or library
is missing; ``data`` tests skip when ``../shared/data/camvid`` is absent.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

# '--backend auto' measures which CPU engine is faster (edgevision.bench.choose): tests pin it
# to ONNX Runtime so their results do not depend on a timing probe (tests/bench/test_choose.py
# unpins it); subprocesses inherit the pin.
os.environ.setdefault("EDGEVISION_BACKEND", "onnxruntime")

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"

# a small, fast variant of the reference model for export/runtime tests
TINY_SEG = {"width_mult": 0.35, "aspp_channels": 32}
TINY_SIZE = (64, 96)
# small multi-head models (panoptic, depth + segmentation) on the synthetic shape classes
SHAPE_CLASSES = ["background", "circle", "rectangle", "triangle", "star"]
TINY_MULTI: dict[str, dict[str, Any]] = {
    "efficientps_mobilenetv2": {
        "thing_classes": SHAPE_CLASSES[1:], "width_mult": 0.35, "fpn_channels": 16,
        "head_channels": 16,
    },
    "fastdepthseg_mobilenetv2": {"width_mult": 0.35, "head_channels": 8, "max_depth": 80.0},
}  # fmt: skip
# a small YOLACT with FeatFlowNet for video-mode tests
TINY_YOLACT_VIDEO = {
    "width_mult": 0.35,
    "fpn_channels": 32,
    "proto_width": 32,
    "num_protos": 8,
    "flow_width": 16,
}


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _has_gst() -> bool:
    if importlib.util.find_spec("gi") is None:
        return False
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "gpu": (_has_cuda, "needs a CUDA GPU"),
        "trt": (lambda: importlib.util.find_spec("tensorrt") is not None, "needs TensorRT"),
        "gst": (_has_gst, "needs GStreamer + PyGObject"),
        "data": (CAMVID.is_dir, f"needs CamVid at {CAMVID}"),
    }
    cache: dict[str, bool] = {}
    for item in items:
        for mark, (check, reason) in skips.items():
            if mark in item.keywords:
                if mark not in cache:
                    cache[mark] = bool(check())
                if not cache[mark]:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Checkpoints exported for eval/val (edgevision.export.cache) go to a session folder,
    never the user's cache; subprocesses inherit it."""
    import os

    os.environ["EDGEVISION_CACHE"] = str(tmp_path_factory.mktemp("ev-cache"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def camvid_dir() -> Path:
    if not CAMVID.is_dir():
        pytest.skip(f"needs CamVid at {CAMVID}")
    return CAMVID


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DeepLabV3+ exported (and checked) to ONNX once per session.

    Exported in a child process: torch's ONNX export aborts the interpreter ("Fatal Python
    error: Aborted") when it runs in a process where GStreamer pipelines have run before
    (pytest runs the stream tests first when they are selected alone), so the fixture must
    not depend on test order.
    """
    out = tmp_path_factory.mktemp("onnx") / "tiny_seg.onnx"
    return _export_in_child(out, "deeplabv3plus_mobilenetv2", TINY_SIZE, TINY_SEG)


def _export_in_child(
    out: Path, name: str, input_size: tuple[int, int], kwargs: dict[str, Any]
) -> Path:
    """``export_onnx(name, out, input_size=..., **kwargs)`` in a child process (see
    :func:`tiny_onnx` for why); returns ``out``."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    code = (
        "import sys; from edgevision.export import export_onnx; "
        f"export_onnx({name!r}, sys.argv[1], input_size={tuple(input_size)!r}, **{kwargs!r})"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and out.is_file(), r.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_multi_onnx(tmp_path_factory: pytest.TempPathFactory):
    """Factory: ``tiny_multi_onnx(name) -> Path`` of a tiny untrained multi-head model
    (``efficientps_mobilenetv2`` or ``fastdepthseg_mobilenetv2``, :data:`TINY_MULTI`, the
    synthetic shape classes, input 64×80) exported once per session in a child process."""
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            out = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
            kw = {"class_names": SHAPE_CLASSES, **TINY_MULTI[name]}
            made[name] = _export_in_child(out, name, (64, 80), kw)
        return made[name]

    return make


@pytest.fixture(scope="session")
def synth_images(tmp_path_factory: pytest.TempPathFactory):
    """Factory: a tiny synthetic image-only dataset, generated once per set of arguments.

    ``synth_images(seed=1, size=(64, 64), train=4, val=2) -> Path`` (treat it as read-only).
    """
    from edgevision.data.synth import SynthConfig, generate

    made: dict[tuple, Path] = {}

    def make(*, seed: int = 1, size: tuple[int, int] = (64, 64), train: int = 4, val: int = 2):
        key = (seed, size, train, val)
        if key not in made:
            out = tmp_path_factory.mktemp(f"synth{seed}") / "ds"
            cfg = SynthConfig(
                seed=seed,
                image_size=size,
                train_images=train,
                val_images=val,
                train_videos=0,
                val_videos=0,
            )
            generate(out, cfg, progress=False)
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def synth_videos(tmp_path_factory: pytest.TempPathFactory):
    """Factory: tiny synthetic training videos (exact flow, YouTube-VIS instances), no images,
    generated once per set of arguments; fast motion so that frames really move.

    ``synth_videos(seed=2, size=(128, 128), videos=1, frames=3, speed=0.1, pan=0.08) -> Path``
    (treat it as read-only).
    """
    from edgevision.data.synth import SynthConfig, generate

    made: dict[tuple, Path] = {}

    def make(
        *,
        seed: int = 2,
        size: tuple[int, int] = (128, 128),
        videos: int = 1,
        frames: int = 3,
        speed: float = 0.1,
        pan: float = 0.08,
    ) -> Path:
        key = (seed, size, videos, frames, speed, pan)
        if key not in made:
            out = tmp_path_factory.mktemp(f"videos{seed}") / "ds"
            cfg = SynthConfig(
                seed=seed,
                image_size=size,
                train_images=0,
                val_images=0,
                train_videos=videos,
                val_videos=0,
                frames=frames,
                max_speed=speed,
                max_pan=pan,
                write_mp4=False,
            )
            generate(out, cfg, progress=False)
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def tiny_yolact_video():
    """Factory: ``tiny_yolact_video(size=(64, 64), video=True, seed=0, **kw)`` -> a small
    untrained ``yolact_mobilenetv2_320`` (classes a-d) with FeatFlowNet unless ``video=False``."""
    torch = pytest.importorskip("torch")
    from edgevision.registry import create_model

    def make(size=(64, 64), *, video: bool = True, seed: int | None = 0, **kw):
        if seed is not None:
            torch.manual_seed(seed)
        base = dict(TINY_YOLACT_VIDEO)
        if not video:
            base.pop("flow_width")
        return create_model(
            "yolact_mobilenetv2_320",
            class_names=list("abcd"),
            input_size=size,
            video=video,
            **{**base, **kw},
        )

    return make


@pytest.fixture
def one_torch_thread():
    """Tiny models: one thread is as fast and immune to an oversubscribed CPU."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# the streaming tests and the streaming report: a stub model plugin and a tiny video
STUB = textwrap.dedent(
    '''
    """A stub model plugin: one box in the middle of every frame, optionally slow."""
    import time

    import numpy as np

    from edgevision.results import Detections
    from edgevision.stream.plugins import ModelPlugin


    class Stub(ModelPlugin):
        name = "stub"
        task = "detect"

        def __init__(self, delay=0.0, max_batch=4):
            self.delay = delay
            self.max_batch = max_batch
            self.batch_sizes = []
            self.closed = False

        def preprocess(self, frames):
            return [f.shape[:2] for f in frames], None

        def infer(self, x):
            self.batch_sizes.append(len(x))
            if self.delay:
                time.sleep(self.delay)
            return x

        def postprocess(self, raw, ctx):
            out = []
            for h, w in raw:
                box = [[w / 4, h / 4, 3 * w / 4, 3 * h / 4]]
                out.append(Detections(box, [0.9], [0], ["thing"], (h, w)))
            return out


    class Counter(Stub):
        """Stateful per stream: the result's score counts the frames of its stream."""

        def new_stream(self, stream_id):
            n = [0]

            def session(frame):
                n[0] += 1
                h, w = frame.shape[:2]
                return Detections([[0, 0, 4, 4]], [n[0] / 1000], [stream_id], [], (h, w))

            return session


    def make():
        return Stub()


    def slow():
        return Stub(delay=0.2)


    def broken():
        raise RuntimeError("weights missing")


    def not_a_plugin():
        return object()
    '''
)


@pytest.fixture(scope="session")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stubplugin")
    (d / "evstub.py").write_text(STUB)
    return d


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 160x120, 24-frame H.264 MP4 of the synthetic sample scene."""
    from edgevision.errors import BackendUnavailable
    from edgevision.stream.gst import gst
    from edgevision.stream.sample import make_sample_video

    try:
        gst()
    except BackendUnavailable:
        pytest.skip("needs GStreamer + PyGObject")

    return make_sample_video(
        tmp_path_factory.mktemp("vid") / "tiny.mp4", size=(120, 160), frames=24
    )


TINY_YOLACT_VIDEO = {
    "width_mult": 0.35,
    "fpn_channels": 16,
    "proto_width": 16,
    "num_protos": 4,
    "flow_width": 16,
}
"""A tiny YOLACT (with its FeatFlowNet unless ``video=False``) for 64x64 synthetic videos."""


@pytest.fixture(scope="session")
def video_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 4-frame 64x64 synthetic validation videos (YouTube-VIS layout, exact flow)."""
    from edgevision.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("vcli") / "ds"
    cfg = SynthConfig(
        seed=4, image_size=(64, 64), train_images=0, val_images=0, train_videos=0,
        val_videos=2, frames=4, write_mp4=False,
    )  # fmt: skip
    generate(out, cfg, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_yolact_ckpt():
    """Factory: ``tiny_yolact_ckpt(path, video=True) -> path`` of a saved tiny YOLACT for
    :func:`video_set` (the four synthetic shape classes)."""

    def make(path: Path, video: bool = True) -> Path:
        from edgevision.checkpoint import save_checkpoint
        from edgevision.registry import create_model

        kw = {k: v for k, v in TINY_YOLACT_VIDEO.items() if video or k != "flow_width"}
        m = create_model(
            "yolact_mobilenetv2_320",
            class_names=["circle", "rectangle", "triangle", "star"],
            input_size=(64, 64),
            video=video,
            **kw,
        )
        save_checkpoint(path, m, m.spec)
        return path

    return make


def _randomize(module: Any, seed: int = 0) -> Any:
    """Random weights *and* BatchNorm statistics (so a misplaced tensor changes the output);
    returns ``module`` in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1:  # BatchNorm weight
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                fan_in = max(1, t[0].numel())
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return module.eval()


@pytest.fixture(scope="session")
def randomize():
    """``randomize(module, seed=0) -> module``: random weights and BatchNorm statistics, eval
    mode (for checks that an imported model computes what the original does)."""
    return _randomize


@pytest.fixture(scope="session")
def torchvision_mobilenetv2():
    """Factory: ``torchvision_mobilenetv2(width=1.0, seed=0)`` -> a replica of torchvision's
    ``mobilenet_v2`` (``torchvision/models/mobilenetv2.py``: the same module tree, so its
    ``state_dict`` has the published ImageNet file's names and shapes: ``features.0`` …
    ``features.18``, ``classifier.1``) with random weights, in eval mode. No torchvision
    needed, no download."""
    from torch import nn

    from edgevision.models.layers.conv import make_divisible

    def cbr(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1) -> nn.Sequential:
        # torchvision's Conv2dNormActivation: 0 conv, 1 BN, 2 ReLU6
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(),
        )

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = int(round(cin * t))
            self.use_res = stride == 1 and cin == cout
            layers: list[nn.Module] = [] if t == 1 else [cbr(cin, hidden, 1)]
            layers += [
                cbr(hidden, hidden, 3, stride, hidden),
                nn.Conv2d(hidden, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, width: float) -> None:
            super().__init__()
            cin = make_divisible(32 * width)
            layers: list[nn.Module] = [cbr(3, cin, 3, 2)]
            for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):  # fmt: skip
                for i in range(n):
                    cout = make_divisible(c * width)
                    layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                    cin = cout
            last = make_divisible(1280 * max(1.0, width))
            self.features = nn.Sequential(*layers, cbr(cin, last, 1))
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, 1000))

    def make(width: float = 1.0, seed: int = 0) -> Any:
        return _randomize(MobileNetV2(width), seed)

    return make


# Cityscapes labelIds of the tiny folders below and their trainIds (0 = unlabeled -> 255)
CITYSCAPES_IDS = {7: 0, 8: 1, 11: 2, 23: 10, 26: 13, 0: 255}


def _write_cityscapes(root: Path, cities: dict[str, dict[str, int]], size: tuple[int, int]):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    ids = np.array(list(CITYSCAPES_IDS), np.uint8)
    for split, per_city in cities.items():
        for city, n in per_city.items():
            (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                stem = f"{city}_{i:06d}_000019"
                lab = ids[rng.integers(0, len(ids), size)]
                lab[: size[0] // 2, : size[1] // 2] = 7  # a large road block to learn
                train = np.vectorize(CITYSCAPES_IDS.get, otypes=[np.uint8])(lab)
                img = np.zeros((*size, 3), np.uint8)
                img[..., 2] = np.where(train == 255, 250, train * 12)  # BGR: red = class * 12
                img[..., 1] = 40
                cv2.imwrite(
                    str(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"), img
                )
                cv2.imwrite(
                    str(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"), lab
                )
    return root


@pytest.fixture(scope="session")
def cityscapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Cityscapes folder (``leftImg8bit/`` + ``gtFine/`` labelIds, 32x48 px): train
    aachen 3 + bochum 2 images, val lindau 2 images. The image's red channel is the trainId
    times 12 (250 where ignored), so an oracle can read the label back."""
    root = tmp_path_factory.mktemp("cityscapes") / "cityscapes"
    cities = {"train": {"aachen": 3, "bochum": 2}, "val": {"lindau": 2}}
    return _write_cityscapes(root, cities, (32, 48))


@pytest.fixture(scope="session")
def coco_to_yolo():
    """Factory: ``coco_to_yolo(coco_root, out, splits=("train", "val")) -> out``, a YOLO-txt
    copy of a COCO-layout folder (images copied, ``labels/SPLIT/NAME.txt``, ``data.yaml``
    with an Ultralytics ``names: {id: name}`` map). Crowd regions are left out."""
    import json
    import shutil

    def make(coco_root: Path, out: Path, splits: tuple[str, ...] = ("train", "val")) -> Path:
        names: list[str] = []
        for split in splits:
            gt = json.loads((coco_root / "annotations" / f"instances_{split}.json").read_text())
            cats = sorted(gt["categories"], key=lambda c: c["id"])
            names = [c["name"] for c in cats]
            index = {c["id"]: k for k, c in enumerate(cats)}
            (out / "images" / split).mkdir(parents=True)
            (out / "labels" / split).mkdir(parents=True)
            by_image: dict[int, list[str]] = {im["id"]: [] for im in gt["images"]}
            sizes = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
            for a in gt["annotations"]:
                if a.get("iscrowd"):
                    continue
                w, h = sizes[a["image_id"]]
                x, y, bw, bh = a["bbox"]
                by_image[a["image_id"]].append(
                    f"{index[a['category_id']]} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} "
                    f"{bw / w:.6f} {bh / h:.6f}"
                )
            for im in gt["images"]:
                src = coco_root / "images" / split / im["file_name"]
                shutil.copy(src, out / "images" / split / src.name)
                if by_image[im["id"]]:
                    txt = out / "labels" / split / f"{Path(im['file_name']).stem}.txt"
                    txt.write_text("\n".join(by_image[im["id"]]) + "\n")
        body = "".join(f"  {k}: {n}\n" for k, n in enumerate(names))
        (out / "data.yaml").write_text(f"names:\n{body}")
        return out

    return make
