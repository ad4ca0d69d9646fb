"""Fixtures for the streaming tests: a stub model plugin (no engine, instant), tiny videos."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

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


@pytest.fixture
def stub_module(stub_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The stub plugin module, importable in this process."""
    monkeypatch.syspath_prepend(str(stub_dir))
    import importlib

    sys.modules.pop("evstub", None)
    return importlib.import_module("evstub")


@pytest.fixture
def stub_env(stub_dir: Path) -> dict[str, str]:
    """Environment for CLI subprocesses that can import ``evstub``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(stub_dir), env.get("PYTHONPATH", "")])
    env.pop("DISPLAY", None)
    return env


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
