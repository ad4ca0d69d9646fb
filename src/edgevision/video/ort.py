"""YolactEdge video mode in ONNX Runtime or OpenVINO over the component graphs (no torch).

A *component folder* holds one ONNX graph per part of a ``yolact_*`` model, as written by
:func:`edgevision.export.yolact.export_components` (``edgevision export
--components``): ``backbone_lower``, ``backbone_upper``, ``fpn``, ``fpn_partial``,
``fpn_extra``, ``protonet``, ``head``, ``warp`` and, for video mode, ``featflownet``. Each
file carries the model spec and its own precision, so a folder can mix FP32 and INT8 parts
(YolactEdge's per-component conversion); :func:`edgevision.quantize.component_folders.quantize_components`
makes such folders.

:class:`OrtVideoSession` runs the shared algorithm of :mod:`edgevision.video.core` on these
graphs — keyframes, FeatFlowNet, partial feature transform, optional prototype warping — so
an edge box needs only ONNX Runtime (or OpenVINO) and numpy. The graphs are loaded through
the runtime's engine factory (:func:`edgevision.runtime.base.load_engine`) on either CPU
engine (``backend=``): OpenVINO runs an INT8 (QDQ) component as INT8 and the float ones at
its precision hint (``ov_precision``), so a mixed folder keeps its per-component precision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import ModelFileError
from edgevision.results import InstanceMasks
from edgevision.video.core import StreamSession
from edgevision.video.keyframes import KeyframePolicy
from edgevision.video.precision import PrecisionPolicy, folder_precision

__all__ = [
    "COMPONENTS",
    "COMPONENT_BACKENDS",
    "ComponentSet",
    "OrtOps",
    "OrtVideoSession",
    "is_component_folder",
    "resize_flow_np",
]

COMPONENTS: tuple[str, ...] = (
    "backbone_lower",
    "backbone_upper",
    "fpn",
    "fpn_partial",
    "fpn_extra",
    "protonet",
    "head",
    "warp",
)
"""The graphs every component folder has; ``featflownet`` is added for video mode."""

COMPONENT_BACKENDS: tuple[str, ...] = ("onnxruntime", "openvino")
"""Engines that run component folders."""


def is_component_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with the component graphs of a YOLACT."""
    p = Path(path)
    return p.is_dir() and all((p / f"{c}.onnx").is_file() for c in COMPONENTS)


class ComponentSet:
    """The component graphs of one model, each in its own engine (ONNX Runtime session or
    OpenVINO compiled model).

    Args:
        folder: a component folder (see the module docstring).
        threads: intra-op threads of every engine.
        providers: ONNX Runtime execution providers (aliases as for ``load_engine``).
        backend: ``"onnxruntime"`` or ``"openvino"``.
        ov_precision: OpenVINO's hint for the float components (``"f32"``, ``"bf16"``,
            ``"auto"``); INT8 components run INT8 either way.

    Attributes:
        spec: the model's :class:`~edgevision.config.ModelSpec`.
        precision: component -> precision recorded in its file (``fp32``, ``int8`` ...).
        has_flow: whether ``featflownet.onnx`` is present.
        trained: whether the weights are trained (``edgevision.trained`` metadata), ``None``
            when the files do not say.

    Raises:
        ModelFileError: a missing graph, or graphs of different models in one folder.
        ConfigError: an unknown backend or OpenVINO precision.
        BackendUnavailable: the backend is not installed (with the install hint).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        threads: int = 2,
        providers: list[str] | None = None,
        backend: str = "onnxruntime",
        ov_precision: str = "f32",
    ) -> None:
        from edgevision.errors import ConfigError
        from edgevision.runtime.base import load_engine

        if backend not in COMPONENT_BACKENDS:
            raise ConfigError(
                f"component folders run on {' or '.join(COMPONENT_BACKENDS)}, not {backend!r}"
            )
        # several engines run one after another: no spinning ONNX Runtime pools competing
        options: dict[str, Any] = (
            {"spin": False} if backend == "onnxruntime" else {"precision": ov_precision}
        )
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ModelFileError(f"component folder not found: {self.folder}")
        missing = [c for c in COMPONENTS if not (self.folder / f"{c}.onnx").is_file()]
        if missing:
            raise ModelFileError(
                f"{self.folder}: not a component folder (missing {', '.join(missing)}.onnx); "
                "write one with 'edgevision export CKPT --components DIR'"
            )
        names = [*COMPONENTS, "featflownet"]
        self.engines: dict[str, Any] = {}
        for c in names:
            path = self.folder / f"{c}.onnx"
            if path.is_file():
                self.engines[c] = load_engine(
                    path, backend=backend, threads=threads, providers=providers, **options
                )
        self.spec = self.engines["backbone_lower"].spec
        for c, e in self.engines.items():
            if e.spec.name != self.spec.name or list(e.spec.class_names) != list(
                self.spec.class_names
            ):
                raise ModelFileError(
                    f"{self.folder}: {c}.onnx is of model {e.spec.name!r}, "
                    f"backbone_lower.onnx of {self.spec.name!r}"
                )
        self.precision = {c: str(e.precision) for c, e in self.engines.items()}
        flag = self.engines["backbone_lower"].metadata.get("edgevision.trained")
        self.trained: bool | None = None if flag is None else flag == "1"
        self.has_flow = "featflownet" in self.engines
        self.threads = threads
        self.providers = providers
        self.backend = backend
        self.ov_precision = ov_precision

    def sibling(self, folder: str | os.PathLike[str]) -> ComponentSet:
        """Another component folder (e.g. another precision) loaded as this one: same
        backend, threads, providers and OpenVINO hint."""
        return ComponentSet(
            folder,
            threads=self.threads,
            providers=self.providers,
            backend=self.backend,
            ov_precision=self.ov_precision,
        )

    @property
    def level(self) -> str:
        """The folder's precision name: ``fp32``, ``mixed`` or ``int8``
        (:func:`~edgevision.video.precision.folder_precision`)."""
        return folder_precision(self.precision)

    def run(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run component ``name`` on its inputs (in graph order)."""
        e = self.engines[name]
        return e.run_feeds(dict(zip(e.input_names, inputs)))  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "backend": f"{self.backend} (components)",
            "folder": str(self.folder),
            "precision": dict(self.precision),
            "threads": self.threads,
        }
        if self.backend == "openvino":
            d["ov_precision"] = self.ov_precision
        return d


