"""Speed references: a YOLOv8n-architecture detector to time our detectors against.

The detection speed target compares ``yolo_ret_m075`` (static INT8, end to end) with "a
YOLOv8n-sized model (8.7 GFLOPs at 640) in FP32 ONNX Runtime at the same input size".
There are no YOLOv8 weights offline, and none are needed to time it:
:class:`YOLOv8nReference` is the YOLOv8n graph (Ultralytics v8.0 layout, written from the
architecture: width 0.25, depth 0.33, C2f blocks, SPPF, PAN-FPN, decoupled anchor-free head
with DFL ``reg_max=16`` decoded in the graph, 80 classes) with random weights. Its parameter count is checked against YOLOv8n's
3.16 M in the tests; its FLOPs come from the benchmark's own counter.

It is **not** a trainable model of this project and is not in the registry. Its ONNX output
is packed into the ``(N, A, 5 + C)`` layout our YOLO post-processor reads (decoded box, max
class score as objectness, class scores), so the benchmark's end-to-end path runs on it; the
class biases start at YOLOv8's prior (``log(5 / nc / (640 / stride)²)``), so on a random
image almost nothing passes the score threshold and its post-processing is the *cheapest*
possible: its end-to-end time is a lower bound, which makes the speed ratio conservative.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from edgevision.models.layers.csp import SPPF, Bottleneck, conv_silu

__all__ = ["YOLOv8nReference", "export_yolov8n_reference"]

YOLOV8N_PARAMS = 3_157_200
"""YOLOv8n's parameter count (80 classes, BatchNorm unfused), from its model summary."""


class C2f(nn.Module):
    """YOLOv8's C2f: split a 1×1 conv in two, chain ``n`` bottlenecks on one half, concat all."""

    def __init__(self, in_ch: int, out_ch: int, n: int = 1, *, shortcut: bool = False) -> None:
        super().__init__()
        self.c = out_ch // 2
        self.cv1 = conv_silu(in_ch, 2 * self.c, 1)
        self.cv2 = conv_silu((2 + n) * self.c, out_ch, 1)
        self.m = nn.ModuleList(_bottleneck33(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


def _bottleneck33(c: int, shortcut: bool) -> nn.Module:
    """YOLOv8's bottleneck: two 3×3 convs (ours is 1×1 -> 3×3: swap the first)."""
    b = Bottleneck(c, c, shortcut=shortcut)
    b.cv1 = conv_silu(c, c, 3)
    return b


class YOLOv8nReference(nn.Module):
    """YOLOv8n graph with random weights (see the module docstring). Input ``(N, 3, H, W)``,
    H and W multiples of 32; output ``(N, A, 5 + num_classes)``."""

    reg_max = 16
    strides = (8, 16, 32)

    def __init__(self, num_classes: int = 80) -> None:
        super().__init__()
        nc = self.nc = num_classes
        self.b0 = conv_silu(3, 16, 3, 2)
        self.b1 = conv_silu(16, 32, 3, 2)
        self.b2 = C2f(32, 32, 1, shortcut=True)
        self.b3 = conv_silu(32, 64, 3, 2)
        self.b4 = C2f(64, 64, 2, shortcut=True)
        self.b5 = conv_silu(64, 128, 3, 2)
        self.b6 = C2f(128, 128, 2, shortcut=True)
        self.b7 = conv_silu(128, 256, 3, 2)
        self.b8 = C2f(256, 256, 1, shortcut=True)
        self.b9 = SPPF(256, 256, 5)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h12 = C2f(384, 128, 1)
        self.h15 = C2f(192, 64, 1)
        self.h16 = conv_silu(64, 64, 3, 2)
        self.h18 = C2f(192, 128, 1)
        self.h19 = conv_silu(128, 128, 3, 2)
        self.h21 = C2f(384, 256, 1)
        ch = (64, 128, 256)
        c2, c3 = max(16, ch[0] // 4, self.reg_max * 4), max(ch[0], min(nc, 100))
        self.box = nn.ModuleList(
            nn.Sequential(
                conv_silu(c, c2, 3), conv_silu(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)
            )
            for c in ch
        )
        self.cls = nn.ModuleList(
            nn.Sequential(conv_silu(c, c3, 3), conv_silu(c3, c3, 3), nn.Conv2d(c3, nc, 1))
            for c in ch
        )
        with torch.no_grad():
            for seq, s in zip(self.cls, self.strides):
                seq[-1].bias.fill_(math.log(5 / nc / (640 / s) ** 2))  # type: ignore[index]
            for seq in self.box:
                seq[-1].bias.fill_(1.0)  # type: ignore[index]
        self.register_buffer(
            "proj", torch.arange(self.reg_max, dtype=torch.float32), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat([self.up(p5), p4], 1))
        o3 = self.h15(torch.cat([self.up(h12), p3], 1))
        o4 = self.h18(torch.cat([self.h16(o3), h12], 1))
        o5 = self.h21(torch.cat([self.h19(o4), p5], 1))
        outs = []
        for i, f in enumerate((o3, o4, o5)):
            n, _, h, w = f.shape
            dist = self.box[i](f).view(n, 4, self.reg_max, h * w).softmax(2)
            proj: torch.Tensor = self.proj  # type: ignore[assignment]
            dist = (dist * proj.view(1, 1, -1, 1)).sum(2)  # DFL expectation, (N, 4, HW)
            ys = torch.arange(h, dtype=f.dtype, device=f.device) + 0.5
            xs = torch.arange(w, dtype=f.dtype, device=f.device) + 0.5
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 0)[None]  # (1, 2, HW)
            lt, rb = dist[:, :2], dist[:, 2:]
            s = float(self.strides[i])
            box = torch.cat([(pts + (rb - lt) / 2) * s, (lt + rb) * s], 1)  # cx, cy, w, h
            cls = self.cls[i](f).view(n, self.nc, h * w).sigmoid()
            outs.append(torch.cat([box, cls.amax(1, keepdim=True), cls], 1))
        return torch.cat(outs, 2).transpose(1, 2)


def export_yolov8n_reference(
    out: str | Path, input_size: tuple[int, int] = (320, 320), num_classes: int = 80
) -> Path:
    """Export :class:`YOLOv8nReference` (seeded random weights) to ``out`` with metadata.

    The metadata says ``task="detect"`` with one anchor per level, so the benchmark's
    Predictor path decodes it as a YOLO output (the box values are random; only the cost
    matters). Returns the path.
    """
    from edgevision.config import ModelSpec
    from edgevision.export import export_onnx

    torch.manual_seed(0)
    model = YOLOv8nReference(num_classes).eval()
    model.spec = ModelSpec(  # type: ignore[assignment]
        name="yolov8n_reference",
        task="detect",
        class_names=[f"class{i}" for i in range(num_classes)],
        input_size=tuple(input_size),  # type: ignore[arg-type]
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        resize="letterbox",
        postprocess="yolo",
        model_kwargs={"anchors": [[8.0, 8.0], [16.0, 16.0], [32.0, 32.0]]},
        extra={"reference": "YOLOv8n architecture, random weights: for timing only"},
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out)
    return out
