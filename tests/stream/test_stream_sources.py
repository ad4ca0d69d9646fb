"""SOURCE parsing: kinds and the errors raised before anything is opened."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import DataError
from edgevision.stream.gst import StreamError
from edgevision.stream.queues import Closed
from edgevision.stream.sources import SourceOptions, open_source, parse_source
from edgevision.stream.stats import StreamStats


def test_kinds(tmp_path):
    video = tmp_path / "a.mkv"
    video.write_bytes(b"\0" * 16)
    folder = tmp_path / "imgs"
    folder.mkdir()
    import cv2

    cv2.imwrite(str(folder / "0001.png"), np.zeros((8, 8, 3), np.uint8))
    assert parse_source(str(video)).kind == "file"
    assert parse_source(video.as_uri()).kind == "file"
    assert parse_source(str(folder)).kind == "folder"
    assert parse_source("rtsp://10.0.0.1:554/x").kind == "rtsp"
    t = parse_source("test://ball?size=64x48&fps=10&frames=5")
    assert (t.kind, t.location, t.params["size"], t.live) == ("test", "ball", "64x48", True)
    assert parse_source("csi://0").kind == "csi"
    f = parse_source("gst:videotestsrc ! video/x-raw")
    assert (f.kind, f.location) == ("fragment", "videotestsrc ! video/x-raw")
    assert not parse_source(str(video)).live


@pytest.mark.parametrize(
    "text, err, match",
    [
        ("{tmp}/missing.mp4", DataError, "source not found"),
        ("{tmp}/notes.txt", DataError, "unsupported file type"),
        ("{tmp}/empty.mp4", DataError, "empty"),
        ("{tmp}", DataError, "no images"),
        ("v4l2:///dev/video99", DataError, "camera not found"),
        ("http://example.com/x.mp4", StreamError, "unsupported source"),
        ("test://ball?speed=3", StreamError, "unknown parameter"),
        # the pattern and values are pasted into a pipeline description: only plain values
        ("test://ball ! filesink location=X videotestsrc", StreamError, "unknown test pattern"),
        ("test://ball%20!%20filesink%20location=X", StreamError, "unknown test pattern"),
        ("test://balls", StreamError, "unknown test pattern"),
        ("test://99", StreamError, "unknown test pattern"),
        ("test://ball?fps=10%20!%20fakesink", StreamError, "fps must be"),
        ("test://ball?fps=0", StreamError, "fps must be"),
        ("test://ball?frames=x", StreamError, "frames must be"),
        ("test://ball?frames=0", StreamError, "frames must be"),
        ("test://ball?size=64x48x3", StreamError, "WIDTHxHEIGHT"),
        ("gst:", StreamError, "empty pipeline fragment"),
        ("csi://front", StreamError, "sensor number"),
    ],
)
def test_bad_sources(tmp_path, text, err, match):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(err, match=match):
        parse_source(text.format(tmp=tmp_path))


def test_test_sources_take_every_videotestsrc_pattern_by_name_or_index():
    assert parse_source("test://smpte-rp-219").location == "smpte-rp-219"
    assert parse_source("test://18?frames=-1").location == "18"
    assert parse_source("test://").location == "smpte"


def _drain(src):
    """Start ``src`` and read its frames until its queue closes (10 s per frame at most)."""
    src.start()
    frames = []
    with pytest.raises(Closed):
        while True:
            f = src.queue.get(timeout=10)
            assert f is not None, "no frame within 10 s"
            frames.append(f)
    src.join()
    return frames


def test_folder_source_reads_every_image_suffix_the_datasets_read(tmp_path):
    """``edgevision run`` on a folder of .webp / .tif frames said "no images" while ``eval``
    read the same folder: both now use :data:`edgevision.io.IMAGE_SUFFIXES`."""
    import cv2

    for i, ext in enumerate([".webp", ".tif", ".tiff", ".webp"]):
        assert cv2.imwrite(str(tmp_path / f"{i:03d}{ext}"), np.full((8, 10, 3), 50, np.uint8))
    spec = parse_source(str(tmp_path))
    assert spec.kind == "folder"
    src = open_source(spec, 0, SourceOptions(), StreamStats(str(tmp_path)))
    frames = _drain(src)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.image.shape == (8, 10, 3) for f in frames) and src.error == ""


def test_four_channel_tail_hands_the_model_rgb(monkeypatch):
    """The --nvmm tail's RGBA frames (nvvidconv writes no packed RGB) reach the queue as the
    same (H, W, 3) RGB as the default tail; videoconvert stands in for Jetson's nvvidconv."""
    pytest.importorskip("gi")
    from edgevision.stream import sources
    from edgevision.stream.decoders import Tail

    def frames(opts):
        spec = parse_source("test://smpte?size=32x24&frames=2")
        return [f.image for f in _drain(open_source(spec, 0, opts, StreamStats(spec.text)))]

    plain = frames(SourceOptions())
    rgba = Tail(("videoconvert",), "video/x-raw,format=RGBA,width=32,height=24", 4)
    monkeypatch.setattr(sources, "frame_tail", lambda **kw: rgba)
    got = frames(SourceOptions(nvmm=True))
    assert len(got) == len(plain) == 2
    for a, b in zip(plain, got):
        assert b.shape == (24, 32, 3) and b.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
