"""Real-time streaming on GStreamer (PyGObject): sources, hardware/software decoder choice,
bounded leaky queues, an inference worker, model plugins and outputs.

Importing this package imports neither GStreamer nor torch; GStreamer loads when a source
or output is opened, torch only when a PyTorch model is used.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS = {
    "edgevision.stream.pipeline": ("RunConfig", "run_stream"),
    "edgevision.stream.sources": ("SourceOptions", "parse_source"),
    "edgevision.stream.decoders": ("select_decoder", "list_decoders"),
    "edgevision.stream.plugins": ("ModelPlugin", "load_plugin"),
    "edgevision.stream.queues": ("FrameQueue",),
    "edgevision.stream.gst": ("StreamError",),
    "edgevision.stream.sample": ("make_sample_video",),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = __dir__()