def resize_flow_np(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(N, 2, h, w)`` flow to ``size`` (bilinear) and rescale its vectors to the new
    pixels (numpy + OpenCV; the counterpart of :func:`edgevision.models.flow.warp.resize_flow`)."""
    import cv2

    h, w = flow.shape[-2:]
    oh, ow = int(size[0]), int(size[1])
    if (oh, ow) == (h, w):
        return flow
    out = np.empty((flow.shape[0], 2, oh, ow), np.float32)
    for n in range(flow.shape[0]):
        for c, scale in ((0, ow / w), (1, oh / h)):
            out[n, c] = cv2.resize(flow[n, c], (ow, oh), interpolation=cv2.INTER_LINEAR) * scale
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class OrtOps:
    """:class:`~edgevision.video.core.VideoOps` on a :class:`ComponentSet` (numpy arrays)."""

    def __init__(self, parts: ComponentSet) -> None:
        self.parts = parts

    def to_input(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32)

    def lower(self, x: np.ndarray) -> np.ndarray:
        return self.parts.run("backbone_lower", x)[0]

    def upper(self, c3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c4, c5 = self.parts.run("backbone_upper", c3)
        return c4, c5

    def fpn(self, c3: Any, c4: Any, c5: Any) -> tuple[list[np.ndarray], np.ndarray]:
        *pyr, t4 = self.parts.run("fpn", c3, c4, c5)
        return list(pyr), t4

    def p3_from(self, c3: np.ndarray, t4: np.ndarray) -> np.ndarray:
        return self.parts.run("fpn_partial", c3, t4)[0]

    def extra(self, p5: np.ndarray) -> list[np.ndarray]:
        return list(self.parts.run("fpn_extra", p5))

    def protonet(self, p3: np.ndarray) -> np.ndarray:
        return self.parts.run("protonet", p3)[0]

    def head(self, p: np.ndarray) -> tuple[Any, Any, Any]:
        loc, conf, coef = self.parts.run("head", p)
        return loc, conf, coef

    def flownet(self, key_c3: np.ndarray, cur_c3: np.ndarray) -> list[np.ndarray]:
        return list(self.parts.run("featflownet", key_c3, cur_c3))

    def warp(self, feat: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return self.parts.run("warp", feat, np.ascontiguousarray(flow, np.float32))[0]

    def warp_protos(self, protos: np.ndarray, flow8: np.ndarray) -> np.ndarray:
        kp = np.ascontiguousarray(protos.transpose(0, 3, 1, 2))
        out = self.warp(kp, resize_flow_np(flow8, kp.shape[-2:]))
        return np.ascontiguousarray(out.transpose(0, 2, 3, 1))

    def motion(self, flow8: np.ndarray) -> float:
        return float(np.sqrt((flow8.astype(np.float64) ** 2).sum(1)).mean())

    def flow_numpy(self, flow8: np.ndarray) -> np.ndarray:
        return np.asarray(flow8[0])

    def outputs(self, heads: list[tuple[Any, Any, Any]], protos: Any) -> list[np.ndarray]:
        locs, confs, coefs = zip(*heads)
        outs = [
            np.concatenate(locs, 1),
            _softmax(np.concatenate(confs, 1)),
            np.concatenate(coefs, 1),
        ]
        return outs if protos is None else [*outs, protos]


class OrtVideoSession(StreamSession):
    """Per-stream YolactEdge inference on component graphs (ONNX Runtime or OpenVINO).

    Args:
        parts: a :class:`ComponentSet` or a component folder.
        keyframes: policy or its text form (``"fixed:5"``, ``"adaptive"``, ``"none"``).
        reuse_protos: warp the keyframe's prototypes on non-keyframes.
        propagate: warp the keyframe's final masks on non-keyframes.
        threads: intra-op threads when ``parts`` is a folder.
        backend: the engine when ``parts`` is a folder (``"onnxruntime"``, ``"openvino"``);
            folders in ``engines`` load on the engine of ``parts``.
        ov_precision: OpenVINO's float hint when ``parts`` is a folder.
        precision: per-frame precision policy (``"fixed:mixed"``, ``"adaptive"`` ...;
            :mod:`edgevision.video.precision`); ``None``: always ``parts``.
        engines: further component folders (or sets) of other precisions, each named by
            its own precision (:attr:`ComponentSet.level`); ``parts`` is one of them.
        small_input: ``(h, w)``: also load the ``small`` engine, the ``mixed`` engine (else
            ``parts``) at this smaller input size.
        **post_kwargs: postprocessing options (``conf_threshold`` ...).

    Raises:
        ConfigError: two engines of one precision, or a policy needing a missing one.
    """

    def __init__(
        self,
        parts: ComponentSet | str | os.PathLike[str],
        *,
        keyframes: str | KeyframePolicy = "fixed:5",
        reuse_protos: bool = False,
        propagate: bool | str = False,
        threads: int = 2,
        precision: str | PrecisionPolicy | None = None,
        engines: list[ComponentSet | str | os.PathLike[str]] | None = None,
        small_input: tuple[int, int] | None = None,
        backend: str = "onnxruntime",
        ov_precision: str = "f32",
        **post_kwargs: Any,
    ) -> None:
        from dataclasses import replace

        from edgevision.errors import ConfigError

        self.parts = (
            parts
            if isinstance(parts, ComponentSet)
            else ComponentSet(parts, threads=threads, backend=backend, ov_precision=ov_precision)
        )
        others: dict[str, Any] = {}
        for e in engines or []:
            cs = e if isinstance(e, ComponentSet) else self.parts.sibling(e)
            if cs.level in others or cs.level == self.parts.level:
                raise ConfigError(f"two {cs.level} engines given ({cs.folder})")
            if cs.spec.name != self.parts.spec.name:
                raise ConfigError(
                    f"{cs.folder} is model {cs.spec.name!r}, {self.parts.folder} "
                    f"{self.parts.spec.name!r}"
                )
            others[cs.level] = OrtOps(cs)
        specs: dict[str, Any] = {}
        if small_input is not None:
            h, w = (int(v) for v in small_input)
            full = self.parts.spec.input_size
            if not (0 < h <= full[0] and 0 < w <= full[1]) or (h % 32 or w % 32):
                raise ConfigError(
                    f"small input must be multiples of 32 up to the model's {full[0]}x{full[1]}, "
                    f"got {h}x{w}"
                )
            others["small"] = others.get("mixed") or OrtOps(self.parts)
            specs["small"] = replace(self.parts.spec, input_size=(h, w))
        super().__init__(
            OrtOps(self.parts),
            self.parts.spec,
            keyframes=keyframes,
            has_flow=self.parts.has_flow,
            reuse_protos=reuse_protos,
            propagate=propagate,
            precision=precision,
            engines=others,
            ops_precision=self.parts.level,
            specs=specs,
            **post_kwargs,
        )

    def __call__(self, frame: np.ndarray) -> InstanceMasks:
        return super().__call__(frame)
