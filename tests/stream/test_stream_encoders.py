"""Encoder choice against a faked element registry, and real H.264 files written with the
encoder this machine has (x264enc when gstreamer1.0-plugins-ugly is installed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgevision.stream.encoders import ENCODERS, list_encoders, select_encoder
from edgevision.stream.gst import StreamError

from .videos import count_frames

SW = ("x264enc", "openh264enc")


def registry(*elements: str):
    """available(element): the element is installed in this fake registry."""
    have = set(elements)
    return lambda el: el in have


@pytest.mark.parametrize(
    ("installed", "expect"),
    [
        (("nvv4l2h264enc", "nvh264enc", "vah264enc", *SW), "nvv4l2h264enc"),  # Jetson first
        (("nvh264enc", "vah264enc", "vaapih264enc", *SW), "nvh264enc"),  # NVENC before VA-API
        (("vaapih264enc", "vah264enc", *SW), "vah264enc"),  # the new VA plugin first
        (("vaapih264enc", *SW), "vaapih264enc"),
        (SW, "x264enc"),  # software: x264 before OpenH264
        (("openh264enc",), "openh264enc"),  # OpenH264 last
    ],
)
def test_auto_probes_hardware_first_then_software(installed, expect):
    c = select_encoder("auto", registry(*installed))
    assert c.element == expect
    hw = expect not in SW
    assert c.encoder.hw == hw
    assert c.reason.startswith("hardware encoder") == hw
    if not hw:
        assert "software fallback" in c.reason


def test_order_of_the_table():
    names = [e.element for e in ENCODERS]
    assert names == ["nvv4l2h264enc", "nvh264enc", "vah264enc", "vaapih264enc", *SW]
    assert [e.hw for e in ENCODERS] == [True] * 4 + [False] * 2


def test_openh264_fallback_says_x264_is_missing():
    assert "x264enc not installed" in select_encoder("auto", registry("openh264enc")).reason
    assert "not installed" not in select_encoder("auto", registry(*SW)).reason


def test_sw_mode_skips_hardware_and_hw_mode_needs_it():
    c = select_encoder("sw", registry("nvh264enc", *SW))
    assert c.element == "x264enc" and "--encoder sw" in c.reason
    assert select_encoder("hw", registry("vah264enc", *SW)).element == "vah264enc"
    with pytest.raises(StreamError, match="no hardware H.264 encoder.*nvh264enc"):
        select_encoder("hw", registry(*SW))


def test_forced_element_installed_missing_or_unknown():
    c = select_encoder("openh264enc", registry(*SW))
    assert c.element == "openh264enc" and "forced" in c.reason
    with pytest.raises(StreamError, match="'nvh264enc' is not installed.*plugins-bad"):
        select_encoder("nvh264enc", registry(*SW))
    with pytest.raises(StreamError, match="'nvv4l2h264enc'.*nvidia-l4t-gstreamer"):
        select_encoder("nvv4l2h264enc", registry(*SW))
    with pytest.raises(StreamError, match="--encoder x265enc: not an H.264 encoder"):
        select_encoder("x265enc", registry("x265enc", *SW))


def test_no_encoder_names_the_package():
    with pytest.raises(StreamError, match="gstreamer1.0-plugins-ugly.*--out null"):
        select_encoder("auto", registry())


def test_launch_text_units_and_jetson_nvmm():
    jetson = select_encoder("auto", registry("nvv4l2h264enc"))
    text = jetson.launch(640, 480, 30)
    assert "nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! nvv4l2h264enc" in text
    assert "bitrate=921600" in text  # bits per second: 640*480*30*0.1
    nvenc = select_encoder("auto", registry("nvh264enc")).launch(640, 480, 30)
    assert nvenc.startswith("video/x-raw,format=I420 ! nvh264enc") and "bitrate=921 " in nvenc
    assert (
        select_encoder("auto", registry("vah264enc"))
        .launch(64, 48, 30)
        .startswith("video/x-raw,format=NV12 ! vah264enc")
    )
    assert "bitrate=200 " in select_encoder("sw", registry(*SW)).launch(16, 16, 1) + " "


def test_list_encoders_with_fake_registry():
    rows = list_encoders(registry("vaapih264enc", "openh264enc"))
    assert [r["element"] for r in rows] == [e.element for e in ENCODERS]
    picked = [r["element"] for r in rows if r["auto"]]
    assert picked == ["vaapih264enc"]
    by = {r["element"]: r for r in rows}
    assert by["openh264enc"]["installed"] and not by["x264enc"]["installed"]
    assert by["x264enc"]["package"] == "gstreamer1.0-plugins-ugly"
    assert not any(r["auto"] for r in list_encoders(registry()))


# ------------------------------------------------------------------ this machine's GStreamer
def _need(element: str) -> None:
    from edgevision.errors import BackendUnavailable
    from edgevision.stream.gst import has_element

    try:
        if not has_element(element):
            pytest.skip(f"{element} not installed (apt-get install gstreamer1.0-plugins-ugly)")
    except BackendUnavailable:
        pytest.skip("needs GStreamer + PyGObject")


@pytest.mark.gst
def test_real_mp4_with_x264enc_and_no_openh264_message(tmp_path, capfd):
    _need("x264enc")
    from edgevision.stream.outputs import Mp4Sink

    c = select_encoder()
    assert c.element == "x264enc"  # no hardware encoder in CI: x264 before OpenH264
    sink = Mp4Sink(tmp_path / "o.mp4", fps=10, encoder=c)
    for t in range(12):
        sink.write(np.full((48, 64, 3), 20 * t, np.uint8), t / 10)
    sink.close()
    assert sink.complete and count_frames(tmp_path / "o.mp4") == 12
    assert "OpenH264" not in capfd.readouterr().err


@pytest.mark.gst
def test_summary_names_the_encoder(tmp_path, stub_module):
    _need("x264enc")
    from edgevision.stream.pipeline import RunConfig, run_stream

    cfg = RunConfig(
        ["test://ball?size=32x24&frames=4"],
        "stub",
        out=str(tmp_path / "o.mkv"),
        summary=str(tmp_path / "s.json"),
        encoder="sw",
    )
    s = run_stream(cfg, plugin=stub_module.make(), progress=False)
    enc = json.loads((tmp_path / "s.json").read_text())["encoder"]
    assert enc["element"] == "x264enc" and enc["hardware"] is False
    assert enc["reason"] == "software encoding requested (--encoder sw)"
    assert count_frames(tmp_path / "o.mkv") == s["frames_processed"] > 0
    null = run_stream(
        RunConfig(["test://ball?size=32x24&frames=2"], "stub"),
        plugin=stub_module.make(),
        progress=False,
    )
    assert null["encoder"] is None  # --out null encodes nothing


@pytest.mark.gst
def test_cli_encoder_errors_are_one_line_exit_2(tmp_path, stub_env):
    _need("x264enc")
    from edgevision.stream.gst import has_element

    cases = [("x265enc", "--encoder x265enc: not an H.264 encoder")]
    if not has_element("nvh264enc"):
        cases.append(("nvh264enc", "apt-get install gstreamer1.0-plugins-bad"))
    for name, match in cases:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgevision",
                "run",
                "test://ball?size=32x24&frames=2",
                "-m",
                "evstub:make",
                "--out",
                str(tmp_path / "o.mp4"),
                "--encoder",
                name,
            ],
            capture_output=True,
            text=True,
            env=stub_env,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edgevision run: error")]
        assert len(errors) == 1 and match in errors[0], r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "o.mp4").exists()


@pytest.mark.gst
def test_cli_list_encoders(stub_env):
    _need("x264enc")
    r = subprocess.run(
        [sys.executable, "-m", "edgevision", "run", "--list-encoders"],
        capture_output=True,
        text=True,
        env=stub_env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = {ln.split()[0]: ln for ln in r.stdout.splitlines()[1:]}
    assert list(rows) == [e.element for e in ENCODERS]
    assert "yes (auto)" in rows["x264enc"]


@pytest.mark.gst
def test_openvino_model_with_an_mp4_output(tmp_path, tiny_onnx, stub_env):
    """The encoder is chosen after the model loads: GStreamer initialised before OpenVINO
    compiles a model aborts the process (SIGABRT), so this order is pinned."""
    _need("x264enc")
    pytest.importorskip("openvino")
    summary = tmp_path / "s.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgevision",
            "run",
            "test://ball?size=96x64&frames=3",
            "-m",
            str(tiny_onnx),
            "--engine",
            "openvino",
            "--out",
            str(tmp_path / "o.mp4"),
            "--summary",
            str(summary),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=stub_env,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(summary.read_text())
    assert s["encoder"]["element"] == "x264enc" and s["frames_processed"] > 0
    assert "encoder x264enc:" in r.stdout
