"""Real-time streaming on GStreamer (PyGObject): sources, hardware/software decoder choice,
bounded leaky queues, an inference worker, model plugins and outputs.

Importing this package imports neither GStreamer nor torch; GStreamer loads when a source
or output is opened, torch only when a PyTorch model is used.
"""

from __future__ import annotations

from edgevision._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "RunConfig": "edgevision.stream.pipeline",
    "run_stream": "edgevision.stream.pipeline",
    "SourceOptions": "edgevision.stream.sources",
    "parse_source": "edgevision.stream.sources",
    "select_decoder": "edgevision.stream.decoders",
    "list_decoders": "edgevision.stream.decoders",
    "ModelPlugin": "edgevision.stream.plugins",
    "load_plugin": "edgevision.stream.plugins",
    "FrameQueue": "edgevision.stream.queues",
    "StreamError": "edgevision.stream.gst",
    "make_sample_video": "edgevision.stream.sample",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
