"""Decoder choice against a faked element registry (no GStreamer needed)."""

from __future__ import annotations

import pytest

from edgevision.stream.decoders import list_decoders, select_decoder
from edgevision.stream.gst import StreamError


def registry(*elements: str, refuse: tuple[str, ...] = ()):
    """available(element, caps): the element is installed and not in ``refuse``."""
    have = set(elements)
    return lambda el, caps: el in have and el not in refuse


SW = ("avdec_h264", "openh264dec", "avdec_h265", "jpegdec", "vp8dec", "vp9dec")


@pytest.mark.parametrize(
    "hw, expect",
    [
        (("nvv4l2decoder", "nvh264dec"), "nvv4l2decoder"),  # Jetson first
        (("nvh264dec", "vah264dec"), "nvh264dec"),  # NVDEC before VA-API
        (("vaapih264dec", "vah264dec"), "vah264dec"),  # new VA plugin before gstreamer-vaapi
        (("v4l2slh264dec",), "v4l2slh264dec"),
        ((), "avdec_h264"),  # software fallback
    ],
)
def test_auto_prefers_hardware_in_priority_order(hw, expect):
    c = select_decoder("video/x-h264", "auto", registry(*hw, *SW))
    assert c.element == expect
    assert c.hw == bool(hw)
    assert c.reason.startswith("hardware decoder") == bool(hw)
    if not hw:
        assert "fallback" in c.reason


def test_jetson_decoder_needs_nvvidconv():
    c = select_decoder("video/x-h265", "auto", registry("nvv4l2decoder"))
    assert (c.element, c.convert) == ("nvv4l2decoder", "nvvidconv")


def test_sw_mode_skips_hardware():
    c = select_decoder("video/x-h264", "sw", registry("nvh264dec", *SW))
    assert c.element == "avdec_h264" and not c.hw


def test_element_that_cannot_take_the_caps_is_skipped():
    # openh264dec refuses avc-format H.264 (as in MP4); with libav missing nothing is left
    c = select_decoder("video/x-h264", "auto", registry("avdec_h264", "openh264dec"))
    assert c.element == "avdec_h264"
    with pytest.raises(StreamError, match="no H.264 decoder installed"):
        select_decoder("video/x-h264", "auto", registry("openh264dec", refuse=("openh264dec",)))


def test_hw_mode_without_hardware_is_an_error():
    with pytest.raises(StreamError, match="no hardware H.264 decoder"):
        select_decoder("video/x-h264", "hw", registry(*SW))
    assert select_decoder("video/x-h264", "hw", registry("vah264dec", *SW)).element == "vah264dec"


def test_forced_element():
    c = select_decoder("video/x-h264", "openh264dec", registry(*SW))
    assert c.element == "openh264dec" and "forced" in c.reason
    with pytest.raises(StreamError, match="--decoder nvh264dec"):
        select_decoder("video/x-h264", "nvh264dec", registry(*SW))


def test_unsupported_codec():
    with pytest.raises(StreamError, match="unsupported codec"):
        select_decoder("video/x-theora", "auto", registry(*SW))


def test_list_decoders_with_fake_registry():
    rows = {r["codec"]: r for r in list_decoders(registry("nvh264dec", *SW))}
    assert rows["H.264"]["hardware"] == ["nvh264dec"]
    assert rows["H.264"]["auto"] == "nvh264dec"
    assert rows["H.265"]["auto"] == "avdec_h265"
    assert rows["AV1"]["auto"] == ""  # nothing installed for it in the fake registry


def test_frame_tail_strings():
    """The chain after the decoder, as a gst-launch fragment: CPU conversion by default,
    Jetson's hardware nvvidconv from NVMM with --nvmm (built here as a string only)."""
    from edgevision.stream.decoders import frame_tail

    assert frame_tail(nvmm=False, size=None).describe() == (
        "videoconvert ! videoscale ! video/x-raw,format=RGB ! appsink"
    )
    tail = frame_tail(nvmm=True, size=(640, 360))
    assert tail.describe() == "nvvidconv ! video/x-raw,format=RGBA,width=640,height=360 ! appsink"
    assert tail.channels == 4 and frame_tail(nvmm=False, size=(8, 6)).channels == 3


def test_nvmm_needs_nvvidconv():
    from edgevision.stream.decoders import check_nvmm

    check_nvmm(registry("nvvidconv"))
    with pytest.raises(StreamError, match="--nvmm needs NVIDIA Jetson's nvvidconv.*nvidia-l4t"):
        check_nvmm(registry("videoconvert"))
