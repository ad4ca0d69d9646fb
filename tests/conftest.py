"""Shared fixtures. Markers: slow, gst, gpu, trt, data (see pyproject.toml).

Tests marked ``gpu``/``trt``/``gst`` are skipped automatically where the hardware or library
is missing; ``data`` tests skip when ``../shared/data/camvid`` is absent.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"

# a small, fast variant of the reference model for export/runtime tests
TINY_SEG = {"width_mult": 0.35, "aspp_channels": 32}
TINY_SIZE = (64, 96)
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
    """A tiny DeepLabV3+ exported (and checked) to ONNX once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgevision.export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "tiny_seg.onnx"
    export_onnx("deeplabv3plus_mobilenetv2", out, input_size=TINY_SIZE, **TINY_SEG)
    return out


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
