"""Element creation goes through ``stream.gst.make_element``: a missing GStreamer plugin is a
one-line error naming the element and its Debian package, never a ``None`` element."""

from __future__ import annotations

import pytest

from edgevision.stream.gst import StreamError, element_package, launch_error, missing_element


@pytest.mark.parametrize(
    "element, package",
    [
        ("x264enc", "gstreamer1.0-plugins-ugly"),
        ("avdec_h264", "gstreamer1.0-libav"),
        ("rtspsrc", "gstreamer1.0-plugins-good"),
        ("videoconvert", "gstreamer1.0-plugins-base"),
        ("h264parse", "gstreamer1.0-plugins-bad"),
        ("vaapih264dec", "gstreamer1.0-vaapi"),
        ("vah264dec", "gstreamer1.0-plugins-bad"),
        ("nvvidconv", "nvidia-l4t-gstreamer"),
        ("v4l2h264dec", "gstreamer1.0-plugins-good"),
        ("no_such_element", None),
    ],
)
def test_element_packages(element, package):
    assert element_package(element) == package
    msg = str(missing_element(element))
    assert "\n" not in msg and f"GStreamer element {element!r} is not installed" in msg
    assert (package or "install the GStreamer plugin that provides it") in msg


def test_launch_error_names_the_package():
    class GError(Exception):
        message = 'no element "x264enc"'

    assert "apt-get install gstreamer1.0-plugins-ugly" in launch_error(GError())
    GError.message = "syntax error"
    assert launch_error(GError()) == "syntax error"


@pytest.fixture
def without(monkeypatch):
    """``without("videoconvert")``: the element factory returns None for it, as GStreamer
    does for an element whose plugin is not installed (``find`` too)."""
    from edgevision.stream.gst import gst

    factory = gst().ElementFactory
    make, find = factory.make, factory.find

    def hide(*missing: str) -> None:
        monkeypatch.setattr(
            factory, "make", staticmethod(lambda f, n=None: None if f in missing else make(f, n))
        )
        monkeypatch.setattr(
            factory, "find", staticmethod(lambda f: None if f in missing else find(f))
        )

    return hide


@pytest.mark.gst
def test_missing_element_is_one_line_exit_2_through_the_cli(without, stub_module, capsys):
    from edgevision.cli.main import main

    without("videoconvert")
    rc = main(["run", "test://ball?frames=3", "--model", "evstub:make", "--out", "null"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and "GStreamer element 'videoconvert' is not installed" in err[0]
    assert "apt-get install gstreamer1.0-plugins-base" in err[0]


@pytest.mark.gst
@pytest.mark.parametrize(
    "source, element, package",
    [
        ("rtsp://127.0.0.1:9/x", "rtspsrc", "gstreamer1.0-plugins-good"),
        ("{video}", "uridecodebin", "gstreamer1.0-plugins-base"),
        ("test://ball?frames=3", "appsink", "gstreamer1.0-plugins-base"),
        ("gst:videotestsrc num-buffers=3 ! nosuchfilter", "nosuchfilter", None),
    ],
)
def test_missing_elements_of_sources(without, tmp_path, source, element, package):
    from edgevision.stream.sources import SourceOptions, open_source, parse_source
    from edgevision.stream.stats import StreamStats

    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 16)
    without(element)
    spec = parse_source(source.format(video=video))
    src = open_source(spec, 0, SourceOptions(start_timeout=5), StreamStats(spec.text))
    with pytest.raises(StreamError) as e:
        src.start()
    msg = str(e.value)
    assert "\n" not in msg and f"GStreamer element {element!r} is not installed" in msg
    assert (package or "install the GStreamer plugin") in msg
