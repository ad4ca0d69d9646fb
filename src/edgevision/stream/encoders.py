"""Encoder selection: hardware H.264 encoders first where this machine has them, software
otherwise (the output side of :mod:`.decoders`).

:data:`ENCODERS` lists the H.264 encoders in priority order: NVIDIA Jetson
(``nvv4l2h264enc``, fed NVMM frames by ``nvvidconv``), NVENC (``nvh264enc``), VA-API
(``vah264enc``, then the older ``vaapih264enc``), then software: ``x264enc``
(gstreamer1.0-plugins-ugly, which ``scripts/setup.sh`` installs) and ``openh264enc`` last.

:func:`select_encoder` is pure: it asks an ``available(element)`` predicate, so tests fake the
element registry; the default is the real one (:func:`~.gst.has_element`). The encoder is
chosen once per run, before the model is loaded; the choice and its reason go into the run
summary (``summary["encoder"]``). Its elements are created only through
:func:`~.gst.make_element` (MP4/MKV files) or checked with :func:`~.gst.require_element`
(RTSP, whose server builds them from launch text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevision.stream.gst import (
    StreamError,
    element_package,
    gst,
    has_element,
    make_element,
    missing_element,
    require_element,
    set_props,
)

__all__ = [
    "ENCODERS",
    "Encoder",
    "EncoderChoice",
    "check_encoder_mode",
    "list_encoders",
    "select_encoder",
]


@dataclass(frozen=True)
class Encoder:
    """One H.264 encoder element.

    Attributes:
        element: the GStreamer element factory.
        hw: a hardware encoder.
        family: where it comes from, for messages and ``--list-encoders``.
        props: properties as gst-launch text; ``{kbps}`` and ``{bps}`` are replaced by the
            bitrate for the frame size.
        input_format: the raw format it is fed (after ``videoconvert``).
        convert: an element between that raw video and the encoder (``nvvidconv`` copies
            into NVMM memory on a Jetson), with ``convert_caps`` after it.
        convert_caps: caps after ``convert``.
    """

    element: str
    hw: bool
    family: str
    props: Mapping[str, str] = field(default_factory=dict)
    input_format: str = "I420"
    convert: str = ""
    convert_caps: str = ""


ENCODERS: list[Encoder] = [
    Encoder(
        "nvv4l2h264enc",
        True,
        "Jetson (nvv4l2h264enc)",
        {"bitrate": "{bps}", "iframeinterval": "30", "insert-sps-pps": "true"},
        convert="nvvidconv",
        convert_caps="video/x-raw(memory:NVMM),format=I420",
    ),
    Encoder("nvh264enc", True, "NVIDIA NVENC", {"bitrate": "{kbps}", "gop-size": "30"}),
    Encoder("vah264enc", True, "VA-API", {"bitrate": "{kbps}", "key-int-max": "30"}, "NV12"),
    Encoder(
        "vaapih264enc",
        True,
        "VA-API (gstreamer-vaapi)",
        {"bitrate": "{kbps}", "keyframe-period": "30"},
        "NV12",
    ),
    Encoder(
        "x264enc",
        False,
        "x264",
        {
            "tune": "zerolatency",
            "speed-preset": "ultrafast",
            "key-int-max": "30",
            "bitrate": "{kbps}",
        },
    ),
    Encoder(
        "openh264enc",
        False,
        "OpenH264",
        {"bitrate": "{bps}", "complexity": "low", "gop-size": "30"},
    ),
]

_BY_NAME = {e.element: e for e in ENCODERS}
MODES = ("auto", "hw", "sw")

Available = Callable[[str], bool]


def bitrate(width: int, height: int, fps: float) -> int:
    """Target bits per second for a frame size: 0.1 bit per pixel, 200 kb/s to 8 Mb/s."""
    return int(min(max(width * height * fps * 0.1, 200_000), 8_000_000))


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder picked for a run and why (logged, and kept in the run summary)."""

    encoder: Encoder
    reason: str

    @property
    def element(self) -> str:
        return self.encoder.element

    def props(self, width: int, height: int, fps: float) -> dict[str, str]:
        """The encoder's properties for this frame size, as gst-launch text."""
        bps = bitrate(width, height, fps)
        return {k: v.format(kbps=bps // 1000, bps=bps) for k, v in self.encoder.props.items()}

    def launch(self, width: int, height: int, fps: float) -> str:
        """gst-launch text from raw video (after ``videoconvert``) to H.264."""
        e = self.encoder
        props = " ".join(f"{k}={v}" for k, v in self.props(width, height, fps).items())
        conv = f"{e.convert} ! {e.convert_caps} ! " if e.convert else ""
        return f"video/x-raw,format={e.input_format} ! {conv}{e.element} {props}".strip()

    def check(self) -> None:
        """Raise :class:`StreamError` (naming the package) unless its elements exist here."""
        for el in filter(None, (self.encoder.convert, self.encoder.element)):
            require_element(el)

    def elements(self, width: int, height: int, fps: float) -> list[Any]:
        """The elements from raw video (after ``videoconvert``) to H.264, created with
        :func:`~.gst.make_element`, to be linked in order.

        Raises:
            StreamError: an element is missing (names its package) or refuses a property.
        """
        Gst = gst()
        e = self.encoder
        raw = Gst.Caps.from_string(f"video/x-raw,format={e.input_format}")
        out = [make_element("capsfilter", caps=raw)]
        if e.convert:
            out.append(make_element(e.convert))
            out.append(make_element("capsfilter", caps=Gst.Caps.from_string(e.convert_caps)))
        enc = make_element(e.element)
        set_props(enc, self.props(width, height, fps))
        out.append(enc)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "element": self.encoder.element,
            "hardware": self.encoder.hw,
            "family": self.encoder.family,
            "reason": self.reason,
        }


def check_encoder_mode(mode: str) -> None:
    """Fail early on an ``--encoder`` that is neither a mode nor a known H.264 encoder.

    Raises:
        StreamError: an unknown name (lists the choices).
    """
    if mode not in MODES and mode not in _BY_NAME:
        raise StreamError(
            f"--encoder {mode}: not an H.264 encoder edgevision knows; use auto, hw, sw or "
            f"one of {', '.join(_BY_NAME)}"
        )


def select_encoder(mode: str = "auto", available: Available | None = None) -> EncoderChoice:
    """Pick the H.264 encoder for a run's outputs.

    Args:
        mode: ``"auto"`` (hardware if present, else software), ``"hw"`` (hardware or error),
            ``"sw"`` (software only) or an element of :data:`ENCODERS` (exactly that one).
        available: ``available(element) -> bool``: the element exists here (default: this
            machine's GStreamer registry).

    Returns:
        An :class:`EncoderChoice`.

    Raises:
        StreamError: nothing fits (an unknown name, ``hw`` without hardware, a forced element
            that is not installed, no encoder at all).
    """
    avail = available or has_element
    check_encoder_mode(mode)
    if mode not in MODES:
        if not avail(mode):
            raise StreamError(f"--encoder {mode}: {missing_element(mode)}")
        return EncoderChoice(_BY_NAME[mode], f"--encoder {mode} (forced)")
    skipped: list[str] = []
    for e in ENCODERS:
        if mode == "sw" and e.hw:
            continue
        if mode == "hw" and not e.hw:
            break
        if avail(e.element):
            if e.hw:
                why = f"hardware encoder ({e.family})"
            elif mode == "sw":
                why = "software encoding requested (--encoder sw)"
            else:
                why = "no hardware H.264 encoder on this machine; software fallback"
            missing_sw = [el for el in skipped if not _BY_NAME[el].hw]
            if missing_sw:
                why += f" ({', '.join(missing_sw)} not installed)"
            return EncoderChoice(e, why)
        skipped.append(e.element)
    if mode == "hw":
        raise StreamError(
            f"--encoder hw: no hardware H.264 encoder on this machine (looked for "
            f"{', '.join(skipped)}); use --encoder auto or sw"
        )
    packages = dict.fromkeys(
        filter(None, (element_package(e.element) for e in ENCODERS if not e.hw))
    )
    raise StreamError(
        f"no H.264 encoder installed (looked for {', '.join(skipped)}); install "
        f"{' or '.join(packages)}, or use --out null"
    )


def list_encoders(available: Available | None = None) -> list[dict[str, Any]]:
    """One row per known encoder, in priority order: installed or not, and what ``auto``
    picks."""
    avail = available or has_element
    try:
        pick = select_encoder("auto", avail).element
    except StreamError:
        pick = ""
    return [
        {
            "element": e.element,
            "family": e.family,
            "hardware": e.hw,
            "installed": avail(e.element),
            "auto": e.element == pick,
            "package": element_package(e.element) or "",
        }
        for e in ENCODERS
    ]
