"""GStreamer through PyGObject, imported lazily: :func:`gst` returns the initialised ``Gst``
module or raises :class:`~edgevision.errors.BackendUnavailable` with the install hint."""

from __future__ import annotations

import threading
from typing import Any

from edgevision.errors import BackendUnavailable, EdgeVisionError

INSTALL_HINT = (
    "GStreamer + PyGObject are needed for streaming: apt-get install python3-gi "
    "gir1.2-gstreamer-1.0 gstreamer1.0-plugins-{base,good,bad} gstreamer1.0-libav "
    "gir1.2-gst-rtsp-server-1.0, then pip install 'edgevision[stream]'"
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


def make_element(factory: str, name: str | None = None, **props: Any) -> Any:
    """Create an element and set properties (``foo_bar=`` sets ``foo-bar``).

    Raises:
        StreamError: the element does not exist here (names the plugin to install).
    """
    el = gst().ElementFactory.make(factory, name)
    if el is None:
        raise StreamError(f"GStreamer element {factory!r} is not installed on this machine")
    for k, v in props.items():
        el.set_property(k.replace("_", "-"), v)
    return el


def parse_error(msg: Any) -> str:
    """One line from a bus ERROR message: the error text and the element that raised it."""
    err, debug = msg.parse_error()
    src = msg.src.get_name() if msg.src is not None else "?"
    text = err.message.strip().rstrip(".")
    if debug and "Missing decoder" in debug:
        caps = debug.split("Missing decoder:", 1)[1].split("(", 1)[0].strip()
        text += f" (no decoder for {caps})"
    return f"{text} [{src}]"
