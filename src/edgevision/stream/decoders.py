"""Decoder selection: hardware first where this machine has it, software otherwise.

:data:`DECODERS` lists, per compressed format (the caps name GStreamer gives the stream), the
decoder elements in priority order: NVIDIA Jetson (``nvv4l2decoder``), NVDEC
(``nvh264dec`` …), VA-API (``vah264dec``, then the older ``vaapih264dec``), V4L2 stateless and
stateful decoders, then software (libav ``avdec_*``, ``openh264dec``, ``jpegdec``, libvpx).

:func:`select_decoder` is pure: it asks an ``available(element, caps)`` predicate, so tests fake
the element registry; :func:`gst_available` is the real one (the element exists *and* accepts
these caps, e.g. ``openh264dec`` takes only byte-stream H.264, not the ``avc`` form in MP4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgevision.stream.gst import StreamError, element_package

__all__ = [
    "DECODERS",
    "NVMM_CONVERT",
    "DecoderChoice",
    "Tail",
    "check_nvmm",
    "frame_tail",
    "gst_available",
    "list_decoders",
    "select_decoder",
]


@dataclass(frozen=True)
class Decoder:
    """One decoder element. ``convert``: element needed after it to reach system memory."""

    element: str
    hw: bool
    family: str
    convert: str = ""


def _hw(el: str, family: str, convert: str = "") -> Decoder:
    return Decoder(el, True, family, convert)


def _sw(el: str, family: str) -> Decoder:
    return Decoder(el, False, family)


_JETSON = "Jetson (nvv4l2decoder)"
_NVDEC = "NVIDIA NVDEC"
_VA = "VA-API"
_VAAPI = "VA-API (gstreamer-vaapi)"
_V4L2 = "V4L2 stateless"
_V4L2F = "V4L2 stateful"


def _family(codec: str, jetson: bool = True) -> list[Decoder]:
    out = [_hw("nvv4l2decoder", _JETSON, "nvvidconv")] if jetson else []
    out += [
        _hw(f"nv{codec}dec", _NVDEC),
        _hw(f"va{codec}dec", _VA),
        _hw(f"vaapi{codec}dec", _VAAPI),
        _hw(f"v4l2sl{codec}dec", _V4L2),
        _hw(f"v4l2{codec}dec", _V4L2F),
    ]
    return out


DECODERS: dict[str, list[Decoder]] = {
    "video/x-h264": [
        *_family("h264"),
        _sw("avdec_h264", "libav"),
        _sw("openh264dec", "OpenH264"),
    ],
    "video/x-h265": [*_family("h265"), _sw("avdec_h265", "libav"), _sw("libde265dec", "libde265")],
    "video/x-vp8": [*_family("vp8"), _sw("vp8dec", "libvpx"), _sw("avdec_vp8", "libav")],
    "video/x-vp9": [*_family("vp9"), _sw("vp9dec", "libvpx"), _sw("avdec_vp9", "libav")],
    "video/x-av1": [*_family("av1", jetson=False), _sw("dav1ddec", "dav1d"), _sw("av1dec", "aom")],
    "image/jpeg": [
        _hw("nvjpegdec", _NVDEC),
        _hw("vajpegdec", _VA),
        _hw("vaapijpegdec", _VAAPI),
        _hw("v4l2jpegdec", _V4L2F),
        _sw("jpegdec", "libjpeg"),
        _sw("avdec_mjpeg", "libav"),
    ],
    "video/mpeg": [
        *_family("mpeg2", jetson=False),
        _sw("avdec_mpeg4", "libav"),
        _sw("avdec_mpeg2video", "libav"),
    ],
    # MPEG-4 Part 2 as AVI files label it
    "video/x-divx": [_sw("avdec_mpeg4", "libav")],
    "video/x-xvid": [_sw("avdec_mpeg4", "libav")],
}

# codec names for messages and --list-decoders
CODEC_NAMES = {
    "video/x-h264": "H.264",
    "video/x-h265": "H.265",
    "video/x-vp8": "VP8",
    "video/x-vp9": "VP9",
    "video/x-av1": "AV1",
    "image/jpeg": "MJPEG",
    "video/mpeg": "MPEG-2/4",
    "video/x-divx": "MPEG-4 (DivX)",
    "video/x-xvid": "MPEG-4 (Xvid)",
}


@dataclass(frozen=True)
class DecoderChoice:
    """The decoder picked for one stream and why (logged, and kept in the run summary)."""

    codec: str
    element: str
    hw: bool
    convert: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "element": self.element,
            "hardware": self.hw,
            "reason": self.reason,
        }


Available = Callable[[str, Any], bool]


def select_decoder(caps_name: str, mode: str, available: Available, caps: Any = None):
    """Pick a decoder for one compressed stream.

    Args:
        caps_name: the stream's media type, e.g. ``"video/x-h264"``.
        mode: ``"auto"`` (hardware if present, else software), ``"hw"`` (hardware or error),
            ``"sw"`` (software only) or an element name (exactly that one).
        available: ``available(element, caps) -> bool``: the element exists here and accepts
            ``caps``.
        caps: the stream's caps, handed to ``available``.

    Returns:
        A :class:`DecoderChoice`.

    Raises:
        StreamError: nothing fits (unsupported codec, ``hw`` without hardware, an element
            that is missing or cannot decode this stream).
    """
    codec = CODEC_NAMES.get(caps_name, caps_name)
    table = DECODERS.get(caps_name, [])
    if mode not in ("auto", "hw", "sw"):
        if not available(mode, caps):
            raise StreamError(
                f"--decoder {mode}: element not installed or cannot decode {codec} here"
            )
        known = next((d for d in table if d.element == mode), None)
        hw = known.hw if known else False
        return DecoderChoice(
            codec, mode, hw, known.convert if known else "", f"--decoder {mode} (forced)"
        )
    if not table:
        raise StreamError(
            f"unsupported codec {codec!r}: edgevision decodes {', '.join(CODEC_NAMES.values())}"
        )
    skipped: list[str] = []
    for d in table:
        if mode == "sw" and d.hw:
            continue
        if mode == "hw" and not d.hw:
            break
        if available(d.element, caps):
            if d.hw:
                why = f"hardware decoder ({d.family})"
            elif mode == "sw":
                why = "software decoding requested (--decoder sw)"
            else:
                why = "no hardware decoder for this codec on this machine; software fallback"
            return DecoderChoice(codec, d.element, d.hw, d.convert, f"{why}")
        skipped.append(d.element)
    if mode == "hw":
        raise StreamError(
            f"--decoder hw: no hardware {codec} decoder on this machine "
            f"(looked for {', '.join(skipped)}); use --decoder auto or sw"
        )
    packages = dict.fromkeys(filter(None, (element_package(d.element) for d in table if not d.hw)))
    raise StreamError(
        f"no {codec} decoder installed (looked for {', '.join(skipped)}); install "
        f"{' or '.join(packages) or 'gstreamer1.0-libav or gstreamer1.0-plugins-good/bad'}"
    )


def gst_available(element: str, caps: Any = None) -> bool:
    """The real registry: ``element`` exists, and (given ``caps``) can accept them."""
    from edgevision.stream.gst import gst

    f = gst().ElementFactory.find(element)
    if f is None:
        return False
    return caps is None or bool(f.can_sink_any_caps(caps))


def list_decoders(available: Available | None = None) -> list[dict[str, Any]]:
    """One row per codec: installed hardware and software decoders, and what ``auto`` picks."""
    avail = available or gst_available
    rows = []
    for caps_name, table in DECODERS.items():
        hw = [d.element for d in table if d.hw and avail(d.element, None)]
        sw = [d.element for d in table if not d.hw and avail(d.element, None)]
        try:
            pick = select_decoder(caps_name, "auto", avail).element
        except StreamError:
            pick = ""
        rows.append(
            {
                "codec": CODEC_NAMES[caps_name],
                "caps": caps_name,
                "hardware": hw,
                "software": sw,
                "auto": pick,
            }
        )
    return rows


NVMM_CONVERT = "nvvidconv"
"""Jetson's hardware (VIC) converter: NVMM in, colour-converted and scaled frames out."""


