"""GStreamer through PyGObject, imported lazily: :func:`gst` returns the initialised ``Gst``
module or raises :class:`~edgevision.errors.BackendUnavailable` with the install hint.

Elements are created only through :func:`make_element` (or checked with
:func:`require_element` where a bin creates them): a missing plugin is a one-line
:class:`StreamError` naming the element and the Debian/Ubuntu package that ships it, never a
``None`` element failing later.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from edgevision.errors import BackendUnavailable, EdgeVisionError

INSTALL_HINT = (
    "GStreamer + PyGObject are needed for streaming: apt-get install python3-gi "
    "gir1.2-gstreamer-1.0 gstreamer1.0-plugins-{base,good,bad} gstreamer1.0-libav "
    "gir1.2-gst-rtsp-server-1.0, then pip install 'edgevision[stream]'"
)

# Debian/Ubuntu package -> the elements it ships that edgevision creates, lists as decoders or
# encoders, or relies on inside decodebin (checked with dpkg -S on Debian 12); families by
# prefix in _PREFIX_PACKAGES
_PACKAGE_ELEMENTS: dict[str, tuple[str, ...]] = {
    "libgstreamer1.0-0": ("capsfilter", "identity", "queue", "filesink", "fakesink"),
    "gstreamer1.0-plugins-base": (
        "videoconvert",
        "videoscale",
        "appsink",
        "appsrc",
        "uridecodebin",
        "decodebin",
        "videotestsrc",
    ),
    "gstreamer1.0-plugins-good": (
        "v4l2src",
        "rtspsrc",
        "rtph264pay",
        "mp4mux",
        "qtmux",
        "matroskamux",
        "autovideosink",
        "jpegdec",
        "vp8dec",
        "vp9dec",
    ),
    "gstreamer1.0-plugins-bad": ("h264parse", "h265parse", "openh264enc", "openh264dec", "av1dec"),
    "gstreamer1.0-plugins-ugly": ("x264enc",),
    "nvidia-l4t-gstreamer": (
        "nvarguscamerasrc",
        "nvvidconv",
        "nvv4l2decoder",
        "nvv4l2h264enc",
    ),  # Jetson
}
ELEMENT_PACKAGES: dict[str, str] = {
    el: pkg for pkg, elements in _PACKAGE_ELEMENTS.items() for el in elements
}
"""Element factory -> the Debian/Ubuntu package that ships it."""
_PREFIX_PACKAGES: tuple[tuple[str, str], ...] = (
    ("avdec_", "gstreamer1.0-libav"),
    ("avenc_", "gstreamer1.0-libav"),
    ("vaapi", "gstreamer1.0-vaapi"),
    ("va", "gstreamer1.0-plugins-bad"),  # va{h264,h265,vp9,av1,jpeg}{dec,enc}
    ("nv", "gstreamer1.0-plugins-bad"),  # NVDEC/NVENC: nvh264dec, nvjpegdec ...
    ("v4l2sl", "gstreamer1.0-plugins-bad"),
    ("v4l2", "gstreamer1.0-plugins-good"),
)

_LOCK = threading.Lock()
_GST: Any = None


class StreamError(EdgeVisionError):
    """A source, decoder, output or pipeline fragment cannot be used (printed as one line)."""


def gst() -> Any:
    """The ``Gst`` module, initialised once (thread-safe)."""
    global _GST
    with _LOCK:
        if _GST is None:
            try:
                import gi

                gi.require_version("Gst", "1.0")
                gi.require_version("GstApp", "1.0")
                from gi.repository import Gst, GstApp  # noqa: F401
            except (ImportError, ValueError) as e:
                raise BackendUnavailable(f"{INSTALL_HINT} ({e})") from None
            Gst.init(None)
            _GST = Gst
    return _GST


def glib() -> Any:
    """The ``GLib`` module (after :func:`gst`)."""
    gst()
    from gi.repository import GLib

    return GLib


def has_element(name: str) -> bool:
    """Whether the element factory ``name`` exists in this machine's GStreamer registry."""
    return gst().ElementFactory.find(name) is not None


def element_package(factory: str) -> str | None:
    """The Debian/Ubuntu package that ships the element ``factory``, when known."""
    if factory in ELEMENT_PACKAGES:
        return ELEMENT_PACKAGES[factory]
    return next((pkg for pre, pkg in _PREFIX_PACKAGES if factory.startswith(pre)), None)


def missing_element(factory: str) -> StreamError:
    """The one-line error for an element that is not installed: its name and package."""
    pkg = element_package(factory)
    hint = f"apt-get install {pkg}" if pkg else "install the GStreamer plugin that provides it"
    return StreamError(f"GStreamer element {factory!r} is not installed on this machine ({hint})")


def require_element(factory: str) -> None:
    """Check that ``factory`` exists (for elements a bin creates, e.g. ``rtspsrc``).

    Raises:
        StreamError: it does not (names the package to install).
    """
    if not has_element(factory):
        raise missing_element(factory)


def make_element(factory: str, name: str | None = None, **props: Any) -> Any:
    """Create an element and set properties (``foo_bar=`` sets ``foo-bar``).

    Raises:
        StreamError: the element does not exist here (names the package to install).
    """
    el = gst().ElementFactory.make(factory, name)
    if el is None:
        raise missing_element(factory)
    for k, v in props.items():
        el.set_property(k.replace("_", "-"), v)
    return el


def set_props(element: Any, props: Mapping[str, str]) -> None:
    """Set properties from their gst-launch text (enums by nick, ``"true"``, numbers).

    Raises:
        StreamError: the element has no such property (in this GStreamer version).
    """
    Gst = gst()
    for k, v in props.items():
        if element.find_property(k) is None:
            name = element.get_factory().get_name()
            raise StreamError(f"GStreamer element {name!r} has no property {k!r} here")
        Gst.util_set_object_arg(element, k, v)


def launch_error(e: BaseException) -> str:
    """One line for a failed ``parse_launch``: a missing element with its package, else the
    GLib message."""
    msg = str(getattr(e, "message", e))
    m = re.search(r'no element "([^"]+)"', msg)
    return str(missing_element(m.group(1))) if m else msg


def parse_error(msg: Any) -> str:
    """One line from a bus ERROR message: the error text and the element that raised it."""
    err, debug = msg.parse_error()
    src = msg.src.get_name() if msg.src is not None else "?"
    text = err.message.strip().rstrip(".")
    if debug and "reason " in debug and "data stream error" in text:  # say which reason
        text += f" ({debug.rsplit('reason ', 1)[1].split(' (', 1)[0].strip()})"
    if debug and "Missing decoder" in debug:
        caps = debug.split("Missing decoder:", 1)[1].split("(", 1)[0].strip()
        text += f" (no decoder for {caps})"
    return f"{text} [{src}]"