@dataclass(frozen=True)
class Tail:
    """The elements between the decoded video and the appsink.

    Attributes:
        elements: element factories in order, before the caps filter.
        caps: the caps filter the appsink receives.
        channels: bytes per pixel of those frames (3: RGB, 4: RGBA, the alpha dropped).
    """

    elements: tuple[str, ...]
    caps: str
    channels: int

    def describe(self) -> str:
        """The chain as a ``gst-launch`` fragment ending in the appsink."""
        return " ! ".join([*self.elements, self.caps, "appsink"])


def frame_tail(*, nvmm: bool, size: tuple[int, int] | None) -> Tail:
    """How decoded frames reach the appsink (system memory, packed RGB for the model).

    Default: ``videoconvert ! videoscale ! video/x-raw,format=RGB``, on the CPU; a Jetson
    decoder's NVMM frames first pass the decoder's own ``nvvidconv`` to system memory
    (:class:`Decoder` ``convert``). ``nvmm``: ``nvvidconv ! video/x-raw,format=RGBA``:
    Jetson's VIC converts the colour and scales (``size``) from NVMM in hardware and writes
    the frame to system memory once; the CPU only drops the alpha channel (nvvidconv writes
    no packed 3-byte RGB). See the README's GPU section for what is copied where.

    Args:
        nvmm: the Jetson hardware chain.
        size: ``(W, H)`` to scale to, or ``None``.

    Returns:
        A :class:`Tail`.
    """
    dims = f",width={size[0]},height={size[1]}" if size is not None else ""
    if nvmm:
        return Tail((NVMM_CONVERT,), f"video/x-raw,format=RGBA{dims}", 4)
    return Tail(("videoconvert", "videoscale"), f"video/x-raw,format=RGB{dims}", 3)


def check_nvmm(available: Available | None = None) -> None:
    """``--nvmm`` needs Jetson's ``nvvidconv``; a one-line error naming its package if not.

    Raises:
        StreamError: ``nvvidconv`` is not installed (not an NVIDIA Jetson).
    """
    from edgevision.stream.gst import missing_element

    if not (available or gst_available)(NVMM_CONVERT, None):
        raise StreamError(
            f"--nvmm needs NVIDIA Jetson's {NVMM_CONVERT}: {missing_element(NVMM_CONVERT)}"
        )
